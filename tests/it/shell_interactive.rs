//! Interactive shells in tmux: `devenv shell` (prompt marker, environment, init_hook, nesting
//! refused, edits picked up at the next prompt, exit status), and tmux panes started from an
//! activated environment that must not keep its stale state.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::shells::ShellWorld;

/// A private tmux server (own socket) whose panes see the test world's isolated environment.
pub(crate) struct Tmux {
    pub(crate) socket: PathBuf,
}

impl Tmux {
    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).arg("-f").arg("/dev/null");
        c
    }

    pub(crate) fn send(&self, target: &str, line: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", target, "-l", line])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        self.cmd()
            .args(["send-keys", "-t", target, "Enter"])
            .status()
            .unwrap();
    }

    pub(crate) fn screen(&self, target: &str) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-t", target, "-S", "-500"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Poll the pane until `pred` holds (at most 20 s).
    pub(crate) fn wait(&self, target: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen(target);
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn wait_for(&self, target: &str, text: &str) -> String {
        self.wait(target, text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// A world whose HOME has a `.bashrc` (simple prompt, plus the hook when `hook`), `devenv` on
/// PATH, and a project with a tool, allowed.
pub(crate) fn world(hook: bool) -> (ShellWorld, PathBuf, String) {
    let w = ShellWorld::new();
    let p = w.project(
        "proj",
        r#"{"env": {"FOO": "bar", "PATH": "$DEVENV_PROJECT_ROOT/tools:$PATH"},
            "shell": {"init_hook": ["touch \"$DEVENV_PROJECT_ROOT/hooked\""]}}"#,
    );
    std::fs::create_dir_all(p.join("tools")).unwrap();
    let tool = p.join("tools/hello-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"tool says $FOO\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.allow(&p);
    let mut rc = String::from("PS1='$ '\n");
    if hook {
        rc.push_str("eval \"$(devenv hook bash)\"\n");
    }
    std::fs::write(w.t.home.join(".bashrc"), rc).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_devenv")).parent().unwrap();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    (w, p, path)
}

pub(crate) fn start(
    w: &ShellWorld,
    path: &str,
    dir: &Path,
    extra_env: &[(String, String)],
) -> Tmux {
    let tmux = Tmux {
        socket: w.t.root().join("tmux.sock"),
    };
    let mut c = tmux.cmd();
    c.args(["new-session", "-d", "-x", "160", "-y", "50", "-c"])
        .arg(dir)
        .args(["bash", "-i"]);
    client_env(&mut c, w, path, extra_env);
    assert!(c.status().unwrap().success(), "tmux starts");
    tmux
}

/// tmux gives new panes the environment of the client that asks for them: the isolated one.
pub(crate) fn client_env(
    c: &mut Command,
    w: &ShellWorld,
    path: &str,
    extra_env: &[(String, String)],
) {
    w.t.isolate(c);
    c.env("PATH", path)
        .env("SHELL", "/bin/bash")
        .env_remove("TMUX");
    for (k, v) in extra_env {
        c.env(k, v);
    }
}

#[test]
fn devenv_shell_marks_prompt_loads_env_refuses_nesting_follows_edits_and_exit_status() {
    let (w, p, path) = world(false);
    let tmp = w.t.root().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let tmux = start(
        &w,
        &path,
        &p,
        &[("TMPDIR".into(), tmp.display().to_string())],
    );
    let t = "0";
    tmux.wait_for(t, "$ ");
    tmux.send(t, "devenv shell");
    tmux.wait_for(t, "(devenv) $");
    // Its start-up file lives in devenv's state, not in a temporary directory that closing the
    // terminal (which hangs up devenv too) would leave behind.
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    tmux.send(t, "hello-tool; echo \"marker-$DEVENV_SHELL\"");
    tmux.wait_for(t, "tool says bar");
    tmux.wait_for(t, &format!("marker-{}", p.display()));
    assert!(p.join("hooked").exists(), "init_hook ran");
    tmux.send(t, "devenv shell");
    tmux.wait_for(t, "already a devenv shell");
    std::fs::write(p.join("devenv.json"), r#"{"env": {"FOO": "edited"}}"#).unwrap();
    // The hook reloads at the prompt after the edit; poll with fresh commands until it shows.
    let start = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        tmux.send(t, &format!("echo \"probe{n}=$FOO\""));
        let probe = format!("probe{n}=");
        let s = tmux.wait(t, &probe, |s| s.lines().any(|l| l.starts_with(&probe)));
        if s.contains(&format!("probe{n}=edited")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{s}");
    }
    tmux.send(t, "exit 3");
    tmux.send(t, "echo \"rc=$?\"");
    tmux.wait_for(t, "rc=3");
}

#[test]
fn tmux_panes_started_from_an_activated_env_drop_its_stale_state() {
    let (w, p, path) = world(true);
    // The tmux server inherits a loaded environment (as when tmux is started inside a project).
    let (out, _) = w.ok(
        "bash",
        "cd \"$ROOT/proj\"; prompt; env -0 > \"$ROOT/activated\"; echo FOO=$FOO",
    );
    assert!(out.contains("FOO=bar"), "{out}");
    let activated: Vec<(String, String)> = w
        .dump("activated")
        .into_iter()
        .filter(|(k, _)| k.starts_with("__DEVENV_") || k == "FOO" || k == "DEVENV_PROJECT_ROOT")
        .collect();
    let loaded_path = format!("{}/tools:{path}", p.display());
    let mut env = activated.clone();
    env.push(("PATH".into(), loaded_path));
    let tmux = start(&w, &path, &w.outside, &env);
    tmux.wait_for("0", "$ ");
    tmux.send(
        "0",
        "echo \"first FOO=${FOO-unset} tool=$(command -v hello-tool || echo none)\"",
    );
    tmux.wait_for("0", "first FOO=unset tool=none");
    let mut split = tmux.cmd();
    split
        .args(["split-window", "-t", "0", "-c"])
        .arg(&w.outside)
        .args(["bash", "-i"]);
    client_env(&mut split, &w, &path, &env);
    assert!(split.status().unwrap().success());
    tmux.send("0.1", "echo \"split FOO=${FOO-unset} PATH=$PATH\"");
    let s = tmux.wait("0.1", "the split pane's output", |s| {
        s.lines().any(|l| l.starts_with("split FOO="))
    });
    assert!(s.contains(&format!("split FOO=unset PATH={path}")), "{s}");
    tmux.send("0.1", &format!("cd '{}'", p.display()));
    tmux.send("0.1", "hello-tool");
    tmux.wait_for("0.1", "tool says bar");
}

#[test]
fn devenv_shell_in_zsh_and_fish_marks_prompt_and_loads_env() {
    for shell in ["zsh", "fish"] {
        let (w, p, path) = world(false);
        let _ = std::fs::remove_file(p.join("hooked"));
        let tmux = Tmux {
            socket: w.t.root().join("tmux.sock"),
        };
        let mut c = tmux.cmd();
        c.args(["new-session", "-d", "-x", "160", "-y", "50", "-c"])
            .arg(&p)
            .arg(env!("CARGO_BIN_EXE_devenv"))
            .arg("shell");
        client_env(&mut c, &w, &path, &[]);
        c.env("SHELL", format!("/usr/bin/{shell}"));
        assert!(c.status().unwrap().success());
        tmux.wait_for("0", "(devenv)");
        tmux.send("0", "echo \"$FOO-$DEVENV_PROJECT_ROOT\"; hello-tool");
        tmux.wait("0", shell, |s| {
            s.lines().any(|l| l == format!("bar-{}", p.display()))
                && s.lines().any(|l| l == "tool says bar")
        });
        assert!(p.join("hooked").exists(), "{shell}: init_hook ran");
    }
}

#[test]
fn prompt_command_in_env_is_refused_and_the_hook_keeps_running_at_real_prompts() {
    let (w, p, path) = world(true);
    let hooked = w.project(
        "hooked",
        r#"{"env": {"FOO": "from hooked", "PROMPT_COMMAND": "echo project-prompt"}}"#,
    );
    w.allow(&hooked);
    let tmux = start(&w, &path, &w.outside, &[]);
    tmux.wait_for("0", "$ ");
    tmux.send("0", &format!("cd '{}'", hooked.display()));
    tmux.wait_for("0", "`PROMPT_COMMAND` cannot be set by a project");
    tmux.send("0", "echo \"hooked FOO=${FOO-unset} pc=$PROMPT_COMMAND\"");
    tmux.wait_for("0", "hooked FOO=unset pc=_devenv_hook");
    tmux.send("0", &format!("cd '{}'", p.display()));
    tmux.send("0", "hello-tool");
    tmux.wait_for("0", "tool says bar");
    tmux.send("0", "cd ..");
    tmux.send("0", "echo \"after FOO=${FOO-unset}\"");
    let s = tmux.wait_for("0", "after FOO=unset");
    assert!(!s.contains("project-prompt"), "{s}");
}
