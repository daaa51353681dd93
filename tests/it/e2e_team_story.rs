//! The team story end to end, with real Nix 2.8 and real bash: a nixpkgs-like repository indexed by
//! `devenv index build`, packages built by real Nix and served signed from a loopback binary cache;
//! user A pins ansible 2.16.5, colleague B gets the same store paths from A's files without asking
//! the index, `cd` activates it in bash, and rm / rollback / gc behave.

use std::path::Path;

use crate::common::http::Server;
use crate::common::nixpkgs::{build_and_cache, make_repo, BuiltCache};
use crate::common::shells::ShellWorld;
use crate::common::TestContext;
use serde_json::Value;

struct Story {
    revs: Vec<String>,
    built: BuiltCache,
    index_server: Server,
    cache_server: Server,
    _dir: tempfile::TempDir,
}

/// The fixture repository, its index (this system and aarch64-darwin) and a signed cache of
/// ansible 2.16.5 and 2.20.0 (with python3, their reference) and hello, each on loopback HTTP.
fn story() -> Story {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("nixpkgs");
    let revs = make_repo(&repo);
    let index = dir.path().join("index");
    let builder = TestContext::new();
    let system = devenv::system::current();
    builder.ok(&[
        "index",
        "build",
        "--nixpkgs",
        repo.to_str().unwrap(),
        "--revs",
        &format!("{}..{}", revs[0], revs[4]),
        "--rev",
        &revs[0],
        "--out",
        index.to_str().unwrap(),
        "--systems",
        &format!("{system},aarch64-darwin"),
        "--jobs",
        "2",
    ]);
    let out_man: &[&str] = &["out", "man"];
    let built = build_and_cache(
        &repo,
        &[
            (&revs[2], "ansible", out_man),
            (&revs[4], "ansible", out_man),
            (&revs[4], "hello", &["out"]),
        ],
        &dir.path().join("built"),
    );
    Story {
        index_server: Server::serve_dir(&index),
        cache_server: Server::serve_dir(&built.cache),
        revs,
        built,
        _dir: dir,
    }
}

impl Story {
    fn config(&self, home: &Path) {
        let cfg = home.join(".config/devenv");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.json"),
            serde_json::json!({
                "index": self.index_server.url(),
                "substituters": [self.cache_server.url()],
                "trusted_public_keys": [self.built.public_key],
            })
            .to_string(),
        )
        .unwrap();
    }

    /// The python3 that ansible of revision `rev` refers to (its script names it).
    fn python3_of(&self, rev: usize) -> String {
        let ansible = self.path(rev, "ansible", "out");
        let script = std::fs::read_to_string(Path::new(&ansible).join("bin/ansible")).unwrap();
        let word = script
            .split_whitespace()
            .find(|w| w.contains("-python3-"))
            .expect("ansible refers to python3");
        word.trim_end_matches("/bin/python3").to_owned()
    }

    fn path(&self, rev: usize, attr: &str, output: &str) -> String {
        self.built.paths[&(self.revs[rev].clone(), attr.to_owned())][output].clone()
    }
}

fn in_dir(ctx: &TestContext, dir: &Path, args: &[&str]) -> String {
    let out = ctx.cmd().current_dir(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "devenv {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn lock(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("devenv.lock")).unwrap()).unwrap()
}

#[test]
fn a_team_pins_ansible_2_16_5_and_a_colleague_gets_the_same_paths() {
    let s = story();
    let system = devenv::system::current();

    // 1. User A pins ansible 2.16.5.
    let a = TestContext::new();
    s.config(&a.home);
    a.ok(&["init"]);
    a.ok(&["add", "ansible@2.16.5"]);
    let locked = lock(&a.project);
    let entry = &locked["packages"]["ansible@2.16.5"];
    assert_eq!(entry["version"], "2.16.5");
    assert_eq!(
        entry["resolved"],
        format!("github:NixOS/nixpkgs/{}#ansible", s.revs[2])
    );
    assert_eq!(entry["last_modified"], "2024-01-15T12:00:00Z");
    let outputs = &entry["systems"][&system]["outputs"];
    assert_eq!(outputs[0]["name"], "out");
    assert_eq!(outputs[0]["path"], s.path(2, "ansible", "out").as_str());
    assert_eq!(outputs[1]["name"], "man");
    assert_eq!(outputs[1]["path"], s.path(2, "ansible", "man").as_str());
    assert!(entry["systems"]["aarch64-darwin"]["outputs"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("-ansible-2.16.5"));
    assert_eq!(
        a.ok(&["run", "ansible", "--version"]),
        "ansible [core 2.16.5]\n"
    );
    // A second tool, so removing ansible later leaves a (smaller) environment to switch to.
    a.ok(&["add", "hello@2.12.1"]);

    // A prefix stays in its series; latest is the newest.
    for (spec, want) in [("ansible@2.16", "2.16.5"), ("ansible@latest", "2.20.0")] {
        let scratch = a.root().join(spec.replace('@', "-"));
        std::fs::create_dir_all(&scratch).unwrap();
        in_dir(&a, &scratch, &["init"]);
        in_dir(&a, &scratch, &["add", spec]);
        assert_eq!(lock(&scratch)["packages"][spec]["version"], want);
        assert_eq!(
            in_dir(&a, &scratch, &["run", "ansible", "--version"]),
            format!("ansible [core {want}]\n")
        );
    }

    // 2. Colleague B: another HOME and store root, A's two files, no index query.
    let b = ShellWorld::new();
    s.config(&b.t.home);
    let proj = b.t.root().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    for f in ["devenv.json", "devenv.lock"] {
        std::fs::copy(a.project.join(f), proj.join(f)).unwrap();
    }
    s.index_server.clear_requests();
    in_dir(&b.t, &proj, &["install", "--frozen"]);
    assert_eq!(s.index_server.requests(), Vec::<String>::new());
    // The default output came (the lock also records `man`, installed only when asked for).
    let ansible = s.path(2, "ansible", "out");
    assert!(b
        .t
        .store_root
        .join(ansible.trim_start_matches('/'))
        .join("etc/ansible.cfg")
        .is_file());
    assert!(
        b.t.store_root
            .join(ansible.trim_start_matches('/'))
            .exists(),
        "{ansible}"
    );
    let python3 = s.python3_of(2);
    assert!(python3.ends_with("-python3-3.11.4"), "{python3}");
    assert!(
        b.t.store_root
            .join(python3.trim_start_matches('/'))
            .exists(),
        "the closure came along: {python3}"
    );
    assert_eq!(
        std::fs::read(proj.join("devenv.lock")).unwrap(),
        std::fs::read(a.project.join("devenv.lock")).unwrap()
    );

    // A scratch project whose files are deleted later: its python3 3.12.1 is garbage in step 3.
    let scratch = b.t.root().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    in_dir(&b.t, &scratch, &["init"]);
    in_dir(&b.t, &scratch, &["add", "python3@3.12.1"]);
    let garbage = s.python3_of(4);
    assert!(b
        .t
        .store_root
        .join(garbage.trim_start_matches('/'))
        .exists());

    b.allow(&proj);
    let (out, err) = b.ok(
        "bash",
        r#"set -u
prompt; env -0 > "$ROOT/before"
command -v ansible || echo "no ansible outside"
cd "$ROOT/proj"; prompt
ansible --version
cd "$OUT"; prompt; env -0 > "$ROOT/after"
command -v ansible || echo "no ansible after leaving"
"#,
    );
    assert_eq!(
        out, "no ansible outside\nansible [core 2.16.5]\nno ansible after leaving\n",
        "{err}"
    );
    assert_eq!(b.dump("before"), b.dump("after"));

    // 3. rm, rollback, gc. `devenv rm` typed by the user keeps the project allowed, so the next
    // prompt already drops ansible (bash must not keep its remembered path); allowing again changes
    // nothing.
    std::fs::remove_dir_all(&scratch).unwrap();
    let (out, err) = b.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt
ansible --version
"$ROOT/wrap/devenv" rm ansible; prompt
command -v ansible || echo "ansible removed"
"$ROOT/wrap/devenv" allow; prompt
command -v ansible || echo "still removed once the edit is allowed"
"$ROOT/wrap/devenv" rollback; prompt
ansible --version
"$ROOT/wrap/devenv" gc; prompt
ansible --version
"#,
    );
    assert_eq!(
        out,
        "ansible [core 2.16.5]\nansible removed\nstill removed once the edit is allowed\n\
         ansible [core 2.16.5]\nansible [core 2.16.5]\n",
        "{err}"
    );
    assert!(
        !b.t.store_root
            .join(garbage.trim_start_matches('/'))
            .exists(),
        "gc frees what nothing references: {err}"
    );
    for path in [ansible.as_str(), python3.as_str()] {
        assert!(
            b.t.store_root.join(path.trim_start_matches('/')).exists(),
            "gc keeps {path}"
        );
    }
}

/// The README's offline quickstart block, run as written (from the repository checkout, with
/// devenv on PATH), then `devenv shell` and `cd` activation in real bash on what it created.
#[test]
fn the_offline_quickstart_in_the_readme_works() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .find("<!-- offline-quickstart:begin -->")
        .expect("begin marker");
    let end = readme
        .find("<!-- offline-quickstart:end -->")
        .expect("end marker");
    let block = &readme[start..end];
    let script: String = block
        .lines()
        .skip_while(|l| !l.starts_with("```sh"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(script.contains("devenv publish"), "{script}");

    let w = ShellWorld::new();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_devenv"))
        .parent()
        .unwrap()
        .to_owned();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c").arg(format!("set -eu\n{script}"));
    w.t.isolate(&mut cmd);
    let out = cmd
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.ends_with("Hello from hello-devenv 1.0.0\nHello, offline!\n"),
        "{stdout}\n{stderr}"
    );
    let demo = w.t.home.join("demo");
    let lock = lock(&demo);
    assert_eq!(lock["packages"]["greet@0.2"]["version"], "0.2.0");

    let offline = w.t.home.join("devenv-offline");
    let public = std::fs::read_to_string(offline.join("signing.key.pub")).unwrap();
    let cfg = w.t.home.join(".config/devenv");
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

    // `devenv shell` with commands on its standard input.
    let mut shell = w.t.cmd();
    shell
        .current_dir(&demo)
        .arg("shell")
        .env("SHELL", "/bin/bash")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = shell.spawn().unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"hello-devenv\ngreet --version\nexit\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello from hello-devenv 1.0.0\ngreet 0.2.0\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // `cd` activation.
    w.allow(&demo);
    let (out, err) = w.ok(
        "bash",
        r#"prompt; env -0 > "$ROOT/before"
cd "$HOME/demo"; prompt
greet; hello-devenv
cd "$OUT"; prompt; env -0 > "$ROOT/after"
command -v greet || echo "greet is gone"
"#,
    );
    assert_eq!(
        out, "Hello, world!\nHello from hello-devenv 1.0.0\ngreet is gone\n",
        "{err}"
    );
    assert_eq!(w.dump("before"), w.dump("after"));
}
