//! `devenv update`: Re-resolve packages to the newest versions their constraints allow.

use std::process::ExitCode;

use super::Ctx;

/// Re-resolve packages to the newest versions their constraints allow.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("update"))
}
