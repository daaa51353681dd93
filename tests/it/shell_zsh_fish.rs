//! Automatic activation in real zsh and fish: exact restore on leaving, no process on quiet
//! prompts, trust, user PATH changes kept, nounset.

use crate::common::shells::ShellWorld;

const MANIFEST: &str = r#"{
  "env": {
    "FOO": "it's \"quoted\" $HOME \\ end",
    "PATH": "$DEVENV_PROJECT_ROOT/tools:$PATH"
  },
  "shell": { "init_hook": ["touch \"$DEVENV_PROJECT_ROOT/hooked\""] }
}"#;

fn world() -> (ShellWorld, std::path::PathBuf) {
    let w = ShellWorld::new();
    let p = w.project("proj", MANIFEST);
    std::fs::create_dir_all(p.join("tools")).unwrap();
    let tool = p.join("tools/hello-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"tool says $FOO\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    (w, p)
}

fn expected_tool_line(w: &ShellWorld) -> String {
    format!("tool says it's \"quoted\" {} \\ end", w.t.home.display())
}

#[test]
fn zsh_enter_leave_exact_quiet_prompts_and_user_path() {
    let (w, p) = world();
    w.allow(&p);
    let (out, _) = w.ok(
        "zsh",
        r#"setopt nounset
prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt; hello-tool
for i in {1..20}; do prompt; done
cd "$OUT"; prompt; env -0 > "$ROOT/after"
cd "$ROOT/proj"; prompt; path=(/mine/bin $path); cd "$OUT"; prompt
echo "now=$PATH"
"#,
    );
    assert!(out.contains(&expected_tool_line(&w)), "{out}");
    assert_eq!(w.dump("before"), w.dump("after"));
    let before = w.dump("before");
    assert!(
        out.contains(&format!("now=/mine/bin:{}", before["PATH"])),
        "{out}"
    );
    // chpwd and precmd both fire on a cd; the second finds nothing changed without a process.
    assert_eq!(w.export_calls(), 4, "enter, leave, enter, leave");
    assert!(p.join("hooked").exists());
}

#[test]
fn zsh_untrusted_runs_nothing_until_allowed() {
    let (w, p) = world();
    let (out, err) = w.ok(
        "zsh",
        r#"cd "$ROOT/proj"; prompt; prompt
echo "FOO=${FOO-unset} hooked=$([[ -e hooked ]] && echo yes || echo no)"
"$ROOT/wrap/devenv" allow; prompt; hello-tool
"#,
    );
    assert!(out.contains("FOO=unset hooked=no"), "{out}");
    assert!(out.contains(&expected_tool_line(&w)), "{out}");
    assert_eq!(err.matches("not allowed").count(), 1, "{err}");
    assert!(p.join("hooked").exists());
}

#[test]
fn fish_enter_leave_exact_quiet_prompts_and_user_path() {
    let (w, p) = world();
    w.allow(&p);
    let (out, _) = w.ok(
        "fish",
        r#"prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt; hello-tool
for i in (seq 20); prompt; end
cd "$OUT"; prompt; env -0 > "$ROOT/after"
cd "$ROOT/proj"; set -gx PATH /mine/bin $PATH; cd "$OUT"; prompt
echo "now=$PATH"
"#,
    );
    assert!(out.contains(&expected_tool_line(&w)), "{out}");
    assert_eq!(w.dump("before"), w.dump("after"));
    let before = w.dump("before");
    // fish joins a quoted path variable with `:`
    assert!(
        out.contains(&format!("now=/mine/bin:{}", before["PATH"])),
        "{out}"
    );
    assert_eq!(w.export_calls(), 4, "enter, leave, enter, leave");
    assert!(p.join("hooked").exists());
}

#[test]
fn fish_untrusted_runs_nothing_until_allowed() {
    let (w, p) = world();
    let (out, err) = w.ok(
        "fish",
        r#"cd "$ROOT/proj"; prompt; prompt
set -q FOO; and echo "FOO set"; or echo "FOO unset"
test -e hooked; and echo hooked-yes; or echo hooked-no
"$ROOT/wrap/devenv" allow; prompt; hello-tool
"#,
    );
    assert!(out.contains("FOO unset\nhooked-no\n"), "{out}");
    assert!(out.contains(&expected_tool_line(&w)), "{out}");
    assert_eq!(err.matches("not allowed").count(), 1, "{err}");
    assert!(p.join("hooked").exists());
}
