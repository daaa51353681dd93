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
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, readlinkat, statat, AtFlags, FileType, Mode, OFlags, CWD};

use super::wire::{self, *};
use crate::nix::hash::{HashingWriter, Sha256Hash};

const BUF: usize = 1 << 17;

use crate::fsutil::platform::DIRENTS;

/// Writes the NAR of `path` to `out`.
pub fn dump(path: &Path, out: impl Write) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(BUF, out);
    let mut bufs = Buffers {
        contents: vec![0u8; BUF],
        dirents: vec![MaybeUninit::uninit(); DIRENTS],
    };
    let root = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    wire::write_str(&mut out, MAGIC)?;
    let mut shown = path.to_owned();
    dump_node(CWD, &root, &mut shown, &mut out, &mut bufs)?;
    out.flush()
}

/// The NAR sha256 and size of `path`, without keeping the NAR.
pub fn dump_hash(path: &Path) -> io::Result<(Sha256Hash, u64)> {
    let mut w = HashingWriter::new(io::sink());
    dump(path, &mut w)?;
    let (h, n, _) = w.finish();
    Ok((h, n))
}

/// Allocated once per dump and reused by every node.
struct Buffers {
    contents: Vec<u8>,
    dirents: Vec<MaybeUninit<u8>>,
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
}

fn failed(path: &Path) -> impl FnOnce(rustix::io::Errno) -> io::Error + '_ {
    move |errno| annotate(path, errno.into())
}

/// Dumps the node `name` inside directory `dir` (or the cwd-relative/absolute root path when
/// `dir` is `CWD`); `path` is only for messages.
fn dump_node(
    dir: BorrowedFd<'_>,
    name: &CStr,
    path: &mut PathBuf,
    out: &mut impl Write,
    bufs: &mut Buffers,
) -> io::Result<()> {
    let st = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(failed(path))?;
    wire::write_tokens(out, &[OPEN, TYPE])?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            wire::write_str(out, REGULAR)?;
            if Mode::from_raw_mode(st.st_mode).contains(Mode::XUSR) {
                wire::write_tokens(out, &[EXECUTABLE, b""])?;
            }
            wire::write_str(out, CONTENTS)?;
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = openat(dir, name, flags, Mode::empty()).map_err(failed(path))?;
            dump_contents(File::from(fd), path, st.st_size as u64, out, &mut bufs.contents)?;
        }
        FileType::Symlink => {
            let target = read_link(dir, name, st.st_size as usize, path)?;
            wire::write_tokens(out, &[SYMLINK, TARGET, &target])?;
        }
        FileType::Directory => {
            wire::write_str(out, DIRECTORY)?;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = openat(dir, name, flags, Mode::empty()).map_err(failed(path))?;
            let mut names = list_dir(&fd, path, &mut bufs.dirents)?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for child in names {
                wire::write_tokens(out, &[ENTRY, OPEN, NAME, child.as_bytes(), NODE])?;
                path.push(std::ffi::OsStr::from_bytes(child.as_bytes()));
                dump_node(fd.as_fd(), &child, path, out, bufs)?;
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

/// The entries of an open directory, without `.` and `..`. Reads through the directory's own
/// handle: its file position moves, which the `*at` calls on its entries do not depend on.
fn list_dir(dir: &OwnedFd, path: &Path, buf: &mut [MaybeUninit<u8>]) -> io::Result<Vec<CString>> {
    crate::fsutil::platform::list_dir(dir, buf).map_err(|e| annotate(path, e))
}

/// The target of symlink `name` in `dir`; `size_hint` is its lstat size, so one call is
/// enough unless the link changed in between (then the buffer grows until the target fits).
fn read_link(
    dir: BorrowedFd<'_>,
    name: &CStr,
    size_hint: usize,
    path: &Path,
) -> io::Result<Vec<u8>> {
    let buf = Vec::with_capacity(size_hint + 1);
    let target = readlinkat(dir, name, buf).map_err(failed(path))?;
    Ok(target.into_bytes())
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
