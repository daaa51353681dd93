//! `devenv gc`: Delete store paths that no project, generation or lock references.

use std::process::ExitCode;

use super::Ctx;

/// Delete store paths that no project, generation or lock references.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("gc"))
}
