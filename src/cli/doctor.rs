//! `devenv doctor`: Check the installation and explain each problem with the command that fixes it.

use std::process::ExitCode;

use super::Ctx;

/// Check the installation and explain each problem with the command that fixes it.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("doctor"))
}
