//! `devenv allow` / `devenv deny`: trust a project for automatic activation, or revoke it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::{trust, Inputs, Project};

/// Allow automatic activation of a project (bound to its path and the content of its manifest and lock).
#[derive(Debug, clap::Args)]
pub struct AllowArgs {
    /// The project directory (default: the project around the current directory).
    pub dir: Option<PathBuf>,
}

/// Revoke automatic activation of a project.
#[derive(Debug, clap::Args)]
pub struct DenyArgs {
    /// The project directory (default: the project around the current directory).
    pub dir: Option<PathBuf>,
}

fn locate(dir: Option<PathBuf>) -> Result<Project> {
    let start = match dir {
        Some(d) => d,
        None => logical_cwd()?,
    };
    Project::open(&start)
}

pub fn run_allow(ctx: &Ctx, args: AllowArgs) -> Result<ExitCode> {
    let project = locate(args.dir)?;
    let inputs = Inputs::read(&project)?;
    trust::allow(ctx, &project, &inputs)?;
    ctx.printer.info(format!(
        "allowed `{}` to activate automatically (until its manifest or lock changes)",
        project.canonical_root()?.display()
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn run_deny(ctx: &Ctx, args: DenyArgs) -> Result<ExitCode> {
    let project = locate(args.dir)?;
    trust::deny(ctx, &project)?;
    ctx.printer.info(format!(
        "denied automatic activation of `{}`",
        project.canonical_root()?.display()
    ));
    Ok(ExitCode::SUCCESS)
}
