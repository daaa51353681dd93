//! The store check of `devenv doctor`: which store mode `store::mode` picks and why, then the
//! store itself (writable, read-only, the daemon's, or a namespace store whose programs can run).

use std::path::Path;

use super::{Check, Probe, Status};
use crate::settings::{Settings, Source};
use crate::store::layout::can_create;

/// Where a configured store root came from, for "which root and why".
fn store_root_origin(settings: &Settings) -> String {
    match &settings.store_root.source {
        Source::ConfigFile(path) => format!("set by store_root in {}", path.display()),
        source => format!("set by {source}"),
    }
}

/// The store check: the store mode `store::mode::choose` picks, and why, then the store itself.
pub(super) fn store(settings: &Settings, probe: &Probe) -> Check {
    let choice = match crate::store::mode::choose(settings) {
        Ok(choice) => choice,
        Err(e) => {
            return Check::new("store", Status::Fail, e.to_string()).fix(
                "export DEVENV_STORE_MODE=namespace   # a store of your own, mounted at /nix for its programs",
            )
        }
    };
    let check = match (choice.mode, &choice.root) {
        (crate::settings::StoreMode::Namespace, Some(root)) => namespace_store(root),
        _ => store_at_root(settings, probe),
    };
    check.detail(format!(
        "store mode: {} ({})",
        choice.mode.name(),
        choice.why
    ))
}

/// A namespace store: whether its programs can run here (namespaces allowed, no `noexec`).
fn namespace_store(root: &Path) -> Check {
    let dir = crate::store::layout::StoreLayout::new(root).store_dir();
    match crate::store::mode::check_namespace(root) {
        Ok(()) => Check::new(
            "store",
            Status::Ok,
            format!(
                "store at {}, mounted at /nix in a user namespace for its programs",
                dir.display()
            ),
        )
        .detail(crate::namespace::holder_summary(&root.join("nix"))),
        Err(e) => {
            let report = crate::diagnostic::Report::from_error(&crate::app::store::explain(e));
            let mut check = Check::new("store", Status::Fail, report.message);
            for hint in report.hints {
                check = check.detail(hint);
            }
            check.fix("sudo mkdir -p /nix && sudo chown \"$USER\" /nix")
        }
    }
}

/// The store at a root (configured, or `/`), or the Nix daemon's: mirrors `store::mode`'s
/// automatic choice. It only looks, where opening the store would create directories.
fn store_at_root(settings: &Settings, probe: &Probe) -> Check {
    let with_nix = |check: Check, root: &Path| match crate::store::nix::shared_nix_db(root) {
        Some(db) => check.detail(format!(
            "shared with a Nix installation ({}): paths devenv fetches are registered with it too",
            db.display()
        )),
        None => check,
    };
    match &settings.store_root.value {
        Some(root) => {
            let dir = crate::store::layout::StoreLayout::new(root).store_dir();
            let why = store_root_origin(settings);
            if can_create(&dir) {
                let check = Check::new(
                    "store",
                    Status::Ok,
                    format!("store at {} ({why}), writable", dir.display()),
                )
                .detail("store paths are still named /nix/store/…; programs from binary caches may need /nix/store itself to run");
                with_nix(check, root)
            } else if crate::store::layout::StoreLayout::new(root)
                .real_path(crate::store::DEFAULT_DB)
                .exists()
            {
                read_only_store(&dir, &why)
            } else {
                Check::new(
                    "store",
                    Status::Fail,
                    format!("store at {} ({why}) is not writable by you", dir.display()),
                )
                .fix(format!(
                    "mkdir -p {0} && test -w {0} || export DEVENV_STORE_ROOT=\"$HOME/.local/share/devenv/root\"",
                    shell_words::quote(&dir.to_string_lossy())
                ))
            }
        }
        None if can_create(Path::new("/nix/store")) => with_nix(
            Check::new(
                "store",
                Status::Ok,
                "store at /nix/store (the default: no store root is configured), writable",
            ),
            Path::new("/"),
        ),
        None if probe.daemon_socket.exists() => Check::new(
            "store",
            Status::Warn,
            "/nix/store belongs to a Nix installation (a daemon runs) and is not writable by you",
        )
        .detail(format!(
            "Nix daemon socket: {}",
            probe.daemon_socket.display()
        ))
        .fix(
            "export DEVENV_STORE_ROOT=\"$HOME/.local/share/devenv/root\"   # or see docs/store.md",
        ),
        None if Path::new(crate::store::DEFAULT_DB).exists() => {
            read_only_store(Path::new("/nix/store"), "the default")
        }
        None => Check::new(
            "store",
            Status::Fail,
            "/nix/store does not exist and you cannot create it, and no Nix daemon runs",
        )
        .fix(
            "./install.sh --create-nix-dir   # or: sudo mkdir -p /nix && sudo chown \"$USER\" /nix",
        ),
    }
}

/// A store with devenv's database that this user cannot write: what it has can be used.
fn read_only_store(dir: &Path, why: &str) -> Check {
    Check::new(
        "store",
        Status::Warn,
        format!(
            "store at {} ({why}) is read-only for you: installed packages can be used, nothing \
             can be added",
            dir.display()
        ),
    )
    .fix("export DEVENV_STORE_ROOT=\"$HOME/.local/share/devenv/root\"   # a store you can write")
}
