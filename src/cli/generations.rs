//! `devenv generations`: List the project's environment generations.

use std::process::ExitCode;

use super::Ctx;

/// List the project's environment generations.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("generations"))
}
