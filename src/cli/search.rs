//! `devenv search`: Search the index for packages.

use std::process::ExitCode;

use super::Ctx;

/// Search the index for packages.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("search"))
}
