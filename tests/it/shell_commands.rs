//! `run`, `shellenv`, `generate direnv`, `generations` and `rollback` through the real binary (and
//! real direnv for the generated `.envrc`).

use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;

use crate::common::TestContext;

const MANIFEST: &str = r#"{
  "env": {"FOO": "foo value", "ROOTED": "$DEVENV_PROJECT_ROOT/x"},
  "shell": {
    "init_hook": ["export FROM_HOOK=yes"],
    "scripts": {
      "args": "printf '[%s]' \"$@\"; echo \" hook=$FROM_HOOK foo=$FOO\"",
      "fail": ["echo first", "exit 5"]
    }
  }
}"#;

fn project() -> TestContext {
    let t = TestContext::new();
    t.write("devenv.json", MANIFEST);
    t
}

#[test]
fn run_passes_arguments_verbatim_to_scripts_and_commands() {
    let t = project();
    let out = t.ok(&["run", "args", "a b", "*", "", "--flag"]);
    assert_eq!(out, "[a b][*][][--flag] hook=yes foo=foo value\n");
    let out = t.ok(&["run", "--", "printf", "<%s>", "$HOME", "x y"]);
    assert_eq!(out, "<$HOME><x y>");
    let out = t.ok(&["run", "printenv", "ROOTED"]);
    assert_eq!(out.trim(), format!("{}/x", t.project.display()));
}

#[test]
fn run_propagates_exit_codes_and_signals() {
    let t = project();
    let out = t.run(&["run", "fail"]);
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "first\n");
    let out = t.run(&["run", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = t.run(&["run", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.signal(), Some(15), "{out:?}");
}

#[test]
fn run_reports_unknown_commands_and_missing_projects() {
    let t = project();
    let err = t.fails(&["run", "no-such-command-xyz"], 2);
    assert!(err.contains("could not run `no-such-command-xyz`"), "{err}");
    assert!(err.contains("hint:") && err.contains("args, fail"), "{err}");
    std::fs::remove_file(t.project.join("devenv.json")).unwrap();
    let err = t.fails(&["run", "true"], 2);
    assert!(
        err.contains("no devenv.json") && err.contains("devenv init"),
        "{err}"
    );
}

#[test]
fn invalid_manifest_names_file_line_and_column() {
    let t = TestContext::new();
    t.write("devenv.json", "{\n  \"env\": {\"A\": 1}\n}\n");
    let err = t.fails(&["run", "true"], 2);
    assert!(err.contains("devenv.json:2:"), "{err}");
    // for the hook, export reports on stderr and still records the state (exit 0), so the next
    // prompt stays quiet until the file changes
    t.ok(&["allow"]);
    let out = t.run(&["export", "bash"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("devenv.json:2:"), "{stderr}");
    assert!(stdout.contains("export __DEVENV_STAMP="), "{stdout}");
    assert!(!stdout.contains("DEVENV_PROJECT_ROOT"), "{stdout}");
}

#[test]
fn shellenv_prints_exports_each_shell_can_eval() {
    let t = project();
    let bash = t.ok(&["shellenv", "--shell", "bash", "--init-hook"]);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{bash}\necho \"$FOO|$FROM_HOOK\""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "foo value|yes\n");
    let fish = t.ok(&["shellenv", "--shell", "fish"]);
    let out = Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(format!("{fish}\necho \"$FOO\""))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "foo value\n");
}

#[test]
fn generated_envrc_works_with_real_direnv() {
    let t = project();
    t.ok(&["generate", "direnv"]);
    assert!(t.read(".envrc").contains("devenv shellenv"));
    let err = t.fails(&["generate", "direnv"], 2);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    t.ok(&["generate", "direnv", "--force"]);
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_devenv"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    let direnv = |args: &[&str]| {
        let mut cmd = Command::new("direnv");
        cmd.args(args).current_dir(&t.project);
        t.isolate(&mut cmd);
        cmd.env("PATH", &path)
            .output()
            .expect("direnv is installed")
    };
    let out = direnv(&["allow"]);
    assert!(out.status.success(), "{out:?}");
    let out = direnv(&["exec", ".", "sh", "-c", "echo \"$FOO|$FROM_HOOK\""]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "foo value|yes\n",
        "{out:?}"
    );
}

#[test]
fn generations_and_rollback_without_packages_explain_themselves() {
    let t = project();
    let out = t.run(&["generations"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no generations yet"));
    assert_eq!(t.ok(&["--json", "generations"]).trim(), "[]");
    let err = t.fails(&["rollback"], 2);
    assert!(
        err.contains("no generations yet") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn allow_and_deny_explain_missing_projects() {
    let t = TestContext::new();
    let err = t.fails(&["allow"], 2);
    assert!(err.contains("no devenv.json"), "{err}");
    t.write("devenv.json", "{}");
    t.ok(&["allow"]);
    t.ok(&["deny", t.project.to_str().unwrap()]);
}
