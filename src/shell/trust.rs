//! Trust: which projects may activate automatically when the user `cd`s into them.
//!
//! An allowance is bound to the project's canonical path and the SHA-256 of its manifest, so a
//! changed manifest (a `git pull`, a colleague's edit) blocks activation until the user allows it
//! again. The record is a file whose name is that binding's hash: checking trust is one `stat`,
//! and the hook can notice `devenv allow`/`deny` by testing the file's existence with a builtin.
//! A denial is bound to the path alone and wins over any allowance.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where trust records live: `<data dir>/trust/{allow,deny}/`.
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

/// The trust state of one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Allowed,
    /// Never allowed, or the manifest changed since it was.
    NotAllowed,
    Denied,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TrustStore {
    pub fn new(data_dir: &Path) -> TrustStore {
        TrustStore {
            dir: data_dir.join("trust"),
        }
    }

    /// The record that allows `root` with this exact manifest content.
    pub fn allow_file(&self, root: &Path, manifest: &[u8]) -> PathBuf {
        let content = hex(&Sha256::digest(manifest));
        let mut h = Sha256::new();
        h.update(root.as_os_str().as_encoded_bytes());
        h.update(b"\n");
        h.update(content.as_bytes());
        self.dir.join("allow").join(hex(&h.finalize()))
    }

    fn deny_file(&self, root: &Path) -> PathBuf {
        let mut h = Sha256::new();
        h.update(root.as_os_str().as_encoded_bytes());
        h.update(b"\n");
        self.dir.join("deny").join(hex(&h.finalize()))
    }

    pub fn status(&self, root: &Path, manifest: &[u8]) -> Trust {
        if self.deny_file(root).exists() {
            Trust::Denied
        } else if self.allow_file(root, manifest).exists() {
            Trust::Allowed
        } else {
            Trust::NotAllowed
        }
    }

    /// Allow `root` with this manifest content; lifts a denial. Older allowances of the same
    /// project are dropped so the directory does not grow with every edit.
    pub fn allow(&self, root: &Path, manifest: &[u8]) -> io::Result<PathBuf> {
        self.forget(root)?;
        let _ = fs::remove_file(self.deny_file(root));
        let file = self.allow_file(root, manifest);
        fs::create_dir_all(file.parent().expect("has parent"))?;
        crate::fsutil::write_atomic(&file, record(root).as_bytes())?;
        Ok(file)
    }

    /// Deny `root` whatever its content, and drop its allowances.
    pub fn deny(&self, root: &Path) -> io::Result<()> {
        self.forget(root)?;
        let file = self.deny_file(root);
        fs::create_dir_all(file.parent().expect("has parent"))?;
        crate::fsutil::write_atomic(&file, record(root).as_bytes())
    }

    /// Remove every allowance recorded for `root` (each record holds its path).
    fn forget(&self, root: &Path) -> io::Result<()> {
        let dir = self.dir.join("allow");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let want = record(root);
        for entry in entries {
            let path = entry?.path();
            if fs::read_to_string(&path).is_ok_and(|c| c == want) {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

fn record(root: &Path) -> String {
    format!("{}\n", root.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_is_bound_to_content_and_deny_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let t = TrustStore::new(tmp.path());
        let root = Path::new("/home/u/proj");
        assert_eq!(t.status(root, b"{}"), Trust::NotAllowed);
        let file = t.allow(root, b"{}").unwrap();
        assert!(file.exists());
        assert_eq!(t.status(root, b"{}"), Trust::Allowed);
        assert_eq!(t.status(root, b"{ }"), Trust::NotAllowed, "content changed");
        assert_eq!(t.status(Path::new("/other"), b"{}"), Trust::NotAllowed);
        t.allow(root, b"{ }").unwrap();
        assert!(!file.exists(), "the older allowance is dropped");
        t.deny(root).unwrap();
        assert_eq!(t.status(root, b"{ }"), Trust::Denied);
        t.allow(root, b"{ }").unwrap();
        assert_eq!(t.status(root, b"{ }"), Trust::Allowed);
    }
}
