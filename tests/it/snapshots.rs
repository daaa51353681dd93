//! Snapshots of what users read: the whole stderr and exit code of every case of the bad-input
//! corpus, the shell hook and an `export` per shell, `devenv doctor` (text and `--json`), and the
//! lock `devenv add` writes. Changing any of it fails here until the new text is reviewed and
//! accepted (docs/architecture.md, "Tests"), so a message change is a diff in review.
//!
//! Every run gets nothing of the caller's environment but PATH, and filters redact what differs
//! between machines and runs: the temp world's HOME, store root and other dirs, loopback ports, the
//! binary's path, versions, the machine's system, and the hashes of temp paths in the hook's state.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Command, Output};

use crate::common::bad_input::{self as corpus, check_case, Outcome};
use crate::common::index::IndexWorld;
use crate::common::TestContext;

const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// What a snapshot hides before it is compared: each pattern (a regex) is replaced in turn, as
/// insta's filters would, so the stored text is the same on every machine.
#[derive(Clone, Default)]
pub(crate) struct Redactions(Vec<(regex_lite::Regex, String)>);

impl Redactions {
    /// Replace what matches `pattern` (`$1` in `with` names a group).
    pub(crate) fn add(&mut self, pattern: &str, with: &str) {
        let regex = regex_lite::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        self.0.push((regex, with.to_string()));
    }

    /// Replace `text` itself, wherever it occurs.
    pub(crate) fn add_literal(&mut self, text: &str, with: &str) {
        self.add(&regex_lite::escape(text), with);
    }

    pub(crate) fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (regex, with) in &self.0 {
            out = regex.replace_all(&out, with.as_str()).into_owned();
        }
        out
    }

    /// Assert the snapshot `name` of `text`, redacted (stored without the asserting expression
    /// and without the module's name in the file name).
    pub(crate) fn assert_snapshot(&self, name: &str, text: &str) {
        let text = self.apply(text);
        insta::with_settings!({prepend_module_to_snapshot => false, omit_expression => true}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

/// Snapshot redactions for output made in the temp world of `t`.
pub(crate) fn settings(t: &TestContext) -> Redactions {
    let mut s = Redactions::default();
    let paths = [
        (&t.home, "[HOME]"),
        (&t.store_root, "[STORE_ROOT]"),
        (&t.root().to_path_buf(), "[ROOT]"),
    ];
    // Canonical forms first: one can be longer and hold the other (macOS: /private/var/…).
    for (path, name) in paths {
        if let Ok(canonical) = path.canonicalize() {
            if &canonical != path {
                s.add_literal(&canonical.display().to_string(), name);
            }
        }
    }
    for (path, name) in paths {
        s.add_literal(&path.display().to_string(), name);
    }
    s.add_literal(env!("CARGO_BIN_EXE_devenv"), "[DEVENV]");
    s.add(r"http://127\.0\.0\.1:[0-9]+", "http://[SERVER]");
    // The hook's state names files after hashes of the (temp) project path and its content.
    s.add(r"trust/allow/[0-9a-f]{64}", "trust/allow/[HASH]");
    s.add(
        r"devenv/env/[0-9a-f]+\.stamps/[0-9a-f]+",
        "devenv/env/[HASH].stamps/[HASH]",
    );
    s.add(r"(__DEVENV_DIFF[= ])'[A-Za-z0-9_-]+'", "$1'[DIFF]'");
    s.add(r"devenv/projects/[0-9a-f]+/", "devenv/projects/[HASH]/");
    s
}

/// Assert each snapshot, collecting failures so one run shows (and writes) every changed one.
#[derive(Default)]
struct Snapshots {
    changed: Vec<String>,
}

impl Snapshots {
    fn check(&mut self, settings: &Redactions, name: &str, text: &str) {
        let result = catch_unwind(AssertUnwindSafe(|| settings.assert_snapshot(name, text)));
        if result.is_err() {
            self.changed.push(name.to_string());
        }
    }

    fn finish(self) {
        assert!(
            self.changed.is_empty(),
            "changed snapshots: {:?}\nreview them with `cargo insta review`, or rerun with \
             INSTA_UPDATE=always and read `git diff tests/it/snapshots`",
            self.changed
        );
    }
}

/// A run as it reads in a snapshot: the command, its exit code, and what it printed.
fn transcript(text: &mut String, command: &str, out: &Outcome) {
    writeln!(text, "$ {command}").unwrap();
    match out.code {
        Some(code) => writeln!(text, "exit code: {code}"),
        None => writeln!(text, "exit code: none (killed by a signal)"),
    }
    .unwrap();
    for (stream, printed) in [("stderr", &out.stderr), ("stdout", &out.stdout)] {
        if !printed.is_empty() {
            writeln!(text, "--- {stream}").unwrap();
            text.push_str(printed);
            if !printed.ends_with('\n') {
                text.push('\n');
            }
        }
    }
}

fn outcome(out: Output) -> Outcome {
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

#[test]
fn every_bad_input_message() {
    let cases = corpus::cases();
    let mut snapshots = Snapshots::default();
    for case in &cases {
        let (setup, outcomes) = check_case(case);
        let mut text = String::new();
        for (run, out) in case.runs.iter().zip(&outcomes) {
            if !text.is_empty() {
                text.push('\n');
            }
            transcript(&mut text, &run.command_line(), out);
        }
        snapshots.check(
            &settings(&setup.w.t),
            &format!("bad_input__{}", case.name),
            &text,
        );
    }
    snapshots.finish();
    // A renamed or removed case must not leave its old snapshot behind, unreviewed.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(name) = file
            .strip_prefix("bad_input__")
            .and_then(|f| f.strip_suffix(".snap"))
        {
            assert!(
                cases.iter().any(|c| c.name == name),
                "tests/it/snapshots/{file} belongs to no case of the bad-input corpus; delete it"
            );
        }
    }
}

#[test]
fn hook_per_shell() {
    let t = TestContext::new();
    let mut snapshots = Snapshots::default();
    for shell in SHELLS {
        let out = outcome(t.clean_cmd().args(["hook", shell]).output().unwrap());
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let mut text = String::new();
        transcript(&mut text, &format!("devenv hook {shell}"), &out);
        snapshots.check(&settings(&t), &format!("hook__{shell}"), &text);
    }
    snapshots.finish();
}

/// An allowed project with variables (one quoted, one naming the project root, one using
/// HOME) and an init hook of two commands; no packages, so nothing is fetched.
const EXPORTED_PROJECT: &str = r#"{
  "packages": [],
  "env": {
    "GREETING": "hello world",
    "QUOTED": "it's \"$HOME\"",
    "DATA_DIR": "$DEVENV_PROJECT_ROOT/data"
  },
  "shell": {"init_hook": ["echo ready", "export STARTED=1"]}
}
"#;

#[test]
fn export_of_an_allowed_project_per_shell() {
    let t = TestContext::new();
    t.write("devenv.json", EXPORTED_PROJECT);
    let out = outcome(t.clean_cmd().arg("allow").output().unwrap());
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut snapshots = Snapshots::default();
    for shell in SHELLS {
        let out = outcome(t.clean_cmd().args(["export", shell]).output().unwrap());
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        let mut text = String::new();
        transcript(&mut text, &format!("devenv export {shell}"), &out);
        snapshots.check(&settings(&t), &format!("export__{shell}"), &text);
    }
    snapshots.finish();
}

/// A world doctor looks at: the fixture index in a directory, a `file://` binary cache, bash with
/// the hook in `~/.bashrc`, and a project with a lock.
struct DoctorWorld {
    w: IndexWorld,
}

impl DoctorWorld {
    fn new() -> DoctorWorld {
        assert!(
            Command::new("nix").arg("--version").output().is_ok(),
            "`nix` is not installed; the test command (scripts/test.sh) installs Debian's nix-bin"
        );
        let w = IndexWorld::new();
        let cache = w.t.root().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(
            cache.join("nix-cache-info"),
            "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n",
        )
        .unwrap();
        std::fs::write(
            w.t.home.join(".bashrc"),
            "# mine\neval \"$(devenv hook bash)\"\n",
        )
        .unwrap();
        w.t.write("devenv.json", corpus::MANIFEST);
        w.ok(&["add", "jq@1.7.1", "--no-install"]);
        DoctorWorld { w }
    }

    fn doctor(&self, args: &[&str], env: &[(&str, String)]) -> Outcome {
        let root = self.w.t.root();
        let mut cmd = self.w.t.clean_cmd();
        cmd.env("SHELL", "/bin/bash")
            .env("DEVENV_INDEX", &self.w.index_url)
            .env(
                "DEVENV_SUBSTITUTERS",
                format!("file://{}", root.join("cache").display()),
            )
            .arg("doctor")
            .args(args);
        for (key, value) in env {
            cmd.env(key, value);
        }
        outcome(cmd.output().unwrap())
    }
}

/// Doctor's volatile facts: devenv's and Nix's versions, the system, whether a Nix daemon runs.
fn doctor_settings(t: &TestContext) -> Redactions {
    let mut s = settings(t);
    s.add(r"(?m)^devenv \S+ \(\S+\)$", "devenv [VERSION] ([SYSTEM])");
    s.add(r#""version": "[^"]*""#, r#""version": "[VERSION]""#);
    s.add(r#""system": "[^"]*""#, r#""system": "[SYSTEM]""#);
    s.add(r#"nix \(Nix\) [^\s"]+"#, "nix (Nix) [VERSION]");
    s.add(r#"daemon: [^"\n]+"#, "daemon: [DAEMON]");
    s
}

#[test]
fn doctor_of_a_healthy_world() {
    let d = DoctorWorld::new();
    d.w.ok(&["allow"]);
    let mut snapshots = Snapshots::default();
    for (name, args) in [
        ("doctor__healthy", &[][..]),
        ("doctor__healthy_json", &["--json"]),
    ] {
        let out = d.doctor(args, &[]);
        assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
        let command = ["devenv", "doctor"].iter().chain(args).copied();
        let mut text = String::new();
        transcript(&mut text, &command.collect::<Vec<_>>().join(" "), &out);
        snapshots.check(&doctor_settings(&d.w.t), name, &text);
    }
    snapshots.finish();
}

#[test]
fn doctor_of_a_world_with_problems() {
    let d = DoctorWorld::new();
    let root = d.w.t.root();
    let newer = root.join("newer-index");
    std::fs::create_dir_all(&newer).unwrap();
    std::fs::write(newer.join("index.json"), "{\"format\": 2}\n").unwrap();
    let cache = |name: &str| format!("file://{}", root.join(name).display());
    // Not allowed, zsh without the hook, a newer index, a missing cache, two unusable keys.
    let out = d.doctor(
        &[],
        &[
            ("SHELL", "/usr/bin/zsh".into()),
            ("DEVENV_INDEX", newer.display().to_string()),
            (
                "DEVENV_SUBSTITUTERS",
                format!("{} {}", cache("cache"), cache("no-cache")),
            ),
            (
                "DEVENV_TRUSTED_PUBLIC_KEYS",
                "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY= mykey:AAAA not-a-key"
                    .into(),
            ),
        ],
    );
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let mut text = String::new();
    transcript(&mut text, "devenv doctor", &out);
    let mut snapshots = Snapshots::default();
    snapshots.check(&doctor_settings(&d.w.t), "doctor__problems", &text);
    snapshots.finish();
}

#[test]
fn lock_written_by_add() {
    let w = IndexWorld::new();
    w.t.write(
        "devenv.json",
        "{\n  // team tools\n  \"packages\": [],\n}\n",
    );
    let add = corpus::Run::new(&["add", "jq@1.7.1", "hello", "--no-install"], 0, &[]);
    let out = corpus::execute(&w, &add);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let mut text = String::new();
    transcript(&mut text, &add.command_line(), &out);
    let mut snapshots = Snapshots::default();
    snapshots.check(&settings(&w.t), "add__output", &text);
    snapshots.check(&settings(&w.t), "add__manifest", &w.t.read("devenv.json"));
    snapshots.check(&settings(&w.t), "add__lock", &w.t.read("devenv.lock"));
    snapshots.finish();
}
