//! Trust: which projects may activate automatically when the user `cd`s into them.
//!
//! An allowance is bound to the project's canonical path and the SHA-256 of its manifest, so a
//! changed manifest (a `git pull`, a colleague's edit) blocks activation until the user allows it
//! again. The record is a file whose name is that binding's hash: checking trust is one `stat`,
//! and the hook can notice `devenv allow`/`deny` by testing the file's existence with a builtin.
//! A denial is bound to the path alone and wins over any allowance.
//!
//! Records are private (0600 in 0700 directories, whatever the umask), and an allowance counts
//! only when it and the directories above it, up to the data dir, can have been written by the
//! user alone (see [`crate::fsutil::owner`]): otherwise another user could have planted it. A
//! denial is honoured whoever wrote it, since it only ever blocks.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};

use crate::fsutil::owner::{self, Untrusted};

/// Where trust records live: `<data dir>/trust/{allow,deny}/`.
#[derive(Debug, Clone)]
pub struct TrustStore {
    /// devenv's data dir: the outermost directory whose owner and mode are checked.
    data: PathBuf,
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
            data: data_dir.to_path_buf(),
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

    /// Whether `root` with this manifest may activate. An allowance that another user could have
    /// written is an error naming the file to fix; it never counts as allowed.
    pub fn status(&self, root: &Path, manifest: &[u8]) -> Result<Trust, Untrusted> {
        if self.deny_file(root).exists() {
            return Ok(Trust::Denied);
        }
        let allow = self.allow_file(root, manifest);
        if !allow.exists() {
            return Ok(Trust::NotAllowed);
        }
        owner::check_within(&self.data, &allow)?;
        Ok(Trust::Allowed)
    }

    /// Allow `root` with this manifest content; lifts a denial. Older allowances of the same
    /// project are dropped so the directory does not grow with every edit. Refuses to write into
    /// a trust directory other users can change (the allowance would not count).
    pub fn allow(&self, root: &Path, manifest: &[u8]) -> Result<PathBuf> {
        self.prepare_dir("allow")?;
        self.forget(root)?;
        let _ = fs::remove_file(self.deny_file(root));
        let file = self.allow_file(root, manifest);
        crate::fsutil::write_private(&file, record(root).as_bytes())
            .with_context(|| format!("cannot write `{}`", file.display()))?;
        Ok(file)
    }

    /// Deny `root` whatever its content, and drop its allowances.
    pub fn deny(&self, root: &Path) -> Result<()> {
        self.prepare_dir("deny")?;
        self.forget(root)?;
        let file = self.deny_file(root);
        crate::fsutil::write_private(&file, record(root).as_bytes())
            .with_context(|| format!("cannot write `{}`", file.display()))
    }

    /// Create `trust/<name>/` privately if missing, and check it and the directories above it.
    fn prepare_dir(&self, name: &str) -> Result<()> {
        let dir = self.dir.join(name);
        crate::fsutil::create_private_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        owner::check_within(&self.data, &dir).map_err(Untrusted::into_error)
    }

    /// Remove every allowance recorded for `root` (each record holds its path).
    fn forget(&self, root: &Path) -> Result<()> {
        let dir = self.dir.join("allow");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
        };
        let want = record(root);
        for entry in entries {
            let path = entry?.path();
            if fs::read_to_string(&path).is_ok_and(|c| c == want) {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove `{}`", path.display()))?;
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
        assert_eq!(t.status(root, b"{}"), Ok(Trust::NotAllowed));
        let file = t.allow(root, b"{}").unwrap();
        assert!(file.exists());
        assert_eq!(t.status(root, b"{}"), Ok(Trust::Allowed));
        assert_eq!(
            t.status(root, b"{ }"),
            Ok(Trust::NotAllowed),
            "content changed"
        );
        assert_eq!(t.status(Path::new("/other"), b"{}"), Ok(Trust::NotAllowed));
        t.allow(root, b"{ }").unwrap();
        assert!(!file.exists(), "the older allowance is dropped");
        t.deny(root).unwrap();
        assert_eq!(t.status(root, b"{ }"), Ok(Trust::Denied));
        t.allow(root, b"{ }").unwrap();
        assert_eq!(t.status(root, b"{ }"), Ok(Trust::Allowed));
    }

    #[test]
    fn an_allowance_others_could_write_does_not_count_and_blocks_allow() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let t = TrustStore::new(tmp.path());
        let root = Path::new("/home/u/proj");
        let file = t.allow(root, b"{}").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        fs::set_permissions(&file, fs::Permissions::from_mode(0o660)).unwrap();
        let err = t.status(root, b"{}").unwrap_err();
        assert_eq!(err.path, file);
        // `allow` replaces the record with a private one of this user.
        t.allow(root, b"{}").unwrap();
        assert_eq!(t.status(root, b"{}"), Ok(Trust::Allowed));
        let dir = tmp.path().join("trust");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(t.status(root, b"{}").unwrap_err().path, dir);
        let err = t.allow(root, b"{}").unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert!(
            report.hints.iter().any(|h| h.contains("chmod -R go-w")),
            "{report:?}"
        );
    }
}
