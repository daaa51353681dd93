//! The fixture nixpkgs repository (`tests/fixtures/nixpkgs/make-repo.sh`): five revisions with fixed
//! dates, so revision hashes and store paths are the same on every machine.

use std::path::Path;
use std::process::Command;

/// Create the fixture repository at `dest`; returns its revisions, oldest first.
pub fn make_repo(dest: &Path) -> Vec<String> {
    make_repo_with(dest, 0)
}

/// Like [`make_repo`], with `extra` more revisions after the five.
pub fn make_repo_with(dest: &Path, extra: usize) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nixpkgs/make-repo.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(dest)
        .env("EXTRA_REVS", extra.to_string())
        .output()
        .expect("run make-repo.sh");
    assert!(
        out.status.success(),
        "make-repo.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = Command::new("git")
        .arg("-C")
        .arg(dest)
        .args(["rev-list", "--reverse", "HEAD"])
        .output()
        .expect("git rev-list");
    String::from_utf8(log.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Evaluate `expr` with real Nix (without a store) and return its JSON output.
pub fn nix_eval_json(expr: &str) -> serde_json::Value {
    let out = Command::new("nix-instantiate")
        .args([
            "--store", "dummy://", "--eval", "--json", "--strict", "-E", expr,
        ])
        .output()
        .expect("run nix-instantiate");
    assert!(
        out.status.success(),
        "nix-instantiate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Export revision `rev` of `repo` into `dest` with git archive.
pub fn export(repo: &Path, rev: &str, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(r#"git -C "$1" archive "$2" | tar -x -C "$3""#)
        .arg("sh")
        .arg(repo)
        .arg(rev)
        .arg(dest)
        .status()
        .unwrap();
    assert!(status.success());
}
