//! What can go wrong in the store, as values: the failures callers tell apart (no cache has a
//! path, every cache's copy was refused, the disk is full, the store is read-only, …) are
//! variants, so the application layer matches on them instead of searching error chains, and
//! decides itself what to tell the user to do about them.
//!
//! Messages are sentences about the store and its caches. They never say which command to run
//! or which setting to change: those hints depend on who asked (`install` typed by the user,
//! activation on `cd`, `cache push`) and are added above the store, by `app` and `cli`.

use std::path::PathBuf;

use thiserror::Error;

pub use super::cache::Unreachable;
pub use super::cache_writer::CacheWriteError;
pub use super::diskfull::DiskFull;
pub use super::substitute::MissingPaths;

/// A store operation that failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// `/nix/store` cannot be created by this user and nothing else can fill it.
    #[error(
        "`/nix/store` does not exist and cannot be created by this user, and no Nix daemon runs"
    )]
    NoStore,
    /// `/nix` belongs to another user, so the store there cannot be written.
    #[error("`/nix` belongs to {owner}, so `/nix/store` cannot be written by you")]
    NixOwnedByOther { owner: String },
    /// The namespace store's programs could not run: the system forbids the namespace.
    #[error("programs of the store `{}` cannot run: {cause}", nix_dir.join("store").display())]
    NamespaceBlocked {
        nix_dir: PathBuf,
        cause: String,
        /// The ways out, in words (the setting, `/nix`).
        hint: String,
    },
    /// The store is on a file system mounted `noexec`: its programs could never run.
    #[error(
        "the store `{}` is on a file system mounted noexec, so its programs cannot run",
        store_dir.display()
    )]
    NoExec { store_dir: PathBuf },
    /// The store directory cannot be created under the chosen root.
    #[error("cannot create the store `{}`", store_dir.display())]
    CannotCreate {
        store_dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The operation needs a store devenv manages itself, and the one at hand belongs to the
    /// Nix daemon.
    #[error(
        "`/nix/store` belongs to the Nix daemon and cannot be written by this user, so there is \
         no store devenv manages itself here"
    )]
    DaemonOwned,
    /// No configured binary cache has some paths of the closure.
    #[error(transparent)]
    MissingPaths(MissingPaths),
    /// Every cache that offers a path offered something unusable (an unsigned or forged
    /// narinfo, a NAR whose hash or size is wrong, a transfer that kept breaking).
    #[error(transparent)]
    Refused(Refused),
    /// None of the configured binary caches could be reached.
    #[error(transparent)]
    Unreachable(AllUnreachable),
    /// The disk holding the store is full, or the quota on it is used up.
    #[error(transparent)]
    DiskFull(DiskFull),
    /// The store cannot be written by this user and lacks paths that are needed.
    #[error(
        "the store `{}` is read-only, and {} path(s) needed here are not in it: {}",
        store_dir.display(),
        paths.len(),
        paths.join(", ")
    )]
    ReadOnly {
        /// The physical store directory.
        store_dir: PathBuf,
        paths: Vec<String>,
    },
    /// A store path's files no longer hash to what was registered for it.
    #[error(
        "`{path}` was modified on disk: its NAR hashes to {found} ({found_size} bytes), \
         registered as {registered} ({registered_size} bytes)"
    )]
    Modified {
        path: String,
        found: String,
        found_size: u64,
        registered: String,
        registered_size: u64,
    },
    /// A command of the installed Nix failed.
    #[error("`{command}` failed: {stderr}")]
    Nix { command: String, stderr: String },
    /// Nix built something else than the paths that were asked for.
    #[error("`nix build {installable}` produced {}, not `{wanted}`", built.join(", "))]
    BuildMismatch {
        installable: String,
        built: Vec<String>,
        wanted: String,
    },
    /// Writing a binary cache failed.
    #[error(transparent)]
    CacheWrite(CacheWriteError),
    /// Anything else (I/O, the database, a cache answering nonsense), with its causes.
    #[error("{}", crate::diagnostic::headline(.0))]
    Other(#[source] anyhow::Error),
}

impl StoreError {
    /// Whether the failure is in what the user gave (a cache directory that is not one), not in
    /// the store or the network.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StoreError::CacheWrite(
                CacheWriteError::OtherStore { .. } | CacheWriteError::BadCacheInfo { .. }
            )
        )
    }
}

/// Internal store code works with `anyhow` chains; at the API boundary a chain whose top is one
/// of the typed failures becomes that variant (a full disk is found anywhere in the chain, since
/// its message replaces everything below it), and anything else is kept whole as `Other`.
impl From<anyhow::Error> for StoreError {
    fn from(e: anyhow::Error) -> StoreError {
        let e = match e.downcast::<StoreError>() {
            Ok(typed) => return typed,
            Err(e) => e,
        };
        let e = match e.downcast::<MissingPaths>() {
            Ok(missing) => return StoreError::MissingPaths(missing),
            Err(e) => e,
        };
        if let Some(full) = e.chain().find_map(|c| c.downcast_ref::<DiskFull>()) {
            return StoreError::DiskFull(full.clone());
        }
        match e.downcast::<CacheWriteError>() {
            Ok(w) => StoreError::CacheWrite(w),
            Err(e) => StoreError::Other(e),
        }
    }
}

impl From<CacheWriteError> for StoreError {
    fn from(e: CacheWriteError) -> StoreError {
        StoreError::CacheWrite(e)
    }
}

/// Where in substituting a path the caches' answers were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalStage {
    /// The narinfo (not signed by a trusted key, for another path, unreadable).
    Narinfo,
    /// The NAR behind an acceptable narinfo (wrong hash or size, not a NAR, broken transfers).
    Nar,
}

/// A path whose every offered copy was refused, with each cache's reason in the order they
/// were tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub path: String,
    pub stage: RefusalStage,
    /// `(cache URL, why)`.
    pub refusals: Vec<(String, String)>,
    /// The reasons as one sentence, shown as the cause.
    reasons: Reasons,
}

impl Refused {
    pub fn new(path: String, stage: RefusalStage, refusals: Vec<(String, String)>) -> Refused {
        // A single NAR failure is named by the headline already; every other list names each
        // cache with its reason.
        let text = match (stage, refusals.as_slice()) {
            (RefusalStage::Nar, [(_, why)]) => why.clone(),
            (_, all) => {
                let each: Vec<String> =
                    all.iter().map(|(u, why)| format!("`{u}`: {why}")).collect();
                each.join("; ")
            }
        };
        Refused {
            path,
            stage,
            refusals,
            reasons: Reasons(text),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.stage, self.refusals.as_slice()) {
            (RefusalStage::Narinfo, _) => write!(f, "no usable substitute for `{}`", self.path),
            (RefusalStage::Nar, [(url, _)]) => {
                write!(f, "cannot substitute `{}` from `{url}`", self.path)
            }
            (RefusalStage::Nar, _) => {
                write!(f, "cannot substitute `{}` from any binary cache", self.path)
            }
        }
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reasons)
    }
}

/// The cause line of a [`Refused`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reasons(String);

impl std::fmt::Display for Reasons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reasons {}

/// Every configured binary cache was unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllUnreachable {
    pub caches: Vec<Unreachable>,
    reasons: Reasons,
}

impl AllUnreachable {
    pub fn new(caches: Vec<Unreachable>) -> AllUnreachable {
        let all: Vec<String> = caches.iter().map(|u| u.to_string()).collect();
        AllUnreachable {
            caches,
            reasons: Reasons(all.join("; ")),
        }
    }
}

impl std::fmt::Display for AllUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no binary cache could be reached")?;
        if let Some(first) = self.caches.first() {
            write!(f, " (the first was `{}`)", first.url)?;
        }
        Ok(())
    }
}

impl std::error::Error for AllUnreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Report, ResultExt as _, EXIT_BAD_INPUT};
    use anyhow::Context as _;

    #[test]
    fn typed_failures_become_their_variant_at_the_boundary() {
        let missing = MissingPaths {
            paths: vec!["/nix/store/x".into()],
            caches: vec![],
            unreachable: vec![],
        };
        assert!(matches!(
            StoreError::from(anyhow::Error::new(missing)),
            StoreError::MissingPaths(m) if m.paths == ["/nix/store/x"]
        ));
        let read_only = anyhow::Error::new(StoreError::ReadOnly {
            store_dir: "/s".into(),
            paths: vec!["/nix/store/y".into()],
        });
        assert!(matches!(
            StoreError::from(read_only),
            StoreError::ReadOnly { .. }
        ));
        // A full disk is found below other messages, and its own message says it all.
        let full = DiskFull {
            store_dir: "/s".into(),
            quota: false,
            cause: "No space left on device".into(),
            writing: None,
            needed: None,
            available: None,
        };
        let deep = anyhow::Error::new(full.clone()).context("cannot import `z`");
        assert!(matches!(StoreError::from(deep), StoreError::DiskFull(f) if f == full));
    }

    #[test]
    fn other_failures_keep_their_chain_hints_and_exit_code() {
        let inner = Err::<(), _>(anyhow::anyhow!("unexpected key at 1:2"))
            .context("invalid trusted public key")
            .hint("keys look like `name:base64`")
            .bad_input()
            .unwrap_err();
        let e = StoreError::from(inner);
        assert!(matches!(e, StoreError::Other(_)));
        assert_eq!(e.to_string(), "invalid trusted public key");
        // Even when it is wrapped as it is, not unwrapped first.
        let report = Report::from_error(&anyhow::Error::new(e).context("cannot install"));
        assert_eq!(report.message, "cannot install");
        assert_eq!(
            report.causes,
            ["invalid trusted public key", "unexpected key at 1:2"]
        );
        assert_eq!(report.hints, ["keys look like `name:base64`"]);
        assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    }

    #[test]
    fn refusals_name_each_cache() {
        let one = Refused::new(
            "/nix/store/p".into(),
            RefusalStage::Nar,
            vec![("https://a".into(), "NAR hash mismatch".into())],
        );
        let report = Report::from_error(&anyhow::Error::new(StoreError::Refused(one)));
        assert_eq!(
            report.message,
            "cannot substitute `/nix/store/p` from `https://a`"
        );
        assert_eq!(report.causes, ["NAR hash mismatch"]);
        let two = Refused::new(
            "/nix/store/p".into(),
            RefusalStage::Narinfo,
            vec![
                ("https://a".into(), "its narinfo is not signed".into()),
                ("https://b".into(), "its narinfo is invalid".into()),
            ],
        );
        let report = Report::from_error(&anyhow::Error::new(StoreError::Refused(two)));
        assert_eq!(report.message, "no usable substitute for `/nix/store/p`");
        assert_eq!(
            report.causes,
            ["`https://a`: its narinfo is not signed; `https://b`: its narinfo is invalid"]
        );
    }
}
