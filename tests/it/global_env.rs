//! `devenv global`: a user-wide environment under the config directory, loaded by the same hook
//! in bash, zsh and fish outside projects and beneath a project's environment inside one; quiet
//! prompts start nothing; generations and rollback as for a project.

use std::path::Path;

use crate::common::shells::ShellWorld;
use crate::first_minutes::offline_world;

/// A world with the example packages published and configured, `hello-devenv` in the global
/// environment, and an allowed project `demo` with `greet`.
fn world() -> ShellWorld {
    let w = ShellWorld::new();
    let demo = offline_world(&w.t);
    let (_, err) = in_dir(&w, &w.outside, &["global", "add", "hello-devenv"]);
    assert!(
        err.contains("created the global environment in")
            && err.contains("installed hello-devenv@latest (generation 1;"),
        "{err}"
    );
    in_dir(&w, &demo, &["init"]);
    in_dir(&w, &demo, &["add", "greet@0.2"]);
    w.allow(&demo);
    w
}

fn in_dir(w: &ShellWorld, dir: &Path, args: &[&str]) -> (String, String) {
    let out = w.t.cmd().current_dir(dir).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "devenv {args:?}: {stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn global_tools_are_everywhere_and_a_project_layers_on_top_in_bash() {
    let w = world();
    let (out, _) = w.ok(
        "bash",
        r#"set -eu
t() { echo "$1: hello=$(command -v hello-devenv >/dev/null && hello-devenv || echo none) greet=$(command -v greet >/dev/null && greet || echo none) root=${DEVENV_PROJECT_ROOT-unset}"; }
prompt; t outside
for i in 1 2 3 4 5; do prompt; done
cd "$HOME/demo"; prompt; t inside
for i in 1 2 3 4 5; do prompt; done
cd "$OUT"; prompt; t left
"#,
    );
    let home = w.t.home.display();
    assert_eq!(
        out,
        format!(
            "outside: hello=Hello from hello-devenv 1.0.0 greet=none root=unset\n\
             inside: hello=Hello from hello-devenv 1.0.0 greet=Hello, world! root={home}/demo\n\
             left: hello=Hello from hello-devenv 1.0.0 greet=none root=unset\n"
        )
    );
    // Load the global, switch to the project, back to the global: three; the quiet prompts none.
    assert_eq!(w.export_calls(), 3);
}

#[test]
fn global_rm_generations_and_rollback_reach_the_shell_at_the_next_prompt() {
    let w = world();
    let real = env!("CARGO_BIN_EXE_devenv");
    let (out, err) = w.ok(
        "bash",
        &format!(
            r#"set -eu
t() {{ echo "$1: hello=$(command -v hello-devenv >/dev/null && echo yes || echo no)"; }}
prompt; t loaded
'{real}' global rm hello-devenv; prompt; t removed
'{real}' global generations
'{real}' global rollback; prompt; t rolled-back
'{real}' global list
"#
        ),
    );
    assert!(out.contains("loaded: hello=yes\n"), "{out}");
    assert!(out.contains("removed: hello=no\n"), "{out}");
    assert!(out.contains("*   2  "), "{out}");
    assert!(out.contains("rolled-back: hello=yes\n"), "{out}\n{err}");
    assert!(err.contains("removed hello-devenv"), "{err}");
    assert!(
        err.contains("no packages left on this system (generation 2)"),
        "{err}"
    );
    assert!(err.contains("switched to generation 1"), "{err}");
    // The manifest keeps what `rm` wrote: the rollback holds until it changes.
    let manifest = w.t.home.join(".config/devenv/global/devenv.json");
    assert!(!std::fs::read_to_string(manifest)
        .unwrap()
        .contains("hello-devenv"));
}

#[test]
fn zsh_and_fish_load_the_global_environment_beneath_projects() {
    for shell in ["zsh", "fish"] {
        let w = world();
        let body = match shell {
            "zsh" => {
                r#"t() { echo "$1: hello=$(whence -p hello-devenv >/dev/null && echo yes || echo no) greet=$(whence -p greet >/dev/null && echo yes || echo no)"; }
prompt; t outside; prompt; prompt
cd "$HOME/demo"; prompt; t inside; prompt; prompt
cd "$OUT"; prompt; t left
"#
            }
            _ => {
                r#"function t; set -l h no; set -l g no; command -q hello-devenv; and set h yes; command -q greet; and set g yes; echo "$argv[1]: hello=$h greet=$g"; end
prompt; t outside; prompt; prompt
cd $HOME/demo; prompt; t inside; prompt; prompt
cd $OUT; prompt; t left
"#
            }
        };
        let (out, err) = w.ok(shell, body);
        assert_eq!(
            out,
            "outside: hello=yes greet=no\ninside: hello=yes greet=yes\nleft: hello=yes greet=no\n",
            "{shell}: {err}"
        );
        assert_eq!(w.export_calls(), 3, "{shell}");
    }
}

#[test]
fn status_reports_the_global_environment_outside_projects() {
    let w = world();
    let real = env!("CARGO_BIN_EXE_devenv");
    w.ok(
        "bash",
        &format!(
            "prompt; '{real}' status --json > \"$ROOT/global.json\"\n\
             '{real}' global rm hello-devenv 2>/dev/null; '{real}' status --json > \"$ROOT/changed.json\"\n"
        ),
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(w.t.root().join(name)).unwrap()).unwrap()
    };
    let global = read("global.json");
    let root = w.t.home.join(".config/devenv/global");
    assert_eq!(global["project"]["root"], root.display().to_string());
    assert_eq!(global["project"]["trust"], "allowed");
    assert_eq!(global["active"]["loaded"], true);
    assert_eq!(global["project"]["generation"], 1);
    assert_eq!(global["next_prompt"], "nothing", "{global}");
    let changed = read("changed.json");
    assert_eq!(changed["next_prompt"], "reload", "{changed}");
}

#[test]
fn a_global_change_reaches_a_shell_inside_a_project_at_its_next_prompt() {
    let w = world();
    let real = env!("CARGO_BIN_EXE_devenv");
    let (out, err) = w.ok(
        "bash",
        &format!(
            r#"set -eu
t() {{ echo "$1: hello=$(command -v hello-devenv >/dev/null && echo yes || echo no) greet=$(command -v greet >/dev/null && echo yes || echo no)"; }}
cd "$HOME/demo"; prompt; t before; prompt; prompt
'{real}' global rm hello-devenv 2>/dev/null; prompt; t after; prompt; prompt
"#
        ),
    );
    assert_eq!(
        out, "before: hello=yes greet=yes\nafter: hello=no greet=yes\n",
        "{err}"
    );
    // Enter, then one reload for the global change; the quiet prompts started nothing.
    assert_eq!(w.export_calls(), 2);
}

#[test]
fn on_a_terminal_only_projects_get_the_loaded_line_not_the_global_environment() {
    let w = world();
    let bin = Path::new(env!("CARGO_BIN_EXE_devenv")).parent().unwrap();
    let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
    let tmux = crate::activation_summary::session(&w, &path, "bash", &[]);
    tmux.send("0", "hello-devenv");
    tmux.wait_for("0", "Hello from hello-devenv 1.0.0");
    tmux.send(
        "0",
        &format!("cd '{}' && greet", w.t.home.join("demo").display()),
    );
    tmux.wait_for("0", "Hello, world!");
    tmux.send("0", "cd .. && echo left");
    let s = tmux.wait_for("0", "\nleft");
    let lines: Vec<&str> = s.lines().filter(|l| l.starts_with("devenv: ")).collect();
    assert_eq!(
        lines,
        ["devenv: loaded demo (+1 tool)", "devenv: unloaded demo"],
        "{s}"
    );
}

#[test]
fn only_add_creates_the_global_environment() {
    let w = ShellWorld::new();
    let global = w.t.home.join(".config/devenv/global");
    let out = w.t.run(&["global", "list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no global environment yet"));
    let err = w.t.fails(&["global", "rm", "jq"], 2);
    assert_eq!(
        err,
        "error: there is no global environment yet\nhint: `devenv global add <pkg>` creates it\n"
    );
    assert!(
        !global.exists(),
        "no empty global environment for every shell to load"
    );
    // Quiet shells stay quiet without one.
    w.ok("bash", "prompt; prompt; cd \"$OUT\"; prompt");
    assert_eq!(w.export_calls(), 0);
}
