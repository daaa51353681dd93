//! Telling a full disk from a bad download. When the file system holding the store runs out of
//! space (ENOSPC) or the user's quota on it is used up (EDQUOT), unpacking, renaming or
//! registering fails wherever the next write happens; without this module that surfaced as
//! "the NAR is corrupt", which sends people looking for a broken cache. [`explain`] finds such a
//! failure anywhere in an error chain (an I/O error, or SQLite's "database or disk is full") and
//! replaces the message by one that names the disk, how much the install still needed and how
//! much is free (the ways out are the caller's to suggest: they name commands and settings).

use std::path::{Path, PathBuf};

use rustix::io::Errno;

/// The disk holding the store is full (or the quota on it is used up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFull {
    /// The physical store directory.
    pub store_dir: PathBuf,
    /// EDQUOT rather than ENOSPC.
    pub quota: bool,
    /// The operating system's words for it.
    pub cause: String,
    /// The store path being written, when known.
    pub writing: Option<String>,
    /// NAR bytes this install still had to unpack (about what they take on disk), when known.
    pub needed: Option<u64>,
    /// Bytes available to this user on that disk when the failure was noticed.
    pub available: Option<u64>,
}

impl std::fmt::Display for DiskFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.store_dir.display();
        if self.quota {
            write!(f, "your disk quota on the disk holding `{dir}` is used up")?;
        } else {
            write!(f, "the disk holding `{dir}` is full")?;
        }
        write!(f, " ({})", self.cause)?;
        if let Some(path) = &self.writing {
            write!(f, " while writing `{path}`")?;
        }
        match (self.needed, self.available) {
            (Some(n), Some(a)) => write!(
                f,
                "; this install needs about {} more and {} is free",
                human_bytes(n),
                human_bytes(a)
            ),
            (Some(n), None) => write!(f, "; this install needs about {} more", human_bytes(n)),
            (None, Some(a)) => write!(f, "; {} is free", human_bytes(a)),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for DiskFull {}

/// If `e` was caused by a full disk (anywhere in its chain), why: `(quota, cause)`.
pub fn cause_of(e: &anyhow::Error) -> Option<(bool, String)> {
    if let Some(full) = e.chain().find_map(|c| c.downcast_ref::<DiskFull>()) {
        return Some((full.quota, full.cause.clone()));
    }
    for c in e.chain() {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            match Errno::from_io_error(io) {
                Some(Errno::NOSPC) => return Some((false, "No space left on device".into())),
                Some(Errno::DQUOT) => return Some((true, "Disk quota exceeded".into())),
                _ => {}
            }
        }
        if let Some(rusqlite::Error::SqliteFailure(err, _)) = c.downcast_ref::<rusqlite::Error>() {
            if err.code == rusqlite::ErrorCode::DiskFull {
                return Some((false, "database or disk is full".to_string()));
            }
        }
    }
    None
}

/// `e` itself, or, when a full disk caused it, a [`DiskFull`] error saying so (what to do about
/// it is for the caller to say: see `StoreError::DiskFull`).
/// `writing` and `needed` fill in what the failure itself cannot know.
pub fn explain(
    e: anyhow::Error,
    store_dir: &Path,
    writing: Option<&str>,
    needed: Option<u64>,
) -> anyhow::Error {
    let Some((quota, cause)) = cause_of(&e) else {
        return e;
    };
    let known = e.chain().find_map(|c| c.downcast_ref::<DiskFull>());
    let full = DiskFull {
        store_dir: store_dir.to_path_buf(),
        quota,
        cause,
        writing: writing
            .map(str::to_string)
            .or_else(|| known.and_then(|k| k.writing.clone())),
        needed: needed.or_else(|| known.and_then(|k| k.needed)),
        available: available(store_dir),
    };
    full.into()
}

/// Bytes available to this user on the file system holding `dir`.
fn available(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail * st.f_frsize)
}

/// `1.5 MiB`-style sizes.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_enospc_edquot_and_sqlite_full_anywhere_in_the_chain() {
        let io = |code| anyhow::Error::from(std::io::Error::from_raw_os_error(code));
        let e = io(Errno::NOSPC.raw_os_error()).context("could not write `x` while unpacking");
        assert_eq!(cause_of(&e).map(|c| c.0), Some(false));
        assert_eq!(
            cause_of(&io(Errno::DQUOT.raw_os_error())).map(|c| c.0),
            Some(true)
        );
        assert_eq!(cause_of(&io(Errno::ACCESS.raw_os_error())), None);
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(cause_of(&anyhow::Error::from(full).context("cannot register")).is_some());
    }

    #[test]
    fn the_message_names_the_disk_the_path_and_the_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let e = anyhow::Error::from(std::io::Error::from_raw_os_error(
            Errno::NOSPC.raw_os_error(),
        ))
        .context("the NAR is corrupt or does not match its narinfo");
        let e = explain(
            e,
            dir.path(),
            Some("/nix/store/abc-x"),
            Some(3 * 1024 * 1024),
        );
        let report = crate::diagnostic::Report::from_error(&e);
        assert!(
            report.message.starts_with(&format!(
                "the disk holding `{}` is full (No space left on device",
                dir.path().display()
            )),
            "{report:?}"
        );
        assert!(report.message.contains("while writing `/nix/store/abc-x`"));
        assert!(report.message.contains("needs about 3.0 MiB more and "));
        assert!(!report.message.contains("corrupt"));
        assert!(e.downcast_ref::<DiskFull>().is_some());
        // Anything else passes through untouched.
        let other = explain(anyhow::anyhow!("hash mismatch"), dir.path(), None, None);
        assert_eq!(other.to_string(), "hash mismatch");
    }
}
