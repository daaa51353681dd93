//! `devenv rm`: remove packages from devenv.json and their entries from devenv.lock.

use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::{self, packages, Inputs, Project};

/// Remove packages from devenv.json and the lock, then update the environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Packages to remove, by name (`ansible`; a version suffix is ignored).
    #[arg(required = true, value_name = "PKG")]
    pub packages: Vec<String>,
    /// Only update devenv.json and devenv.lock; do not install.
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
    let (inputs, removed) = packages::remove(ctx, &project, &held, &inputs, &names)?;
    for name in &removed {
        ctx.printer.info(format!("removed {name}"));
    }
    if !args.no_install {
        app::install_written(ctx, &project, &held, inputs)?;
    }
    Ok(ExitCode::SUCCESS)
}
