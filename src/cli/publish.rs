//! `devenv publish`: Turn a local directory into a signed store path and add it to an index.

use std::process::ExitCode;

use super::Ctx;

/// Turn a local directory into a signed store path and add it to an index.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("publish"))
}
