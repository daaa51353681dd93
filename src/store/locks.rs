//! File locks that make one store safe for many `devenv` processes at once.
//!
//! * `<state>/gc.lock`: shared while a process adds paths (and roots them), exclusive while the
//!   garbage collector deletes, so a collection never removes a path an install is about to use.
//! * `<state>/locks/<hashpart>.lock`: exclusive while one process fetches that path; the others
//!   wait, then find it valid and skip it, so each path is downloaded once.
//!
//! Locks are `flock`s, released by the kernel when a process dies, so a killed install never
//! leaves the store locked.

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
}
