//! Runs the real Nix (2.8, Debian `nix-bin`) against throw-away stores, so interop tests compare
//! our formats with the reference implementation without touching the machine's `/nix`.
//!
//! Every command gets its own HOME and XDG dirs (Nix keeps a narinfo cache there), no
//! substituters unless a test passes one, and operations on a store name it with
//! `--store <root>` (a chroot store whose logical directory is still `/nix/store`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// An isolated environment for running Nix commands. Dropping it removes everything, including
/// the read-only directories that Nix's stores and NAR restores leave.
pub struct RealNix {
    pub tmp: tempfile::TempDir,
}

impl RealNix {
    pub fn new() -> RealNix {
        assert!(
            Command::new("nix-store").arg("--version").output().is_ok(),
            "`nix-store` is not installed; the test command (scripts/test.sh) installs Debian's nix-bin"
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("home")).unwrap();
        RealNix { tmp }
    }

    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The root of a named chroot store under this environment (created by Nix on first use).
    pub fn store(&self, name: &str) -> PathBuf {
        self.dir().join("stores").join(name)
    }

    /// `program` with the isolated environment.
    pub fn cmd(&self, program: &str) -> Command {
        let home = self.dir().join("home");
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("NIX_") || key.starts_with("XDG_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("NIX_STATE_DIR", self.dir().join("state"))
            .env("NIX_LOG_DIR", self.dir().join("log"))
            .env("NIX_CONF_DIR", self.dir().join("etc"))
            .env(
                "NIX_CONFIG",
                "substituters =\nexperimental-features = nix-command\nbuild-users-group =\nsandbox = false\n",
            );
        cmd
    }

    /// Runs `program args…` with `stdin`, asserting success; returns stdout.
    pub fn run_with_input(&self, program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let mut child = self
            .cmd(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let mut input = child.stdin.take().unwrap();
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({:?}):\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs `program args…`, asserting success; returns stdout.
    pub fn run(&self, program: &str, args: &[&str]) -> Vec<u8> {
        self.run_with_input(program, args, b"")
    }

    /// Runs `program args…`; returns (success, stdout, stderr) without asserting.
    pub fn try_run(&self, program: &str, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(program).args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs and returns stdout as a trimmed string.
    pub fn run_str(&self, program: &str, args: &[&str]) -> String {
        String::from_utf8(self.run(program, args))
            .unwrap()
            .trim()
            .to_owned()
    }
}

impl Drop for RealNix {
    fn drop(&mut self) {
        make_writable(self.tmp.path());
    }
}

/// Gives the owner write permission on every directory below `root` (symlinks not followed), so
/// the tree can be deleted by a user without root.
pub fn make_writable(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(root)
        .follow_root_links(false)
        .into_iter()
        .flatten()
    {
        if entry.file_type().is_dir() {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o755));
        }
    }
}
