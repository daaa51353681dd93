//! Settings as the user sees them: `devenv config` (which value, from where), usage lines that
//! stay clean whatever `DEVENV_*` variables are exported, and the HTTP timeout honoured by every
//! command that touches the network.

use std::time::{Duration, Instant};

use crate::common::http::Silent;
use crate::common::index::IndexWorld;
use crate::common::TestContext;

/// A world whose every setting comes from a known place: the config file, variables, a flag
/// and defaults.
fn configured() -> TestContext {
    let t = TestContext::new();
    let config = t.home.join(".config/devenv");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        r#"{
  "index": "https://index.example.org",
  "substituters": ["https://cache.example.org", "https://cache.nixos.org"],
  "http_retries": 4
}
"#,
    )
    .unwrap();
    t
}

/// `devenv <args>` in [`configured`]'s world (an empty `DEVENV_INDEX` counts as unset); paths
/// under the temp root are shown as `[ROOT]`.
fn show(t: &TestContext, args: &[&str]) -> String {
    let out = t
        .cmd()
        .env("DEVENV_HTTP_TIMEOUT", "7.5")
        .env("DEVENV_JOBS", "3")
        .env("DEVENV_SYSTEM", "aarch64-linux")
        .env("DEVENV_INDEX", "")
        .args(args)
        .args(["--store-root", "/srv/devenv-root"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    let root = t.root().to_str().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .replace(root, "[ROOT]")
}

#[test]
fn devenv_config_shows_each_value_and_where_it_came_from() {
    let t = configured();
    insta::assert_snapshot!("config_text", show(&t, &["config"]));
}

#[test]
fn devenv_config_json_shows_each_value_and_where_it_came_from() {
    let t = configured();
    let text = show(&t, &["config", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["settings"]["jobs"]["variable"], "DEVENV_JOBS");
    insta::assert_snapshot!("config_json", text);
}

#[test]
fn a_bad_config_value_is_refused_with_its_line_before_anything_runs() {
    let t = TestContext::new();
    let config = t.home.join(".config/devenv");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), "{\n  \"jobs\": 0\n}\n").unwrap();
    let err = t.fails(&["config"], 2);
    assert!(
        err.contains("config.json:2:11: jobs must be from 1 to 256, not 0"),
        "{err}"
    );
    assert!(
        err.contains("keys are: http_retries, http_timeout"),
        "{err}"
    );
}

/// Exported `DEVENV_*` variables are settings, not flags the user typed: usage lines do not
/// show them as required, and help names each variable without printing its value.
#[test]
fn exported_variables_do_not_show_up_in_usage_lines_or_help_values() {
    let t = TestContext::new();
    let with_env = |args: &[&str]| {
        let out = t
            .cmd()
            .env("DEVENV_INDEX", "/secret/index")
            .env("DEVENV_SUBSTITUTERS", "https://secret.example.org")
            .env("DEVENV_TRUSTED_PUBLIC_KEYS", "secret-1:AAAA")
            .env("DEVENV_SYSTEM", "x86_64-linux")
            .env("DEVENV_OFFLINE", "1")
            .env("DEVENV_JOBS", "3")
            .env("DEVENV_NIX_ENV", "/secret/nix-env")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // Help wraps lines; what matters is the words.
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let usage = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("no usage line in:\n{text}"))
            .to_string()
    };

    let (code, _, err) = with_env(&["search"]);
    assert_eq!(code, Some(2));
    assert_eq!(usage(&err), "Usage: devenv search <QUERY>...");
    let (code, _, err) = with_env(&["search", "--bogus"]);
    assert_eq!(code, Some(2));
    assert_eq!(usage(&err), "Usage: devenv search [OPTIONS] <QUERY>...");
    let (_, _, err) = with_env(&["index", "build"]);
    assert_eq!(
        usage(&err),
        "Usage: devenv index build --nixpkgs <DIR> --out <DIR>"
    );

    let (code, help, _) = with_env(&["search", "--help"]);
    assert_eq!(code, Some(0));
    assert_eq!(usage(&help), "Usage: devenv search [OPTIONS] <QUERY>...");
    let help = words(&help);
    for var in [
        "DEVENV_INDEX",
        "DEVENV_SUBSTITUTERS",
        "DEVENV_TRUSTED_PUBLIC_KEYS",
        "DEVENV_STORE_ROOT",
        "DEVENV_SYSTEM",
        "DEVENV_OFFLINE",
    ] {
        assert!(help.contains(&format!("[env: {var}]")), "{var} in:\n{help}");
    }
    assert!(!help.contains("secret"), "{help}");
    let (_, help, _) = with_env(&["install", "--help"]);
    assert!(words(&help).contains("[env: DEVENV_JOBS]"), "{help}");
    let (_, help, _) = with_env(&["index", "build", "--help"]);
    assert!(words(&help).contains("[env: DEVENV_NIX_ENV]"), "{help}");
    assert!(!help.contains("secret"), "{help}");
}

/// `DEVENV_HTTP_TIMEOUT` bounds every request of every command: index lookups (`search`,
/// `info`, `add`, `update`), binary caches when `add` installs, and `doctor`.
#[test]
fn the_http_timeout_is_honoured_by_every_command() {
    let silent = Silent::start();
    let w = IndexWorld::new();
    w.ok(&["init"]);
    w.ok(&["add", "hello", "--no-install"]);
    let run = |args: &[&str], index: &str, substituters: &str| {
        let started = Instant::now();
        let out =
            w.t.cmd()
                .env("DEVENV_INDEX", index)
                .env("DEVENV_SUBSTITUTERS", substituters)
                .env("DEVENV_HTTP_TIMEOUT", "0.5")
                .env("DEVENV_HTTP_RETRIES", "0")
                .args(args)
                .output()
                .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}:\n{stdout}\n{err}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{args:?} took {:?}",
            started.elapsed()
        );
        format!("{stdout}{err}")
    };
    for args in [
        &["search", "jq"][..],
        &["info", "jq"],
        &["add", "jq", "--no-install"],
        &["update"],
    ] {
        let out = run(args, &silent.url, "file:///nonexistent");
        assert!(
            out.contains("no answer within 0.5s (DEVENV_HTTP_TIMEOUT)"),
            "{args:?}:\n{out}"
        );
    }
    // The index answers (a directory), the only binary cache does not.
    let out = run(&["add", "jq"], &w.index_url, &silent.url);
    assert!(out.contains("no binary cache could be reached"), "{out}");
    assert!(
        out.contains("no answer within 0.5s (DEVENV_HTTP_TIMEOUT)"),
        "{out}"
    );
    let out = run(&["doctor"], &silent.url, &silent.url);
    assert!(out.contains("no answer within 0.5s"), "{out}");
}

#[test]
fn devenv_log_shows_diagnostics_on_stderr_and_skips_a_bad_directive() {
    let t = TestContext::new();
    t.write("devenv.json", "{\n  \"packages\": []\n}\n");
    let run = |filter: &str| {
        let out = t
            .cmd()
            .env("DEVENV_LOG", filter)
            .arg("list")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            !stdout.contains("DEBUG"),
            "diagnostics went to stdout: {stdout}"
        );
        String::from_utf8(out.stderr).unwrap()
    };
    let event = "devenv::app::inputs: read the project's inputs";
    assert!(run("debug").contains(event));
    assert!(run("devenv::app=debug").contains(event));
    assert!(!run("devenv::store=debug").contains(event));
    assert!(!run("info").contains(event));
    let stderr = run("debug,x=y=z");
    assert!(stderr.contains(event), "{stderr}");
    assert!(
        stderr.contains("warning: the DEVENV_LOG directive `x=y=z` is not valid"),
        "{stderr}"
    );
}
