//! The line people see when the hook loads or leaves a project on a terminal
//! (`devenv: loaded proj (+2 vars)`, `devenv: unloaded proj`) in real bash, zsh and fish in tmux;
//! silent with `DEVENV_QUIET=1`, off a terminal, and never on the stdout the hook evaluates.

use crate::common::shells::ShellWorld;
use crate::shell_interactive::{client_env, world, Tmux};

/// A tmux session running `shell` (no user config) in the world's outside directory, with the
/// world's hook for that shell sourced and a `$ ` prompt.
pub(crate) fn session(
    w: &ShellWorld,
    path: &str,
    shell: &str,
    extra_env: &[(String, String)],
) -> Tmux {
    let tmux = Tmux {
        socket: w.t.root().join(format!("tmux-{shell}.sock")),
    };
    let mut c = tmux.cmd();
    c.args(["new-session", "-d", "-x", "160", "-y", "50", "-c"])
        .arg(&w.outside);
    match shell {
        "bash" => c.args(["bash", "--norc", "--noprofile", "-i"]),
        "zsh" => c.args(["zsh", "-f", "-i"]),
        _ => c.args(["fish", "--no-config", "-i"]),
    };
    client_env(&mut c, w, path, extra_env);
    assert!(c.status().unwrap().success(), "tmux starts {shell}");
    let hook = w.t.root().join(format!("hook.{shell}"));
    let setup = match shell {
        "fish" => format!(
            "function fish_prompt; echo -n 'ready$ '; end; source '{}'",
            hook.display()
        ),
        _ => format!("PS1='ready$ '; . '{}'", hook.display()),
    };
    tmux.send("0", &setup);
    tmux.wait_for("0", "ready$ ");
    tmux
}

#[test]
fn entering_and_leaving_print_one_line_in_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let (w, p, path) = world(false);
        let other = w.project("other", r#"{"env": {"X": "1"}}"#);
        w.allow(&other);
        let tmux = session(&w, &path, shell, &[]);
        tmux.send("0", &format!("cd '{}'", p.display()));
        tmux.wait_for("0", "devenv: loaded proj (+2 vars)");
        tmux.send("0", "hello-tool");
        tmux.wait_for("0", "tool says bar");
        tmux.send("0", &format!("cd '{}'", other.display()));
        tmux.wait_for("0", "devenv: unloaded proj, loaded other (+1 var)");
        tmux.send("0", "cd ..");
        let s = tmux.wait_for("0", "devenv: unloaded other");
        assert_eq!(s.matches("devenv: ").count(), 3, "{shell}: {s}");
        // The line is for the terminal: `export`'s stdout (what the hook evaluates) never has it.
        tmux.send("0", &format!("cd '{}'", p.display()));
        tmux.wait("0", "second load", |s| {
            s.matches("devenv: loaded proj").count() == 2
        });
        tmux.send("0", "cd ..");
        tmux.wait("0", "second unload", |s| {
            s.matches("devenv: unloaded proj").count() == 2
        });
        // An `export` that loads the project afresh (none of the shell's state reaches it), so
        // it prints the whole environment and, on the terminal, its line.
        let real = env!("CARGO_BIN_EXE_devenv");
        tmux.send(
            "0",
            &format!(
                "cd '{}'; env -u __DEVENV_DIFF -u __DEVENV_STAMP -u __DEVENV_DIR -u __DEVENV_ALLOW '{real}' export {shell} > '{}'; echo exported",
                p.display(),
                w.t.root().join("export.out").display()
            ),
        );
        tmux.wait_for("0", "exported");
        tmux.wait("0", "the line of the loading export", |s| {
            s.matches("devenv: loaded proj (+2 vars)").count() == 4
        });
        let code = std::fs::read_to_string(w.t.root().join("export.out")).unwrap();
        assert!(code.contains("hooked"), "{code}");
        assert!(
            !code.contains("devenv: ") && !code.contains("loaded"),
            "{code}"
        );
        drop(tmux);
    }
}

#[test]
fn devenv_quiet_and_a_non_terminal_stderr_show_nothing() {
    let (w, p, path) = world(false);
    let quiet = [("DEVENV_QUIET".to_string(), "1".to_string())];
    let tmux = session(&w, &path, "bash", &quiet);
    tmux.send("0", &format!("cd '{}' && hello-tool", p.display()));
    tmux.wait_for("0", "tool says bar");
    tmux.send("0", "cd .. && echo \"left FOO=${FOO-unset}\"");
    let s = tmux.wait_for("0", "left FOO=unset");
    assert!(!s.contains("devenv:"), "{s}");
    drop(tmux);

    // Not a terminal: a script's stderr gets nothing either.
    let (out, err) = w.ok(
        "bash",
        &format!("cd '{}' && hello-tool; cd \"$OUT\"", p.display()),
    );
    assert_eq!(out, "tool says bar\n");
    assert!(!err.contains("devenv:"), "{err}");
}
