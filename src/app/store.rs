//! Opening the store for an operation, and saying what to do when it fails.
//!
//! The store's errors ([`StoreError`]) describe the store; the way out depends on devenv's
//! commands and settings, which the store does not know, so the hints are added here: a full
//! disk points at `devenv gc`, a read-only store at where `devenv install` can run, a store
//! that cannot be created at `DEVENV_STORE_ROOT`, and so on.

use anyhow::Result;

use crate::diagnostic::ResultExt as _;
use crate::settings::Settings;
use crate::store::error::{CacheWriteError, RefusalStage};
use crate::store::{LocalStore, Store, StoreError};

/// The store for `settings`: devenv's own, or the Nix daemon's (see [`crate::store::open`]).
pub fn open(settings: &Settings) -> Result<Box<dyn Store>> {
    crate::store::open(settings).map_err(explain)
}

/// devenv's own store, for what only it can do (`gc`, `cache push`).
pub fn open_local(settings: &Settings) -> Result<LocalStore> {
    LocalStore::open(settings).map_err(explain)
}

/// `e` as an error to show, with the hints that apply to it.
pub fn explain(e: StoreError) -> anyhow::Error {
    let hints: Vec<String> = match &e {
        StoreError::NoStore => vec![
            "create it once, owned by you: `sudo mkdir -p /nix && sudo chown $USER /nix` \
             (install.sh offers to do this)"
                .into(),
            "or set DEVENV_STORE_ROOT to a directory you own (programs from binary caches \
             expect /nix/store, so this suits caches and tests)"
                .into(),
        ],
        StoreError::NixOwnedByOther { .. } => vec![
            "ask its owner to make `/nix/store` writable for you, or set store_mode to \
             `namespace` (DEVENV_STORE_MODE=namespace) to keep a store of your own, mounted \
             at /nix for its programs only"
                .into(),
        ],
        StoreError::NamespaceBlocked { hint, .. } => vec![hint.clone()],
        StoreError::NoExec { .. } => vec![
            "set DEVENV_STORE_ROOT to a directory on a file system that allows programs, or \
             create /nix once, owned by you: `sudo mkdir -p /nix && sudo chown $USER /nix`"
                .into(),
        ],
        StoreError::DaemonOwned => vec![
            "set DEVENV_STORE_ROOT (or --store-root) to a directory you own, or use Nix's own \
             commands for its store (`nix-collect-garbage`, `nix copy`)"
                .into(),
        ],
        StoreError::CannotCreate { .. } => vec![
            "check that the store root is writable, or choose another with DEVENV_STORE_ROOT"
                .into(),
        ],
        StoreError::ReadOnly { store_dir, .. } => vec![format!(
            "run `devenv install` where `{}` is writable (e.g. when building the image that \
             holds it), or set DEVENV_STORE_ROOT to a store root you can write",
            store_dir.display()
        )],
        StoreError::DiskFull(full) if full.quota => vec![
            "free some of your files on that disk (`devenv gc` removes store paths no project \
             uses), or set DEVENV_STORE_ROOT to a store root on another disk"
                .into(),
        ],
        StoreError::DiskFull(_) => vec![
            "free space on that disk (`devenv gc` removes store paths no project uses), or set \
             DEVENV_STORE_ROOT to a store root on a disk with room"
                .into(),
        ],
        StoreError::Refused(r) if r.stage == RefusalStage::Narinfo => vec![
            "a binary cache is trusted only for narinfos signed by a key in \
             --trusted-public-keys / DEVENV_TRUSTED_PUBLIC_KEYS, and must be reachable"
                .into(),
        ],
        // A network that is not there is fixed by a local cache, not by another URL.
        StoreError::Unreachable(u) => match u.caches.iter().find_map(|c| c.hint.clone()) {
            Some(hint) => vec![hint],
            None => vec!["check the network and the substituter URLs \
                 (--substituters / DEVENV_SUBSTITUTERS / \"substituters\" in config.json)"
                .into()],
        },
        StoreError::BuildMismatch { .. } => {
            vec!["the lock may come from another nixpkgs evaluation; run `devenv update`".into()]
        }
        StoreError::CacheWrite(CacheWriteError::OtherStore { .. }) => {
            vec!["write to an empty directory, or to a binary cache for `/nix/store`".into()]
        }
        _ => Vec::new(),
    };
    let bad_input = e.is_bad_input();
    let mut err = match e {
        // Its own chain, markers included, exactly as the store built it.
        StoreError::Other(inner) => inner,
        typed => anyhow::Error::new(typed),
    };
    for hint in hints {
        err = Err::<(), _>(err).hint(hint).expect_err("an error");
    }
    if bad_input {
        err = Err::<(), _>(err).bad_input().expect_err("an error");
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Report, EXIT_BAD_INPUT, EXIT_FAILURE};

    #[test]
    fn hints_name_the_commands_and_settings_that_help() {
        let report = Report::from_error(&explain(StoreError::ReadOnly {
            store_dir: "/ro/nix/store".into(),
            paths: vec!["/nix/store/x".into()],
        }));
        assert!(report
            .message
            .starts_with("the store `/ro/nix/store` is read-only"));
        assert!(report.hints[0].starts_with("run `devenv install` where `/ro/nix/store`"));
        assert_eq!(report.exit_code, EXIT_FAILURE);

        let report = Report::from_error(&explain(StoreError::NoStore));
        assert_eq!(report.hints.len(), 2);
        assert!(report
            .hints
            .iter()
            .any(|h| h.contains("sudo mkdir -p /nix")));

        let other_store = CacheWriteError::OtherStore {
            dir: "/c".into(),
            store_dir: "/gnu/store".into(),
        };
        let report = Report::from_error(&explain(StoreError::CacheWrite(other_store)));
        assert_eq!(report.exit_code, EXIT_BAD_INPUT);
        assert!(report.message.contains("/gnu/store"), "{report:?}");
    }
}
