//! Leaving a project restores the shell exactly, in real bash, zsh and fish: a shell variable that
//! is not exported comes back not exported with its value, an exported one exported, and the
//! whole set of shell variables (not just the environment) is what it was. Manifests the shell
//! could not recover from (a name the hook depends on, a NUL, a value too large to start programs
//! with) are refused with a message naming the variable, and the hook keeps working.

use crate::common::shells::{vars_dump, ShellWorld};

const MANIFEST: &str = r#"{
  "env": {
    "LOCAL_ONLY": "project value",
    "EXPORTED": "project value",
    "UNSET_BEFORE": "project value",
    "PATH": "$DEVENV_PROJECT_ROOT/tools:$PATH"
  }
}"#;

fn world() -> ShellWorld {
    let w = ShellWorld::new();
    let p = w.project("proj", MANIFEST);
    std::fs::create_dir_all(p.join("tools")).unwrap();
    w.allow(&p);
    w
}

/// Per shell: set `LOCAL_ONLY` unexported and `EXPORTED` exported (a two-element list in fish),
/// dump all variables, enter, show what is set inside, leave, dump again, show the two.
fn script(shell: &str) -> String {
    let dump = vars_dump(shell);
    match shell {
        "fish" => format!(
            r#"set -g LOCAL_ONLY 'shell value'
set -gx EXPORTED 'exported' 'list'
prompt; {dump} "$ROOT/before.vars"
cd "$ROOT/proj"; prompt
echo "inside LOCAL_ONLY=$LOCAL_ONLY EXPORTED=$EXPORTED"; env | grep '^LOCAL_ONLY='
cd "$OUT"; prompt; {dump} "$ROOT/after.vars"
set --show LOCAL_ONLY EXPORTED
set -q UNSET_BEFORE; or echo "UNSET_BEFORE unset"
"#
        ),
        _ => {
            let show = if shell == "bash" {
                "declare -p LOCAL_ONLY EXPORTED"
            } else {
                "typeset -p LOCAL_ONLY EXPORTED"
            };
            format!(
                r#"set -u
LOCAL_ONLY='shell value'
export EXPORTED='exported value'
prompt; {dump} "$ROOT/before.vars"
cd "$ROOT/proj"; prompt
echo "inside LOCAL_ONLY=$LOCAL_ONLY EXPORTED=$EXPORTED"; env | grep '^LOCAL_ONLY='
cd "$OUT"; prompt; {dump} "$ROOT/after.vars"
{show}
echo "UNSET_BEFORE=${{UNSET_BEFORE-unset}}"
"#
            )
        }
    }
}

fn assert_restored(w: &ShellWorld, shell: &str, out: &str, expected: &[&str]) {
    assert!(
        out.contains(
            "inside LOCAL_ONLY=project value EXPORTED=project value\nLOCAL_ONLY=project value\n"
        ),
        "{shell}: the project's values are set and exported inside:\n{out}"
    );
    for line in expected {
        assert!(out.contains(line), "{shell}: expected {line:?} in:\n{out}");
    }
    let before = w.vars(shell, "before.vars");
    for name in ["LOCAL_ONLY", "EXPORTED", "PATH", "HOME"] {
        assert!(before.contains_key(name), "{shell}: the dump has {name}");
    }
    assert_eq!(
        before,
        w.vars(shell, "after.vars"),
        "{shell}: every shell variable is as it was"
    );
}

#[test]
fn bash_restores_unexported_and_exported_variables_exactly() {
    let w = world();
    let (out, _) = w.ok("bash", &script("bash"));
    assert_restored(
        &w,
        "bash",
        &out,
        &[
            "declare -- LOCAL_ONLY=\"shell value\"\n",
            "declare -x EXPORTED=\"exported value\"\n",
            "UNSET_BEFORE=unset\n",
        ],
    );
}

#[test]
fn zsh_restores_unexported_and_exported_variables_exactly() {
    let w = world();
    let (out, _) = w.ok("zsh", &script("zsh"));
    assert_restored(
        &w,
        "zsh",
        &out,
        &[
            "typeset LOCAL_ONLY='shell value'\n",
            "export EXPORTED='exported value'\n",
            "UNSET_BEFORE=unset\n",
        ],
    );
}

#[test]
fn fish_restores_unexported_and_exported_variables_exactly() {
    let w = world();
    let (out, _) = w.ok("fish", &script("fish"));
    assert_restored(
        &w,
        "fish",
        &out,
        &[
            "$LOCAL_ONLY: set in global scope, unexported, with 1 elements\n$LOCAL_ONLY[1]: |shell value|\n",
            "$EXPORTED: set in global scope, exported, with 2 elements\n$EXPORTED[1]: |exported|\n$EXPORTED[2]: |list|\n",
            "UNSET_BEFORE unset\n",
        ],
    );
}

#[test]
fn bash_keeps_the_shell_value_across_nested_projects_and_user_changes() {
    let w = world();
    let inner = w.project("proj/inner", r#"{"env": {"ONLY_INNER": "1"}}"#);
    w.allow(&inner);
    let (out, _) = w.ok(
        "bash",
        r#"LOCAL_ONLY='shell value'
prompt; declare -p > "$ROOT/before.vars"
cd "$ROOT/proj"; prompt; echo "outer: $LOCAL_ONLY"
cd inner; prompt; declare -p LOCAL_ONLY
cd ..; prompt; echo "outer again: $LOCAL_ONLY"
cd "$OUT"; prompt; declare -p > "$ROOT/after.vars"
cd "$ROOT/proj"; prompt; LOCAL_ONLY='changed inside'
cd "$OUT"; prompt; declare -p LOCAL_ONLY
echo "copy: ${__devenv_saved_LOCAL_ONLY-gone}"
"#,
    );
    assert!(
        out.contains(
            "outer: project value\ndeclare -- LOCAL_ONLY=\"shell value\"\nouter again: project value\n"
        ),
        "the inner project gives the shell's own value back: {out}"
    );
    assert_eq!(w.vars("bash", "before.vars"), w.vars("bash", "after.vars"));
    assert!(
        out.contains("declare -x LOCAL_ONLY=\"changed inside\"\ncopy: gone\n"),
        "a value the user set inside stays, and the saved copy goes: {out}"
    );
}

#[test]
fn subshells_without_the_shell_variable_unset_it_on_leaving() {
    let w = world();
    let (out, _) = w.ok(
        "bash",
        r#"LOCAL_ONLY='shell value'
cd "$ROOT/proj"; prompt
bash --norc -c '. "$ROOT/hook.bash"; prompt() { eval "$PROMPT_COMMAND"; }; cd "$OUT"; prompt; echo "child: ${LOCAL_ONLY-unset}"'
cd "$OUT"; prompt; declare -p LOCAL_ONLY
"#,
    );
    assert!(
        out.contains("child: unset\ndeclare -- LOCAL_ONLY=\"shell value\"\n"),
        "{out}"
    );
}

/// Manifests a shell could not recover from, with what the message must name.
fn bad_projects(w: &ShellWorld) -> Vec<(&'static str, Vec<String>)> {
    let big = "x".repeat(200_000);
    let cases = [
        (
            "hooked",
            r#"{"env": {"FOO": "1",
  "PROMPT_COMMAND": "echo project"}}"#
                .to_string(),
            vec!["devenv.json:2:3: `PROMPT_COMMAND` cannot be set by a project"],
        ),
        (
            "nul",
            r#"{"env": {"FOO": "a\u0000b"}}"#.to_string(),
            vec!["devenv.json:1:17: `env.FOO` contains a NUL character"],
        ),
        (
            "big",
            format!(r#"{{"env": {{"FOO": "1", "BIG": "{big}"}}}}"#),
            vec!["devenv.json:1:29: `env.BIG` is 200000 bytes long", "32768"],
        ),
    ];
    cases
        .into_iter()
        .map(|(dir, manifest, needles)| {
            let p = w.project(dir, &manifest);
            w.allow(&p);
            let mut needles: Vec<String> = needles.into_iter().map(String::from).collect();
            needles[0] = format!("{}/{}", p.display(), needles[0]);
            (dir, needles)
        })
        .collect()
}

fn refused_manifests_load_nothing_and_the_hook_keeps_working(shell: &str) {
    let w = world();
    let bad = bad_projects(&w);
    let dump = vars_dump(shell);
    let (show_foo, exec) = match shell {
        "fish" => (
            "set -q FOO; and echo \"FOO=$FOO\"; or echo FOO=unset",
            "/bin/true; and echo exec-ok",
        ),
        _ => ("echo \"FOO=${FOO-unset}\"", "/bin/true && echo exec-ok"),
    };
    let mut body = format!("prompt; {dump} \"$ROOT/before.vars\"\n");
    for (dir, _) in &bad {
        body.push_str(&format!(
            "cd \"$ROOT/{dir}\"; prompt; {show_foo}; {exec}\ncd \"$OUT\"; prompt\n"
        ));
    }
    body.push_str(&format!(
        "cd \"$ROOT/proj\"; prompt; echo \"loaded LOCAL_ONLY=$LOCAL_ONLY\"\ncd \"$OUT\"; prompt; {dump} \"$ROOT/after.vars\"\n"
    ));
    let (out, err) = w.ok(shell, &body);
    assert_eq!(
        out.matches("FOO=unset\nexec-ok\n").count(),
        bad.len(),
        "{shell}: nothing is loaded and programs still start:\n{out}\n{err}"
    );
    for (_, needles) in &bad {
        for needle in needles {
            assert!(
                err.contains(needle.as_str()),
                "{shell}: expected {needle:?} in:\n{}",
                &err[..err.len().min(3000)]
            );
        }
    }
    assert!(
        out.contains("loaded LOCAL_ONLY=project value\n"),
        "{shell}: the hook still loads the next project:\n{out}"
    );
    let before = w.vars(shell, "before.vars");
    assert!(before.contains_key("PATH"), "{shell}: {before:?}");
    assert_eq!(before, w.vars(shell, "after.vars"), "{shell}");
}

#[test]
fn bash_refuses_hook_names_nul_and_huge_values() {
    refused_manifests_load_nothing_and_the_hook_keeps_working("bash");
}

#[test]
fn zsh_refuses_hook_names_nul_and_huge_values() {
    refused_manifests_load_nothing_and_the_hook_keeps_working("zsh");
}

#[test]
fn fish_refuses_hook_names_nul_and_huge_values() {
    refused_manifests_load_nothing_and_the_hook_keeps_working("fish");
}

#[test]
fn commands_refuse_bad_env_with_the_position_and_exit_2() {
    let w = ShellWorld::new();
    for (dir, needles) in bad_projects(&w) {
        for args in [&["shellenv"][..], &["run", "true"]] {
            let out =
                w.t.cmd()
                    .current_dir(w.t.root().join(dir))
                    .args(args)
                    .output()
                    .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{dir} {args:?}: {err}");
            assert!(out.stdout.is_empty(), "{dir} {args:?}: no code is printed");
            for needle in &needles {
                assert!(
                    err.contains(needle.as_str()),
                    "{dir} {args:?}: {needle:?} in:\n{err}"
                );
            }
            assert!(err.contains("hint: "), "{err}");
        }
    }
}
