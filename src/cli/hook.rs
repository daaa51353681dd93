//! `devenv hook <shell>`: print the code that activates projects on `cd`.

use std::process::ExitCode;

use super::Printer;
use crate::shell::Shell;

/// Print the shell hook; add `eval "$(devenv hook bash)"` to ~/.bashrc (zsh: ~/.zshrc; fish:
/// `devenv hook fish | source` in config.fish).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print the hook for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args, _printer: &Printer) -> anyhow::Result<ExitCode> {
    // The absolute path survives a PATH that does not (yet) hold devenv; the hook falls back to
    // `devenv` on PATH when this file is gone (an upgrade moved it).
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "devenv".to_string());
    let global = crate::app::global::root(&crate::settings::Dirs::from_environment()?);
    super::print_data(&args.shell.hook(&exe, &global.display().to_string()));
    Ok(ExitCode::SUCCESS)
}
