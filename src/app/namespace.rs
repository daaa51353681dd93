//! Programs of a namespace store (see `store::mode`): what activation, `run` and `shell` do
//! differently when the store is mounted at `/nix` only inside a user namespace. The hook's
//! PATH gets the project's launcher directory instead of the profile's `bin` (each program
//! there enters the namespace by itself), and `run` and `shell` start their program through the
//! namespace entry of the devenv binary.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::env::EnvSpec;
use crate::settings::Settings;

/// The directory mounted at `/nix` for this invocation's programs, when the store is a
/// namespace store and this process is not already inside its namespace.
pub fn nix_dir(settings: &Settings) -> Result<Option<PathBuf>> {
    let choice = crate::store::mode::choose(settings).map_err(super::store::explain)?;
    Ok(choice
        .namespace_nix_dir()
        // A store not made yet has no programs to run: nothing to mount.
        .filter(|dir| dir.is_dir() && !crate::namespace::inside(dir)))
}

/// The project's launcher directory: `<data>/launchers/<project key>`.
pub fn launcher_dir(settings: &Settings, project_key: &str) -> PathBuf {
    settings.dirs.data.join("launchers").join(project_key)
}

/// `spec` with its profile's `bin` on PATH replaced by launchers, when the store is a
/// namespace store; unchanged otherwise.
pub fn route(settings: &Settings, project_key: &str, mut spec: EnvSpec) -> Result<EnvSpec> {
    let choice = crate::store::mode::choose(settings).map_err(super::store::explain)?;
    let (Some(nix_dir), Some(profile)) = (choice.namespace_nix_dir(), spec.profile.clone()) else {
        return Ok(spec);
    };
    let bin = profile.join("bin");
    let dir = launcher_dir(settings, project_key);
    crate::namespace::launcher::write(&dir, &nix_dir, &bin)?;
    let (bin, dir) = (bin.display().to_string(), dir.display().to_string());
    for (var, dirs) in &mut spec.lists {
        if var == "PATH" {
            for d in dirs.iter_mut().filter(|d| **d == bin) {
                d.clone_from(&dir);
            }
        }
    }
    Ok(spec)
}

/// `cmd`, to be started inside the namespace when the store needs one.
pub fn command(settings: &Settings, cmd: Command) -> Result<Command> {
    match nix_dir(settings)? {
        Some(dir) => crate::namespace::wrap(&cmd, &dir)
            .context("cannot find devenv's own executable to enter the store's namespace"),
        None => Ok(cmd),
    }
}
