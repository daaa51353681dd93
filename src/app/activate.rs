//! Activating a project: its installed packages become a profile generation (a GC root), and
//! the generation plus the manifest's `env`, `init_hook` and scripts become an environment,
//! cached per project.
//!
//! [`environment`] is what `export` (the hook), `shell`, `run` and `shellenv` share. It takes
//! the [`Inputs`] the caller checked and builds everything from them; when the manifest or lock
//! changed since the current generation it brings the lock up to date and installs first.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::realize::{BuildPolicy, InstalledPackage};
use super::{Context, Inputs, LockMode, Project};
use crate::diagnostic::Report;
use crate::env::{cache_key, EnvCache, EnvSpec};
use crate::nix::store_path::StorePath;
use crate::profile::{Profile, ProfilePackage, DEFAULT_PRIORITY};
use crate::shell::diff::{revert, Applied};
use crate::shell::{Env, STATE_ALLOW_VAR, STATE_DIFF_VAR, STATE_DIR_VAR, STATE_STAMP_VAR};
use crate::store::RootSpec;

/// The environment spec of `project` for `inputs`: from the cache when manifest, lock and
/// profile are unchanged; otherwise locked (resolving stale entries), installed (never built,
/// see [`BuildPolicy::Never`]), switched into a new profile generation (an empty one when the
/// last package was removed), computed and cached. Returns the inputs the environment stands
/// for: `inputs`, or what was written when the lock had to be updated.
pub fn environment(ctx: &Context, project: &Project, inputs: Inputs) -> Result<(EnvSpec, Inputs)> {
    let dirs = &ctx.settings.dirs;
    let profile = Profile::for_project(&dirs.data, &project.root);
    let project_key = project.key();
    let cache = EnvCache::new(&dirs.state);
    let target = profile.current_target();
    let key = cache_key(
        &inputs.keyed_manifest(),
        inputs.lock.as_deref(),
        target.as_deref(),
    );
    profile.verify()?;
    if let Some(spec) = cache.get(&project_key, &key)? {
        tracing::debug!(%key, "environment from the cache");
        return Ok((spec, inputs));
    }
    tracing::debug!(%key, "computing the environment");
    let system = &ctx.settings.system;
    let wants_packages = inputs
        .manifest()?
        .manifest
        .packages
        .iter()
        .any(|p| p.enabled_on(system));
    let mut inputs = inputs;
    let mut fallback = false;
    let profile_link = if wants_packages {
        let generations = profile.load()?;
        if generations.current_inputs.as_deref() != Some(&inputs.hash()) || target.is_none() {
            match install(ctx, project, &inputs) {
                Ok((installed, written)) => {
                    if let Some(written) = written {
                        inputs = written;
                    }
                    switch_generation(ctx, &profile, project, &installed, &inputs.hash())?;
                }
                Err(err) if target.is_some() => {
                    // Offline after a `git pull`: keep working with the tools already there
                    // (like nix-direnv's fallback), say so once, and cache nothing so the next
                    // activation tries again.
                    ctx.printer.error(&Report::from_error(
                        &err.context("could not install the project's packages"),
                    ));
                    ctx.printer.warn(format!(
                        "using the previous generation of `{}` until installing succeeds",
                        project.root.display()
                    ));
                    fallback = true;
                }
                Err(err) => return Err(err.context("could not install the project's packages")),
            }
        }
        Some(profile.current_link())
    } else if target.is_some() {
        // Nothing is wanted on this system any more, but earlier generations had packages: an
        // empty generation makes the removal a change like any other, which `rollback` undoes.
        let generations = profile.load()?;
        if generations.current_inputs.as_deref() != Some(&inputs.hash()) {
            switch_generation(ctx, &profile, project, &[], &inputs.hash())?;
        }
        Some(profile.current_link())
    } else {
        None
    };
    let key = cache_key(
        &inputs.keyed_manifest(),
        inputs.lock.as_deref(),
        profile.current_target().as_deref(),
    );
    crate::plugins::create_files(&inputs.plugins()?.files)
        .context("could not create the files the project's plugins need")?;
    let spec = EnvSpec::compute(
        key,
        &inputs.manifest()?.manifest,
        profile_link.as_deref(),
        &profile.current_link(),
    );
    let spec = super::namespace::route(&ctx.settings, &project_key, spec)?;
    if !fallback {
        cache.put(&project_key, &spec)?;
    }
    Ok((spec, inputs))
}

/// Lock (resolving stale entries) and realize for activation, never building.
fn install(
    ctx: &Context,
    project: &Project,
    inputs: &Inputs,
) -> Result<(Vec<InstalledPackage>, Option<Inputs>)> {
    let installed = super::install(
        ctx,
        project,
        inputs.clone(),
        LockMode::Write(None),
        BuildPolicy::Never,
    )?;
    let written = (installed.inputs.hash() != inputs.hash()).then_some(installed.inputs);
    Ok((installed.packages, written))
}

/// Make the installed packages the project's current generation, standing for `inputs` (their
/// hash); a new generation becomes a GC root and sends every shell's hook to re-export at its
/// next prompt. Returns the generation's number; `None` when there is nothing to activate (no
/// packages, and never a generation before).
pub fn activate(
    ctx: &Context,
    project: &Project,
    installed: &[InstalledPackage],
    inputs: &Inputs,
) -> Result<Option<u32>> {
    let profile = Profile::for_project(&ctx.settings.dirs.data, &project.root);
    if installed.is_empty() && profile.current_target().is_none() {
        return Ok(None);
    }
    switch_generation(ctx, &profile, project, installed, &inputs.hash()).map(Some)
}

fn switch_generation(
    ctx: &Context,
    profile: &Profile,
    project: &Project,
    installed: &[InstalledPackage],
    inputs: &str,
) -> Result<u32> {
    let packages: Vec<ProfilePackage> = installed
        .iter()
        .map(|p| ProfilePackage {
            key: p.key.clone(),
            priority: DEFAULT_PRIORITY,
            outputs: p
                .outputs
                .iter()
                .map(|o| (o.logical.to_absolute(), o.physical.clone()))
                .collect(),
        })
        .collect();
    let (number, created) = profile.switch(&packages, inputs)?;
    if created {
        EnvCache::new(&ctx.settings.dirs.state).invalidate(&project.key());
        let paths: Vec<StorePath> = installed
            .iter()
            .flat_map(|p| p.outputs.iter().map(|o| o.logical.clone()))
            .collect();
        add_generation_root(ctx, project, number, &paths)?;
    }
    Ok(number)
}

/// GC root name of a profile generation: the store keeps its paths while the generation exists.
pub fn generation_root_name(project_key: &str, number: u32) -> String {
    format!("profile-{project_key}-{number}")
}

/// Register generation `number` as a GC root tied to the project's manifest: deleting the
/// project frees its generations at the next `gc` (or, with the Nix daemon's store, the next
/// time roots are added).
fn add_generation_root(
    ctx: &Context,
    project: &Project,
    number: u32,
    paths: &[StorePath],
) -> Result<()> {
    let store = super::store::open(&ctx.settings)?;
    let manifest = project.manifest_path();
    let root = RootSpec {
        name: &generation_root_name(&project.key(), number),
        link: Some(&manifest),
    };
    store
        .add_gc_root(root, paths)
        .map_err(super::store::explain)
        .context("could not register the new generation as a GC root")
}

/// The directory the user is in, as the shell sees it (`$PWD` keeps symlinked paths).
pub fn logical_cwd() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    if let Some(pwd) = std::env::var_os("PWD").map(PathBuf::from) {
        if pwd.is_absolute() && same_file(&pwd, &cwd) {
            return Ok(pwd);
        }
    }
    Ok(cwd)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The shell a manifest script (with the init hook in front of it) runs in under `devenv run`.
/// devenv's own manifests promise POSIX `sh`. Devbox projects get `bash` when the environment
/// has one: their hooks are written for the shell `devbox shell` runs them in (`source`,
/// `[[`), and where `/bin/sh` is dash such a hook fails under `run` alone (Devbox's own issue
/// 2607, whose fix prefers bash the same way). Without a bash, `sh` it is.
pub fn script_shell(dialect: crate::manifest::Dialect, env: &Env) -> PathBuf {
    if dialect == crate::manifest::Dialect::Devbox {
        let path = env.get("PATH").map(String::as_str).unwrap_or_default();
        for dir in std::env::split_paths(path) {
            let bash = dir.join("bash");
            let executable = std::fs::metadata(&bash).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt as _;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if executable {
                return bash;
            }
        }
    }
    PathBuf::from("sh")
}

/// This process's environment (variables that are not valid UTF-8 are left out, and therefore
/// never touched).
pub fn current_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// `env` with any loaded project undone and devenv's state removed.
pub fn pristine(env: &Env) -> Env {
    let applied = env
        .get(STATE_DIFF_VAR)
        .and_then(|s| Applied::decode(s))
        .unwrap_or_default();
    let mut out = revert(env, &applied);
    for var in [
        STATE_DIR_VAR,
        STATE_STAMP_VAR,
        STATE_ALLOW_VAR,
        STATE_DIFF_VAR,
    ] {
        out.remove(var);
    }
    out
}
