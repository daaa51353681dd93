//! `devenv add`: Add packages to devenv.json, lock them, and install them.

use std::process::ExitCode;

use super::Ctx;

/// Add packages to devenv.json, lock them, and install them.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("add"))
}
