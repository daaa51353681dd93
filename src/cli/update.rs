//! `devenv update`: re-resolve packages to the newest versions their constraints allow, keeping
//! locked entries whose version did not change exactly as they are.

use std::process::ExitCode;

use anyhow::{anyhow, Result};
use serde_json::json;

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::index::resolve;
use crate::lock::{Lockfile, MergeOutcome};
use crate::manifest::PackageSpec;

/// Re-resolve packages (all, or the ones named) to the newest versions their constraints allow.
///
/// A package whose version is unchanged keeps its locked revision and store paths; only systems
/// missing from the lock are added. The lock file is rewritten only when its content changes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Packages to update (default: all).
    #[arg(value_name = "PKG")]
    pub packages: Vec<String>,
    /// Only update devenv.lock; do not install.
    #[arg(long)]
    pub no_install: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let project = super::packages::find_project(ctx, true)?;
    let _guard = super::packages::lock_project(ctx, &project)?;
    let manifest_path = project.manifest_path();
    let lock_path = project.lock_path();
    let (loaded, lock) = super::packages::read_files(ctx, &project)?;
    let mut lock = lock.unwrap_or_else(Lockfile::new);
    let all = &loaded.manifest.packages;

    let mut targets: Vec<&PackageSpec> = Vec::new();
    for arg in &args.packages {
        let (name, _) = crate::manifest::parse_package_arg(arg)?;
        match all.iter().find(|p| p.name == name) {
            Some(spec) => targets.push(spec),
            None => {
                return Err(anyhow!(
                    "`{name}` is not a package of `{}`",
                    manifest_path.display()
                ))
                .hint("add it first with `devenv add`")
                .bad_input()
            }
        }
    }
    if args.packages.is_empty() {
        targets = all.iter().collect();
    }

    let index = super::packages::open_index(ctx)?;
    let mut fresh = Vec::new();
    let mut failure = None;
    for spec in &targets {
        let constraint = super::packages::parse_constraint(&spec.name, &spec.version)?;
        match resolve::resolve_spec(index.as_ref(), spec, &constraint) {
            Ok(Some(r)) => match resolve::check_usable(spec, &r) {
                Ok(()) => fresh.push((*spec, r.to_locked(index.id()))),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            },
            Ok(None) => {
                failure = Some(super::packages::unknown_package(index.as_ref(), &spec.name));
                break;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    super::packages::flush_warnings(ctx, index.as_ref());
    if let Some(e) = failure {
        return Err(e);
    }

    let mut report = Vec::new();
    for (spec, locked) in fresh {
        let key = spec.lock_key();
        let change = lock.merge(&key, locked);
        report.push((
            spec.name.clone(),
            lock.packages[&key].version.clone(),
            change,
        ));
    }
    lock.retain_manifest(&loaded.manifest);
    let wrote = crate::lock::write(&lock_path, &lock)?;

    if ctx.printer.json {
        let list: Vec<_> = report
            .iter()
            .map(|(name, version, change)| {
                let (status, from) = match change {
                    MergeOutcome::Added => ("added", None),
                    MergeOutcome::Unchanged => ("unchanged", None),
                    MergeOutcome::SystemsAdded(_) => ("systems-added", None),
                    MergeOutcome::Updated { from, .. } => ("updated", Some(from.clone())),
                };
                json!({"name": name, "version": version, "status": status, "from": from})
            })
            .collect();
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&list)?));
    }
    for (name, version, change) in &report {
        match change {
            MergeOutcome::Added => ctx.printer.info(format!("locked {name} {version}")),
            MergeOutcome::Unchanged => ctx.printer.info(format!("{name} {version} is up to date")),
            MergeOutcome::SystemsAdded(s) => ctx
                .printer
                .info(format!("{name} {version}: added {}", s.join(", "))),
            MergeOutcome::Updated { from, .. } => ctx
                .printer
                .info(format!("updated {name} {from} -> {version}")),
        }
    }
    if !wrote {
        ctx.printer
            .debug(format!("{} unchanged", lock_path.display()));
    }
    if !args.no_install {
        super::install::install_project(ctx, &project)?;
    }
    Ok(ExitCode::SUCCESS)
}
