//! `devenv index`: Build or extend a static version index from a nixpkgs git checkout.

use std::process::ExitCode;

use super::Ctx;

/// Build or extend a static version index from a nixpkgs git checkout.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("index"))
}
