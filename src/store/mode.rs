//! Which store an invocation uses, and why (`store_mode`): devenv's store at its root, devenv's
//! store mounted at `/nix` inside a user namespace (no root and no `/nix` needed), or the Nix
//! daemon's. One function, [`choose`], decides for `open`, `doctor` and activation alike, and
//! says why in words `doctor` shows.
//!
//! Automatic choice: a configured `store_root` is used as it is; else `/` when `/nix/store` is
//! writable or can be created; else the daemon when one runs; else `/` read-only when devenv's
//! database is there (an image); else the namespace store under the data directory.
//! Before anything is installed into a namespace store, [`check_namespace`] makes sure programs
//! will be able to run from it (namespaces allowed, no `noexec` mount).

use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::{layout, DAEMON_SOCKET, DEFAULT_DB};
use crate::settings::{Settings, Source, StoreMode};

/// The decision: how, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub mode: StoreMode,
    /// The physical root of devenv's store; `None` for the daemon's.
    pub root: Option<PathBuf>,
    /// Why, in words (`/nix/store is writable`, `store_mode = namespace (DEVENV_STORE_MODE)`).
    pub why: String,
}

impl Choice {
    /// The directory mounted at `/nix` when programs run in a namespace.
    pub fn namespace_nix_dir(&self) -> Option<PathBuf> {
        match (self.mode, &self.root) {
            (StoreMode::Namespace, Some(root)) => Some(root.join("nix")),
            _ => None,
        }
    }
}

/// The root of the namespace store when none is configured: under the data directory.
pub fn default_namespace_root(settings: &Settings) -> PathBuf {
    settings.dirs.data.join("store")
}

fn origin(source: &Source, key: &str) -> String {
    match source {
        Source::ConfigFile(path) => format!("set by {key} in {}", path.display()),
        source => format!("set by {source}"),
    }
}

/// Decide, without creating anything.
pub fn choose(settings: &Settings) -> Result<Choice, StoreError> {
    let configured_root = settings.store_root.value.clone();
    let root_why = || origin(&settings.store_root.source, "store_root");
    if let Some(mode) = settings.store_mode.value {
        let why = format!(
            "store_mode = {} ({})",
            mode.name(),
            origin(&settings.store_mode.source, "store_mode")
        );
        return Ok(match mode {
            StoreMode::Root => {
                let root = configured_root.unwrap_or_else(|| PathBuf::from("/"));
                if root == Path::new("/") && !layout::can_create(Path::new("/nix/store")) {
                    if let Some(owner) = other_owner(Path::new("/nix")) {
                        return Err(StoreError::NixOwnedByOther { owner });
                    }
                }
                Choice {
                    mode,
                    root: Some(root),
                    why,
                }
            }
            StoreMode::Namespace => Choice {
                mode,
                root: Some(configured_root.unwrap_or_else(|| default_namespace_root(settings))),
                why,
            },
            StoreMode::Daemon => Choice {
                mode,
                root: None,
                why,
            },
        });
    }
    let choice = |mode, root: Option<PathBuf>, why: String| Choice { mode, root, why };
    Ok(if let Some(root) = configured_root {
        choice(StoreMode::Root, Some(root), root_why())
    } else if layout::can_create(Path::new("/nix/store")) {
        choice(
            StoreMode::Root,
            Some(PathBuf::from("/")),
            "/nix/store is writable or can be created by you".into(),
        )
    } else if Path::new(DAEMON_SOCKET).exists() {
        choice(
            StoreMode::Daemon,
            None,
            "/nix/store is not writable by you and a Nix daemon runs".into(),
        )
    } else if Path::new(DEFAULT_DB).exists() {
        choice(
            StoreMode::Root,
            Some(PathBuf::from("/")),
            "/nix/store is not writable by you and holds devenv's database (read-only)".into(),
        )
    } else {
        let why = match other_owner(Path::new("/nix")) {
            Some(owner) => format!("/nix belongs to {owner}, and no Nix daemon runs"),
            None if Path::new("/nix").exists() => {
                "/nix/store is not writable by you, and no Nix daemon runs".to_string()
            }
            None => "/nix does not exist and cannot be created by you, and no Nix daemon runs"
                .to_string(),
        };
        choice(
            StoreMode::Namespace,
            Some(default_namespace_root(settings)),
            why,
        )
    })
}

/// The name of `path`'s owner when that is neither this user nor root (root owning `/nix` is
/// the usual multi-user layout, not a surprise worth naming).
fn other_owner(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata(path).ok()?.uid();
    let me = rustix::process::getuid().as_raw();
    (uid != me && uid != 0).then(|| crate::fsutil::owner::user_name(uid))
}

/// Before installing into the namespace store at `root`: the namespace must be allowed, and
/// the store's file system must let programs run.
pub fn check_namespace(root: &Path) -> Result<(), StoreError> {
    let existing = root
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    if crate::fsutil::mount::is_noexec(existing) {
        return Err(StoreError::NoExec {
            store_dir: root.join("nix/store"),
        });
    }
    let nix_dir = root.join("nix");
    crate::namespace::probe(&nix_dir).map_err(|b| StoreError::NamespaceBlocked {
        nix_dir: nix_dir.clone(),
        hint: crate::namespace::blocked_hint(&b),
        cause: b.cause,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Overrides, Setting};

    fn settings(root: Option<&str>, mode: Option<StoreMode>) -> (tempfile::TempDir, Settings) {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = Settings::for_tests(
            tmp.path(),
            Overrides {
                store_root: root.map(PathBuf::from),
                ..Default::default()
            },
        );
        s.store_mode = Setting {
            value: mode,
            source: Source::Env(crate::variables::STORE_MODE),
        };
        (tmp, s)
    }

    #[test]
    fn an_explicit_mode_wins_and_says_where_it_came_from() {
        let (tmp, s) = settings(None, Some(StoreMode::Namespace));
        let c = choose(&s).unwrap();
        assert_eq!(c.root, Some(tmp.path().join("data/store")));
        assert_eq!(
            c.namespace_nix_dir(),
            Some(tmp.path().join("data/store/nix"))
        );
        assert_eq!(c.why, "store_mode = namespace (set by DEVENV_STORE_MODE)");

        let (_tmp, s) = settings(Some("/srv/s"), Some(StoreMode::Namespace));
        assert_eq!(choose(&s).unwrap().root, Some(PathBuf::from("/srv/s")));

        let (_tmp, s) = settings(Some("/srv/s"), Some(StoreMode::Daemon));
        let c = choose(&s).unwrap();
        assert_eq!((c.mode, c.root), (StoreMode::Daemon, None));
    }

    #[test]
    fn a_configured_root_is_a_root_store_unless_asked_otherwise() {
        let (_tmp, s) = settings(Some("/srv/s"), None);
        let c = choose(&s).unwrap();
        assert_eq!(c.mode, StoreMode::Root);
        assert_eq!(c.namespace_nix_dir(), None);
        assert!(
            c.why.contains("store_root") || c.why.contains("--store-root"),
            "{}",
            c.why
        );
    }
}
