//! `devenv rm`: Remove packages from devenv.json and the lock.

use std::process::ExitCode;

use super::Ctx;

/// Remove packages from devenv.json and the lock.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("rm"))
}
