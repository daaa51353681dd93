//! Systems without Linux's user and mount namespaces (macOS): there is no unprivileged way to
//! make a directory appear at `/nix`, so the namespace store is "not on this system" and
//! `/nix` has to be created once (on macOS: a synthetic.conf entry and an APFS volume, as the
//! Nix installer makes).

use std::path::Path;

use super::Blocked;

pub(super) fn probe() -> Result<(), Blocked> {
    enter(Path::new("/"))
}

pub(super) fn enter(_nix_dir: &Path) -> Result<(), Blocked> {
    Err(Blocked {
        setting: None,
        cause: "user namespaces are not available on this system (they are Linux's)".to_string(),
        apparmor: false,
        forbidden: true,
        threads: false,
    })
}
