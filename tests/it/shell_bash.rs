//! Automatic activation in real bash: entering and leaving restores the environment exactly, a
//! quiet prompt starts no process, trust gates everything, and the hook coexists with other
//! prompt tools, `set -eu`, subshells and `exec`.

use crate::common::shells::ShellWorld;

const MANIFEST: &str = r#"{
  "env": {
    "FOO": "bar baz",
    "GREETING": "hello from $DEVENV_PROJECT_ROOT",
    "PATH": "$DEVENV_PROJECT_ROOT/tools:$PATH"
  },
  "shell": { "init_hook": ["touch \"$DEVENV_PROJECT_ROOT/hooked\""] }
}"#;

/// A project with a `hello-tool` script in `tools/`, allowed.
fn world() -> (ShellWorld, std::path::PathBuf) {
    let w = ShellWorld::new();
    let p = w.project("proj", MANIFEST);
    std::fs::create_dir_all(p.join("tools")).unwrap();
    std::fs::create_dir_all(p.join("sub/deeper")).unwrap();
    let tool = p.join("tools/hello-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"tool says $FOO\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.allow(&p);
    (w, p)
}

#[test]
fn enter_and_leave_restore_env_exactly_and_quiet_prompts_start_nothing() {
    let (w, p) = world();
    let (out, _) = w.ok(
        "bash",
        r#"set -eu
prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt
hello-tool
echo "GREETING=$GREETING"
for i in $(seq 20); do prompt; done
cd sub/deeper; prompt; hello-tool
cd "$OUT"; prompt; env -0 > "$ROOT/after"
echo "after FOO=${FOO-unset}"
"#,
    );
    assert_eq!(out.matches("tool says bar baz\n").count(), 2, "{out}");
    assert!(
        out.contains(&format!("GREETING=hello from {}", p.display())),
        "{out}"
    );
    assert!(out.contains("after FOO=unset"), "{out}");
    assert!(p.join("hooked").exists(), "init_hook ran");
    assert_eq!(w.dump("before"), w.dump("after"));
    assert_eq!(w.export_calls(), 2, "one export to enter, one to leave");
}

#[test]
fn untrusted_project_runs_nothing_until_allowed_and_warns_once() {
    let w = ShellWorld::new();
    let p = w.project(
        "proj",
        r#"{"env": {"X": "$(touch pwned)", "FOO": "1"},
            "shell": {"init_hook": ["touch hooked"]}}"#,
    );
    let (out, err) = w.ok(
        "bash",
        r#"set -u
cd "$ROOT/proj"; prompt; prompt; prompt
echo "FOO=${FOO-unset} hooked=$([ -e hooked ] && echo yes || echo no)"
devenv_allow() { "$ROOT/wrap/devenv" allow; }
devenv_allow; prompt
echo "FOO=${FOO-unset} X=$X"
"#,
    );
    assert!(out.contains("FOO=unset hooked=no\n"), "{out}");
    assert!(out.contains("FOO=1 X=$(touch pwned)"), "{out}");
    assert_eq!(err.matches("not allowed").count(), 1, "one message: {err}");
    assert!(p.join("hooked").exists(), "init_hook runs once allowed");
    assert!(!p.join("pwned").exists() && !w.outside.join("pwned").exists());
}

#[test]
fn changed_manifest_blocks_until_allowed_and_then_reloads() {
    let (w, _p) = world();
    let (out, err) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt; echo "1 FOO=$FOO"
printf '{"env": {"FOO": "changed"}}' > devenv.json; prompt; prompt
echo "2 FOO=${FOO-unset}"
"$ROOT/wrap/devenv" allow; prompt; echo "3 FOO=$FOO"
"#,
    );
    assert!(
        out.contains("1 FOO=bar baz\n2 FOO=unset\n3 FOO=changed\n"),
        "{out}"
    );
    assert_eq!(err.matches("not allowed").count(), 1, "{err}");
}

#[test]
fn edits_reload_at_the_next_prompt_inside_devenv_shell_consent() {
    let (w, p) = world();
    let (out, _) = w.ok(
        "bash",
        &format!(
            r#"export DEVENV_SHELL='{}'
cd "$ROOT/proj"; prompt; echo "1 FOO=$FOO"
printf '{{"env": {{"FOO": "edited"}}}}' > devenv.json; prompt; echo "2 FOO=$FOO"
prompt; prompt
"#,
            p.display()
        ),
    );
    assert!(out.contains("1 FOO=bar baz\n2 FOO=edited\n"), "{out}");
    assert_eq!(w.export_calls(), 2);
}

#[test]
fn user_changes_inside_the_project_survive_leaving() {
    let (w, _p) = world();
    let (out, _) = w.ok(
        "bash",
        r#"prompt; echo "orig=$PATH"
cd "$ROOT/proj"; prompt
PATH="/mine/bin:$PATH"; FOO="user value"; export GREETING=kept
cd "$OUT"; prompt
echo "now=$PATH"; echo "FOO=${FOO-unset} GREETING=${GREETING-unset}"
"#,
    );
    let orig = out.lines().find_map(|l| l.strip_prefix("orig=")).unwrap();
    let now = out.lines().find_map(|l| l.strip_prefix("now=")).unwrap();
    assert_eq!(now, format!("/mine/bin:{orig}"), "{out}");
    assert!(out.contains("FOO=user value GREETING=kept"), "{out}");
}

#[test]
fn prompt_command_string_and_array_keep_other_tools_and_exit_status() {
    let (w, _p) = world();
    let (out, _) = w.ok(
        "bash",
        r#"other_hook() { echo "other saw $? FOO=${FOO-unset}"; }
PROMPT_COMMAND=other_hook
. "$ROOT/hook.bash"; . "$ROOT/hook.bash"
echo "string: $PROMPT_COMMAND"
cd "$ROOT/proj"; false; prompt
unset PROMPT_COMMAND; PROMPT_COMMAND=(other_hook 'echo second')
. "$ROOT/hook.bash"
echo "array: ${PROMPT_COMMAND[*]}"
(exit 7); prompt
"#,
    );
    assert!(out.contains("string: _devenv_hook;other_hook\n"), "{out}");
    assert!(out.contains("other saw 1 FOO=bar baz"), "{out}");
    assert!(
        out.contains("array: _devenv_hook other_hook echo second\n"),
        "{out}"
    );
    assert!(out.contains("other saw 7 FOO=bar baz\nsecond"), "{out}");
}

#[test]
fn set_e_shell_survives_failing_devenv_and_missing_binary() {
    let w = ShellWorld::new();
    let p = w.project(
        "proj",
        r#"{"env": {"FOO": "1"}, "shell": {"init_hook": ["false"]}}"#,
    );
    std::fs::write(p.join("devenv.lock"), "not json").unwrap();
    w.allow(&p);
    let (out, _) = w.ok(
        "bash",
        r#"set -eu
cd "$ROOT/proj"; prompt; echo "FOO=${FOO-unset}"
cd "$OUT"; prompt
chmod -x "$ROOT/wrap/devenv"; PATH=/nonexistent; cd "$ROOT/proj"; prompt
echo survived
"#,
    );
    assert!(out.contains("FOO=1\n"), "{out}");
    assert!(out.contains("survived"), "{out}");
}

#[test]
fn subshell_and_exec_inherit_then_leave_cleanly() {
    let (w, _p) = world();
    let (out, _) = w.ok(
        "bash",
        r#"prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt
bash -c 'hello-tool'
( prompt; hello-tool )
exec bash --norc -c '. "$ROOT/hook.bash"; prompt() { eval "$PROMPT_COMMAND"; }; prompt; hello-tool; cd "$OUT"; prompt; env -0 > "$ROOT/after"'
"#,
    );
    assert_eq!(out.matches("tool says bar baz").count(), 3, "{out}");
    assert_eq!(w.dump("before"), w.dump("after"));
}

#[test]
fn nested_projects_inner_wins_and_leaving_restores_the_outer() {
    let (w, p) = world();
    let inner = w.project(
        "proj/inner",
        r#"{"env": {"FOO": "inner", "ONLY_INNER": "1"}}"#,
    );
    w.allow(&inner);
    let _ = p;
    let (out, _) = w.ok(
        "bash",
        r#"prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt; echo "outer FOO=$FOO"
cd inner; prompt; echo "inner FOO=$FOO ONLY_INNER=$ONLY_INNER tools=$(command -v hello-tool || echo none)"
cd ..; prompt; echo "back FOO=$FOO ONLY_INNER=${ONLY_INNER-unset}"
cd "$OUT"; prompt; env -0 > "$ROOT/after"
"#,
    );
    assert!(out.contains("outer FOO=bar baz\ninner FOO=inner ONLY_INNER=1 tools=none\nback FOO=bar baz ONLY_INNER=unset\n"), "{out}");
    assert_eq!(w.dump("before"), w.dump("after"));
}

#[test]
fn deleted_or_renamed_manifest_unloads() {
    let (w, _p) = world();
    let (out, _) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt; env -0 > "$ROOT/before"; echo "FOO=$FOO"
mv devenv.json renamed.json; prompt; echo "FOO=${FOO-unset} PATH_HAS_TOOLS=$(case $PATH in *proj/tools*) echo yes;; *) echo no;; esac)"
"#,
    );
    assert!(
        out.contains("FOO=bar baz\nFOO=unset PATH_HAS_TOOLS=no\n"),
        "{out}"
    );
}

#[test]
fn large_environment_keeps_the_state_small() {
    let w = ShellWorld::new();
    // Just below the 32 KiB a value may have.
    let big = "x".repeat(30_000);
    let p = w.project("proj", &format!(r#"{{"env": {{"BIG": "{big}"}}}}"#));
    w.allow(&p);
    let (out, _) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt
echo "big=${#BIG} state=${#__DEVENV_DIFF}"; /bin/true && echo exec-ok
"#,
    );
    let state: usize = out
        .split("state=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(out.contains("big=30000"), "{out}");
    // The record names the variables devenv set (`BIG`, `DEVENV_PROJECT_ROOT` and the four
    // `DEVBOX_*` ones every environment has), never their 30000-byte values.
    assert!(state < 500, "state is {state} bytes");
    assert!(out.contains("exec-ok"), "{out}");
}

#[test]
fn deny_unloads_at_the_next_prompt_and_allow_restores() {
    let (w, _p) = world();
    let (out, _) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt; echo "1 FOO=${FOO-unset}"
"$ROOT/wrap/devenv" deny; prompt; prompt; echo "2 FOO=${FOO-unset}"
"$ROOT/wrap/devenv" allow; prompt; echo "3 FOO=${FOO-unset}"
"#,
    );
    assert!(
        out.contains("1 FOO=bar baz\n2 FOO=unset\n3 FOO=bar baz\n"),
        "{out}"
    );
    assert_eq!(w.export_calls(), 3, "enter, deny, allow");
}

#[test]
fn devbox_projects_activate_from_devbox_json() {
    let w = ShellWorld::new();
    let dir = w.t.root().join("dbx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("devbox.json"),
        r#"{"packages": [], "env": {"FROM_DEVBOX": "yes"}, "shell": {"init_hook": ["echo devbox hook"]}}"#,
    )
    .unwrap();
    w.allow(&dir);
    let (out, _) = w.ok(
        "bash",
        r#"cd "$ROOT/dbx"; prompt; echo "FROM_DEVBOX=${FROM_DEVBOX-unset}"; prompt
printf '{"lockfile_version": "1", "packages": {}}' > devbox.lock; prompt; echo "after lock edit FROM_DEVBOX=${FROM_DEVBOX-unset}"
"$ROOT/wrap/devenv" allow; prompt; echo "allowed again FROM_DEVBOX=${FROM_DEVBOX-unset}"
"#,
    );
    assert!(out.contains("devbox hook\nFROM_DEVBOX=yes\n"), "{out}");
    assert!(
        out.contains("after lock edit FROM_DEVBOX=unset\n"),
        "a hand edit of the lock blocks activation until allowed: {out}"
    );
    assert!(
        out.contains("devbox hook\nallowed again FROM_DEVBOX=yes\n"),
        "{out}"
    );
    assert_eq!(w.export_calls(), 3, "enter, lock edit, allow");
}
