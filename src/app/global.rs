//! The user's global environment (`devenv global`): tools wanted in every shell, kept as a
//! manifest and lock of their own in `<config dir>/global/`, with a profile, generations and
//! rollback like any project's.
//!
//! It is the user's own configuration, as trusted as `config.json` beside it, so it needs no
//! `devenv allow`. The hook loads it outside every project; inside a project the project's
//! environment is laid on top of it ([`beneath`]): the project's directories come first on
//! `PATH` and its `env` wins, and leaving the project leaves the global environment loaded. One
//! record of what was changed covers both, so leaving restores the shell exactly as for a
//! project alone.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::{activate, Context, Inputs, Project};
use crate::env::EnvSpec;
use crate::manifest::Dialect;
use crate::settings::Dirs;

/// The directory of the global environment.
pub fn root(dirs: &Dirs) -> PathBuf {
    dirs.config.join("global")
}

/// The global environment, if it has a manifest.
pub fn project(ctx: &Context) -> Option<Project> {
    let root = root(&ctx.settings.dirs);
    root.join(crate::manifest::FILE_NAME)
        .is_file()
        .then_some(Project {
            root,
            dialect: Dialect::Devenv,
        })
}

/// Whether `project` is the global environment.
pub fn is_global(ctx: &Context, project: &Project) -> bool {
    project.root == root(&ctx.settings.dirs)
}

/// The global environment's directory with a manifest in it, created empty on first use.
pub fn create(ctx: &Context) -> Result<PathBuf> {
    let root = root(&ctx.settings.dirs);
    let manifest = root.join(crate::manifest::FILE_NAME);
    if !manifest.exists() {
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create `{}`", root.display()))?;
        crate::fsutil::write_atomic(&manifest, crate::manifest::template().as_bytes())
            .with_context(|| format!("cannot write `{}`", manifest.display()))?;
        ctx.printer.info(format!(
            "created the global environment in {}",
            root.display()
        ));
    }
    Ok(root)
}

/// The global environment's spec and the inputs it stands for, installing it if needed (never
/// building), or `None` when there is none.
pub fn environment(ctx: &Context) -> Result<Option<(EnvSpec, Inputs)>> {
    let Some(global) = project(ctx) else {
        return Ok(None);
    };
    let inputs = Inputs::read(&global)?;
    activate::environment(ctx, &global, inputs)
        .context("could not load the global environment (`devenv global`)")
        .map(Some)
}

/// `top` (a project's environment) laid on top of the global one: list directories of the
/// project first, `env`, `init_hook` and scripts of the global environment first so the
/// project's win.
pub fn beneath(global: &EnvSpec, top: EnvSpec) -> EnvSpec {
    let mut lists = top.lists.clone();
    for (var, dirs) in &global.lists {
        match lists.iter_mut().find(|(v, _)| v == var) {
            Some((_, existing)) => existing.extend(dirs.iter().cloned()),
            None => lists.push((var.clone(), dirs.clone())),
        }
    }
    let mut env = global.env.clone();
    env.extend(top.env);
    let mut init_hook = global.init_hook.clone();
    init_hook.extend(top.init_hook);
    let mut scripts = global.scripts.clone();
    scripts.extend(top.scripts);
    EnvSpec {
        key: format!("{}+{}", top.key, global.key),
        profile: top.profile,
        packages_dir: top.packages_dir,
        lists,
        env,
        init_hook,
        scripts,
    }
}

/// The stamp inputs of a project laid on the global environment: both hashes, and the newer
/// of the two mtimes, so a change to either makes the hook export again.
pub fn stamp_inputs(
    top: (String, filetime::FileTime),
    global: &Inputs,
) -> (String, filetime::FileTime) {
    (
        format!("{}-{}", top.0, global.hash()),
        top.1.max(global.mtime),
    )
}

/// After a `devenv global` command changed the global environment: every shell, in a project or
/// not, loads it again at its next prompt. The hook watches only the loaded project's files, so
/// a quiet prompt inside a project pays nothing for the global environment; the stamps go
/// instead.
pub fn changed(ctx: &Context) {
    crate::env::EnvCache::new(&ctx.settings.dirs.state).invalidate_all();
}

/// Whether `dir` is inside the global environment's directory (so a project found there is the
/// global one).
pub fn contains(ctx: &Context, dir: &Path) -> bool {
    dir.starts_with(root(&ctx.settings.dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &str, path: &[&str], env: &[(&str, &str)]) -> EnvSpec {
        EnvSpec {
            key: key.into(),
            profile: Some(PathBuf::from(format!("/p/{key}"))),
            packages_dir: PathBuf::from(format!("/p/{key}")),
            lists: vec![("PATH".into(), path.iter().map(|s| s.to_string()).collect())],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            init_hook: vec![format!("echo {key}")],
            scripts: Default::default(),
        }
    }

    #[test]
    fn the_project_comes_first_on_path_and_its_env_wins() {
        let global = spec("g", &["/g/bin"], &[("A", "global"), ("G", "1")]);
        let top = spec("t", &["/t/bin"], &[("A", "project")]);
        let merged = beneath(&global, top);
        assert_eq!(
            merged.lists,
            vec![("PATH".to_string(), vec!["/t/bin".into(), "/g/bin".into()])]
        );
        let env: Vec<(&str, &str)> = merged
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // Applied in order: the project's `A` comes last and wins.
        assert_eq!(env, [("A", "global"), ("G", "1"), ("A", "project")]);
        assert_eq!(merged.init_hook, ["echo g", "echo t"]);
        assert_eq!(merged.profile, Some(PathBuf::from("/p/t")));
    }
}
