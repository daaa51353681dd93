//! `devenv update`: re-resolve packages to the newest versions their constraints allow, keeping
//! locked entries whose version did not change exactly as they are.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::{self, packages, Inputs, Project};
use crate::lock::MergeOutcome;

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
    let mut names = Vec::new();
    for arg in &args.packages {
        names.push(crate::manifest::parse_package_arg(arg)?.0);
    }
    let project = Project::open(&logical_cwd()?)?.writable()?;
    let held = project.lock_for_writing(|| ctx.printer.info(super::WAITING))?;
    let inputs = Inputs::read(&project)?;
    let (inputs, report) = packages::update(ctx, &project, &held, &inputs, &names)?;
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
    packages::report_updates(ctx, &report);
    if !args.no_install {
        app::install_written(ctx, &project, &held, inputs)?;
    }
    Ok(ExitCode::SUCCESS)
}
