//! Crash-safe file writes shared by every module that writes a user-visible or state file.
//!
//! A file is replaced by writing a temporary sibling, fsyncing it, renaming it over the target and
//! fsyncing the directory, so an interrupted command leaves either the old or the new content,
//! never a half-written file.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Replace `path` with `contents` atomically. The parent directory must exist.
/// Keeps the permission bits of an existing file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (dir, mut tmp) = temp_sibling(path)?;
    tmp.write_all(contents)?;
    if let Ok(meta) = fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Write `contents` to `path` only when they differ from what is there; returns whether it wrote.
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

/// Replace a cache file atomically but without waiting for the disk: for files that can be
/// fetched again and are checked when read (a lost or torn entry after a power failure costs a
/// refetch, never a wrong answer). Readers never see a partly written file.
pub fn replace_cache_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (_, mut tmp) = temp_sibling(path)?;
    tmp.write_all(contents)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The directory of `path` and a new temporary file in it (same file system, so renaming it
/// over `path` is atomic).
fn temp_sibling(path: &Path) -> io::Result<(&Path, tempfile::NamedTempFile)> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".devenv-tmp-")
        .tempfile_in(dir)?;
    Ok((dir, tmp))
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
}
