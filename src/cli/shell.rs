//! `devenv shell`: start the user's shell (bash, zsh or fish) with the project's environment.
//!
//! The shell gets the activation hook (so edits to the manifest or lock reach its next prompt),
//! `DEVENV_SHELL` (the project counts as allowed, and stays active outside its directory), a
//! `(devenv)` prompt marker, and the init_hook. devenv waits for it and watches `devenv.json` and
//! `devenv.lock` meanwhile, installing what changed so the next prompt loads it without delay.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use notify::Watcher as _;

use super::Ctx;
use crate::app::activate::{self, logical_cwd};
use crate::app::{Inputs, Project};
use crate::diagnostic::{Report, ResultExt as _};
use crate::shell::{quote, Shell, SHELL_VAR};

/// Start your shell with the project's environment.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    if let Some(outer) = std::env::var_os(SHELL_VAR).filter(|v| !v.is_empty()) {
        return Err(anyhow::anyhow!(
            "this shell is already a devenv shell for `{}`",
            Path::new(&outer).display()
        ))
        .hint("type `exit` to leave it first; inside it, `cd` activates other projects")
        .bad_input();
    }
    let project = Project::open(&logical_cwd()?)?;
    activate::environment(ctx, &project, Inputs::read(&project)?)?;
    let program = std::env::var("SHELL").unwrap_or_else(|_| "bash".to_string());
    let shell = Shell::from_program(&program).unwrap_or(Shell::Bash);
    let program = if Shell::from_program(&program).is_some() {
        program
    } else {
        "bash".to_string()
    };
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "devenv".to_string());
    let startup = startup_dir(&ctx.settings.dirs.state, shell, &exe)?;
    let mut cmd = start_command(shell, &program, &exe, &startup)?;
    cmd.env(SHELL_VAR, &project.root);
    let mut cmd = crate::app::namespace::command(&ctx.settings, cmd)?;
    let watcher = spawn_watcher(ctx, &project);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{program}`"))?;
    drop(watcher);
    use std::os::unix::process::ExitStatusExt as _;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// The directory of the shell's start-up files, in the user's state: named after what decides
/// their text (the shell, this devenv binary, the user's zsh directory), so shells of one kind
/// share it. A temporary directory would be left behind whenever the terminal is closed under
/// the shell (devenv is hung up with it and never gets to remove it).
fn startup_dir(state: &Path, shell: Shell, exe: &str) -> Result<PathBuf> {
    use sha2::Digest as _;
    let key = sha2::Sha256::digest(format!("{shell:?}\0{exe}\0{}", user_zdotdir()));
    let dir = state.join("shell").join(crate::nix::hash::hex(&key[..8]));
    crate::fsutil::create_private_dir_all(&dir)
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    Ok(dir)
}

/// Where zsh would read the user's own start-up files from.
fn user_zdotdir() -> String {
    std::env::var("ZDOTDIR")
        .or_else(|_| std::env::var("HOME"))
        .unwrap_or_default()
}

/// The command starting `shell` with a start-up file that sources the user's own, installs the
/// hook, loads the project now and marks the prompt.
fn start_command(shell: Shell, program: &str, exe: &str, dir: &Path) -> Result<Command> {
    // Written only when different: every shell of this kind after the first finds it in place.
    let write = |name: &str, text: String| -> Result<PathBuf> {
        let p = dir.join(name);
        if std::fs::read(&p).ok().as_deref() != Some(text.as_bytes()) {
            crate::fsutil::write_private(&p, text.as_bytes())
                .with_context(|| format!("cannot write `{}`", p.display()))?;
        }
        Ok(p)
    };
    let q = quote::posix(exe);
    let mut cmd = Command::new(program);
    match shell {
        Shell::Bash => {
            let rc = write(
                "bashrc",
                format!(
                    "if [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n\
                     eval \"$({q} hook bash)\"\n\
                     _devenv_hook\n\
                     PS1=\"(devenv) ${{PS1-\\$ }}\"\n"
                ),
            )?;
            cmd.arg("--rcfile").arg(rc).arg("-i");
        }
        Shell::Zsh => {
            let user = user_zdotdir();
            let uq = quote::posix(&user);
            write(
                ".zshenv",
                format!("if [[ -f {uq}/.zshenv ]]; then source {uq}/.zshenv; fi\n"),
            )?;
            write(
                ".zshrc",
                format!(
                    "ZDOTDIR={uq}\n\
                     if [[ -f $ZDOTDIR/.zshrc ]]; then source $ZDOTDIR/.zshrc; fi\n\
                     eval \"$({q} hook zsh)\"\n\
                     _devenv_hook\n\
                     PROMPT=\"(devenv) ${{PROMPT-%# }}\"\n"
                ),
            )?;
            cmd.env("ZDOTDIR", dir).arg("-i");
        }
        Shell::Fish => {
            let fq = quote::fish(exe);
            let init = write(
                "init.fish",
                format!(
                    "{fq} hook fish | source\n\
                     __devenv_hook\n\
                     if functions -q fish_prompt\n\
                         functions -c fish_prompt __devenv_user_prompt\n\
                     else\n\
                         function __devenv_user_prompt; printf '> '; end\n\
                     end\n\
                     function fish_prompt; printf '(devenv) '; __devenv_user_prompt; end\n"
                ),
            )?;
            cmd.arg("--init-command")
                .arg(format!(
                    "source {}",
                    quote::fish(&init.display().to_string())
                ))
                .arg("-i");
        }
    }
    Ok(cmd)
}

/// Watch the project directory for writes to the manifest or lock (a `git pull`, an editor) and
/// install what changed. The prompt hook then finds the environment prepared.
fn spawn_watcher(ctx: &Ctx, project: &Project) -> Option<notify::RecommendedWatcher> {
    let (tx, rx) = mpsc::channel();
    let files = [project.manifest_path(), project.lock_path()];
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            if event.paths.iter().any(|p| files.iter().any(|f| f == p)) {
                let _ = tx.send(());
            }
        }
    })
    .ok()?;
    watcher
        .watch(&project.root, notify::RecursiveMode::NonRecursive)
        .ok()?;
    let settings = ctx.settings.clone();
    let printer = ctx.printer.clone();
    let project = project.clone();
    std::thread::spawn(move || {
        let ctx = Ctx { settings, printer };
        while rx.recv().is_ok() {
            // Editors and git write in several steps; let them finish.
            std::thread::sleep(Duration::from_millis(200));
            while rx.try_recv().is_ok() {}
            let result = Inputs::read(&project)
                .and_then(|inputs| activate::environment(&ctx, &project, inputs));
            if let Err(err) = result {
                ctx.printer.error(&Report::from_error(&err));
            }
        }
    });
    Some(watcher)
}
