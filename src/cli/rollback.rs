//! `devenv rollback [N]`: switch the project's environment back to an earlier generation. Shells
//! with the hook pick it up at their next prompt; it holds until the manifest or lock changes.

use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::{Inputs, Project};
use crate::env::EnvCache;
use crate::profile::Profile;

/// Switch the project's environment back to an earlier generation.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The generation to switch to (default: the one before the current).
    pub generation: Option<u32>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let project = Project::open(&logical_cwd()?)?;
    let inputs = Inputs::read(&project)?;
    let profile = Profile::for_project(&ctx.settings.dirs.data, &project.root);
    let n = profile.rollback(args.generation, &inputs.hash())?;
    EnvCache::new(&ctx.settings.dirs.state).invalidate(&project.key());
    ctx.printer.info(format!(
        "switched to generation {n}; shells follow at their next prompt"
    ));
    Ok(ExitCode::SUCCESS)
}
