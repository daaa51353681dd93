//! `devenv list`: List the project's packages and their locked versions.

use std::process::ExitCode;

use super::Ctx;

/// List the project's packages and their locked versions.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("list"))
}
