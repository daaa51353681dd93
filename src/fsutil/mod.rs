//! Crash-safe file writes and the permission bits of everything devenv creates, shared by every
//! module that writes a user-visible or state file.
//!
//! A file is replaced by writing a temporary sibling, fsyncing it, renaming it over the target and
//! fsyncing the directory, so an interrupted command leaves either the old or the new content,
//! never a half-written file.
//!
//! Files come in two kinds, because the umask cannot be trusted to keep private data private (a
//! umask of 000 or 002 would let other users plant trust records) and must be honoured for what
//! people share (a manifest in a shared checkout, a binary cache served by another user):
//! * **private** state (trust records, profiles, cached environments, the store's database and
//!   locks, secret keys) is created 0600 (files) and 0700 (directories) whatever the umask;
//! * **shared** files (manifest, lock, binary cache files, index files, public keys) are created
//!   like an editor creates them: 0666 minus the umask, and an existing file keeps its bits.
//!
//! Files devenv parses but did not write are read with a size limit ([`read_bounded`]).
//!
//! What devenv reads back from its private directories is checked by [`owner`]: a file other
//! users could have written is refused, as ssh's `StrictModes` does.

pub mod mount;
pub mod owner;
pub mod platform;
mod read;

pub use read::{read_bounded, read_input, read_to_end_bounded, too_large, TooLarge};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of private files, whatever the umask.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of private directories, whatever the umask.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode a shared file is created with, before the kernel takes the umask away.
const SHARED_FILE: u32 = 0o666;

/// Replace the shared file `path` with `contents` atomically. The parent directory must exist.
/// A new file gets 0666 minus the umask; an existing one keeps its permission bits.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (dir, mut tmp) = temp_sibling(path, SHARED_FILE)?;
    tmp.write_all(contents)?;
    if let Ok(meta) = fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Replace the shared file `path` with what `write` streams into it, atomically: for outputs too
/// large to hold in memory (images). Nothing appears at `path` unless `write` succeeds; the
/// temp file is removed otherwise.
pub fn write_atomic_streamed<T, E: From<io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&fs::File>) -> Result<T, E>,
) -> Result<T, E> {
    let (dir, tmp) = temp_sibling(path, SHARED_FILE)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    let value = write(&mut out)?;
    out.flush()?;
    drop(out);
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)?;
    Ok(value)
}

/// Replace the private file `path` with `contents` atomically: the result is a 0600 file of this
/// user whatever was there before (a file planted by someone else is replaced, not reused).
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (dir, mut tmp) = temp_sibling(path, PRIVATE_FILE)?;
    tmp.write_all(contents)?;
    // Created 0600 minus the umask: only an odd umask that strips the owner's bits differs.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(PRIVATE_FILE))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Write the shared file `path` only when its contents differ; returns whether it wrote.
pub fn write_if_changed(path: &Path, contents: &[u8]) -> io::Result<bool> {
    match fs::read(path) {
        Ok(existing) if existing == contents => Ok(false),
        Ok(_) => write_atomic(path, contents).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomic(path, contents).map(|()| true)
        }
        Err(e) => Err(e),
    }
}

/// Replace a private cache file atomically but without waiting for the disk: for files that can
/// be fetched again and are checked when read (a lost or torn entry after a power failure costs
/// a refetch, never a wrong answer). Readers never see a partly written file.
pub fn replace_cache_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (_, mut tmp) = temp_sibling(path, PRIVATE_FILE)?;
    tmp.write_all(contents)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A new temporary file in `dir` for a shared file that is renamed into place when complete
/// (NARs of a binary cache): created 0666 minus the umask, like [`write_atomic`]'s new files.
pub fn shared_temp_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".devenv-tmp-")
        .permissions(fs::Permissions::from_mode(SHARED_FILE))
        .tempfile_in(dir)
}

/// The directory of `path` and a new temporary file in it (same file system, so renaming it
/// over `path` is atomic), created with `mode` minus the umask.
fn temp_sibling(path: &Path, mode: u32) -> io::Result<(&Path, tempfile::NamedTempFile)> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".devenv-tmp-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    Ok((dir, tmp))
}

/// Create `dir` and its missing ancestors as private directories (0700 whatever the umask).
/// Directories that exist already are left as they are; [`owner`] checks them where it matters.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    create_dir_all_with_mode(dir, PRIVATE_DIR)
}

/// Create `dir` and its missing ancestors with exactly `mode` (the umask neither widens nor
/// narrows it). Existing directories keep their mode.
pub fn create_dir_all_with_mode(dir: &Path, mode: u32) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all_with_mode(parent, mode)?;
    }
    match fs::DirBuilder::new().mode(mode).create(dir) {
        // Only what this call created is chmodded: mkdir's mode went through the umask.
        Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(mode)),
        // Another process created it meanwhile.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Open the private file `path` for reading and writing, creating it 0600 (whatever the umask)
/// if it does not exist; never truncates. For lock files and stamps.
pub fn open_private(path: &Path) -> io::Result<File> {
    create_private_file(path)?;
    OpenOptions::new().read(true).write(true).open(path)
}

/// Create `path` as an empty 0600 file (whatever the umask) unless it exists; an existing file
/// is left as it is.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path)
    {
        Ok(file) => file.set_permissions(fs::Permissions::from_mode(PRIVATE_FILE)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// fsync a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir) {
        Ok(f) => f.sync_all().or(Ok(())),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_streamed_write_that_fails_leaves_nothing_and_one_that_succeeds_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.tar");
        let failed: Result<(), io::Error> = write_atomic_streamed(&path, |out| {
            out.write_all(b"half")?;
            Err(io::Error::other("the input broke"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let n: Result<u32, io::Error> = write_atomic_streamed(&path, |out| {
            out.write_all(b"whole")?;
            Ok(5)
        });
        assert_eq!(n.unwrap(), 5);
        assert_eq!(fs::read(&path).unwrap(), b"whole");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_if_changed_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        assert!(write_if_changed(&path, b"a").unwrap());
        assert!(!write_if_changed(&path, b"a").unwrap());
        assert!(write_if_changed(&path, b"b").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"b");
        // no temporary files are left behind
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn private_files_and_dirs_get_exact_modes_and_replace_what_was_there() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), PRIVATE_DIR);
        assert_eq!(mode(&dir), PRIVATE_DIR);
        let file = dir.join("f");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&file, b"new").unwrap();
        assert_eq!(mode(&file), PRIVATE_FILE, "never keeps wider bits");
        let lock = dir.join("lock");
        drop(open_private(&lock).unwrap());
        assert_eq!(mode(&lock), PRIVATE_FILE);
        // An existing directory is not changed.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o755);
    }

    #[test]
    fn shared_files_keep_the_bits_of_an_existing_file() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("devenv.json");
        fs::write(&file, "{}").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&file, b"{ }").unwrap();
        assert_eq!(mode(&file), 0o640);
    }
}
