//! The file system calls whose interface differs between Linux and macOS, each with both
//! answers, so the rest of devenv calls one function: listing an open directory (Linux's
//! `getdents64` into a caller's buffer; elsewhere `readdir` through a second handle) and making
//! a whole file system durable (Linux's `syncfs`; macOS's `sync` followed by `F_FULLFSYNC`,
//! which also flushes the drive's own cache, as `fsync` there does not).
//!
//! Only the Linux side is built and tested where devenv is developed (see docs/store.md).

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

/// Room for the directory entries one `getdents64` call returns: what glibc's `readdir` reads
/// at once, far more than the largest entry (a 255-byte name plus its header).
pub const DIRENTS: usize = 1 << 15;

/// The entries of the open directory `dir`, without `.` and `..`, in the order the file system
/// gives them. `buf` is scratch space (reused across calls where the system can).
#[cfg(target_os = "linux")]
pub fn list_dir(dir: &OwnedFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<Vec<CString>> {
    let mut entries = rustix::fs::RawDir::new(dir, buf);
    let mut names = Vec::new();
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The entries of the open directory `dir`, without `.` and `..`.
#[cfg(not(target_os = "linux"))]
pub fn list_dir(dir: &OwnedFd, _buf: &mut [MaybeUninit<u8>]) -> io::Result<Vec<CString>> {
    let mut entries = rustix::fs::Dir::read_from(dir)?;
    let mut names = Vec::new();
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Write everything cached for the file system holding the open `dir` to the disk.
#[cfg(target_os = "linux")]
pub fn sync_filesystem(dir: &File) -> io::Result<()> {
    rustix::fs::syncfs(dir).map_err(io::Error::from)
}

/// Write everything cached to the disk: `sync` queues every file system's data, and
/// `F_FULLFSYNC` on `dir` waits until the drive holding it has it on stable storage.
#[cfg(target_vendor = "apple")]
pub fn sync_filesystem(dir: &File) -> io::Result<()> {
    rustix::fs::sync();
    rustix::fs::fcntl_fullfsync(dir).map_err(io::Error::from)
}

/// Write everything cached to the disk (`sync`, then `fsync` of `dir`).
#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
pub fn sync_filesystem(dir: &File) -> io::Result<()> {
    rustix::fs::sync();
    dir.sync_all()
}
