//! `devenv shell`: Start your shell with the project's environment.

use std::process::ExitCode;

use super::Ctx;

/// Start your shell with the project's environment.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("shell"))
}
