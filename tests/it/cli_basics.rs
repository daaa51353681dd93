//! The binary's surface: help, version, usage errors, and settings errors.

use crate::common::TestContext;

#[test]
fn version_and_help_succeed() {
    let t = TestContext::new();
    assert!(t.ok(&["--version"]).starts_with("devenv "));
    let help = t.ok(&["--help"]);
    for cmd in ["init", "add", "install", "shell", "hook", "gc", "doctor"] {
        assert!(help.contains(cmd), "help lacks {cmd}:\n{help}");
    }
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let t = TestContext::new();
    let err = t.fails(&["frobnicate"], 2);
    assert!(err.contains("frobnicate"), "{err}");
}

#[test]
fn bad_user_config_names_the_file_and_position() {
    let t = TestContext::new();
    let cfg = t.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.json"), "{\n  \"index\": [1]\n}\n").unwrap();
    let err = t.fails(&["list"], 2);
    assert!(err.contains("config.json:2:"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn unknown_system_is_rejected_with_the_known_ones() {
    let t = TestContext::new();
    let err = t.fails(&["--system", "sparc-plan9", "list"], 2);
    assert!(
        err.contains("sparc-plan9") && err.contains("x86_64-linux"),
        "{err}"
    );
}
