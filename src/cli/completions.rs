//! `devenv completions <shell>`: print a completion script.

use std::process::ExitCode;

use super::Printer;

/// Print shell completions.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, _printer: &Printer) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("completions"))
}
