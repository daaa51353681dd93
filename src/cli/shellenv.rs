//! `devenv shellenv`: print the project's environment as shell exports, for CI, Dockerfiles and
//! direnv's `.envrc`. Typing it counts as consent: no `devenv allow` is needed.

use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::app::activate::{self, current_env, logical_cwd, pristine};
use crate::app::{Inputs, Project};
use crate::shell::Shell;

/// Print the project's environment as shell exports.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print for (default: from $SHELL, else bash).
    #[arg(long, value_enum)]
    pub shell: Option<Shell>,
    /// Also print the manifest's init_hook.
    #[arg(long)]
    pub init_hook: bool,
}

/// The user's shell from `$SHELL`, bash when unknown.
pub(crate) fn user_shell() -> Shell {
    std::env::var("SHELL")
        .ok()
        .and_then(|s| Shell::from_program(&s))
        .unwrap_or(Shell::Bash)
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let shell = args.shell.unwrap_or_else(user_shell);
    let cwd = logical_cwd()?;
    let project = Project::open(&cwd)?;
    let (spec, _) = activate::environment(ctx, &project, Inputs::read(&project)?)?;
    let current = current_env();
    let (env, _) = spec.apply(&project.root, &cwd, pristine(&current))?;
    let mut code = shell.transition(&current, &env);
    if args.init_hook {
        shell.init_hook(&mut code, &spec.init_hook);
    }
    super::print_data(&code);
    Ok(ExitCode::SUCCESS)
}
