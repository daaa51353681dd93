//! `devenv install`: realize everything in `devenv.lock` for this system.
//!
//! The one command that may build a package with an installed Nix when no binary cache has it:
//! the user typed it, so it is consent to run an evaluator (activation on `cd` never does).

use std::process::ExitCode;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::{self, BuildPolicy, Inputs, LockMode, Project};

/// Realize everything in devenv.lock for this system.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fail if devenv.lock is missing or out of date instead of resolving.
    #[arg(long)]
    pub frozen: bool,
    /// How many paths to look up and download at once (default 8). [env: DEVENV_JOBS]
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let project = Project::open(&logical_cwd()?)?;
    // Resolving a stale lock rewrites it: hold the project for writing unless --frozen.
    let held = if args.frozen {
        None
    } else {
        Some(project.lock_for_writing(|| ctx.printer.info(super::WAITING))?)
    };
    let mode = match &held {
        Some(h) => LockMode::Write(Some(h)),
        None => LockMode::Frozen,
    };
    let inputs = Inputs::read(&project)?;
    // The next activation makes the result a generation; installing only fills the store (and
    // roots it by the lock), as `nix build` would.
    let app::Installed {
        packages: installed,
        report,
        ..
    } = app::install(ctx, &project, inputs, mode, BuildPolicy::NixFallback)?;
    let outputs: usize = installed.iter().map(|p| p.outputs.len()).sum();
    match &report {
        r if !r.fetched.is_empty() => ctx.printer.info(format!(
            "installed {} package(s) ({outputs} output(s)): fetched {} path(s), {}",
            installed.len(),
            r.fetched.len(),
            human_bytes(r.nar_bytes)
        )),
        _ => ctx.printer.info(format!(
            "{} package(s) ({outputs} output(s)) already installed",
            installed.len()
        )),
    }
    if ctx.printer.json {
        let json = serde_json::json!({
            "packages": installed.iter().map(|p| serde_json::json!({
                "key": p.key,
                "outputs": p.outputs.iter().map(|o| serde_json::json!({
                    "name": o.name, "path": o.logical.to_absolute(), "physical": o.physical,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "fetched": report.fetched,
        });
        super::print_data(&format!("{json:#}\n"));
    }
    Ok(ExitCode::SUCCESS)
}

pub use crate::printer::human_bytes;
