//! Test support shared by the integration tests: a temp world for the real `devenv` binary
//! ([`TestContext`]) and a loopback HTTP server that serves a directory and can inject faults.
#![allow(dead_code)]

pub mod bad_input;
pub mod elffix;
pub mod http;
pub mod index;
pub mod json_schema;
pub mod loopback;
pub mod nixfix;
pub mod nixpkgs;
pub mod nsworld;
pub mod realnix;
pub mod shells;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Run `cmd` (any program), asserting it succeeds; on failure its stdout and stderr are shown.
/// Returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}:\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A throwaway world: its own HOME and XDG dirs, store root, and project directory.
pub struct TestContext {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub project: PathBuf,
    pub store_root: PathBuf,
}

impl TestContext {
    pub fn new() -> TestContext {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let project = tmp.path().join("project");
        let store_root = tmp.path().join("store-root");
        for d in [&home, &project, &store_root] {
            std::fs::create_dir_all(d).unwrap();
        }
        TestContext {
            tmp,
            home,
            project,
            store_root,
        }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `devenv <args>` run in the project directory with the isolated environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_devenv"));
        cmd.current_dir(&self.project);
        self.isolate(&mut cmd);
        cmd
    }

    /// Like [`TestContext::cmd`], but in a [`TestContext::clean_env`].
    pub fn clean_cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_devenv"));
        cmd.current_dir(&self.project);
        self.clean_env(&mut cmd);
        cmd
    }

    /// Nothing of the caller's environment but PATH, then [`TestContext::isolate`] and a fixed
    /// terminal width: for output that must read the same on every machine (snapshots).
    pub fn clean_env(&self, cmd: &mut Command) {
        cmd.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        self.isolate(cmd);
        cmd.env("COLUMNS", "100");
    }

    /// Clear the variables that would leak the developer's setup into a test, and point HOME, XDG
    /// dirs and the store root into the temp world.
    pub fn isolate(&self, cmd: &mut Command) {
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("DEVENV_") || key.starts_with("XDG_") || key.starts_with("NIX_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("DEVENV_STORE_ROOT", &self.store_root)
            .env("NO_COLOR", "1")
            .env("TERM", "dumb");
    }

    /// Run `devenv` with `args` and return its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run devenv")
    }

    /// Run `devenv` with `args`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "devenv {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run `devenv` with `args`, asserting it fails with `code`; returns stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "devenv {args:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Write a file relative to the project directory.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.project.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Read a file relative to the project directory.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.project.join(rel)).unwrap()
    }
}
