//! The trust model under attack: what a `cd` may do is exactly what `devenv allow` saw.
//!
//! - The bytes whose trust was checked are the bytes exported and run, even when the manifest
//!   changes while activation is downloading (the race is made deterministic with a gated cache).
//! - An allowance covers the lock too: a hand edit of `devenv.lock` blocks activation.
//! - Activation never builds: a lock pointing at paths no cache has makes a `cd` fail with a
//!   hint, never run `nix`; only `devenv install`, typed by the user, may.
//! - `add`, `rm` and `update` with a missing lock resolve under the one project lock they hold,
//!   instead of waiting for themselves.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::http::{Fault, Gate, Server};
use crate::common::nixfix::Fixture;
use crate::common::TestContext;

/// Rewrite the project's manifest with a `shell.init_hook` and an `env` var next to its packages.
fn set_hook_and_env(cx: &TestContext, hook: &str, var: &str) {
    let mut m: serde_json::Value = serde_json::from_str(&cx.read("devenv.json")).unwrap();
    m["shell"] = serde_json::json!({ "init_hook": [hook] });
    m["env"] = serde_json::json!({ "RACE_VAR": var });
    cx.write("devenv.json", &serde_json::to_string_pretty(&m).unwrap());
}

/// Wait for a child with a deadline; a hang is a failure, not a stuck test run.
fn wait_with_deadline(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "devenv did not finish within {secs} s (a deadlock?)\nstderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn activation_runs_only_the_manifest_whose_trust_was_checked() {
    let root = tempfile::tempdir().unwrap();
    let fx = Fixture::build(&root.path().join("fx"), "trust-race", "xz");
    let server = Server::serve_dir(&fx.cache);
    let cx = fx.world(&server.url(), &["fixtool"]);
    set_hook_and_env(&cx, "echo allowed-hook", "allowed-value");
    cx.ok(&["allow"]);

    // Activation blocks in the middle of downloading; meanwhile the manifest is swapped.
    let gate = Gate::new();
    server.fault("/nar/", Fault::Gate(gate.clone()));
    let child = cx
        .cmd()
        .args(["export", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for_request("/nar/");
    set_hook_and_env(&cx, "touch \"$HOME/pwned\"", "attacker-value");
    gate.open();
    let out = wait_with_deadline(child, 120);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("echo allowed-hook"), "{stdout}\n{stderr}");
    assert!(stdout.contains("allowed-value"), "{stdout}");
    assert!(
        !stdout.contains("pwned"),
        "the unallowed hook was exported:\n{stdout}"
    );
    assert!(!stdout.contains("attacker-value"), "{stdout}");

    // The swapped manifest itself is not allowed: the next activation says so and exports nothing.
    let out = cx.run(&["export", "bash"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("is not allowed"), "{stderr}");
    assert!(
        !stdout.contains("pwned") && !stdout.contains("attacker-value"),
        "{stdout}"
    );
    let doctor = String::from_utf8(cx.run(&["doctor"]).stdout).unwrap();
    assert!(doctor.contains("not allowed"), "{doctor}");
}

/// A `nix` on PATH that records being run, so a test can prove nothing invoked it.
fn fake_nix(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let marker = dir.join("nix-was-run");
    let script = format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", marker.display());
    let nix = bin.join("nix");
    std::fs::write(&nix, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&nix, std::fs::Permissions::from_mode(0o755)).unwrap();
    marker
}

#[test]
fn a_lock_edit_needs_allow_and_activation_never_builds() {
    let root = tempfile::tempdir().unwrap();
    let fx = Fixture::build(&root.path().join("fx"), "trust-lock", "xz");
    let cx = fx.world(&format!("file://{}", fx.cache.display()), &["fixlib"]);
    cx.ok(&["allow"]);
    let out = cx.run(&["export", "bash"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("DEVENV_PROFILE"));

    // A hand edit of the lock alone: point the package at a path no cache has, from any
    // revision and attribute.
    let lock = cx.read("devenv.lock");
    let nobody_has = "/nix/store/00000000000000000000000000000000-fixlib-1.0";
    let edited = lock
        .replace(&fx.paths["fixlib"], nobody_has)
        .replace("#fixlib", "#hello");
    assert_ne!(lock, edited);
    cx.write("devenv.lock", &edited);
    let out = cx.run(&["export", "bash"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not allowed"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(nobody_has));

    // Allowed again, activation still never runs an evaluator or builder for missing paths.
    let marker = fake_nix(cx.root());
    let path = format!(
        "{}:{}",
        cx.root().join("fake-bin").display(),
        std::env::var("PATH").unwrap()
    );
    cx.ok(&["allow"]);
    let out = cx
        .cmd()
        .env("PATH", &path)
        .args(["export", "bash"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("none of the binary caches"), "{stderr}");
    assert!(stderr.contains("`devenv install`"), "{stderr}");
    assert!(
        !marker.exists(),
        "activation ran nix: {}",
        std::fs::read_to_string(&marker).unwrap()
    );

    // `devenv install` typed by the user may fall back to Nix.
    let out = cx.cmd().env("PATH", &path).arg("install").output().unwrap();
    assert!(!out.status.success());
    let ran = std::fs::read_to_string(&marker).expect("install may run nix");
    assert!(ran.contains("#hello"), "{ran}");
}

#[test]
fn add_rm_and_update_with_a_missing_lock_do_not_wait_for_themselves() {
    let w = crate::common::index::IndexWorld::new();
    for (i, args) in [
        &["add", "hello@2.12.1"][..],
        &["rm", "ansible"][..],
        &["update", "ansible"][..],
    ]
    .iter()
    .enumerate()
    {
        w.t.write(
            "devenv.json",
            r#"{ "packages": ["ansible@2.16", "tzdata@2024a"] }"#,
        );
        let _ = std::fs::remove_file(w.t.project.join("devenv.lock"));
        let child =
            w.t.cmd()
                .env("DEVENV_INDEX", &w.index_url)
                .env("DEVENV_HTTP_TIMEOUT", "1")
                .env("DEVENV_SUBSTITUTERS", "")
                .args(*args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
        let out = wait_with_deadline(child, 60);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("waiting for another devenv command"),
            "case {i}: {stderr}"
        );
        let lock = w.t.read("devenv.lock");
        assert!(
            lock.contains("\"tzdata@2024a\""),
            "case {i}: the lock was written\n{lock}\n{stderr}"
        );
    }
}
