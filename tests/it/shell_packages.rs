//! Packages realized from a binary cache built and signed by real Nix, activated in real bash:
//! tools from the profile on PATH, man pages on MANPATH, one generation per change, rollback that
//! the next prompt follows, generations kept by the garbage collector, exact restore on leaving.

use crate::common::nixfix::Fixture;
use crate::common::shells::ShellWorld;

/// A world whose binary cache holds the fixture, with a project at `<root>/proj` locking
/// `packages`, allowed.
fn world(packages: &[&str]) -> (ShellWorld, Fixture, std::path::PathBuf) {
    let w = ShellWorld::new();
    let fx = Fixture::build(&w.t.root().join("fx"), "shell-packages", "xz");
    let system = devenv::system::current();
    let proj = w.t.root().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    fx.write_project(&proj, &system, packages);
    let cfg = w.t.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({
            "substituters": [format!("file://{}", fx.cache.display())],
            "trusted_public_keys": [fx.public_key],
        })
        .to_string(),
    )
    .unwrap();
    w.allow(&proj);
    (w, fx, proj)
}

#[test]
fn profile_generations_rollback_and_gc_roots_in_a_real_shell() {
    let (w, fx, proj) = world(&["fixtool", "fixapp"]);
    let system = devenv::system::current();
    let (out, err) = w.ok(
        "bash",
        r#"set -u
prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt
fixtool; fixapp
[ -e "$DEVENV_PROFILE/share/man/man1/fixtool.1" ] && echo "man page linked"
case ":$MANPATH:" in *":$DEVENV_PROFILE/share/man:"*) echo "MANPATH ok";; esac
"$ROOT/wrap/devenv" generations
"#,
    );
    assert_eq!(
        out.matches("fixtool 1.0 shell-packages").count(),
        2,
        "{out}\n{err}"
    );
    assert!(out.contains("man page linked\nMANPATH ok\n"), "{out}");
    assert!(out.contains("*   1") && out.contains("fixapp@2.0"), "{out}");
    for shell in ["zsh", "fish"] {
        let or = if shell == "fish" { "; or" } else { " ||" };
        let (out, err) = w.ok(
            shell,
            &format!(
                "cd \"$ROOT/proj\"; prompt; fixapp; echo \"man=$MANPATH\"\n\
                 cd \"$OUT\"; prompt; command -v fixtool{or} echo gone"
            ),
        );
        assert!(
            out.ends_with("gone\n"),
            "{shell} left fixtool on PATH: {out}"
        );
        assert!(
            out.contains("fixtool 1.0 shell-packages"),
            "{shell}: {out}\n{err}"
        );
        assert!(out.contains("/share/man:"), "{shell}: {out}");
    }

    // drop fixapp: a new generation; allowing the changed manifest loads it
    fx.write_project(&proj, &system, &["fixtool"]);
    w.allow(&proj);
    let (out, err) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt
command -v fixapp || echo "no fixapp"
fixtool
"$ROOT/wrap/devenv" rollback; prompt
fixapp
"$ROOT/wrap/devenv" --json generations
"$ROOT/wrap/devenv" gc
fixapp
cd "$OUT"; prompt; env -0 > "$ROOT/after"
"#,
    );
    assert!(out.contains("no fixapp\nfixtool 1.0"), "{out}\n{err}");
    assert_eq!(
        out.matches("fixtool 1.0 shell-packages").count(),
        3,
        "{out}\n{err}"
    );
    let json_start = out.find('[').unwrap();
    let json_end = out.rfind(']').unwrap();
    let gens: serde_json::Value = serde_json::from_str(&out[json_start..=json_end]).unwrap();
    assert_eq!(gens.as_array().unwrap().len(), 2, "{gens}");
    assert_eq!(gens[0]["current"], true, "rolled back to 1: {gens}");
    assert!(err.contains("switched to generation 1"), "{err}");
    assert_eq!(w.dump("before"), w.dump("after"));

    // remove the last package: it leaves PATH at the next prompt, and rollback brings it back
    fx.write_project(&proj, &system, &[]);
    w.allow(&proj);
    let (out, err) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt
command -v fixtool || echo "no fixtool"
"$ROOT/wrap/devenv" rollback; prompt
fixtool
"#,
    );
    assert!(
        out.starts_with("no fixtool\n") && out.contains("fixtool 1.0 shell-packages"),
        "{out}\n{err}"
    );
}

#[test]
fn devenv_shell_watcher_installs_edits_before_the_next_prompt() {
    use std::time::{Duration, Instant};
    let (w, fx, proj) = world(&["fixtool"]);
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_devenv"))
        .parent()
        .unwrap();
    std::fs::write(w.t.home.join(".bashrc"), "PS1='$ '\n").unwrap();
    let socket = w.t.root().join("tmux.sock");
    let tmux = |args: &[&str]| {
        let mut c = std::process::Command::new("tmux");
        c.arg("-S")
            .arg(&socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args);
        w.t.isolate(&mut c);
        c.env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("SHELL", "/bin/bash")
            .env_remove("TMUX");
        c.output().unwrap()
    };
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-J", "-S", "-300"]).stdout)
            .to_string()
    };
    let wait = |what: &str| {
        let start = Instant::now();
        loop {
            let s = screen();
            if s.lines().any(|l| l.starts_with(what)) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waiting for {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    /// Ends the private tmux server even when an assertion fails.
    struct Kill(std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = std::process::Command::new("tmux")
                .arg("-S")
                .arg(&self.0)
                .arg("kill-server")
                .output();
        }
    }
    let _kill = Kill(socket.clone());
    assert!(tmux(&[
        "new-session",
        "-d",
        "-x",
        "150",
        "-y",
        "40",
        "-c",
        proj.to_str().unwrap(),
        "bash",
        "-i"
    ])
    .status
    .success());
    tmux(&["send-keys", "-l", "devenv shell"]);
    tmux(&["send-keys", "Enter"]);
    wait("(devenv) $");
    // a `git pull` adds fixapp; nobody touches the shell
    fx.write_project(&proj, &devenv::system::current(), &["fixtool", "fixapp"]);
    let start = Instant::now();
    loop {
        let out =
            w.t.cmd()
                .current_dir(&proj)
                .args(["--json", "generations"])
                .output()
                .unwrap();
        let gens: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if gens.as_array().is_some_and(|a| a.len() == 2) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the watcher did not install: {gens}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux(&["send-keys", "-l", "fixapp"]);
    tmux(&["send-keys", "Enter"]);
    wait("fixtool 1.0 shell-packages");
}

#[test]
fn failed_install_keeps_the_previous_generation_and_retries_later() {
    let (w, fx, proj) = world(&["fixtool"]);
    let system = devenv::system::current();
    let (out, err) = w.ok("bash", "cd \"$ROOT/proj\"; prompt; fixtool");
    assert!(out.contains("fixtool 1.0 shell-packages"), "{out}\n{err}");
    // the lock now wants fixapp, but the binary cache is unreachable (empty)
    let config = w.t.home.join(".config/devenv/config.json");
    let good = std::fs::read_to_string(&config).unwrap();
    let empty = w.t.root().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    std::fs::write(
        &config,
        serde_json::json!({
            "substituters": [format!("file://{}", empty.display())],
            "trusted_public_keys": [fx.public_key],
        })
        .to_string(),
    )
    .unwrap();
    fx.write_project(&proj, &system, &["fixtool", "fixapp"]);
    w.allow(&proj);
    let (out, err) = w.ok(
        "bash",
        // Nix's build fallback is pointed at a local directory that is not nixpkgs, so it fails
        // at once instead of reaching for the network.
        "export DEVENV_NIXPKGS=\"$ROOT/not-nixpkgs\"\n\
         cd \"$ROOT/proj\"; prompt; prompt; fixtool; command -v fixapp || echo no-fixapp",
    );
    assert!(out.contains("fixtool 1.0 shell-packages"), "{out}\n{err}");
    assert!(out.ends_with("no-fixapp\n"), "{out}\n{err}");
    assert_eq!(
        err.matches("using the previous generation").count(),
        1,
        "{err}"
    );
    std::fs::write(&config, good).unwrap();
    let out =
        w.t.cmd()
            .current_dir(&proj)
            .args(["run", "fixapp"])
            .output()
            .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fixtool 1.0 shell-packages"),
        "{out:?}"
    );
}
