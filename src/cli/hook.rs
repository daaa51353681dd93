//! `devenv hook <shell>`: print the code that activates projects on `cd`.

use std::process::ExitCode;

use super::Printer;

/// Print the shell hook; add `eval "$(devenv hook bash)"` to your shell's rc file.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, _printer: &Printer) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("hook"))
}
