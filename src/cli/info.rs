//! `devenv info`: Show a package's versions with their nixpkgs revisions and dates.

use std::process::ExitCode;

use super::Ctx;

/// Show a package's versions with their nixpkgs revisions and dates.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("info"))
}
