//! Driving real bash, zsh and fish against the real binary: a world with the hook installed
//! through a wrapper that logs every start of `devenv` (so tests can prove a quiet prompt starts
//! no process), a `prompt` function that runs what the shell runs before drawing a prompt, and
//! `env -0` dumps to compare.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::TestContext;

pub struct ShellWorld {
    pub t: TestContext,
    /// Logs one line per `devenv` start made by the hook.
    pub calls: PathBuf,
    /// A directory outside every project.
    pub outside: PathBuf,
}

/// What each shell runs before a prompt, as a function named `prompt`.
fn prompt_fn(shell: &str) -> &'static str {
    match shell {
        // bash runs each PROMPT_COMMAND element with `$?` of the previous one (the user's command first).
        "bash" => "__status() { return $1; }\nprompt() { local __s=$? __c; for __c in \"${PROMPT_COMMAND[@]}\"; do __status $__s; eval \"$__c\"; __s=$?; done; }\n",
        "zsh" => "__status() { return $1; }\nprompt() { local __s=$? __f; for __f in $precmd_functions; do __status $__s; $__f; done; }\n",
        _ => "function prompt; emit fish_prompt; end\n",
    }
}

/// The command each shell dumps all its variables with (for [`ShellWorld::vars`]), followed by the
/// file name.
pub fn vars_dump(shell: &str) -> &'static str {
    match shell {
        "bash" => "declare -p >",
        "zsh" => "typeset -p >",
        _ => "set --show >",
    }
}

impl ShellWorld {
    pub fn new() -> ShellWorld {
        let t = TestContext::new();
        let calls = t.root().join("calls.log");
        let outside = t.root().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let real = env!("CARGO_BIN_EXE_devenv");
        let wrapper = t.root().join("wrap/devenv");
        std::fs::create_dir_all(wrapper.parent().unwrap()).unwrap();
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{real}' \"$@\"\n",
                calls.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        for shell in ["bash", "zsh", "fish"] {
            let hook = t.ok(&["hook", shell]);
            let quoted = format!("'{real}'");
            assert!(hook.contains(&quoted), "hook bakes the binary path");
            let hook = hook.replace(&quoted, &format!("'{}'", wrapper.display()));
            std::fs::write(t.root().join(format!("hook.{shell}")), hook).unwrap();
        }
        ShellWorld { t, calls, outside }
    }

    /// Write `<root>/<rel>/devenv.json`; returns the project directory.
    pub fn project(&self, rel: &str, manifest: &str) -> PathBuf {
        let dir = self.t.root().join(rel);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("devenv.json"), manifest).unwrap();
        dir
    }

    /// `devenv allow <dir>`.
    pub fn allow(&self, dir: &Path) {
        self.t.ok(&["allow", dir.to_str().unwrap()]);
    }

    /// How many times the hook started devenv so far.
    pub fn export_calls(&self) -> usize {
        std::fs::read_to_string(&self.calls)
            .map(|s| s.lines().filter(|l| l.starts_with("export")).count())
            .unwrap_or(0)
    }

    /// Run `body` in `shell` (non-interactive, no user rc files) after installing the hook and a
    /// `prompt` function; starts in the directory outside every project. Variables available to
    /// the script: `$ROOT` (the temp world), `$OUT` (outside dir).
    pub fn script(&self, shell: &str, body: &str) -> Output {
        let hook = self.t.root().join(format!("hook.{shell}"));
        let mut cmd = Command::new(shell);
        match shell {
            "bash" => {
                cmd.args(["--norc", "--noprofile", "-c"]);
            }
            "zsh" => {
                cmd.args(["-f", "-c"]);
            }
            _ => {
                cmd.args(["--no-config", "-c"]);
            }
        }
        let source = match shell {
            "fish" => format!("source '{}'\n", hook.display()),
            _ => format!(". '{}'\n", hook.display()),
        };
        cmd.arg(format!("{source}{}{body}", prompt_fn(shell)));
        self.t.isolate(&mut cmd);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("__DEVENV_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("ROOT", self.t.root())
            .env("OUT", &self.outside)
            .env("SHELL", format!("/bin/{shell}"))
            .current_dir(&self.outside);
        cmd.output().expect("the shell must be installed")
    }

    /// Like [`ShellWorld::script`], asserting the script succeeded; returns stdout.
    pub fn ok(&self, shell: &str, body: &str) -> (String, String) {
        let out = self.script(shell, body);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "{shell} script failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        (stdout, stderr)
    }

    /// Every shell variable (exported or not, with its attributes) from a dump written by
    /// [`vars_dump`] to `<root>/<name>`, by name, without the ones a shell changes by itself
    /// between two points of one script (last argument, previous directory, statuses, clocks).
    pub fn vars(&self, shell: &str, name: &str) -> BTreeMap<String, String> {
        let text = std::fs::read_to_string(self.t.root().join(name)).unwrap();
        let volatile: &[&str] = match shell {
            "bash" => &[
                "_",
                "OLDPWD",
                "PIPESTATUS",
                "BASH_LINENO",
                "BASH_SOURCE",
                "FUNCNAME",
                "LINENO",
                "RANDOM",
                "SRANDOM",
                "SECONDS",
                "EPOCHSECONDS",
                "EPOCHREALTIME",
                "BASH_COMMAND",
                "HISTCMD",
                "BASH_ARGC",
                "BASH_ARGV",
            ],
            "zsh" => &[
                "_",
                "OLDPWD",
                "RANDOM",
                "SECONDS",
                "LINENO",
                "status",
                "pipestatus",
                "funcstack",
                "functrace",
                "funcfiletrace",
                "funcsourcetrace",
                "dirstack",
                "TTYIDLE",
            ],
            _ => &[
                "_",
                "OLDPWD",
                "status",
                "pipestatus",
                "status_generation",
                "CMD_DURATION",
                "dirprev",
                "dirnext",
                "__fish_cd_direction",
                "history",
                "fish_kill_signal",
                "__fish_last_status",
            ],
        };
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in text.lines() {
            let name = match shell {
                // `$NAME: set in …` and `$NAME[1]: |value|`
                "fish" => line
                    .strip_prefix('$')
                    .and_then(|rest| rest.split([':', '[']).next()),
                // `declare -x NAME="…"`, `typeset -a NAME=( … )`, `export NAME=…`
                _ => line
                    .split_once(' ')
                    .filter(|(word, _)| ["declare", "typeset", "export"].contains(word))
                    .and_then(|(_, rest)| {
                        rest.split(' ')
                            .find(|w| !w.starts_with('-'))
                            .map(|w| w.split('=').next().unwrap_or(w))
                    }),
            };
            match name {
                Some(n) => {
                    let entry = vars.entry(n.to_string()).or_default();
                    entry.push_str(line);
                    entry.push('\n');
                    last = Some(n.to_string());
                }
                // A value spanning lines.
                None => {
                    if let Some(n) = &last {
                        let entry = vars.get_mut(n).unwrap();
                        entry.push_str(line);
                        entry.push('\n');
                    }
                }
            }
        }
        vars.retain(|k, _| !volatile.contains(&k.as_str()));
        vars
    }

    /// A dump written by `env -0 > <root>/<name>`, without the variables a shell changes by itself
    /// between two points of one script: `_` (last argument) and `OLDPWD` (previous directory).
    pub fn dump(&self, name: &str) -> BTreeMap<String, String> {
        let bytes = std::fs::read(self.t.root().join(name)).unwrap();
        String::from_utf8(bytes)
            .unwrap()
            .split('\0')
            .filter(|e| !e.is_empty())
            .filter_map(|e| e.split_once('='))
            .filter(|(k, _)| *k != "_" && *k != "OLDPWD")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
