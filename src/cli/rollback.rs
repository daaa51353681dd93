//! `devenv rollback`: Switch the project's environment back to an earlier generation.

use std::process::ExitCode;

use super::Ctx;

/// Switch the project's environment back to an earlier generation.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("rollback"))
}
