//! What a newcomer meets in the first minutes, on the offline quickstart's own packages: `add`,
//! `rm` and `update` say what they installed and changed, generations appear at once, packages
//! missing the same other systems share one warning, and `publish` shows where it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::TestContext;

/// The repository's example packages published into `$HOME/devenv-offline` (as the README's
/// quickstart does), and the config file pointing devenv at them; returns the demo directory.
pub(crate) fn offline_world(t: &TestContext) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let offline = t.home.join("devenv-offline");
    let publish = |name: &str, version: &str| {
        let dir = repo.join("examples/packages").join(name);
        let (index, cache, key) = (
            offline.join("index"),
            offline.join("cache"),
            offline.join("signing.key"),
        );
        t.ok(&[
            "publish",
            dir.to_str().unwrap(),
            "--name",
            name,
            "--version",
            version,
            "--index",
            index.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--generate-key",
            "offline-1",
        ]);
    };
    publish("hello-devenv", "1.0.0");
    publish("greet", "0.2.0");
    let public = std::fs::read_to_string(offline.join("signing.key.pub")).unwrap();
    let cfg = t.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({
            "index": offline.join("index"),
            "substituters": [format!("file://{}", offline.join("cache").display())],
            "trusted_public_keys": [public.trim()],
        })
        .to_string(),
    )
    .unwrap();
    let demo = t.home.join("demo");
    std::fs::create_dir_all(&demo).unwrap();
    demo
}

/// `devenv <args>` in `dir`, asserting success; returns (stdout, stderr).
fn in_dir(t: &TestContext, dir: &Path, args: &[&str]) -> (String, String) {
    let out = t.cmd().current_dir(dir).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "devenv {args:?} failed\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

#[test]
fn add_rm_update_say_what_they_did_and_generations_follow_at_once() {
    let t = TestContext::new();
    let demo = offline_world(&t);
    in_dir(&t, &demo, &["init"]);
    let (out, err) = in_dir(&t, &demo, &["add", "hello-devenv@1.0.0", "greet@0.2"]);
    assert_eq!(out, "", "stdout is data only");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "warning: hello-devenv 1.0.0, greet 0.2.0 have no build for aarch64-darwin, aarch64-linux, x86_64-darwin in the index",
            "added hello-devenv@1.0.0 (hello-devenv 1.0.0)",
            "added greet@0.2 (greet 0.2.0)",
            "installed hello-devenv@1.0.0, greet@0.2 (generation 1; fetched 2 paths, 2.0 KiB)",
        ],
        "{err}"
    );
    let (gens, _) = in_dir(&t, &demo, &["generations"]);
    assert!(gens.starts_with("*   1  "), "{gens}");

    let (_, err) = in_dir(&t, &demo, &["rm", "greet"]);
    assert_eq!(
        err,
        "removed greet\ninstalled hello-devenv@1.0.0 (generation 2; nothing to fetch)\n"
    );
    // The generation exists at once: rollback right after `rm` goes back to the one with greet.
    let (gens, _) = in_dir(&t, &demo, &["generations"]);
    assert!(gens.contains("\n*   2  "), "{gens}");
    let (_, err) = in_dir(&t, &demo, &["rollback"]);
    assert!(err.contains("switched to generation 1"), "{err}");

    // Adding greet back matches generation 1 (no new one). A newer greet 0.2.x appears in the
    // index: `update` says what changed.
    in_dir(&t, &demo, &["add", "greet@0.2"]);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let offline = t.home.join("devenv-offline");
    t.ok(&[
        "publish",
        repo.join("examples/packages/greet").to_str().unwrap(),
        "--name",
        "greet",
        "--version",
        "0.2.1",
        "--key",
        offline.join("signing.key").to_str().unwrap(),
        "--cache",
        offline.join("cache").to_str().unwrap(),
        "--index",
        offline.join("index").to_str().unwrap(),
    ]);
    let (_, err) = in_dir(&t, &demo, &["update"]);
    assert!(err.contains("hello-devenv 1.0.0 is up to date\n"), "{err}");
    assert!(err.contains("updated greet 0.2.0 -> 0.2.1\n"), "{err}");
    assert!(
        err.contains("installed hello-devenv@1.0.0, greet@0.2 (generation 3; fetched 1 path, "),
        "{err}"
    );
    // Removing the last package says so, and is a generation too.
    let (_, err) = in_dir(&t, &demo, &["rm", "greet", "hello-devenv"]);
    assert!(
        err.ends_with("no packages left on this system (generation 4)\n"),
        "{err}"
    );
}

#[test]
fn publish_names_its_steps_with_v_and_on_a_terminal() {
    let t = TestContext::new();
    let pkg = t.root().join("pkg/bin");
    std::fs::create_dir_all(&pkg).unwrap();
    // Data xz cannot shrink, large enough for the step line to be drawn on a terminal.
    let mut data = Vec::with_capacity(3 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while data.len() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(pkg.join("big"), &data).unwrap();
    let args = |version: &str| -> Vec<String> {
        let root = t.root();
        [
            "publish",
            root.join("pkg").to_str().unwrap(),
            "--name",
            "big",
            "--version",
            version,
            "--index",
            root.join("index").to_str().unwrap(),
            "--cache",
            root.join("cache").to_str().unwrap(),
            "--key",
            root.join("key").to_str().unwrap(),
            "--generate-key",
            "k-1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut v = vec!["-v".to_string()];
    v.extend(args("1.0"));
    let refs: Vec<&str> = v.iter().map(String::as_str).collect();
    let out = t.run(&refs);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let hashing = err.find("publishing big@1.0: hashing ").expect(&err);
    let compressing = err
        .find("publishing big@1.0: compressing and signing 3.0 MiB of NAR")
        .expect(&err);
    let indexing = err
        .find("publishing big@1.0: adding it to the index")
        .expect(&err);
    assert!(hashing < compressing && compressing < indexing, "{err}");
    // Without -v and off a terminal: only the result.
    let refs: Vec<String> = args("1.1");
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    let out = t.run(&refs);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("publishing big"), "{err}");
    assert!(err.contains("Published big@1.1"), "{err}");

    // On a terminal: a live line while it works, gone when it is done.
    let script = t.root().join("publish.sh");
    let cmd: Vec<String> = args("1.2").iter().map(|a| format!("'{a}'")).collect();
    std::fs::write(
        &script,
        format!(
            "'{}' {} ; echo publish-done\n",
            env!("CARGO_BIN_EXE_devenv"),
            cmd.join(" ")
        ),
    )
    .unwrap();
    let socket = t.root().join("tmux.sock");
    let tmux = |args: &[&str]| {
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args);
        t.isolate(&mut c);
        c.env_remove("TMUX").output().unwrap()
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "20",
        "bash",
        "--norc",
        "-c",
        &format!("bash '{}'; sleep 60", script.display()),
    ]);
    assert!(started.status.success());
    let start = std::time::Instant::now();
    let mut seen_step = false;
    loop {
        let screen =
            String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-J", "-t", "0"]).stdout)
                .to_string();
        seen_step |= screen.contains("publishing big@1.2: ");
        if screen.contains("publish-done") {
            assert!(seen_step, "the step line showed while it worked");
            assert!(
                !screen.contains("publishing big@1.2: "),
                "cleared: {screen}"
            );
            assert!(screen.contains("Published big@1.2"), "{screen}");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(120),
            "{screen}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    tmux(&["kill-server"]);
}
