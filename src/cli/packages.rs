//! Helpers the package commands (`add`, `rm`, `update`, `search`, `info`, `list`) share: finding
//! and locking the project, opening the index and turning its answers into messages, and writing
//! the manifest and lock together.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::index::Index;
use crate::lock::Lockfile;
use crate::manifest::LoadedManifest;
use crate::project::{Flavor, Project};
use crate::version::Constraint;

/// Write the manifest and the lock (each atomically, each only if changed). The two writes run
/// side by side so their fsyncs overlap: durable writes are most of the cost of `add`.
pub fn write_both(
    manifest_path: &Path,
    text: &str,
    lock_path: &Path,
    lock: &Lockfile,
) -> Result<()> {
    // Checked before either file is touched, so a refused lock leaves both as they were.
    crate::lock::check_writable(lock)?;
    let (manifest, lock) = std::thread::scope(|s| {
        let manifest = s.spawn(|| crate::manifest::write(manifest_path, text));
        let lock = crate::lock::write(lock_path, lock);
        (manifest.join(), lock)
    });
    manifest.unwrap_or_else(|_| Err(anyhow!("writing the manifest panicked")))?;
    lock?;
    Ok(())
}

/// Keep automatic activation for a project the user had allowed: `add` and `rm` typed by the user
/// are consent to the manifest they write, like `devenv allow` after an edit by hand. A project
/// that was not allowed (or was denied) stays as it was.
pub fn carry_trust(ctx: &Ctx, project: &Project, before: &str, after: &str) -> Result<()> {
    if before == after {
        return Ok(());
    }
    let Ok(root) = project.root.canonicalize() else {
        return Ok(());
    };
    let trust = crate::shell::trust::TrustStore::new(&ctx.settings.dirs.data);
    if trust.status(&root, before.as_bytes()) == crate::shell::trust::Trust::Allowed {
        trust
            .allow(&root, after.as_bytes())
            .with_context(|| format!("cannot record `{}` as allowed", root.display()))?;
    }
    Ok(())
}

/// The project around the current directory. `writing` refuses Devbox projects, whose files
/// devenv reads but does not rewrite.
pub fn find_project(_ctx: &Ctx, writing: bool) -> Result<Project> {
    let cwd: PathBuf = std::env::current_dir().context("cannot read the current directory")?;
    let project = Project::find(&cwd)
        .ok_or_else(|| {
            anyhow!(
                "no {} in `{}` or any parent directory",
                crate::manifest::FILE_NAME,
                cwd.display()
            )
        })
        .hint("run `devenv init` to create one")
        .bad_input()?;
    if writing && project.flavor == Flavor::Devbox {
        return Err(anyhow!(
            "`{}` is a Devbox project; devenv reads devbox.json but does not edit it",
            project.root.display()
        ))
        .hint("run `devenv init --from-devbox` to convert it to devenv.json and devenv.lock")
        .bad_input();
    }
    Ok(project)
}

/// The manifest (its warnings printed) and the lock of a project, as `add`, `rm` and `update`
/// read them before rewriting them.
pub fn read_files(ctx: &Ctx, project: &Project) -> Result<(LoadedManifest, Option<Lockfile>)> {
    let loaded = crate::manifest::load(&project.manifest_path())?;
    for w in &loaded.warnings {
        ctx.printer.warn(w);
    }
    let lock = crate::lock::read(&project.lock_path())?;
    Ok((loaded, lock))
}

/// Serialize commands that rewrite the project's files (`add`, `rm`, `update`): an exclusive lock
/// on the project directory, held until the returned handle is dropped. The directory (not a file)
/// is locked because the files are replaced by rename, which would leave a file lock on an
/// orphaned inode; and no lock file is left in the project.
pub fn lock_project(ctx: &Ctx, project: &Project) -> Result<std::fs::File> {
    use fs4::fs_std::FileExt;
    let dir = std::fs::File::open(&project.root)
        .with_context(|| format!("cannot open `{}`", project.root.display()))?;
    if !FileExt::try_lock_exclusive(&dir).unwrap_or(false) {
        ctx.printer
            .info("waiting for another devenv command in this project to finish");
        FileExt::lock_exclusive(&dir)
            .with_context(|| format!("cannot lock `{}`", project.root.display()))?;
    }
    Ok(dir)
}

/// Parse the version part of `name@version`, naming both in the error.
pub fn parse_constraint(name: &str, version: &str) -> Result<Constraint> {
    Constraint::parse(version)
        .with_context(|| format!("invalid version in `{name}@{version}`"))
        .hint("use an exact version (2.16.5), a prefix (2.16), `latest`, or a range (^2.16, >=2.15 <2.17)")
        .bad_input()
}

/// Open the configured index.
pub fn open_index(ctx: &Ctx) -> Result<Box<dyn Index>> {
    crate::index::open(&ctx.settings)
}

/// Print warnings the index gathered (e.g. offline fallbacks).
pub fn flush_warnings(ctx: &Ctx, index: &dyn Index) {
    for w in index.take_warnings() {
        ctx.printer.warn(w);
    }
}

/// The error for a name the index does not know, with the closest names as a hint.
pub fn unknown_package(index: &dyn Index, name: &str) -> anyhow::Error {
    let similar = index.similar_names(name).unwrap_or_default();
    let hint = if similar.is_empty() {
        "search for it with `devenv search <words>`".to_string()
    } else {
        format!("did you mean {}?", similar.join(", "))
    };
    Err::<(), _>(anyhow!(
        "package `{name}` is not in the index `{}`",
        index.id()
    ))
    .hint(hint)
    .bad_input()
    .unwrap_err()
}
