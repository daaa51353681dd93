//! `devenv allow` / `devenv deny`: trust a project for automatic activation, or revoke it.

use std::process::ExitCode;

use super::Ctx;

/// Allow automatic activation of a project (bound to its path and manifest content).
#[derive(Debug, clap::Args)]
pub struct AllowArgs {}

/// Revoke automatic activation of a project.
#[derive(Debug, clap::Args)]
pub struct DenyArgs {}

pub fn run_allow(_ctx: &Ctx, _args: AllowArgs) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("allow"))
}

pub fn run_deny(_ctx: &Ctx, _args: DenyArgs) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("deny"))
}
