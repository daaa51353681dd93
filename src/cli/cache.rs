//! `devenv cache`: Write store paths as a signed binary cache.

use std::process::ExitCode;

use super::Ctx;

/// Write store paths as a signed binary cache.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("cache"))
}
