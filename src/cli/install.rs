//! `devenv install`: Realize everything in devenv.lock for this system.

use std::process::ExitCode;

use super::Ctx;

/// Realize everything in devenv.lock for this system.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("install"))
}
