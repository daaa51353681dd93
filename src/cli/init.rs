//! `devenv init`: Create a devenv.json in the current directory.

use std::process::ExitCode;

use super::Ctx;

/// Create a devenv.json in the current directory.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("init"))
}
