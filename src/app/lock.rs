//! Bringing a project's lock up to date with its manifest, in one of three modes.
//!
//! Like uv's `LockMode`: a command either may write the lock ([`LockMode::Write`]: resolve the
//! stale entries against the index and rewrite the file), must find it complete
//! ([`LockMode::Frozen`], `install --frozen`: fail rather than resolve), or only reports
//! ([`LockMode::Check`]). Resolving happens in memory from the [`Inputs`] already read, and the
//! lock is written under the project's write lock, taken once.

use anyhow::{anyhow, Context as _, Result};

use super::packages::{open_index, resolve_into};
use super::project::{Project, ProjectLock};
use super::{trust, Context, Inputs};
use crate::diagnostic::ResultExt as _;
use crate::lock::Lockfile;

/// What may happen when the lock does not match the manifest.
#[derive(Debug, Clone, Copy)]
pub enum LockMode<'a> {
    /// Resolve what is missing and rewrite the lock. With `None` the project's write lock is
    /// taken only if there is something to write (activation by the hook).
    Write(Option<&'a ProjectLock>),
    /// Fail: only what the lock already pins may be used (`install --frozen`).
    Frozen,
    /// Fail, saying how to update (commands that only read).
    Check,
}

/// The lock's entry for `key` (a manifest package's [`lock_key`]), or an error saying the lock
/// is out of date with the command that fixes it.
///
/// [`lock_key`]: crate::manifest::PackageSpec::lock_key
pub fn entry<'a>(
    inputs: &Inputs,
    lock: &'a Lockfile,
    key: &str,
) -> Result<&'a crate::lock::LockedPackage> {
    lock.packages
        .get(key)
        .ok_or_else(|| {
            anyhow!(
                "`{}` is out of date: it has no entry for `{key}` from the manifest",
                inputs.lock_name()
            )
        })
        .hint("run `devenv update` to lock the manifest")
}

/// The lock keys of manifest packages that have no fitting lock entry; empty = up to date.
pub fn stale_keys(inputs: &Inputs) -> Result<Vec<String>> {
    let manifest = &inputs.manifest()?.manifest;
    Ok(match inputs.lock()? {
        None => manifest.packages.iter().map(|p| p.lock_key()).collect(),
        Some(lock) => crate::lock::check(manifest, lock).to_resolve(),
    })
}

/// Make the lock pin every manifest package, resolving (in [`LockMode::Write`]) exactly the
/// stale entries. Returns the inputs written, or `None` when the lock was already up to date.
/// An allowance of the old inputs carries over to the new ones: the resolution follows the
/// manifest the user allowed, against the index the user configured.
pub fn ensure(
    ctx: &Context,
    project: &Project,
    inputs: &Inputs,
    mode: LockMode,
) -> Result<Option<Inputs>> {
    let stale = stale_keys(inputs)?;
    tracing::debug!(?mode, stale = ?stale, "checking the lock");
    if inputs.lock.is_some() && stale.is_empty() {
        return Ok(None);
    }
    let what = match inputs.lock {
        None => format!("`{}` does not exist", inputs.lock_name()),
        Some(_) => format!(
            "`{}` is out of date with the manifest (needs resolving: {})",
            inputs.lock_name(),
            stale.join(", ")
        ),
    };
    let held = match mode {
        LockMode::Frozen => {
            return Err(anyhow!("{what}"))
                .context("--frozen installs only what the lock already pins")
                .hint("run `devenv update` to lock the manifest, then commit the lock")
        }
        LockMode::Check => {
            return Err(anyhow!("{what}"))
                .hint("run `devenv install` (or `devenv update`) to lock the manifest")
        }
        LockMode::Write(held) => held,
    };
    let project = &project.clone().writable()?;
    ctx.printer.info(format!("{what}; resolving"));
    let _taken;
    if held.is_none() {
        _taken = project.lock_for_writing(|| {
            ctx.printer
                .info("waiting for another devenv command in this project to finish")
        })?;
        // Another command may have rewritten the files before we got the lock: resolve from
        // what was checked, or not at all.
        let now = Inputs::read(project)?;
        if now.hash() != inputs.hash() {
            return Err(anyhow!(
                "`{}` or `{}` changed while devenv was reading them",
                inputs.manifest_name(),
                inputs.lock_name()
            ))
            .hint("run the command again");
        }
    }
    let manifest = &inputs.manifest()?.manifest;
    let mut lock = inputs.lock()?.cloned().unwrap_or_else(Lockfile::new);
    let names: Vec<String> = manifest
        .packages
        .iter()
        .filter(|p| inputs.lock.is_none() || stale.contains(&p.lock_key()))
        .map(|p| p.name.clone())
        .collect();
    let index = open_index(ctx)?;
    let specs: Vec<_> = manifest
        .packages
        .iter()
        .filter(|p| names.contains(&p.name))
        .collect();
    let report = resolve_into(ctx, index.as_ref(), &specs, &mut lock)?;
    super::packages::report_updates(ctx, &report);
    lock.retain_manifest(manifest);
    let text = crate::lock::render(&lock);
    crate::lock::write(&project.lock_path(), &lock)?;
    let after = inputs.replaced(inputs.manifest.clone(), Some(text.into_bytes()));
    trust::carry(ctx, project, inputs, &after)?;
    Ok(Some(after))
}
