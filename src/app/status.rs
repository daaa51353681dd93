//! `devenv status`: what the shell asking has loaded and what its next prompt will do, as data.
//!
//! It answers the questions people ask when a tool is not on `PATH`: which project (if any) this
//! shell has loaded and from which generation, whether that project is allowed, whether its lock
//! still pins what the manifest asks for, and what the hook will do at the next prompt. The last
//! answer repeats the hook's own builtin checks (nearest project, `-nt` against the stamp, the
//! trust record's existence, the global environment outside projects) on the state variables the
//! shell passed down, so it predicts the hook exactly; nothing here writes a file or installs
//! anything.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::{global, trust, Context, Inputs, Project};
use crate::profile::Profile;
use crate::shell::trust::Trust;
use crate::shell::{
    Env, SHELL_VAR, STATE_ALLOW_VAR, STATE_DIFF_VAR, STATE_DIR_VAR, STATE_STAMP_VAR,
};

/// The trust state of a project, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustState {
    Allowed,
    NotAllowed,
    Denied,
    /// An allowance exists but another user could have written it.
    UntrustedRecord,
}

/// Whether the lock pins every package the manifest asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockState {
    pub exists: bool,
    /// Lock keys of manifest packages with no fitting entry; empty when up to date.
    pub stale: Vec<String>,
}

/// The project around the current directory (or the enclosing `devenv shell`'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectState {
    pub root: PathBuf,
    pub manifest: PathBuf,
    pub trust: TrustState,
    /// Inside `devenv shell` of this project, which counts as consent whatever `trust` says.
    pub shell_consent: bool,
    pub lock: LockState,
    /// The profile's current generation, if the project has one.
    pub generation: Option<u32>,
}

/// What this shell has loaded, from its state variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveState {
    pub root: PathBuf,
    /// Whether its environment is applied (a blocked project is recorded but not applied).
    pub loaded: bool,
    pub generation: Option<u32>,
}

/// What the hook does at the next prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NextPrompt {
    /// Nothing changed: the prompt starts no process.
    Nothing,
    /// A project is loaded for the first time in this shell.
    Load,
    /// The loaded project's manifest, lock or trust changed: it is exported again.
    Reload,
    /// The shell left the loaded project for no project.
    Unload,
    /// The shell moved from one project to another.
    Switch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub project: Option<ProjectState>,
    pub active: Option<ActiveState>,
    pub next_prompt: NextPrompt,
    /// Why, in words.
    pub reason: String,
}

fn state_path(env: &Env, var: &str) -> Option<PathBuf> {
    env.get(var)
        .and_then(|v| v.strip_prefix('-'))
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn generation(ctx: &Context, root: &Path) -> Result<Option<u32>> {
    let profile = Profile::for_project(&ctx.settings.dirs.data, root);
    if profile.current_target().is_none() {
        return Ok(None);
    }
    Ok(profile.load()?.current)
}

/// `a -nt b` as the shells test it: both exist and `a`'s mtime is later.
fn newer(a: &Path, b: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!((mtime(a), mtime(b)), (Some(x), Some(y)) if x > y)
}

/// The hook's quiet check for `project`, loaded in a shell with state `env`: `None` when the
/// prompt stays quiet, else why it runs `devenv export`.
fn changed_since_loaded(project: &Project, env: &Env) -> Option<&'static str> {
    let Some(stamp) = state_path(env, STATE_STAMP_VAR).filter(|s| s.exists()) else {
        return Some("its activation stamp is gone (a rollback, a new generation or an allowance)");
    };
    if newer(&project.manifest_path(), &stamp) || newer(&project.lock_path(), &stamp) {
        return Some("its manifest or lock changed since it was loaded");
    }
    let allow = env.get(STATE_ALLOW_VAR).map(String::as_str).unwrap_or("");
    if let Some(file) = allow.strip_prefix('+') {
        if Path::new(file).exists() {
            return None;
        }
        return Some("its allowance was removed");
    }
    if let Some(file) = allow.strip_prefix('!') {
        if !Path::new(file).exists() {
            return None;
        }
        return Some("it was allowed since");
    }
    Some("the shell's record of it is incomplete")
}

/// The status of the shell whose working directory is `cwd` and whose environment is `env`.
pub fn status(ctx: &Context, cwd: &Path, env: &Env) -> Result<Status> {
    let consent_root = env
        .get(SHELL_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let found = Project::find(cwd)
        .filter(|p| !global::contains(ctx, &p.root))
        .or_else(|| consent_root.as_deref().and_then(Project::at))
        .or_else(|| global::project(ctx));
    let project = match &found {
        Some(p) => {
            let inputs = Inputs::read(p)?;
            let trust = match trust::status(ctx, p, &inputs)? {
                _ if global::is_global(ctx, p) => TrustState::Allowed,
                Ok(Trust::Allowed) => TrustState::Allowed,
                Ok(Trust::NotAllowed) => TrustState::NotAllowed,
                Ok(Trust::Denied) => TrustState::Denied,
                Err(_) => TrustState::UntrustedRecord,
            };
            Some(ProjectState {
                root: p.root.clone(),
                manifest: p.manifest_path(),
                trust,
                shell_consent: consent_root.as_deref() == Some(p.root.as_path()),
                lock: LockState {
                    exists: inputs.lock.is_some(),
                    stale: super::lock::stale_keys(&inputs)?,
                },
                generation: generation(ctx, &p.root)?,
            })
        }
        None => None,
    };
    let active = match state_path(env, STATE_DIR_VAR) {
        Some(root) => Some(ActiveState {
            loaded: env.get(STATE_DIFF_VAR).is_some_and(|d| !d.is_empty()),
            generation: generation(ctx, &root)?,
            root,
        }),
        None => None,
    };
    let (next_prompt, reason) = match (&found, &active) {
        (None, None) => (
            NextPrompt::Nothing,
            "no project here and none loaded".to_string(),
        ),
        (None, Some(a)) => (
            NextPrompt::Unload,
            format!("the shell left `{}`", a.root.display()),
        ),
        (Some(p), None) => (
            NextPrompt::Load,
            format!("the shell entered `{}`", p.root.display()),
        ),
        (Some(p), Some(a)) if a.root != p.root => (
            NextPrompt::Switch,
            format!(
                "the shell moved from `{}` to `{}`",
                a.root.display(),
                p.root.display()
            ),
        ),
        (Some(p), Some(_)) => match changed_since_loaded(p, env) {
            None => (
                NextPrompt::Nothing,
                "nothing changed since it was loaded; the prompt starts no process".to_string(),
            ),
            Some(why) => (NextPrompt::Reload, why.to_string()),
        },
    };
    let blocked = project
        .as_ref()
        .is_some_and(|p| p.trust != TrustState::Allowed && !p.shell_consent);
    let reason = match next_prompt {
        NextPrompt::Load | NextPrompt::Reload | NextPrompt::Switch if blocked => {
            format!("{reason}; it is not allowed, so nothing of it loads")
        }
        _ => reason,
    };
    Ok(Status {
        project,
        active,
        next_prompt,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_paths_drop_the_marker_and_ignore_empty_values() {
        let env: Env = [
            (STATE_DIR_VAR.to_string(), "-/home/me/demo".to_string()),
            (STATE_STAMP_VAR.to_string(), "-".to_string()),
        ]
        .into();
        assert_eq!(
            state_path(&env, STATE_DIR_VAR),
            Some(PathBuf::from("/home/me/demo"))
        );
        assert_eq!(state_path(&env, STATE_STAMP_VAR), None);
        assert_eq!(state_path(&env, STATE_ALLOW_VAR), None);
    }
}
