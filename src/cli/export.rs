//! `devenv export <shell>`: print the code that unloads the previous project and loads the one at
//! the current directory. The hook runs it only when something changed.
//!
//! Also home of what `shell`, `run` and `shellenv` share: reading a project's inputs, preparing
//! its environment (installing and switching the profile when the manifest or lock changed, else
//! reading the cache), and the pristine environment of this process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use filetime::FileTime;

use super::Ctx;
use crate::diagnostic::{Report, ResultExt as _};
use crate::env::{cache_key, inputs_hash, EnvCache, EnvSpec};
use crate::manifest::Dialect;
use crate::profile::{Profile, ProfilePackage, DEFAULT_PRIORITY};
use crate::project::{Flavor, Project};
use crate::shell::diff::{revert, Applied};
use crate::shell::trust::{Trust, TrustStore};
use crate::shell::{
    Env, Shell, SHELL_VAR, STATE_ALLOW_VAR, STATE_DIFF_VAR, STATE_DIR_VAR, STATE_STAMP_VAR,
};

/// Print the shell code that loads or unloads the environment (used by the hook).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print code for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// A project's manifest and lock as read from disk.
pub(crate) struct Inputs {
    pub manifest: Vec<u8>,
    pub lock: Option<Vec<u8>>,
    /// The newest mtime of the two, taken before reading them.
    pub mtime: FileTime,
}

impl Inputs {
    pub fn read(project: &Project) -> Result<Inputs> {
        let mpath = project.manifest_path();
        let lpath = project.lock_path();
        let mtime_of = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| FileTime::from_last_modification_time(&m))
                .ok()
        };
        let mtime = [mtime_of(&mpath), mtime_of(&lpath)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_else(FileTime::zero);
        let manifest = std::fs::read(&mpath)
            .with_context(|| format!("could not read the manifest `{}`", mpath.display()))?;
        let lock = std::fs::read(&lpath).ok();
        Ok(Inputs {
            manifest,
            lock,
            mtime,
        })
    }

    pub fn hash(&self) -> String {
        inputs_hash(&self.manifest, self.lock.as_deref())
    }
}

/// Parse the manifest bytes of `project`.
fn parse_manifest(project: &Project, bytes: &[u8]) -> Result<crate::manifest::Manifest> {
    let path = project.manifest_path();
    let text = std::str::from_utf8(bytes)
        .with_context(|| format!("`{}` is not UTF-8 text", path.display()))
        .bad_input()?;
    let dialect = match project.flavor {
        Flavor::Devenv => Dialect::Devenv,
        Flavor::Devbox => Dialect::Devbox,
    };
    let (manifest, _warnings) = crate::manifest::parse(text, &path.display().to_string(), dialect)?;
    Ok(manifest)
}

/// The environment spec of `project`: from the cache when manifest, lock and profile are
/// unchanged; otherwise installed (when the manifest or lock changed and there are packages for
/// this system), switched into a new profile generation (an empty one when the last package was
/// removed), computed and cached.
pub(crate) fn prepare(ctx: &Ctx, project: &Project, inputs: Inputs) -> Result<(EnvSpec, Inputs)> {
    let dirs = &ctx.settings.dirs;
    let profile = Profile::for_project(&dirs.data, &project.root);
    let project_key = crate::profile::project_key(&project.root);
    let cache = EnvCache::new(&dirs.state);
    let target = profile.current_target();
    let key = cache_key(&inputs.manifest, inputs.lock.as_deref(), target.as_deref());
    if let Some(spec) = cache.get(&project_key, &key) {
        return Ok((spec, inputs));
    }
    let manifest = parse_manifest(project, &inputs.manifest)?;
    let system = &ctx.settings.system;
    let wants_packages = manifest.packages.iter().any(|p| p.enabled_on(system));
    let mut inputs = inputs;
    let mut fallback = false;
    let profile_link = if wants_packages {
        let generations = profile.load()?;
        if generations.current_inputs.as_deref() != Some(&inputs.hash()) || target.is_none() {
            match super::install::install_project(ctx, project) {
                Ok(installed) => {
                    // Installing may have (re)written the lock; the generation stands for what
                    // is on disk now.
                    inputs = Inputs::read(project)?;
                    switch_generation(ctx, &profile, &project_key, &installed, &inputs.hash())?;
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
            switch_generation(ctx, &profile, &project_key, &[], &inputs.hash())?;
        }
        Some(profile.current_link())
    } else {
        None
    };
    let manifest = parse_manifest(project, &inputs.manifest)?;
    let key = cache_key(
        &inputs.manifest,
        inputs.lock.as_deref(),
        profile.current_target().as_deref(),
    );
    let spec = EnvSpec::compute(key, &manifest, profile_link.as_deref());
    if !fallback {
        cache.put(&project_key, &spec)?;
    }
    Ok((spec, inputs))
}

/// Make the installed packages the project's current generation; a new generation becomes a GC
/// root and sends every shell's hook to re-export at its next prompt.
fn switch_generation(
    ctx: &Ctx,
    profile: &Profile,
    project_key: &str,
    installed: &[super::install::InstalledPackage],
    inputs: &str,
) -> Result<()> {
    let packages: Vec<ProfilePackage> = installed
        .iter()
        .map(|p| ProfilePackage {
            key: p.key.clone(),
            priority: DEFAULT_PRIORITY,
            outputs: p
                .outputs
                .iter()
                .map(|o| (o.logical.clone(), o.physical.clone()))
                .collect(),
        })
        .collect();
    let (number, created) = profile.switch(&packages, inputs)?;
    if created {
        EnvCache::new(&ctx.settings.dirs.state).invalidate(project_key);
        let paths: Vec<String> = packages
            .iter()
            .flat_map(|p| p.outputs.iter().map(|(l, _)| l.clone()))
            .collect();
        add_generation_root(ctx, project_key, number, &paths)?;
    }
    Ok(())
}

/// GC root name of a profile generation: the store keeps its paths while the generation exists.
pub(crate) fn generation_root_name(project_key: &str, number: u32) -> String {
    format!("profile-{project_key}-{number}")
}

/// Register generation `number` as a GC root (a store shared with Nix's daemon keeps its own
/// roots: there is no local database to record it in).
fn add_generation_root(ctx: &Ctx, project_key: &str, number: u32, paths: &[String]) -> Result<()> {
    use crate::store::{Backend, Store, StoreOptions};
    if let Backend::Local(store) = Store::open_backend(&ctx.settings, StoreOptions::default())? {
        store
            .add_gc_root(&generation_root_name(project_key, number), paths)
            .context("could not register the new generation as a GC root")?;
    }
    Ok(())
}

/// The directory the user is in, as the shell sees it (`$PWD` keeps symlinked paths).
pub(crate) fn logical_cwd() -> Result<PathBuf> {
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

/// This process's environment (variables that are not valid UTF-8 are left out, and therefore
/// never touched).
pub(crate) fn current_env() -> Env {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// `env` with any loaded project undone and devenv's state removed.
pub(crate) fn pristine(env: &Env) -> Env {
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

/// The project the user is in: the nearest one above the current directory, else the project of
/// the enclosing `devenv shell`.
pub(crate) fn find_project(cwd: &Path) -> Option<Project> {
    Project::find(cwd).or_else(|| {
        let root = std::env::var_os(SHELL_VAR).filter(|v| !v.is_empty())?;
        Project::at(Path::new(&root))
    })
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let shell = args.shell;
    let current = current_env();
    let old = current
        .get(STATE_DIFF_VAR)
        .and_then(|s| Applied::decode(s))
        .unwrap_or_default();
    let mut new = Applied::default();
    let mut target = pristine(&current);
    let mut code_after = String::new();
    let cwd = logical_cwd()?;
    if let Some(project) = find_project(&cwd) {
        let inputs = Inputs::read(&project)?;
        let canonical = project
            .root
            .canonicalize()
            .unwrap_or_else(|_| project.root.clone());
        let trust_store = TrustStore::new(&ctx.settings.dirs.data);
        let allow_file = trust_store.allow_file(&canonical, &inputs.manifest);
        let consent = std::env::var_os(SHELL_VAR).is_some_and(|v| Path::new(&v) == project.root);
        let trust = if consent {
            Trust::Allowed
        } else {
            trust_store.status(&canonical, &inputs.manifest)
        };
        let project_key = crate::profile::project_key(&project.root);
        let cache = EnvCache::new(&ctx.settings.dirs.state);
        let mut allow_state = format!("!{}", allow_file.display());
        let manifest_name = project.manifest_path().display().to_string();
        let mut stamp_inputs = (inputs.hash(), inputs.mtime);
        match trust {
            Trust::Allowed => match prepare(ctx, &project, inputs).and_then(|(spec, inputs)| {
                let applied = spec.apply(&project.root, target.clone())?;
                Ok((spec, inputs, applied))
            }) {
                Ok((spec, inputs, (env, applied))) => {
                    stamp_inputs = (inputs.hash(), inputs.mtime);
                    target = env;
                    if !applied.is_empty() {
                        target.insert(STATE_DIFF_VAR.into(), applied.encode());
                    }
                    new = applied;
                    if !consent {
                        allow_state = format!("+{}", allow_file.display());
                    }
                    shell.init_hook(&mut code_after, &spec.init_hook);
                }
                Err(err) => {
                    // Shown once: the state below records this content, so the next prompt is quiet.
                    ctx.printer.error(&Report::from_error(&err));
                }
            },
            Trust::NotAllowed => ctx.printer.warn(format!(
                "`{manifest_name}` is not allowed to load automatically; run `devenv allow` to trust its current content"
            )),
            Trust::Denied => ctx.printer.info(format!(
                "devenv: `{manifest_name}` is denied; `devenv allow` lifts it"
            )),
        }
        let stamp = cache
            .stamp(&project_key, &stamp_inputs.0, stamp_inputs.1)
            .context("cannot write the activation stamp")?;
        target.insert(STATE_DIR_VAR.into(), format!("-{}", project.root.display()));
        target.insert(STATE_STAMP_VAR.into(), format!("-{}", stamp.display()));
        target.insert(STATE_ALLOW_VAR.into(), allow_state);
    }
    let mut code = shell.activation(&current, &old, &target, &new);
    if !code.is_empty() {
        shell.forget_command_paths(&mut code);
    }
    code.push_str(&code_after);
    super::print_data(&code);
    Ok(ExitCode::SUCCESS)
}
