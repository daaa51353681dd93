//! `devenv completions <shell>`: print a completion script; and the hidden `devenv __complete`
//! that the scripts call back for values clap cannot know (package names from the local index).

use std::process::ExitCode;

use clap::CommandFactory;

use super::{Ctx, Printer};

/// Print a shell completion script.
///
/// Load it for the current session with, for example, `source <(devenv completions bash)`, or
/// save it where your shell looks for completions:
/// bash `~/.local/share/bash-completion/completions/devenv`, zsh a directory on `$fpath` as
/// `_devenv`, fish `~/.config/fish/completions/devenv.fish`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(args: &Args, _printer: &Printer) -> anyhow::Result<ExitCode> {
    let mut cmd = visible_surface(super::Cli::command());
    let mut buf = Vec::new();
    let script = match args.shell {
        Shell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "devenv", &mut buf);
            crate::completion::bash(&String::from_utf8(buf)?)
        }
        Shell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "devenv", &mut buf);
            crate::completion::zsh(&String::from_utf8(buf)?)?
        }
        Shell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "devenv", &mut buf);
            crate::completion::fish(&String::from_utf8(buf)?)
        }
    };
    super::print_data(&script);
    Ok(ExitCode::SUCCESS)
}

/// The command without hidden subcommands: clap_complete lists those too, and `__complete` is
/// plumbing, not something to offer on TAB.
fn visible_surface(full: clap::Command) -> clap::Command {
    let mut cmd = clap::Command::new("devenv")
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(full.is_propagate_version_set())
        .args(full.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

/// Values for completion scripts (internal; reads only local files, never the network).
#[derive(Debug, clap::Args)]
pub struct CompleteArgs {
    #[command(subcommand)]
    pub what: Complete,
}

#[derive(Debug, clap::Subcommand)]
pub enum Complete {
    /// Package names starting with PREFIX, one per line, from the local or cached index.
    Packages {
        #[arg(default_value = "")]
        prefix: String,
    },
}

pub fn run_complete(ctx: &Ctx, args: CompleteArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        Complete::Packages { prefix } => {
            let names = crate::completion::package_names(&ctx.settings, &prefix);
            let mut out = String::new();
            for name in names {
                out.push_str(&name);
                out.push('\n');
            }
            super::print_data(&out);
        }
    }
    Ok(ExitCode::SUCCESS)
}
