//! `devenv add`: resolve packages against the index, then record them in devenv.json and
//! devenv.lock, all or nothing.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};
use serde_json::json;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::packages::{self, parse_constraint};
use crate::app::{self, Inputs, Project};
use crate::diagnostic::ResultExt;
use crate::index::resolve;
use crate::lock::MergeOutcome;
use crate::manifest::PackageSpec;

/// Add packages to devenv.json, lock them for every system, and install them.
///
/// Each package is `name` (the newest version) or `name@version`, where the version is exact
/// (`2.16.5`), a prefix (`2.16` = newest 2.16.x), `latest`, or a range (`^2.16`, `>=2.15 <2.17`).
/// Nothing is written unless every package resolves.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Packages to add, e.g. `ansible@2.16.5 jq`.
    #[arg(required = true, value_name = "PKG[@VERSION]")]
    pub packages: Vec<String>,
    /// Only install on this system (repeatable), e.g. `x86_64-linux`.
    #[arg(long = "platform", value_name = "SYSTEM")]
    pub platforms: Vec<String>,
    /// Never install on this system (repeatable).
    #[arg(long = "exclude-platform", value_name = "SYSTEM")]
    pub excluded_platforms: Vec<String>,
    /// Outputs to install instead of the package's defaults, comma-separated (e.g. `out,man`).
    #[arg(long, value_delimiter = ',', value_name = "OUTPUTS")]
    pub outputs: Vec<String>,
    /// Only update devenv.json and devenv.lock; do not install.
    #[arg(long)]
    pub no_install: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let mut specs = Vec::new();
    for arg in &args.packages {
        let (name, version) = crate::manifest::parse_package_arg(arg)?;
        parse_constraint(&name, &version)?;
        let spec = PackageSpec {
            name,
            version,
            platforms: args.platforms.clone(),
            excluded_platforms: args.excluded_platforms.clone(),
            outputs: args.outputs.clone(),
        };
        spec.validate()
            .map_err(|e| anyhow!(e))
            .with_context(|| format!("cannot add `{arg}`"))
            .hint(format!(
                "use --platform or --exclude-platform (not both) with systems among {}",
                crate::system::KNOWN_SYSTEMS.join(", ")
            ))
            .bad_input()?;
        specs.push(spec);
    }
    let project = Project::open(&logical_cwd()?)?.writable()?;
    let held = project.lock_for_writing(|| ctx.printer.info(super::WAITING))?;
    let inputs = Inputs::read(&project)?;
    let pick = |name: &str, similar: &[String]| prompt_for_name(ctx, name, similar);
    let (inputs, report) = packages::add(ctx, &project, &held, &inputs, &mut specs, &pick)?;
    let lock = inputs.lock()?.expect("add writes the lock");
    let entries: Vec<_> = report
        .iter()
        .map(|(spec, _, _)| (spec, &lock.packages[&spec.lock_key()]))
        .collect();
    warn_missing_systems(ctx, &entries);
    if ctx.printer.json {
        let list: Vec<_> = report
            .iter()
            .map(|(spec, version, _)| {
                json!({"name": spec.name, "constraint": spec.version, "key": spec.lock_key(), "version": version})
            })
            .collect();
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&list)?));
    }
    for (spec, version, change) in &report {
        let what = match change {
            MergeOutcome::Added | MergeOutcome::Updated { .. } => "added",
            MergeOutcome::Unchanged | MergeOutcome::SystemsAdded(_) => "kept",
        };
        ctx.printer.info(format!(
            "{what} {} ({} {version})",
            spec.lock_key(),
            spec.name
        ));
    }
    if !args.no_install {
        app::install_written(ctx, &project, &held, inputs)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Offer the closest names when both stdin and stderr are terminals; `None` = no pick.
fn prompt_for_name(ctx: &Ctx, name: &str, similar: &[String]) -> Option<String> {
    if similar.is_empty()
        || ctx.printer.json
        || !std::io::stdin().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return None;
    }
    let mut items: Vec<&str> = similar.iter().map(String::as_str).collect();
    items.push("none of these");
    let pick = dialoguer::Select::new()
        .with_prompt(format!("`{name}` is not in the index; did you mean"))
        .items(&items)
        .default(0)
        .interact_opt()
        .ok()??;
    similar.get(pick).cloned()
}

/// Warn when a package cannot be installed on this machine (one warning each), or on some
/// other systems it is wanted on: one line for all the packages missing the same systems, so
/// adding Linux-only tools does not repeat the same three systems per package.
fn warn_missing_systems(ctx: &Ctx, entries: &[(&PackageSpec, &crate::lock::LockedPackage)]) {
    let here = &ctx.settings.system;
    let mut elsewhere: BTreeMap<Vec<&str>, Vec<String>> = BTreeMap::new();
    for (spec, entry) in entries {
        let wanted = resolve::lock_systems(spec);
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|s| !entry.systems.contains_key(*s))
            .collect();
        if missing.is_empty() {
            continue;
        }
        if spec.enabled_on(here) && !entry.systems.contains_key(here.as_str()) {
            ctx.printer.warn(format!(
                "{} {} has no build for this system ({here}) in the index; it is locked for {} only",
                spec.name,
                entry.version,
                if entry.systems.is_empty() {
                    "no system".to_string()
                } else {
                    entry.systems.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ));
        } else {
            elsewhere
                .entry(missing)
                .or_default()
                .push(format!("{} {}", spec.name, entry.version));
        }
    }
    for (missing, packages) in elsewhere {
        let (list, verb) = match packages.as_slice() {
            [one] => (one.clone(), "has"),
            many => (many.join(", "), "have"),
        };
        ctx.printer.warn(format!(
            "{list} {verb} no build for {} in the index",
            missing.join(", ")
        ));
    }
}
