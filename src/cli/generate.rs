//! `devenv generate`: Generate files for other tools (direnv's .envrc).

use std::process::ExitCode;

use super::Ctx;

/// Generate files for other tools (direnv's .envrc).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("generate"))
}
