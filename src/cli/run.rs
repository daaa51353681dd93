//! `devenv run`: Run a manifest script or any command in the project's environment.

use std::process::ExitCode;

use super::Ctx;

/// Run a manifest script or any command in the project's environment.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("run"))
}
