//! Fixture packages built by real Nix 2.8 and published as signed binary caches with
//! `nix copy --to file://…?secret-key=…`, plus a devenv project locking them.
//!
//! The derivations need no network: `builder = "/bin/sh"` with absolute tool paths. `fixtool` has
//! outputs `out` and `man`; `out` references `fixlib`; `fixapp` references `fixtool`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run_ok;

/// The fixture expression. `salt` changes every hash, so a test can have paths nobody has.
/// `system` is written literally (not `builtins.currentSystem`) so the same expression also
/// evaluates in a flake, where pure evaluation forbids `currentSystem`.
pub fn expression(salt: &str, system: &str) -> String {
    format!(
        r#"
let
  sys = "{system}";
  salt = "{salt}";
in rec {{
  fixlib = derivation {{
    name = "fixlib-1.0"; system = sys; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/lib; echo 'lib data ${{salt}}' > $out/lib/libfix.txt; /bin/mkdir -p $out/share/empty" ];
  }};
  fixtool = derivation {{
    name = "fixtool-1.0"; system = sys; builder = "/bin/sh"; outputs = [ "out" "man" ];
    args = [ "-c" "/bin/mkdir -p $out/bin $man/share/man/man1; printf '#!/bin/sh\\necho fixtool 1.0 ${{salt}} ${{fixlib}}\\n' > $out/bin/fixtool; /bin/chmod +x $out/bin/fixtool; echo 'manpage ${{salt}}' > $man/share/man/man1/fixtool.1; /bin/ln -s ${{fixlib}}/lib/libfix.txt $out/lib-link" ];
  }};
  fixapp = derivation {{
    name = "fixapp-2.0"; system = sys; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/bin; printf '#!/bin/sh\\nexec ${{fixtool}}/bin/fixtool\\n' > $out/bin/fixapp; /bin/chmod +x $out/bin/fixapp; /bin/dd if=/dev/zero bs=1024 count=64 of=$out/data 2>/dev/null" ];
  }};
}}
"#
    )
}

/// The fixture as a flake in a git repository of its own at `dir` (standing in for a nixpkgs
/// checkout, as a lock's `resolved` reference points at one): `fixture.nix` with
/// [`expression`], a `flake.nix` whose `packages.<system>.fixapp` is its `fixapp`, one commit.
/// Returns that commit.
pub fn fixture_flake(dir: &Path, salt: &str, system: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("fixture.nix"), expression(salt, system)).unwrap();
    std::fs::write(
        dir.join("flake.nix"),
        format!("{{ outputs = {{ self }}: {{ packages.{system}.fixapp = (import ./fixture.nix).fixapp; }}; }}\n"),
    )
    .unwrap();
    let git = |args: &[&str]| {
        run_ok(
            Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args),
        )
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "fixture"]);
    git(&["rev-parse", "HEAD"]).trim().to_string()
}

pub fn nix_available() -> bool {
    Command::new("nix-build")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Store paths built from a Nix expression, and the signed binary cache holding them.
pub(crate) struct SignedCache {
    /// attr → store path.
    pub paths: BTreeMap<String, String>,
    pub cache: PathBuf,
    pub secret_key: PathBuf,
    pub public_key: PathBuf,
}

/// Build `attrs` of the expression `expr` with real Nix (into the machine's store, no sandbox,
/// no substituters) and copy them to `<dir>/cache` with `compression`, signed by a fresh key
/// named `key_name`.
pub(crate) fn build_signed_cache(
    expr: &Path,
    attrs: &[&str],
    dir: &Path,
    key_name: &str,
    compression: &str,
) -> SignedCache {
    let mut cmd = Command::new("nix-build");
    cmd.arg(expr)
        .args(["--option", "build-users-group", ""])
        .args(["--option", "sandbox", "false"])
        .args(["--option", "substituters", ""])
        .arg("--no-out-link")
        .arg("--quiet");
    for a in attrs {
        cmd.args(["-A", a]);
    }
    let out = run_ok(&mut cmd);
    let built: Vec<&str> = out.lines().collect();
    assert_eq!(built.len(), attrs.len(), "nix-build printed {out}");
    let paths: BTreeMap<String, String> = attrs
        .iter()
        .zip(built)
        .map(|(a, p)| (a.to_string(), p.to_string()))
        .collect();
    let (sk, pk) = (dir.join("secret-key"), dir.join("public-key"));
    run_ok(
        Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg(key_name)
            .arg(&sk)
            .arg(&pk),
    );
    let cache = dir.join("cache");
    let to = format!(
        "file://{}?compression={compression}&secret-key={}",
        cache.display(),
        sk.display()
    );
    run_ok(
        Command::new("nix")
            .args(["--extra-experimental-features", "nix-command"])
            .args(["copy", "--to", &to])
            .args(paths.values()),
    );
    SignedCache {
        paths,
        cache,
        secret_key: sk,
        public_key: pk,
    }
}

/// Built fixture packages and a signed binary cache holding them.
pub struct Fixture {
    /// attr (`fixlib`, `fixtool.out`, `fixtool.man`, `fixapp`) → store path.
    pub paths: BTreeMap<String, String>,
    /// The binary cache directory (xz).
    pub cache: PathBuf,
    /// `name:base64` secret key file and public key.
    pub secret_key_file: PathBuf,
    pub public_key: String,
}

impl Fixture {
    /// Build the fixture with real Nix (into the machine's Nix store) and copy it to
    /// `<dir>/cache` with `compression` (`xz`, `zstd`, `bzip2`, `none`), signed by a fresh key.
    pub fn build(dir: &Path, salt: &str, compression: &str) -> Fixture {
        std::fs::create_dir_all(dir).unwrap();
        let expr = dir.join("fixture.nix");
        std::fs::write(&expr, expression(salt, &devenv::system::current())).unwrap();
        let attrs = ["fixlib", "fixtool.out", "fixtool.man", "fixapp"];
        let built = build_signed_cache(&expr, &attrs, dir, "devenv-test-1", compression);
        let (paths, cache, sk, pk) = (built.paths, built.cache, built.secret_key, built.public_key);
        Fixture {
            paths,
            cache,
            secret_key_file: sk,
            public_key: std::fs::read_to_string(pk).unwrap().trim().to_string(),
        }
    }

    /// Copy the fixture's closure into another binary cache `dir` with `compression`, signed with
    /// the same key.
    pub fn copy_to(&self, dir: &Path, compression: &str) -> PathBuf {
        let to = format!(
            "file://{}?compression={compression}&secret-key={}",
            dir.display(),
            self.secret_key_file.display()
        );
        run_ok(
            Command::new("nix")
                .args(["--extra-experimental-features", "nix-command"])
                .args(["copy", "--to", &to])
                .args(self.paths.values()),
        );
        dir.to_path_buf()
    }

    /// A fresh world whose project locks `packages` of this fixture and whose config trusts
    /// this fixture's key and substitutes from `url` only.
    pub fn world(&self, url: &str, packages: &[&str]) -> super::TestContext {
        let cx = super::TestContext::new();
        self.write_project(&cx.project, &devenv::system::current(), packages);
        let cfg = cx.home.join(".config/devenv");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.json"),
            serde_json::json!({
                "substituters": [url],
                "trusted_public_keys": [self.public_key],
            })
            .to_string(),
        )
        .unwrap();
        cx
    }

    /// Every path of the fixture (the full closure), sorted.
    pub fn all_paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self.paths.values().cloned().collect();
        v.sort();
        v
    }

    /// Write a project in `project_dir` wanting `packages` (`fixapp`, `fixtool` with out + man,
    /// `fixlib`), locked to the fixture's paths for `system`.
    pub fn write_project(&self, project_dir: &Path, system: &str, packages: &[&str]) {
        let mut manifest = serde_json::Map::new();
        let mut locked = serde_json::Map::new();
        for pkg in packages {
            let (version, outputs): (&str, Vec<(&str, String, bool)>) = match *pkg {
                "fixapp" => ("2.0", vec![("out", self.paths["fixapp"].clone(), true)]),
                "fixlib" => ("1.0", vec![("out", self.paths["fixlib"].clone(), true)]),
                "fixtool" => (
                    "1.0",
                    vec![
                        ("man", self.paths["fixtool.man"].clone(), false),
                        ("out", self.paths["fixtool.out"].clone(), true),
                    ],
                ),
                other => panic!("no fixture package {other}"),
            };
            let mut spec = serde_json::json!({ "version": version });
            if *pkg == "fixtool" {
                spec["outputs"] = serde_json::json!(["out", "man"]);
            }
            manifest.insert(pkg.to_string(), spec);
            let outs: Vec<serde_json::Value> = outputs
                .iter()
                .map(|(n, p, d)| {
                    if *d {
                        serde_json::json!({ "name": n, "path": p, "default": true })
                    } else {
                        serde_json::json!({ "name": n, "path": p })
                    }
                })
                .collect();
            locked.insert(
                format!("{pkg}@{version}"),
                serde_json::json!({
                    "last_modified": "2024-06-01T00:00:00Z",
                    "resolved": format!("github:NixOS/nixpkgs/0000000000000000000000000000000000000000#{pkg}"),
                    "source": "fixture",
                    "systems": { system: { "outputs": outs } },
                    "version": version
                }),
            );
        }
        let manifest = serde_json::json!({ "packages": manifest });
        std::fs::write(
            project_dir.join("devenv.json"),
            format!("{}\n", serde_json::to_string_pretty(&manifest).unwrap()),
        )
        .unwrap();
        let lock = serde_json::json!({ "lockfile_version": "1", "packages": locked });
        std::fs::write(
            project_dir.join("devenv.lock"),
            format!("{}\n", serde_json::to_string_pretty(&lock).unwrap()),
        )
        .unwrap();
    }
}

/// Copy a directory tree (a binary cache) so a test can damage its copy.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// The `.narinfo` file of `store_path` in `cache`.
pub fn narinfo_file(cache: &Path, store_path: &str) -> PathBuf {
    let base = store_path.trim_start_matches("/nix/store/");
    cache.join(format!("{}.narinfo", &base[..32]))
}

/// Replace the value of narinfo field `key` (first occurrence) in `file`.
pub fn set_narinfo_field(file: &Path, key: &str, value: Option<&str>) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = String::new();
    let mut done = false;
    for line in text.lines() {
        if !done && line.starts_with(&format!("{key}:")) {
            done = true;
            if let Some(v) = value {
                out.push_str(&format!("{key}: {v}\n"));
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(done, "no `{key}` in {}", file.display());
    std::fs::write(file, out).unwrap();
}

/// The value of narinfo field `key`.
pub fn narinfo_field(file: &Path, key: &str) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
        .unwrap_or_else(|| panic!("no `{key}` in {}", file.display()))
}

/// Everything in a store root a failed install might have left: entries of `nix/store` and rows
/// of our database.
pub fn store_contents(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut entries: Vec<String> = std::fs::read_dir(root.join("nix/store"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let db = root.join("nix/var/devenv/db.sqlite");
    let rows = if db.exists() {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn
            .prepare("select path from ValidPaths order by path")
            .unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows
    } else {
        Vec::new()
    };
    (entries, rows)
}

/// Assert that the tree at `ours` is identical to `theirs` (types, contents, executable bits,
/// symlink targets).
pub fn assert_same_tree(theirs: &Path, ours: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let list = |root: &Path| -> Vec<(PathBuf, String)> {
        let mut v: Vec<(PathBuf, String)> = walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .map(|e| {
                let e = e.unwrap();
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                let meta = std::fs::symlink_metadata(e.path()).unwrap();
                let desc = if meta.file_type().is_symlink() {
                    format!("link {}", std::fs::read_link(e.path()).unwrap().display())
                } else if meta.is_dir() {
                    "dir".to_string()
                } else {
                    format!(
                        "file exec={} {:?}",
                        meta.permissions().mode() & 0o100 != 0,
                        std::fs::read(e.path()).unwrap()
                    )
                };
                (rel, desc)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        list(theirs),
        list(ours),
        "{} differs from {}",
        ours.display(),
        theirs.display()
    );
}
