//! `devenv export <shell>`: print the code that unloads the previous project and loads the one at
//! the current directory. The hook runs it only when something changed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::app::activate::{self, current_env, logical_cwd, pristine};
use crate::app::global;
use crate::app::summary::{self, Change, Loaded};
use crate::app::{trust, Inputs, Project};
use crate::diagnostic::Report;
use crate::env::{EnvCache, EnvSpec};
use crate::shell::diff::Applied;
use crate::shell::trust::Trust;
use crate::shell::{
    Shell, SHELL_VAR, STATE_ALLOW_VAR, STATE_DIFF_VAR, STATE_DIR_VAR, STATE_STAMP_VAR,
};

/// Print the shell code that loads or unloads the environment (used by the hook).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print code for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let shell = args.shell;
    let current = current_env();
    let old = current
        .get(STATE_DIFF_VAR)
        .and_then(|s| Applied::decode(s))
        .unwrap_or_default();
    let mut new = Applied::default();
    let mut change = Change {
        unloaded: (!old.is_empty())
            .then(|| {
                current
                    .get(STATE_DIR_VAR)?
                    .strip_prefix('-')
                    .map(Into::into)
            })
            .flatten(),
        loaded: None,
    };
    let mut target = pristine(&current);
    let mut code_after = String::new();
    let cwd = logical_cwd()?;
    // Outside every project, the global environment (if any) is the one to load; inside one,
    // it is laid beneath the project's.
    let found = Project::for_shell(&cwd).filter(|p| !global::contains(ctx, &p.root));
    let is_global = found.is_none();
    if let Some(project) = found.or_else(|| global::project(ctx)) {
        // Read once: trust is checked on these bytes, and only these bytes are exported and run.
        let inputs = Inputs::read(&project)?;
        let allow_file = trust::allow_file(ctx, &project, &inputs)?;
        let consent = std::env::var_os(SHELL_VAR).is_some_and(|v| Path::new(&v) == project.root);
        let trust = if consent || is_global {
            Ok(Trust::Allowed)
        } else {
            trust::status(ctx, &project, &inputs)?
        };
        let project_key = project.key();
        let cache = EnvCache::new(&ctx.settings.dirs.state);
        // Refused once here, before anything is read from or written to it.
        cache.verify()?;
        let mut allow_state = format!("!{}", allow_file.display());
        let manifest_name = project.manifest_path().display().to_string();
        let mut stamp_inputs = (inputs.hash(), inputs.mtime);
        match trust {
            Ok(Trust::Allowed) => match activate::environment(ctx, &project, inputs).and_then(
                |(spec, inputs)| {
                    let (spec, below) = match is_global {
                        true => (spec, None),
                        false => layered(ctx, spec),
                    };
                    let root = (!is_global).then_some(project.root.as_path());
                    let applied = spec.apply_at(root, &cwd, target.clone())?;
                    Ok((spec, inputs, below, applied))
                },
            ) {
                Ok((spec, inputs, below, (env, applied))) => {
                    stamp_inputs = (inputs.hash(), inputs.mtime);
                    if let Some(global) = &below {
                        stamp_inputs = global::stamp_inputs(stamp_inputs, global);
                    }
                    // The global environment loads in every new shell: not worth a line.
                    change.loaded = (!is_global).then(|| Loaded {
                        root: project.root.clone(),
                        tools: summary::tools(ctx, &inputs).unwrap_or(0),
                        vars: spec.env.len(),
                    });
                    target = env;
                    if !applied.is_empty() {
                        target.insert(STATE_DIFF_VAR.into(), applied.encode());
                    }
                    new = applied;
                    // Installing may have re-recorded the allowance for a lock it wrote. Inside
                    // `devenv shell` an allowance that exists is watched too: with `!` for a file
                    // that exists, every prompt would start `devenv export` again.
                    // The global environment needs no allowance: its manifest stands in for one.
                    let file = match is_global {
                        true => project.manifest_path(),
                        false => trust::allow_file(ctx, &project, &inputs)?,
                    };
                    if !consent || file.exists() {
                        allow_state = format!("+{}", file.display());
                    }
                    shell.init_hook(&mut code_after, &spec.init_hook);
                }
                Err(err) => {
                    // Shown once: the state below records this content, so the next prompt is quiet.
                    ctx.printer.error(&Report::from_error(&err));
                }
            },
            Ok(Trust::NotAllowed) => ctx.printer.warn(format!(
                "`{manifest_name}` is not allowed to load automatically; run `devenv allow` to trust its current content and its lock"
            )),
            Ok(Trust::Denied) => ctx.printer.info(format!(
                "devenv: `{manifest_name}` is denied; `devenv allow` lifts it"
            )),
            Err(untrusted) => {
                ctx.printer.warn(format!(
                    "`{manifest_name}` is not allowed to load automatically: its allowance could \
                     have been written by another user, so it does not count: {untrusted}\n\
                     hint: run `{}`, then `devenv allow` if you trust the project",
                    untrusted.fix()
                ));
                // Said once: the hook stays quiet while the record exists, and asks again when
                // it is removed or `devenv allow` replaces it (which drops the stamps).
                allow_state = format!("+{}", allow_file.display());
            }
        }
        let stamp = cache
            .stamp(&project_key, &stamp_inputs.0, stamp_inputs.1)
            .context("cannot write the activation stamp")?;
        target.insert(STATE_DIR_VAR.into(), format!("-{}", project.root.display()));
        target.insert(STATE_STAMP_VAR.into(), format!("-{}", stamp.display()));
        target.insert(STATE_ALLOW_VAR.into(), allow_state);
    }
    if change
        .unloaded
        .as_deref()
        .is_some_and(|dir| global::contains(ctx, dir))
    {
        change.unloaded = None;
    }
    summary::show(&ctx.printer, &change);
    let mut code = shell.activation(&current, &old, &target, &new);
    if !code.is_empty() {
        shell.forget_command_paths(&mut code);
    }
    code.push_str(&code_after);
    super::print_data(&code);
    Ok(ExitCode::SUCCESS)
}

/// `spec` laid on the global environment, and the global inputs it includes; a global
/// environment that cannot be loaded is reported once and left out, so the project still loads.
fn layered(ctx: &Ctx, spec: EnvSpec) -> (EnvSpec, Option<Inputs>) {
    match global::environment(ctx) {
        Ok(Some((below, inputs))) => (global::beneath(&below, spec), Some(inputs)),
        Ok(None) => (spec, None),
        Err(err) => {
            ctx.printer.error(&Report::from_error(&err));
            (spec, None)
        }
    }
}
