//! Devbox projects as they are published: `null` where Devbox reads it as unset, every key of
//! Devbox's manifest read (what devenv cannot honour warned about once, at its position), and the
//! variables Devbox sets in every environment.

use crate::common::TestContext;

/// Keys from Devbox's schema and its Go types, with `null` in the places real projects have it.
const EVERY_FIELD: &str = r#"{
  "$schema": "https://raw.githubusercontent.com/jetify-com/devbox/0.10.1/.schema/devbox.schema.json",
  "name": "every-field",
  "description": null,
  "packages": {
    "go": null,
    "jq": {"version": "", "patch_glibc": true, "allow_insecure": null, "disable_plugin": false}
  },
  "env": {"NOTHING": null, "PLAYBOOKS": "$DEVBOX_PROJECT_ROOT/.playbooks"},
  "env_from": ".env",
  "aliases": {"ll": "ls -l"},
  "nixpkgs": {"commit": "f80ac848e3d6f0c12c52758c0f25c10c97ca3b62"},
  "shell": {
    "init_hook": null,
    "scripts": {"vars": "echo \"$PLAYBOOKS|$DEVBOX_PROJECT_ROOT|$DEVBOX_CONFIG_DIR|$DEVBOX_WD|$DEVENV_PROJECT_ROOT|${NOTHING-unset}\"", "empty": null}
  }
}
"#;

fn stderr_of(t: &TestContext, args: &[&str]) -> String {
    let out = t.run(args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// Five of Devbox's own examples have `"init_hook": null`; it was refused with exit 2 by every
/// command, `init --from-devbox` too.
#[test]
fn null_init_hook_is_no_hook() {
    let t = TestContext::new();
    t.write(
        "devbox.json",
        r#"{"packages": [], "shell": {"init_hook": null, "scripts": {"hi": "echo hi"}}}"#,
    );
    assert_eq!(t.ok(&["run", "hi"]), "hi\n");
    t.ok(&["init", "--from-devbox"]);
    assert_eq!(t.ok(&["run", "hi"]), "hi\n");
}

#[test]
fn every_devbox_field_is_read_and_what_is_not_honoured_is_said_once() {
    let t = TestContext::new();
    t.write("devbox.json", EVERY_FIELD);
    let text = format!("$ devenv list\n{}", stderr_of(&t, &["list"]));
    crate::snapshots::settings(&t).bind(|| insta::assert_snapshot!("devbox__every_field", text));
    t.ok(&["init", "--from-devbox"]);
    let err = stderr_of(&t, &["list"]);
    assert!(
        err.is_empty(),
        "the converted manifest has nothing left to warn about: {err}"
    );
}

/// `DEVBOX_PROJECT_ROOT`, `DEVBOX_CONFIG_DIR`, `DEVBOX_PACKAGES_DIR`, `DEVBOX_WD` and
/// `DEVENV_PROJECT_ROOT` are set in scripts, `env` (once empty, so `"$DEVBOX_PROJECT_ROOT/x"`
/// became `/x`), the hook's export and `shellenv`.
#[test]
fn devbox_variables_are_set_in_every_environment() {
    let t = TestContext::new();
    // No packages: nothing to install, the environment is the variables alone.
    let start = EVERY_FIELD.find("\"packages\"").unwrap();
    let end = EVERY_FIELD.find("\"env\"").unwrap();
    t.write(
        "devbox.json",
        &format!("{}{}", &EVERY_FIELD[..start], &EVERY_FIELD[end..]),
    );
    std::fs::create_dir_all(t.project.join("sub")).unwrap();
    let root = t.project.display().to_string();
    let mut cmd = t.cmd();
    cmd.current_dir(t.project.join("sub"))
        .env("PWD", t.project.join("sub"))
        .args(["run", "vars"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{root}/.playbooks|{root}|{root}/devbox.d|{root}/sub|{root}|\n")
    );
    let out = t.ok(&["run", "sh", "-c", "echo \"$DEVBOX_PACKAGES_DIR\""]);
    assert!(
        out.starts_with(&t.home.display().to_string()) && out.ends_with("/current\n"),
        "{out}"
    );
    let shellenv = t.ok(&["shellenv", "--shell", "bash"]);
    for expected in [
        format!("export DEVBOX_PROJECT_ROOT='{root}'"),
        format!("export DEVBOX_CONFIG_DIR='{root}/devbox.d'"),
        format!("export DEVBOX_WD='{root}'"),
        format!("export PLAYBOOKS='{root}/.playbooks'"),
        "export DEVBOX_PACKAGES_DIR=".to_string(),
    ] {
        assert!(shellenv.contains(&expected), "{expected} in {shellenv}");
    }
}
