//! `devenv publish`: the store path equals real `nix-store --add`, real Nix substitutes the signed
//! cache entry, and the index entry locks, installs and runs like a nixpkgs package.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::realnix::RealNix;
use crate::common::TestContext;
use serde_json::Value;

struct World {
    ctx: TestContext,
    nix: RealNix,
    index: PathBuf,
    cache: PathBuf,
    secret: PathBuf,
    public: String,
}

impl World {
    fn new() -> World {
        let ctx = TestContext::new();
        let nix = RealNix::new();
        let secret = ctx.root().join("team.sk");
        let public_file = ctx.root().join("team.pk");
        nix.run(
            "nix-store",
            &[
                "--generate-binary-cache-key",
                "team-1",
                secret.to_str().unwrap(),
                public_file.to_str().unwrap(),
            ],
        );
        let public = std::fs::read_to_string(&public_file).unwrap();
        World {
            index: ctx.root().join("index"),
            cache: ctx.root().join("cache"),
            ctx,
            nix,
            secret,
            public,
        }
    }

    fn publish(
        &self,
        dir: &Path,
        name: &str,
        version: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let cache_url = format!("file://{}", self.cache.display());
        let mut args = vec![
            "publish",
            dir.to_str().unwrap(),
            "--name",
            name,
            "--version",
            version,
            "--index",
            self.index.to_str().unwrap(),
            "--cache",
            &cache_url,
            "--key",
            self.secret.to_str().unwrap(),
            "--systems",
            "x86_64-linux,aarch64-linux",
        ];
        args.extend(extra);
        self.ctx
            .cmd()
            .args(&args)
            .env("SOURCE_DATE_EPOCH", "1717200000")
            .output()
            .unwrap()
    }

    fn published(&self, dir: &Path, name: &str, version: &str) -> String {
        let out = self.publish(dir, name, version, &["--summary", "Deploys our services"]);
        assert!(
            out.status.success(),
            "publish failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn package(&self, name: &str) -> Value {
        let text =
            std::fs::read_to_string(self.index.join(format!("packages/{name}.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// A small tool: an executable script, a symlink, a nested data file.
fn make_tool(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("share/deploy-helper")).unwrap();
    let script = dir.join("bin/deploy-helper");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"deploy-helper {version}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("deploy-helper", dir.join("bin/dh")).unwrap();
    std::fs::write(dir.join("share/deploy-helper/targets.txt"), "web\ndb\n").unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_store_path_is_nix_store_add_and_real_nix_substitutes_the_signed_entry() {
    let w = World::new();
    let tool = w.ctx.root().join("tool");
    make_tool(&tool, "1.4.2");
    let path = w.published(&tool, "deploy-helper", "1.4.2");

    // Real Nix adds a copy named <name>-<version> at the same path.
    let named = w.ctx.root().join("deploy-helper-1.4.2");
    copy_dir(&tool, &named);
    let store_a = w.nix.store("a");
    let added = w.nix.run_str(
        "nix-store",
        &[
            "--store",
            store_a.to_str().unwrap(),
            "--add",
            named.to_str().unwrap(),
        ],
    );
    assert_eq!(added.trim(), path);

    // Real Nix substitutes it from our cache, checking our signature.
    let store_b = w.nix.store("b");
    let cache_url = format!("file://{}", w.cache.display());
    w.nix.run(
        "nix-store",
        &[
            "--store",
            store_b.to_str().unwrap(),
            "-r",
            &path,
            "--option",
            "substituters",
            &cache_url,
            "--option",
            "trusted-public-keys",
            w.public.trim(),
        ],
    );
    let fetched = store_b
        .join(path.trim_start_matches('/'))
        .join("bin/deploy-helper");
    assert_eq!(
        std::fs::read_to_string(fetched).unwrap(),
        "#!/bin/sh\necho \"deploy-helper 1.4.2\"\n"
    );
    let info: Value = serde_json::from_str(&w.nix.run_str(
        "nix",
        &[
            "path-info",
            "--store",
            store_b.to_str().unwrap(),
            "--json",
            "--sigs",
            &path,
        ],
    ))
    .unwrap();
    assert!(info[0]["signatures"][0]
        .as_str()
        .unwrap()
        .starts_with("team-1:"));
    assert!(info[0]["ca"]
        .as_str()
        .unwrap()
        .starts_with("fixed:r:sha256:"));

    // (Nix would accept this path even without a trusted signature: a content-addressed path
    // proves itself. devenv's own substituter checks the signature; see the install test below.)

    // The index entry: attr_path = name, rev = first 40 hex of the NAR hash, outputs per system.
    let pkg = w.package("deploy-helper");
    assert_eq!(pkg["summary"], "Deploys our services");
    let v = &pkg["versions"][0];
    assert_eq!(v["version"], "1.4.2");
    assert_eq!(v["attr_path"], "deploy-helper");
    assert_eq!(v["last_modified"], "2024-06-01T00:00:00Z");
    let nar_hex = w.nix.run_str(
        "nix-store",
        &["--store", store_a.to_str().unwrap(), "-q", "--hash", &path],
    );
    let nar_hex = nar_hex.trim().trim_start_matches("sha256:");
    let nar_hex = w
        .nix
        .run_str("nix", &["hash", "to-base16", "--type", "sha256", nar_hex]);
    assert_eq!(v["rev"], &nar_hex.trim()[..40]);
    for system in ["x86_64-linux", "aarch64-linux"] {
        assert_eq!(v["systems"][system]["outputs"][0]["path"], path.as_str());
        assert_eq!(v["systems"][system]["outputs"][0]["default"], true);
    }
}

#[test]
fn republishing_is_idempotent_and_new_versions_merge() {
    let w = World::new();
    let tool = w.ctx.root().join("tool");
    make_tool(&tool, "1.4.2");
    let first = w.published(&tool, "deploy-helper", "1.4.2");
    let snapshot = std::fs::read(w.index.join("packages/deploy-helper.json")).unwrap();

    let out = w.publish(
        &tool,
        "deploy-helper",
        "1.4.2",
        &["--summary", "Deploys our services", "--json"],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already in the cache"), "{stderr}");
    assert!(stderr.contains("the index already had it"), "{stderr}");
    let data: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(data["store_path"], first.as_str());
    assert_eq!(data["cache_had_it"], true);
    assert_eq!(data["index_changed"], false);
    assert!(data["public_key"].as_str().unwrap().starts_with("team-1:"));
    assert_eq!(
        std::fs::read(w.index.join("packages/deploy-helper.json")).unwrap(),
        snapshot
    );

    let newer = w.ctx.root().join("tool-1.5.0");
    make_tool(&newer, "1.5.0");
    let second = w.published(&newer, "deploy-helper", "1.5.0");
    assert_ne!(first, second);
    let pkg = w.package("deploy-helper");
    let versions: Vec<&str> = pkg["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["1.5.0", "1.4.2"]);
    let names = std::fs::read_to_string(w.index.join("names.jsonl")).unwrap();
    assert_eq!(
        names,
        "{\"name\":\"deploy-helper\",\"summary\":\"Deploys our services\",\"latest\":\"1.5.0\",\"attr_path\":\"deploy-helper\"}\n"
    );
    let narinfos = std::fs::read_dir(&w.cache).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "narinfo")
    });
    assert_eq!(narinfos.count(), 2);
}

#[test]
fn a_published_tool_locks_installs_and_runs_through_devenv() {
    let w = World::new();
    let tool = w.ctx.root().join("tool");
    make_tool(&tool, "1.4.2");
    let path = w.published(&tool, "deploy-helper", "1.4.2");
    let run = |args: &[&str]| {
        let out = w
            .ctx
            .cmd()
            .args(args)
            .env("DEVENV_INDEX", &w.index)
            .env(
                "DEVENV_SUBSTITUTERS",
                format!("file://{}", w.cache.display()),
            )
            .env("DEVENV_TRUSTED_PUBLIC_KEYS", w.public.trim())
            .env("DEVENV_SYSTEM", "x86_64-linux")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "devenv {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["init"]);
    run(&["add", "deploy-helper@1.4"]);
    let lock: Value = serde_json::from_str(&w.ctx.read("devenv.lock")).unwrap();
    let entry = &lock["packages"]["deploy-helper@1.4"];
    assert_eq!(entry["version"], "1.4.2");
    assert_eq!(
        entry["systems"]["x86_64-linux"]["outputs"][0]["path"],
        path.as_str()
    );
    // devenv's substituter wants a trusted signature even on a content-addressed path.
    let other_root = w.ctx.root().join("other-store");
    let untrusted = w
        .ctx
        .cmd()
        .args(["install", "--frozen"])
        .env("DEVENV_INDEX", &w.index)
        .env(
            "DEVENV_SUBSTITUTERS",
            format!("file://{}", w.cache.display()),
        )
        .env(
            "DEVENV_TRUSTED_PUBLIC_KEYS",
            "other-1:L3rcIVChroQPyD4BbqO6127agxjNwWLh2AtUa9mzH1U=",
        )
        .env("DEVENV_SYSTEM", "x86_64-linux")
        .env("DEVENV_STORE_ROOT", &other_root)
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        stderr.contains("not signed by any trusted public key"),
        "{stderr}"
    );
    assert!(!other_root.join(path.trim_start_matches('/')).exists());
    assert_eq!(run(&["run", "deploy-helper"]), "deploy-helper 1.4.2\n");
    assert_eq!(run(&["run", "dh"]), "deploy-helper 1.4.2\n");
    assert!(w
        .ctx
        .store_root
        .join(path.trim_start_matches('/'))
        .join("share/deploy-helper/targets.txt")
        .is_file());
}

#[test]
fn bad_input_is_refused_with_exit_code_2_and_nothing_written() {
    let w = World::new();
    let tool = w.ctx.root().join("tool");
    make_tool(&tool, "1.4.2");
    let fails = |out: std::process::Output, needle: &str| {
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "expected `{needle}` in:\n{stderr}");
    };
    let missing = w.ctx.root().join("nope");
    fails(w.publish(&missing, "x", "1.0", &[]), "nope");
    let file = w.ctx.root().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    fails(w.publish(&file, "x", "1.0", &[]), "is not a directory");
    fails(
        w.publish(&tool, "bad/name", "1.0", &[]),
        "`bad/name` is not a usable package name",
    );
    fails(w.publish(&tool, "x", "", &[]), "is not a usable version");
    std::fs::write(&w.secret, "team-1:not-base64!").unwrap();
    fails(
        w.publish(&tool, "x", "1.0", &[]),
        "is not a secret signing key",
    );
    assert!(!w.index.exists());
    assert!(!w.cache.join("nar").exists());

    let out = w
        .ctx
        .cmd()
        .args([
            "publish",
            tool.to_str().unwrap(),
            "--name",
            "x",
            "--version",
            "1",
        ])
        .args([
            "--index",
            "https://example.org/index",
            "--cache",
            "c",
            "--key",
        ])
        .arg(&w.secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn generate_key_creates_a_key_once_and_never_replaces_it() {
    let w = World::new();
    let tool = w.ctx.root().join("tool");
    make_tool(&tool, "1.4.2");
    let key = w.ctx.root().join("keys/new.key");
    let publish = |name: &str| {
        w.ctx
            .cmd()
            .args(["publish", tool.to_str().unwrap(), "--name", "deploy-helper"])
            .args(["--version", "1.4.2", "--index", w.index.to_str().unwrap()])
            .args([
                "--cache",
                w.cache.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ])
            .args(["--generate-key", name])
            .output()
            .unwrap()
    };
    let out = publish("team-2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(secret.starts_with("team-2:"));
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public = std::fs::read_to_string(w.ctx.root().join("keys/new.key.pub")).unwrap();
    assert!(public.starts_with("team-2:"));

    // The narinfo verifies with the public key written next to the secret one.
    let narinfo = std::fs::read_dir(&w.cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "narinfo"))
        .unwrap();
    let text = std::fs::read_to_string(narinfo).unwrap();
    let info = devenv::nix::narinfo::NarInfo::parse(&text).unwrap();
    let pk = devenv::nix::signature::PublicKey::parse(public.trim()).unwrap();
    assert!(pk.verify(&info.fingerprint(), &info.sigs[0]));

    // A second run with another name keeps the existing key.
    let out = publish("other-1");
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), secret);

    std::fs::remove_file(&key).unwrap();
    let out = publish("bad name");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a usable key name"));
    assert!(!key.exists());
}
