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
    /// Without one, list the project's scripts.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `devenv run` alone: the scripts of `shell.scripts`, one per line with its first command (or
/// `--json`: name → lines). Nothing is installed or activated for a listing.
fn list_scripts(ctx: &Ctx, project: &Project) -> Result<ExitCode> {
    let inputs = Inputs::read(project)?;
    let scripts = &inputs.manifest()?.manifest.scripts;
    if ctx.printer.json {
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(scripts)?));
        return Ok(ExitCode::SUCCESS);
    }
    if scripts.is_empty() {
        ctx.printer.info(format!(
            "`{}` defines no scripts; add them under `shell.scripts`, or run any command with `devenv run <command> [args…]`",
            inputs.manifest_name()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let width = scripts.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, lines) in scripts {
        let first = lines.first().map(String::as_str).unwrap_or("");
        let more = match lines.len() {
            0 | 1 => String::new(),
            n => format!("  (+{} more line{})", n - 1, if n == 2 { "" } else { "s" }),
        };
        out.push_str(&format!("{name:<width$}  {first}{more}\n"));
    }
    super::print_data(&crate::display::escape_keeping_lines(&out));
    Ok(ExitCode::SUCCESS)
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let cwd = logical_cwd()?;
    let project = Project::open(&cwd)?;
    if args.command.is_empty() {
        return list_scripts(ctx, &project);
    }
    let (spec, _) = activate::environment(ctx, &project, Inputs::read(&project)?)?;
    let current = current_env();
    let (env, _) = spec.apply(&project.root, &cwd, pristine(&current))?;
    let env =
        crate::app::namespace::unroute(&ctx.settings, &project.key(), spec.profile.as_deref(), env);
    let (name, rest) = args.command.split_first().expect("checked above");
    let mut cmd = if let Some(lines) = spec.scripts.get(name) {
        let mut body = spec.init_hook.join("\n");
        body.push('\n');
        body.push_str(&lines.join("\n"));
        let mut c = Command::new(activate::script_shell(project.dialect, &env));
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
    let mut cmd = crate::app::namespace::enter_for_exec(&ctx.settings, cmd)?;
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
