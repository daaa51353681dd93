//! `devenv update`: re-resolve packages to the newest versions their constraints allow, keeping
//! locked entries whose version did not change exactly as they are.

use std::process::ExitCode;

use anyhow::{anyhow, Result};
use serde_json::json;

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::index::resolve::{self, Change};
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
    let project = super::add::find_project(ctx, true)?;
    let manifest_path = project.manifest_path();
    let lock_path = project.lock_path();
    let loaded = crate::manifest::load(&manifest_path)?;
    for w in &loaded.warnings {
        ctx.printer.warn(w);
    }
    let mut lock = crate::lock::read(&lock_path)?.unwrap_or_else(super::add::empty_lock);
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

    let index = super::add::open_index(ctx)?;
    let mut fresh = Vec::new();
    let mut failure = None;
    for spec in &targets {
        let constraint = super::add::parse_constraint(&spec.name, &spec.version)?;
        match resolve::resolve_spec(index.as_ref(), spec, &constraint) {
            Ok(Some(r)) => fresh.push((*spec, r.to_locked(index.id()))),
            Ok(None) => {
                failure = Some(super::add::unknown_package(index.as_ref(), &spec.name));
                break;
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    super::add::flush_warnings(ctx, index.as_ref());
    if let Some(e) = failure {
        return Err(e);
    }

    let mut report = Vec::new();
    for (spec, locked) in fresh {
        let key = spec.lock_key();
        let (entry, change) = resolve::merge(lock.packages.get(&key), locked);
        report.push((spec.name.clone(), entry.version.clone(), change));
        lock.packages.insert(key, entry);
    }
    let keys: Vec<String> = all.iter().map(PackageSpec::lock_key).collect();
    lock.packages.retain(|k, _| keys.contains(k));
    let wrote = crate::lock::write(&lock_path, &lock)?;

    if ctx.printer.json {
        let list: Vec<_> = report
            .iter()
            .map(|(name, version, change)| {
                let (status, from) = match change {
                    Change::Added => ("added", None),
                    Change::Unchanged => ("unchanged", None),
                    Change::SystemsAdded(_) => ("systems-added", None),
                    Change::Upgraded { from } => ("updated", Some(from.clone())),
                };
                json!({"name": name, "version": version, "status": status, "from": from})
            })
            .collect();
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&list)?));
    }
    for (name, version, change) in &report {
        match change {
            Change::Added => ctx.printer.info(format!("locked {name} {version}")),
            Change::Unchanged => ctx.printer.info(format!("{name} {version} is up to date")),
            Change::SystemsAdded(s) => ctx
                .printer
                .info(format!("{name} {version}: added {}", s.join(", "))),
            Change::Upgraded { from } => ctx
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
