//! `devenv status` in real bash with the hook: what this shell has loaded, trust, the lock, and a
//! prediction of the next prompt that the hook then bears out (`--json` and text).

use serde_json::Value;

use crate::common::shells::ShellWorld;

/// Run `body` in bash with the hook; each `st NAME` in it saves `devenv status --json` as NAME.
fn run(w: &ShellWorld, body: &str) {
    let real = env!("CARGO_BIN_EXE_devenv");
    w.ok(
        "bash",
        &format!("st() {{ '{real}' status --json > \"$ROOT/$1.json\"; }}\n{body}"),
    );
}

/// The status saved as `name`.
fn saved(w: &ShellWorld, name: &str) -> Value {
    let text = std::fs::read_to_string(w.t.root().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
}

#[test]
fn status_follows_a_shell_through_load_edit_allow_and_leave() {
    let w = ShellWorld::new();
    let p = w.project("proj", r#"{"env": {"FOO": "bar"}}"#);
    let root = p.display().to_string();
    run(
        &w,
        r#"set -eu
cd "$ROOT/proj"; st fresh
"$ROOT/wrap/devenv" allow >/dev/null 2>&1; st allowed; prompt; st loaded
prompt; prompt
printf '{"env": {"FOO": "edited"}}' > devenv.json; st edited; prompt; st blocked
builtin cd "$OUT"; st left; prompt; st outside
"#,
    );
    let fresh = saved(&w, "fresh");
    assert_eq!(fresh["project"]["root"], root.as_str());
    // The cd wrapper already asked about the project: recorded, blocked, nothing applied.
    assert_eq!(fresh["project"]["trust"], "not-allowed");
    assert_eq!(fresh["active"]["loaded"], false);
    assert_eq!(fresh["next_prompt"], "nothing", "{fresh}");

    let allowed = saved(&w, "allowed");
    assert_eq!(allowed["project"]["trust"], "allowed");
    assert_eq!(allowed["next_prompt"], "reload", "{allowed}");
    let loaded = saved(&w, "loaded");
    assert_eq!(loaded["active"]["root"], root.as_str());
    assert_eq!(loaded["active"]["loaded"], true);
    assert_eq!(loaded["next_prompt"], "nothing", "{loaded}");

    let edited = saved(&w, "edited");
    assert_eq!(edited["project"]["trust"], "not-allowed");
    assert_eq!(edited["next_prompt"], "reload", "{edited}");
    assert!(
        edited["reason"]
            .as_str()
            .unwrap()
            .contains("manifest or lock changed"),
        "{edited}"
    );
    let blocked = saved(&w, "blocked");
    assert_eq!(blocked["active"]["loaded"], false, "{blocked}");
    assert_eq!(blocked["next_prompt"], "nothing");

    let left = saved(&w, "left");
    assert_eq!(left["project"], Value::Null);
    assert_eq!(left["next_prompt"], "unload", "{left}");
    let outside = saved(&w, "outside");
    assert_eq!(outside["active"], Value::Null);
    assert_eq!(outside["next_prompt"], "nothing");
    // What status predicted is what the hook did: enter, allow, edit, leave started devenv;
    // the quiet prompts did not.
    assert_eq!(w.export_calls(), 4);
}

#[test]
fn status_text_names_a_stale_lock_and_what_to_run() {
    let w = ShellWorld::new();
    let p = w.project("proj", r#"{"packages": ["jq@1.7.1"]}"#);
    let out = w.t.cmd().current_dir(&p).arg("status").output().unwrap();
    assert!(out.status.success());
    let mut redact = crate::snapshots::Redactions::default();
    redact.add_literal(&p.display().to_string(), "[PROJECT]");
    redact.assert_snapshot("status_stale_lock", &String::from_utf8(out.stdout).unwrap());
}
