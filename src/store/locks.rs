//! File locks that make one store safe for many `devenv` processes at once.
//!
//! * `<state>/gc.lock`: shared while a process adds paths (and roots them), exclusive while the
//!   garbage collector deletes, so a collection never removes a path an install is about to use.
//! * `<state>/locks/<hashpart>.lock`: exclusive while one process fetches that path; the others
//!   wait, then find it valid and skip it, so each path is downloaded once.
//!
//! Locks are `flock`s, released by the kernel when a process dies, so a killed install never
//! leaves the store locked. A store this user cannot write is read under a shared lock taken
//! on a read-only descriptor, or none when the lock file was never created.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs4::fs_std::FileExt::unlock(&self.file);
    }
}

fn open(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        crate::fsutil::create_private_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    crate::fsutil::open_private(path)
        .with_context(|| format!("cannot open lock file `{}`", path.display()))
}

/// Block until the exclusive lock on `path` is held.
pub fn exclusive(path: &Path) -> Result<Lock> {
    let file = open(path)?;
    fs4::fs_std::FileExt::lock_exclusive(&file)
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(Lock { file })
}

/// Block until a shared lock on `path` is held.
pub fn shared(path: &Path) -> Result<Lock> {
    let file = open(path)?;
    fs4::fs_std::FileExt::lock_shared(&file)
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(Lock { file })
}

/// A shared lock on `path` without creating or writing anything, for a store this user cannot
/// write: a read-only descriptor can hold a shared `flock`. None when the lock file does not
/// exist (then nobody who could write the store has ever locked it).
pub fn shared_existing(path: &Path) -> Result<Option<Lock>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open lock file `{}`", path.display()))
        }
    };
    fs4::fs_std::FileExt::lock_shared(&file)
        .with_context(|| format!("cannot lock `{}`", path.display()))?;
    Ok(Some(Lock { file }))
}

/// The exclusive lock on `path` if nobody holds it, else None.
pub fn try_exclusive(path: &Path) -> Result<Option<Lock>> {
    let file = open(path)?;
    match fs4::fs_std::FileExt::try_lock_exclusive(&file) {
        Ok(true) => Ok(Some(Lock { file })),
        Ok(false) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot lock `{}`", path.display())),
    }
}

/// Where the per-path lock of the store path with hash part `hash_part` lives.
pub fn path_lock(state_dir: &Path, hash_part: &str) -> PathBuf {
    state_dir.join("locks").join(format!("{hash_part}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_until_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.lock");
        let held = exclusive(&p).unwrap();
        assert!(try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn a_shared_lock_on_an_existing_file_needs_no_write_access() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("gc.lock");
        assert!(shared_existing(&p).unwrap().is_none());
        assert!(!p.exists(), "nothing is created");
        drop(exclusive(&p).unwrap());
        let mut perm = std::fs::metadata(&p).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o444);
        std::fs::set_permissions(&p, perm).unwrap();
        let held = shared_existing(&p).unwrap().expect("the file exists");
        // It excludes a writer's exclusive lock until dropped.
        assert!(try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(try_exclusive(&p).unwrap().is_some());
    }
}
