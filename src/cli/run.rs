//! `devenv run`: run a manifest script or any command in the project's environment.
//!
//! A script (`shell.scripts.<name>`) runs as `sh -c '<init_hook>\n<script>' <name> <args…>`, so its
//! lines see the arguments as `"$@"`; any other command is executed directly with its arguments
//! passed verbatim. Either way devenv replaces itself with the program (exec), so the exit status,
//! including death by a signal, is the program's own.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::app::activate::{self, current_env, logical_cwd, pristine};
use crate::app::{Inputs, Project};
use crate::diagnostic::ResultExt as _;

/// Run a manifest script or any command in the project's environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A script name from devenv.json, or a command; then its arguments, passed verbatim.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let cwd = logical_cwd()?;
    let project = Project::open(&cwd)?;
    let (spec, _) = activate::environment(ctx, &project, Inputs::read(&project)?)?;
    let current = current_env();
    let (env, _) = spec.apply(&project.root, &cwd, pristine(&current))?;
    let (name, rest) = args.command.split_first().expect("clap requires one");
    let mut cmd = if let Some(lines) = spec.scripts.get(name) {
        let mut body = spec.init_hook.join("\n");
        body.push('\n');
        body.push_str(&lines.join("\n"));
        let mut c = Command::new("sh");
        c.arg("-c").arg(body).arg(name).args(rest);
        c
    } else {
        let mut c = Command::new(name);
        c.args(rest);
        c
    };
    for key in current.keys() {
        if !env.contains_key(key) {
            cmd.env_remove(key);
        }
    }
    for (key, value) in &env {
        if current.get(key) != Some(value) {
            cmd.env(key, value);
        }
    }
    let err = cmd.exec();
    let scripts: Vec<&str> = spec.scripts.keys().map(String::as_str).collect();
    Err(anyhow::Error::new(err))
        .context(format!("could not run `{name}`"))
        .with_hint(|| {
            if scripts.is_empty() {
                "check the command's name; the project defines no scripts".to_string()
            } else {
                format!("scripts in this project: {}", scripts.join(", "))
            }
        })
        .bad_input()
}
