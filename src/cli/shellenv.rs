//! `devenv shellenv`: Print the project's environment as shell exports.

use std::process::ExitCode;

use super::Ctx;

/// Print the project's environment as shell exports.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("shellenv"))
}
