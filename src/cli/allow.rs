//! `devenv allow` / `devenv deny`: trust a project for automatic activation, or revoke it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::diagnostic::ResultExt as _;
use crate::project::Project;
use crate::shell::trust::TrustStore;

/// Allow automatic activation of a project (bound to its path and manifest content).
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

fn locate(dir: Option<PathBuf>) -> Result<(Project, PathBuf)> {
    let start = match dir {
        Some(d) => d,
        None => super::export::logical_cwd()?,
    };
    let project = Project::find(&start)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no devenv.json or devbox.json in `{}` or any directory above it",
                start.display()
            )
        })
        .hint("run `devenv init` to create a project, or pass its directory")
        .bad_input()?;
    let canonical = project
        .root
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", project.root.display()))?;
    Ok((project, canonical))
}

pub fn run_allow(ctx: &Ctx, args: AllowArgs) -> Result<ExitCode> {
    let (project, canonical) = locate(args.dir)?;
    let manifest = crate::manifest::read_bytes(&project.manifest_path())?;
    TrustStore::new(&ctx.settings.dirs.data)
        .allow(&canonical, &manifest)
        .context("could not record the allowance")?;
    ctx.printer.info(format!(
        "allowed `{}` to activate automatically (until its manifest changes)",
        canonical.display()
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn run_deny(ctx: &Ctx, args: DenyArgs) -> Result<ExitCode> {
    let (_, canonical) = locate(args.dir)?;
    TrustStore::new(&ctx.settings.dirs.data)
        .deny(&canonical)
        .context("could not record the denial")?;
    ctx.printer.info(format!(
        "denied automatic activation of `{}`",
        canonical.display()
    ));
    Ok(ExitCode::SUCCESS)
}
