//! bash's `cd`/`pushd`/`popd` wrapper: `cd proj && cmd` sees the project at once, as in zsh and
//! fish; the wrapper keeps every behaviour of `cd` (status, `cd -`, `CDPATH`, no argument,
//! `set -eu`), chains a wrapper another tool installed, stays out of functions, is off with
//! `DEVENV_BASH_CD=0`, and quiet prompts still start nothing.

use std::time::{Duration, Instant};

use crate::common::shells::ShellWorld;
use crate::shell_interactive::{start, world};

const MANIFEST: &str = r#"{"env": {"FOO": "bar", "PATH": "$DEVENV_PROJECT_ROOT/tools:$PATH"}}"#;

/// A project `proj` (with `sub/`) whose `tools/hello-tool` prints `$FOO`, allowed.
fn project_world() -> (ShellWorld, std::path::PathBuf) {
    let w = ShellWorld::new();
    let p = w.project("proj", MANIFEST);
    std::fs::create_dir_all(p.join("tools")).unwrap();
    std::fs::create_dir_all(p.join("sub")).unwrap();
    let tool = p.join("tools/hello-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"tool says $FOO\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.allow(&p);
    (w, p)
}

#[test]
fn cd_then_command_on_one_line_sees_the_project_and_leaving_unloads() {
    let (w, p) = project_world();
    let (out, _) = w.ok(
        "bash",
        r#"set -eu
cd "$ROOT/proj" && hello-tool
cd sub && echo "sub FOO=$FOO"
cd "$OUT" && echo "out FOO=${FOO-unset} tool=$(command -v hello-tool || echo none)"
cd - >/dev/null && hello-tool
pushd "$OUT" >/dev/null && echo "pushd FOO=${FOO-unset}"
popd >/dev/null && echo "popd FOO=${FOO-unset} dir=${PWD##*/}"
"#,
    );
    assert!(out.starts_with("tool says bar\n"), "{out}");
    assert!(out.contains("sub FOO=bar\n"), "{out}");
    assert!(out.contains("out FOO=unset tool=none\n"), "{out}");
    assert_eq!(
        out.matches("tool says bar\n").count(),
        2,
        "cd - reloads: {out}"
    );
    assert!(out.contains("pushd FOO=unset\n"), "{out}");
    assert!(out.contains("popd FOO=bar dir=sub\n"), "{out}");
    // Enter, leave, enter (cd -), leave (pushd), enter (popd); `cd sub` stays in the project.
    assert_eq!(
        w.export_calls(),
        5,
        "{}",
        std::fs::read_to_string(&w.calls).unwrap()
    );
    assert!(p.join("sub").is_dir());
}

#[test]
fn the_wrapper_keeps_cd_status_dash_cdpath_home_and_set_eu() {
    let (w, p) = project_world();
    let (out, err) = w.ok(
        "bash",
        r#"set -u
cd "$ROOT/nowhere"; echo "missing rc=$?"
cd "$ROOT/proj" "$OUT" 2>/dev/null; echo "two args rc=$? dir=${PWD##*/}"
echo "after failures calls=$(cat "$ROOT/calls.log" 2>/dev/null | grep -c ^export)"
cd "$ROOT/proj"; cd "$OUT"
echo "dash=$(cd -)"
cd - >/dev/null; echo "back dir=${PWD##*/} FOO=$FOO"
CDPATH="$ROOT" cd proj/sub >/dev/null; echo "cdpath dir=${PWD##*/}"
CDPATH="$ROOT"; echo "cdpath prints=$(cd proj)"; unset CDPATH
cd; echo "home=$PWD FOO=${FOO-unset}"
popd 2>/dev/null; echo "empty popd rc=$?"
(set -e; cd "$ROOT/nowhere" 2>/dev/null; echo "not reached"); echo "set -e subshell rc=$?"
"#,
    );
    assert!(out.contains("missing rc=1\n"), "{out}");
    assert!(err.contains("nowhere: No such file or directory"), "{err}");
    assert!(out.contains("two args rc=1 dir=outside\n"), "{out}");
    assert!(
        out.contains("after failures calls=0\n"),
        "a failed cd runs nothing: {out}"
    );
    assert!(out.contains(&format!("dash={}\n", p.display())), "{out}");
    assert!(out.contains("back dir=proj FOO=bar\n"), "{out}");
    assert!(out.contains("cdpath dir=sub\n"), "{out}");
    assert!(
        out.contains(&format!("cdpath prints={}\n", p.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("home={} FOO=unset\n", w.t.home.display())),
        "{out}"
    );
    assert!(out.contains("empty popd rc=1\n"), "{out}");
    assert!(out.contains("set -e subshell rc=1\n"), "{out}");
    assert!(!out.contains("not reached"), "{out}");
}

#[test]
fn an_existing_cd_wrapper_keeps_running_and_sourcing_twice_wraps_once() {
    let (w, _) = project_world();
    let (out, _) = w.ok(
        "bash",
        r#"set -eu
cd() { echo "other tool's cd"; builtin cd "$@"; }
. "$ROOT/hook.bash"; . "$ROOT/hook.bash"
cd "$ROOT/proj" && hello-tool
cd /nonexistent 2>/dev/null || echo "failed rc=$?"
echo "prev=$(declare -F _devenv_prev_cd) prev of prev=$(declare -F _devenv_prev__devenv_prev_cd || echo none)"
"#,
    );
    assert!(
        out.starts_with("other tool's cd\ntool says bar\nother tool's cd\nfailed rc=1\n"),
        "{out}"
    );
    assert!(
        out.contains("prev=_devenv_prev_cd prev of prev=none"),
        "{out}"
    );
    assert_eq!(w.export_calls(), 1, "{out}");
}

#[test]
fn cd_inside_a_function_waits_for_the_prompt_and_bash_cd_0_turns_it_off() {
    let (w, _) = project_world();
    let (out, _) = w.ok(
        "bash",
        r#"set -u
where() { (cd "$1" && pwd); }
echo "where=$(where "$ROOT/proj")"
goto() { cd "$1"; }
goto "$ROOT/proj"; echo "in function FOO=${FOO-unset}"
prompt; echo "after prompt FOO=${FOO-unset}"
"#,
    );
    assert!(out.contains("/proj\n"), "{out}");
    assert!(out.contains("in function FOO=unset\n"), "{out}");
    assert!(out.contains("after prompt FOO=bar\n"), "{out}");
    assert_eq!(w.export_calls(), 1, "only the prompt loaded: {out}");

    // Off: the hook leaves cd as bash's builtin; the next prompt still loads.
    let (out, _) = w.ok(
        "bash",
        r#"unset -f cd pushd popd; DEVENV_BASH_CD=0; . "$ROOT/hook.bash"
echo "cd is $(type -t cd)"
cd "$ROOT/proj" && echo "FOO=${FOO-unset}"
prompt; echo "prompt FOO=${FOO-unset}"
"#,
    );
    assert!(out.contains("cd is builtin\n"), "{out}");
    assert!(out.contains("FOO=unset\n"), "{out}");
    assert!(out.contains("prompt FOO=bar\n"), "{out}");
}

#[test]
fn interactive_bash_runs_cd_and_command_on_one_line_and_quiet_prompts_start_nothing() {
    let (w, p, path) = world(false);
    std::fs::write(
        w.t.home.join(".bashrc"),
        format!("PS1='$ '\n. '{}'\n", w.t.root().join("hook.bash").display()),
    )
    .unwrap();
    let tmux = start(&w, &path, &w.outside, &[]);
    tmux.wait_for("0", "$ ");
    tmux.send("0", &format!("cd '{}' && hello-tool", p.display()));
    tmux.wait_for("0", "tool says bar");
    let loaded = w.export_calls();
    assert_eq!(loaded, 1, "the cd loaded the project once");
    for i in 0..10 {
        tmux.send("0", &format!("echo quiet-{i}"));
    }
    tmux.wait("0", "ten quiet prompts", |s| {
        s.lines().any(|l| l == "quiet-9")
    });
    // Wait for the prompt after the last command too.
    let start = Instant::now();
    while !tmux.screen("0").trim_end().ends_with('$') {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.export_calls(), loaded, "quiet prompts start no devenv");
    tmux.send("0", "cd .. && echo \"left FOO=${FOO-unset}\"");
    tmux.wait_for("0", "left FOO=unset");
    assert_eq!(w.export_calls(), 2);
}

#[test]
fn quiet_prompts_inside_devenv_shell_of_an_allowed_project_start_nothing() {
    // Regression: under `devenv shell`'s consent the state watched the allowance as a file that
    // must not exist, so in an allowed project every prompt started `devenv export`.
    let (w, p) = project_world();
    let (out, _) = w.ok(
        "bash",
        &format!(
            "export DEVENV_SHELL='{}'\ncd \"$ROOT/proj\"; prompt; prompt; prompt; echo \"FOO=$FOO\"\n",
            p.display()
        ),
    );
    assert!(out.contains("FOO=bar\n"), "{out}");
    assert_eq!(w.export_calls(), 1);
}
