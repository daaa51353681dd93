//! Programs of a namespace store (see `store::mode`): what activation, `run` and `shell` do
//! differently when the store is mounted at `/nix` only inside a user namespace. The hook's
//! PATH gets the project's launcher directory instead of the profile's `bin` (each program
//! there enters the namespace by itself), and `run` and `shell` start their program through the
//! namespace entry of the devenv binary.

use std::path::{Path, PathBuf};
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

/// For `run`, which `exec`s `cmd` next: enter the namespace in this process when the store
/// needs one (a start of the devenv binary less), or, when this process has threads, start
/// `cmd` through a fresh one ([`command`]).
pub fn enter_for_exec(settings: &Settings, cmd: Command) -> Result<Command> {
    let Some(dir) = nix_dir(settings)? else {
        return Ok(cmd);
    };
    match crate::namespace::enter(&dir) {
        Ok(()) => {
            let path = match cmd.get_envs().find(|(k, _)| *k == "PATH") {
                Some((_, v)) => v.map(ToOwned::to_owned),
                None => std::env::var_os("PATH"),
            };
            crate::namespace::refuse_setuid(cmd.get_program(), path).map_err(failure)?;
            Ok(cmd)
        }
        Err(b) if b.threads => command(settings, cmd),
        Err(b) => Err(failure(crate::namespace::Failure {
            message: format!(
                "cannot enter the user namespace that mounts the store `{}` at /nix: {}",
                dir.display(),
                b.cause
            ),
            hint: b.forbidden.then(|| crate::namespace::blocked_hint(&b)),
            exit_code: 1,
        })),
    }
}

fn failure(f: crate::namespace::Failure) -> anyhow::Error {
    let err = anyhow::anyhow!(f.message);
    match f.hint {
        Some(hint) => crate::diagnostic::ResultExt::hint(Err::<(), _>(err), hint).unwrap_err(),
        None => err,
    }
}

/// `env`'s PATH with the project's launcher directory swapped for the profile's `bin`: for a
/// process that runs inside the namespace anyway, where a launcher would only cost one more
/// start of devenv per program.
pub fn unroute(
    settings: &Settings,
    project_key: &str,
    profile: Option<&Path>,
    mut env: crate::shell::Env,
) -> crate::shell::Env {
    let (Some(profile), Some(path)) = (profile, env.get_mut("PATH")) else {
        return env;
    };
    let launchers = launcher_dir(settings, project_key).display().to_string();
    let bin = profile.join("bin").display().to_string();
    let dirs: Vec<&str> = path
        .split(':')
        .map(|d| if d == launchers { bin.as_str() } else { d })
        .collect();
    *path = dirs.join(":");
    env
}

/// `cmd`, to be started inside the namespace when the store needs one.
pub fn command(settings: &Settings, cmd: Command) -> Result<Command> {
    match nix_dir(settings)? {
        Some(dir) => crate::namespace::wrap(&cmd, &dir)
            .context("cannot find devenv's own executable to enter the store's namespace"),
        None => Ok(cmd),
    }
}
