//! `devenv export`: Print the shell code that loads or unloads the environment (used by the hook).

use std::process::ExitCode;

use super::Ctx;

/// Print the shell code that loads or unloads the environment (used by the hook).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("export"))
}
