//! Writes the canonical NAR of a file, symlink or directory tree (`nix-store --dump`).
//!
//! Entries are emitted sorted by raw name bytes; a file is "executable" iff its owner execute
//! bit is set; symlinks are stored verbatim and never followed; any other file type (fifo,
//! socket, device) is an error, as in Nix. File contents stream through a fixed buffer, so
//! memory does not grow with file size.
//!
//! Nodes below the root are reached relative to their parent directory's open handle
//! (`fstatat`/`openat`/`readlinkat` with no-follow flags): the kernel walks one name per node
//! instead of the whole path, and a symlink swapped in for a directory mid-dump is not followed.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::wire::{self, *};
use crate::nix::hash::{HashingWriter, Sha256Hash};

const BUF: usize = 1 << 17;

/// Writes the NAR of `path` to `out`.
pub fn dump(path: &Path, out: impl Write) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(BUF, out);
    let mut buf = vec![0u8; BUF];
    let root = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    wire::write_str(&mut out, MAGIC)?;
    let mut shown = path.to_owned();
    dump_node(libc::AT_FDCWD, &root, &mut shown, &mut out, &mut buf)?;
    out.flush()
}

/// The NAR sha256 and size of `path`, without keeping the NAR.
pub fn dump_hash(path: &Path) -> io::Result<(Sha256Hash, u64)> {
    let mut w = HashingWriter::new(io::sink());
    dump(path, &mut w)?;
    let (h, n, _) = w.finish();
    Ok((h, n))
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
}

fn last_error(path: &Path) -> io::Error {
    annotate(path, io::Error::last_os_error())
}

/// Dumps the node `name` inside directory `dir` (or the cwd-relative/absolute root path when
/// `dir` is `AT_FDCWD`); `path` is only for messages.
fn dump_node(
    dir: RawFd,
    name: &CStr,
    path: &mut PathBuf,
    out: &mut impl Write,
    buf: &mut [u8],
) -> io::Result<()> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten by fstatat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd (or AT_FDCWD), NUL-terminated name, and a pointer to a live stat.
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(last_error(path));
    }
    wire::write_tokens(out, &[OPEN, TYPE])?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {
            wire::write_str(out, REGULAR)?;
            if st.st_mode & libc::S_IXUSR != 0 {
                wire::write_tokens(out, &[EXECUTABLE, b""])?;
            }
            wire::write_str(out, CONTENTS)?;
            let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: as above; the returned descriptor is owned by the File.
            let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
            if fd < 0 {
                return Err(last_error(path));
            }
            let file = unsafe { File::from_raw_fd(fd) };
            dump_contents(file, path, st.st_size as u64, out, buf)?;
        }
        libc::S_IFLNK => {
            let target = read_link(dir, name, st.st_size as usize, path)?;
            wire::write_tokens(out, &[SYMLINK, TARGET, &target])?;
        }
        libc::S_IFDIR => {
            wire::write_str(out, DIRECTORY)?;
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: as above.
            let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
            if fd < 0 {
                return Err(last_error(path));
            }
            // SAFETY: fd is a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut names = list_dir(&fd, path)?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for child in names {
                wire::write_tokens(out, &[ENTRY, OPEN, NAME, child.as_bytes(), NODE])?;
                path.push(std::ffi::OsStr::from_bytes(child.as_bytes()));
                dump_node(fd.as_raw_fd(), &child, path, out, buf)?;
                path.pop();
                wire::write_str(out, CLOSE)?;
            }
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "`{}` has an unsupported file type (only regular files, directories and symlinks can be archived)",
                    path.display()
                ),
            ))
        }
    }
    wire::write_str(out, CLOSE)
}

/// The entries of an open directory, without `.` and `..`.
fn list_dir(dir: &OwnedFd, path: &Path) -> io::Result<Vec<CString>> {
    // fdopendir takes ownership of the descriptor it is given, so give it a duplicate.
    // SAFETY: dup of a valid descriptor.
    let dup = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(last_error(path));
    }
    // SAFETY: dup is a valid directory descriptor; on success the DIR owns it.
    let stream = unsafe { libc::fdopendir(dup) };
    if stream.is_null() {
        let e = last_error(path);
        // SAFETY: fdopendir failed, so dup is still ours to close.
        unsafe { libc::close(dup) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // readdir signals errors only through errno, so clear it first.
        clear_errno();
        // SAFETY: stream is a live DIR.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let errno = io::Error::last_os_error();
            break match errno.raw_os_error() {
                Some(0) | None => Ok(()),
                Some(_) => Err(annotate(path, errno)),
            };
        }
        // SAFETY: d_name is NUL-terminated inside the entry readdir returned.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    };
    // SAFETY: closes the stream and its descriptor exactly once.
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

fn clear_errno() {
    // SAFETY: errno is thread-local; writing it has no other effect.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    unsafe {
        *libc::__errno_location() = 0
    };
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    unsafe {
        *libc::__error() = 0
    };
}

/// The target of symlink `name` in `dir`; `size_hint` is its lstat size.
fn read_link(dir: RawFd, name: &CStr, size_hint: usize, path: &Path) -> io::Result<Vec<u8>> {
    let mut cap = size_hint.max(64) + 1;
    loop {
        let mut target = vec![0u8; cap];
        // SAFETY: the buffer is `cap` bytes long.
        let n = unsafe { libc::readlinkat(dir, name.as_ptr(), target.as_mut_ptr().cast(), cap) };
        if n < 0 {
            return Err(last_error(path));
        }
        let n = n as usize;
        // A full buffer may mean the target was cut; try again with more room.
        if n < cap {
            target.truncate(n);
            return Ok(target);
        }
        cap *= 2;
    }
}

fn dump_contents(
    mut file: File,
    path: &Path,
    len: u64,
    out: &mut impl Write,
    buf: &mut [u8],
) -> io::Result<()> {
    wire::write_u64(out, len)?;
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(|e| annotate(path, e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    // The size is already written, so a file that shrank meanwhile would corrupt the archive.
    // (One that grew is cut at the size written, which keeps the archive well-formed.)
    if left != 0 {
        return Err(io::Error::other(format!(
            "`{}` shrank while it was being archived",
            path.display()
        )));
    }
    out.write_all(&[0u8; 8][..wire::padding(len)])
}
