//! The fixture nixpkgs repository (`tests/fixtures/nixpkgs/make-repo.sh`): five revisions with fixed
//! dates, so revision hashes and store paths are the same on every machine.

use std::path::Path;
use std::process::Command;

use super::run_ok;

/// Create the fixture repository at `dest`; returns its revisions, oldest first.
pub fn make_repo(dest: &Path) -> Vec<String> {
    make_repo_with(dest, 0)
}

/// Like [`make_repo`], with `extra` more revisions after the five.
pub fn make_repo_with(dest: &Path, extra: usize) -> Vec<String> {
    make_fixture_repo("nixpkgs", dest, extra)
}

/// Run `tests/fixtures/<fixture>/make-repo.sh` to create its repository at `dest` (`extra`
/// goes to scripts that take more revisions as `EXTRA_REVS`); returns its revisions, oldest
/// first.
pub fn make_fixture_repo(fixture: &str, dest: &Path, extra: usize) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture)
        .join("make-repo.sh");
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

/// Packages of the fixture built by real Nix and copied, signed, into a binary cache.
pub struct BuiltCache {
    pub cache: std::path::PathBuf,
    pub public_key: String,
    /// (rev, attribute) → output name → store path, as nix-build printed them.
    pub paths:
        std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, String>>,
}

/// Build `attr` (all of `outputs`) of each fixture revision with real `nix-build` for this machine's
/// system (into the machine's Nix store, as Nix itself would), then `nix copy` the results with
/// their closures to `<dir>/cache`, signed by a fresh key.
pub fn build_and_cache(repo: &Path, builds: &[(&str, &str, &[&str])], dir: &Path) -> BuiltCache {
    let system = devenv::system::current();
    let mut paths = std::collections::BTreeMap::new();
    for (rev, attr, outputs) in builds {
        let tree = dir.join("trees").join(rev);
        if !tree.exists() {
            export(repo, rev, &tree);
        }
        let mut cmd = Command::new("nix-build");
        cmd.arg(&tree)
            .args(["--argstr", "system", &system])
            .args(["--option", "build-users-group", ""])
            .args(["--option", "sandbox", "false"])
            .args(["--option", "substituters", ""])
            .args(["--no-out-link", "--quiet"]);
        for o in *outputs {
            cmd.args(["-A", &format!("{attr}.{o}")]);
        }
        let printed = run_ok(&mut cmd);
        let built: Vec<&str> = printed.lines().collect();
        assert_eq!(built.len(), outputs.len(), "nix-build printed {printed}");
        let by_output = outputs
            .iter()
            .zip(built)
            .map(|(o, p)| (o.to_string(), p.to_string()))
            .collect();
        paths.insert((rev.to_string(), attr.to_string()), by_output);
    }
    let sk = dir.join("secret-key");
    let pk = dir.join("public-key");
    run_ok(
        Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg("fixture-nixpkgs-1")
            .arg(&sk)
            .arg(&pk),
    );
    let cache = dir.join("cache");
    let to = format!(
        "file://{}?compression=xz&secret-key={}",
        cache.display(),
        sk.display()
    );
    let all: Vec<&String> = paths
        .values()
        .flat_map(|m: &std::collections::BTreeMap<String, String>| m.values())
        .collect();
    run_ok(
        Command::new("nix")
            .args(["--extra-experimental-features", "nix-command"])
            .args(["copy", "--to", &to])
            .args(all),
    );
    BuiltCache {
        cache,
        public_key: std::fs::read_to_string(pk).unwrap().trim().to_owned(),
        paths,
    }
}
