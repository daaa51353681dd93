//! Realizing a project's locked packages for this system in the store.
//!
//! Works from the lock in [`Inputs`] only (never resolves: that is [`super::lock::ensure`]'s job)
//! and, per [`BuildPolicy`], may fall back to building with an installed Nix when no binary cache
//! has a path. Only `devenv install`, typed by the user, allows that: activation on `cd` never
//! runs an evaluator or a builder, so a lock pointing at paths no cache has cannot make a `cd`
//! run `nix build`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use super::store::explain;
use super::{Context, Inputs, Project};
use crate::diagnostic::ResultExt as _;
use crate::lock::{LockedPackage, Output};
use crate::nix::store_path::StorePath;
use crate::store::{MissingPaths, Progress, RealizeReport, RootSpec, Store, StoreError};

/// Whether a path no binary cache has may be built with an installed Nix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Fail with a hint to run `devenv install` (activation, `add`, `shell`, …).
    Never,
    /// Build with Nix from the locked revision and attribute (`devenv install`).
    NixFallback,
}

/// One output of an installed package: its name, logical store path and where it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledOutput {
    pub name: String,
    /// `/nix/store/…`.
    pub logical: StorePath,
    /// The same path under the store's physical root.
    pub physical: PathBuf,
}

/// A locked package realized for this system, with the outputs the manifest asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// The lock key (`name@version`).
    pub key: String,
    pub outputs: Vec<InstalledOutput>,
}

type Wanted = Vec<(String, LockedPackage, Vec<(Output, StorePath)>)>;

/// What to realize: per manifest package for this system (in manifest order) its lock key, entry
/// and chosen outputs with their store paths, parsed here once: everything below is typed. The
/// lock must be up to date ([`super::lock::ensure`]).
fn wanted(ctx: &Context, inputs: &Inputs, policy: BuildPolicy) -> Result<Wanted> {
    let system = &ctx.settings.system;
    let manifest = &inputs.manifest()?.manifest;
    let lock = inputs
        .lock()?
        .ok_or_else(|| anyhow!("`{}` does not exist", inputs.lock_name()))
        .hint("run `devenv install` to lock the manifest")?;
    let mut index = None;
    let mut out = Vec::new();
    for spec in manifest.packages_for(system) {
        let key = spec.lock_key();
        let entry = super::lock::entry(inputs, lock, &key)?;
        let mut outputs = entry.outputs_for(system, &spec.outputs);
        if outputs.is_empty() && super::pinned::is_pinned_without_paths(entry) {
            if index.is_none() {
                index = Some(super::packages::open_index(ctx)?);
            }
            let index = index.as_deref().expect("opened above");
            // Only `devenv install`, typed by the user, may evaluate with Nix (as it may build).
            let nix = (policy == BuildPolicy::NixFallback
                && crate::store::nix::which("nix").is_some())
            .then(|| installable(entry, ctx.settings.nixpkgs.value.as_deref()));
            outputs = super::pinned::complete(
                ctx,
                index,
                inputs.lock_name(),
                (&key, &spec.name),
                entry,
                &spec.outputs,
                nix.as_deref(),
            )?;
            super::packages::flush_warnings(ctx, index);
        }
        if outputs.is_empty() {
            return Err(anyhow!(
                "`{}` has no outputs of `{key}` for system `{system}`",
                inputs.lock_name()
            ))
            .hint(format!(
                "the package may not exist for {system}; restrict it with `platforms` in the manifest, or run `devenv update`"
            ));
        }
        let outputs = (outputs.into_iter())
            .map(|o| {
                let path = StorePath::parse_absolute(&o.path)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| {
                        format!(
                            "`{}` has an invalid store path for output `{}` of `{key}`",
                            inputs.lock_name(),
                            o.name
                        )
                    })
                    .bad_input()?;
                Ok((o, path))
            })
            .collect::<Result<Vec<_>>>()?;
        out.push((key, entry.clone(), outputs));
    }
    Ok(out)
}

/// Realize the locked packages of `inputs` for this system; returns them in manifest order, and
/// what the store did.
pub fn realize(
    ctx: &Context,
    project: &Project,
    inputs: &Inputs,
    policy: BuildPolicy,
    progress: &dyn Progress,
) -> Result<(Vec<InstalledPackage>, RealizeReport)> {
    let packages = wanted(ctx, inputs, policy)?;
    let paths: Vec<StorePath> = packages
        .iter()
        .flat_map(|(_, _, outs)| outs.iter().map(|(_, p)| p.clone()))
        .collect();
    tracing::debug!(
        paths = paths.len(),
        ?policy,
        "realizing the lock for this system"
    );
    let store = super::store::open(&ctx.settings)?;
    ctx.printer
        .debug(format!("realizing in {}", store.describe()));
    let root_name = format!("project:{}", project.root.display());
    let lock_path = project.lock_path();
    let root = RootSpec {
        name: &root_name,
        link: Some(&lock_path),
    };
    let failed = "cannot install the project's packages";
    let report = match store.realize(&paths, Some(root), progress) {
        Ok(r) => r,
        Err(StoreError::MissingPaths(missing)) => {
            if policy == BuildPolicy::Never {
                return Err(anyhow!("{missing}")).context(failed).hint(
                    "add a binary cache that has them with --substituters / DEVENV_SUBSTITUTERS; \
                     `devenv install` (typed by you, never a `cd`) can also build them with an installed Nix",
                );
            }
            if crate::store::nix::which("nix").is_none() {
                return Err(anyhow!("{missing}")).context(failed).hint(
                    "add a binary cache that has them with --substituters / DEVENV_SUBSTITUTERS, \
                     or install Nix so devenv can build them",
                );
            }
            build_missing(ctx, store.as_ref(), &packages, &missing)?;
            store
                .realize(&paths, Some(root), progress)
                .map_err(explain)?
        }
        Err(e) => return Err(explain(e)).context(failed),
    };
    if !report.damaged_by_restart.is_empty() {
        ctx.printer.warn(format!(
            "{} store path(s) registered just before the last restart had not fully reached the \
             disk (or refer to one that had not); they were unregistered, and those this project \
             needs were fetched again: {}",
            report.damaged_by_restart.len(),
            report.damaged_by_restart.join(", ")
        ));
    }
    if !report.missing_on_disk.is_empty() {
        ctx.printer.warn(format!(
            "{} store path(s) were registered but their directories had been deleted (or refer \
             to one that had); they were unregistered, and those this project needs were \
             fetched again: {}",
            report.missing_on_disk.len(),
            report.missing_on_disk.join(", ")
        ));
    }
    for fallback in &report.nar_fallbacks {
        ctx.printer.warn(fallback.to_string());
    }
    for u in &report.unreachable_caches {
        ctx.printer.warn(format!(
            "{u}; skipped it, the other binary caches had everything"
        ));
    }
    let installed = installed(&packages, |p| store.real_path(p));
    Ok((installed, report))
}

/// No cache has some paths but Nix is installed: build each package that is not fully present
/// with the real evaluator and import the results.
fn build_missing(
    ctx: &Context,
    store: &dyn Store,
    packages: &Wanted,
    missing: &MissingPaths,
) -> Result<()> {
    // A nixpkgs git checkout to build from on machines without GitHub.
    let nixpkgs = ctx.settings.nixpkgs.value.clone();
    for (key, locked, outputs) in packages {
        let mut present = true;
        for (_, path) in outputs {
            present &= store.is_valid(path).map_err(explain)?;
        }
        if present {
            continue;
        }
        let installable = installable(locked, nixpkgs.as_deref());
        ctx.printer.info(format!(
            "building {key} with Nix ({installable}): no binary cache has {} of its paths",
            missing.paths.len()
        ));
        let wanted: Vec<StorePath> = outputs.iter().map(|(_, p)| p.clone()).collect();
        store
            .build_with_nix(&installable, &wanted)
            .map_err(explain)
            .with_context(|| format!("cannot build `{key}` with Nix either"))
            .with_context(|| format!("{missing}"))?;
    }
    Ok(())
}

/// What to hand `nix build` for a lock entry: its `resolved` reference, or, given a nixpkgs git
/// checkout, the same revision and attribute from that checkout.
fn installable(locked: &LockedPackage, nixpkgs_checkout: Option<&Path>) -> String {
    match (nixpkgs_checkout, locked.rev(), locked.attr_path()) {
        (Some(dir), Some(rev), Some(attr)) => {
            format!("git+file://{}?rev={rev}#{attr}", dir.display())
        }
        _ => locked.resolved.clone(),
    }
}

fn installed(packages: &Wanted, physical: impl Fn(&StorePath) -> PathBuf) -> Vec<InstalledPackage> {
    packages
        .iter()
        .map(|(key, _, outs)| InstalledPackage {
            key: key.clone(),
            outputs: outs
                .iter()
                .map(|(o, path)| InstalledOutput {
                    name: o.name.clone(),
                    logical: path.clone(),
                    physical: physical(path),
                })
                .collect(),
        })
        .collect()
}
