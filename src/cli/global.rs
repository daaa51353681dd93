//! `devenv global`: the package commands on the user's global environment, the tools wanted in
//! every shell (`app::global`). Each subcommand is the project command of the same name, run on
//! the global environment's directory instead of the current one.

use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};

use super::Ctx;
use crate::app::global;
use crate::diagnostic::ResultExt as _;

/// Manage the global environment: tools in every shell, beneath any project's.
///
/// Its manifest and lock live in `<config dir>/global/`; the shell hook loads it outside
/// projects and lays a project's environment on top of it inside one.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add packages to the global environment (as `devenv add`).
    Add(super::add::Args),
    /// Remove packages from the global environment (as `devenv rm`).
    Rm(super::rm::Args),
    /// List the global environment's packages (as `devenv list`).
    List(super::list::Args),
    /// Re-resolve the global environment's packages (as `devenv update`).
    Update(super::update::Args),
    /// Install everything in the global lock (as `devenv install`).
    Install(super::install::Args),
    /// The global environment's generations (as `devenv generations`).
    Generations(super::generations::Args),
    /// Switch the global environment to an earlier generation (as `devenv rollback`).
    Rollback(super::rollback::Args),
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    // Only `add` creates the global environment: an empty one would still be loaded by every
    // new shell.
    let dir = match (&args.command, global::project(ctx)) {
        (Command::Add(_), _) => global::create(ctx)?,
        (_, Some(project)) => project.root,
        (Command::List(_) | Command::Generations(_), None) => {
            ctx.printer
                .info("there is no global environment yet; `devenv global add <pkg>` creates it");
            return Ok(ExitCode::SUCCESS);
        }
        (_, None) => {
            return Err(anyhow!("there is no global environment yet"))
                .hint("`devenv global add <pkg>` creates it")
                .bad_input()
        }
    };
    // The project commands find their project from the working directory; `$PWD` names the
    // shell's directory, not this one, so they take this one.
    std::env::set_current_dir(&dir).with_context(|| format!("cannot enter `{}`", dir.display()))?;
    let code = match args.command {
        Command::Add(a) => super::add::run(ctx, a),
        Command::Rm(a) => super::rm::run(ctx, a),
        Command::List(a) => return super::list::run(ctx, a),
        Command::Update(a) => super::update::run(ctx, a),
        Command::Install(a) => super::install::run(ctx, a),
        Command::Generations(a) => return super::generations::run(ctx, a),
        Command::Rollback(a) => super::rollback::run(ctx, a),
    }?;
    global::changed(ctx);
    Ok(code)
}
