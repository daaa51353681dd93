//! The bad-input corpus as a table: each [`Case`] builds a throwaway world and runs the real
//! binary one or more times; each [`Run`] says the exit code (2 for bad input, 1 for failures) and
//! the words stderr must hold (the file and line:column, or the offending value).
//!
//! It is data rather than test functions so two test files read the same corpus:
//! `tests/it/bad_input.rs` checks the words and the facts particular to a case, and
//! `tests/snapshots.rs` records each run's whole stderr, so changing any message is a reviewed
//! diff. [`check`] holds what every case must satisfy: the exit code, the words, an `error:` line
//! on failure, no raw control characters on the terminal, and devenv.json and devenv.lock
//! unchanged.

mod cases;
mod sharding;
mod supply;

use std::process::Command;
use std::time::{Duration, Instant};

use super::http::Server;
use super::index::IndexWorld;

pub use cases::*;

/// How a bounded run must end: reading a huge file whole would abort or take long.
const BOUNDED_ADDRESS_SPACE_KIB: u32 = 256 * 1024;
const BOUNDED_DEADLINE: Duration = Duration::from_secs(10);

/// The world a case runs in, and the server it needs kept alive.
pub struct Setup {
    pub w: IndexWorld,
    pub server: Option<Server>,
}

/// One `devenv` invocation and what must come of it.
pub struct Run {
    pub args: Vec<&'static str>,
    /// Set on top of the world's variables (which select its index and a 1 s HTTP timeout).
    pub env: Vec<(&'static str, &'static str)>,
    pub code: i32,
    /// Each must occur in stderr.
    pub needles: Vec<&'static str>,
    /// None may occur in stderr.
    pub absent: Vec<&'static str>,
    /// Whether the run may rewrite devenv.json or devenv.lock (a success that edits them).
    pub writes: bool,
    /// Run under a 256 MiB address-space limit and a 10 s deadline.
    pub bounded: bool,
}

impl Run {
    pub fn new(args: &[&'static str], code: i32, needles: &[&'static str]) -> Run {
        Run {
            args: args.to_vec(),
            env: Vec::new(),
            code,
            needles: needles.to_vec(),
            absent: Vec::new(),
            writes: false,
            bounded: false,
        }
    }

    pub fn env(mut self, key: &'static str, value: &'static str) -> Run {
        self.env.push((key, value));
        self
    }

    pub fn absent(mut self, text: &'static str) -> Run {
        self.absent.push(text);
        self
    }

    pub fn writes(mut self) -> Run {
        self.writes = true;
        self
    }

    pub fn bounded(mut self) -> Run {
        self.bounded = true;
        self
    }

    /// The command as a user would type it.
    pub fn command_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", quote(v)));
        let args = self.args.iter().map(|a| quote(a));
        env.chain(std::iter::once("devenv".to_string()))
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn quote(s: &str) -> String {
    shell_words::quote(s).into_owned()
}

/// A named entry of the corpus.
pub struct Case {
    pub name: &'static str,
    pub setup: Box<dyn Fn() -> Setup>,
    pub runs: Vec<Run>,
}

/// What one run printed.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// The case named `name`.
#[track_caller]
pub fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no bad-input case named {name}"))
}

/// Build the case's world and [`check`] each of its runs, in order.
#[track_caller]
pub fn check_case(case: &Case) -> (Setup, Vec<Outcome>) {
    let setup = (case.setup)();
    let outcomes = case
        .runs
        .iter()
        .map(|run| check(case.name, &setup.w, run))
        .collect();
    (setup, outcomes)
}

/// Run `run` in `w` and assert what every case of the corpus must satisfy.
#[track_caller]
pub fn check(name: &str, w: &IndexWorld, run: &Run) -> Outcome {
    let what = format!("{name}: {}", run.command_line());
    let before = project_files(w);
    let out = execute(w, run);
    assert_eq!(
        out.code,
        Some(run.code),
        "{what}: expected exit {}\nstdout:\n{}\nstderr:\n{}",
        run.code,
        out.stdout,
        out.stderr
    );
    let err = &out.stderr;
    for n in &run.needles {
        assert!(err.contains(n), "{what}: stderr lacks {n:?}:\n{err}");
    }
    for n in &run.absent {
        assert!(!err.contains(n), "{what}: stderr has {n:?}:\n{err}");
    }
    if run.code != 0 {
        assert!(
            err.starts_with("error:") || err.contains("\nerror:"),
            "{what}: no error line:\n{err}"
        );
    }
    assert_no_raw_controls(&format!("{what}: stderr"), err);
    if !run.writes {
        assert!(project_files(w) == before, "{what} changed a file");
    }
    out
}

/// Run `devenv` as `run` says, in the project directory of `w`.
pub fn execute(w: &IndexWorld, run: &Run) -> Outcome {
    let devenv = env!("CARGO_BIN_EXE_devenv");
    let mut cmd = if run.bounded {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -v {BOUNDED_ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
            ))
            .arg(devenv);
        cmd
    } else {
        Command::new(devenv)
    };
    // What the corpus shows must not depend on the machine or terminal it ran on.
    w.t.clean_env(&mut cmd);
    cmd.current_dir(&w.t.project);
    cmd.env("DEVENV_INDEX", &w.index_url)
        .env("DEVENV_HTTP_TIMEOUT", "1")
        .args(&run.args);
    for (key, value) in &run.env {
        cmd.env(key, value);
    }
    let started = Instant::now();
    let out = cmd.output().expect("run devenv");
    if run.bounded {
        assert!(
            started.elapsed() < BOUNDED_DEADLINE,
            "{} was slow",
            run.command_line()
        );
    }
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// No control character but line breaks reaches the terminal.
#[track_caller]
pub fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} carries raw control characters: {text:?}"
    );
}

/// devenv.json and devenv.lock as they are: their length, and their bytes unless the file is
/// huge (the sparse gigabyte cases are compared by length, not read).
fn project_files(w: &IndexWorld) -> Vec<Option<(u64, Option<Vec<u8>>)>> {
    ["devenv.json", "devenv.lock"]
        .iter()
        .map(|f| {
            let path = w.t.project.join(f);
            let len = std::fs::metadata(&path).ok()?.len();
            let bytes = (len <= 8 << 20).then(|| std::fs::read(&path).unwrap());
            Some((len, bytes))
        })
        .collect()
}
