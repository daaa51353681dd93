//! `devenv index build` over a repository shaped like nixpkgs in each of its eras (16.03's
//! `all-packages.nix`, 16.09's `impure.nix` without `overlays`, 17.09's `localSystem`, today's
//! set without `system`), evaluated by real Nix, then `add` as users type names: attribute names
//! that differ from derivation names, nested package sets, variants, throw aliases, and
//! revisions with missing git objects.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::nixpkgs::{export, make_fixture_repo, nix_eval_json};
use crate::common::{run_ok, TestContext};
use serde_json::Value;

/// Create the eras fixture at `dest`; its revisions, oldest first.
fn make_repo(dest: &Path) -> Vec<String> {
    make_fixture_repo("nixpkgs-eras", dest, 0)
}

/// Build the index of every revision for two systems; (index dir, revisions, build stderr).
fn build_all(ctx: &TestContext) -> (PathBuf, Vec<String>, String) {
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    assert_eq!(revs.len(), 7);
    let out = ctx.root().join("index");
    let built = ctx
        .cmd()
        .args(["index", "build", "--nixpkgs"])
        .arg(&repo)
        .arg("--out")
        .arg(&out)
        .args([
            "--systems",
            "x86_64-linux,aarch64-darwin",
            "--rev",
            &revs[0],
        ])
        .args(["--revs", &format!("{}..{}", revs[0], revs[6])])
        .output()
        .unwrap();
    let stderr = String::from_utf8(built.stderr).unwrap();
    // Two revisions fail (one for one system only): the build says so with status 1, after
    // writing everything else.
    assert_eq!(built.status.code(), Some(1), "{stderr}");
    (out, revs, stderr)
}

fn lock_entry(ctx: &TestContext, key: &str) -> Value {
    let lock: Value = serde_json::from_str(&ctx.read("devenv.lock")).unwrap();
    lock["packages"][key].clone()
}

#[test]
fn every_era_indexes_and_names_resolve_as_users_type_them() {
    let ctx = TestContext::new();
    let (index, revs, stderr) = build_all(&ctx);

    // Every era's entry point evaluates: nothing is "called with unexpected argument".
    assert!(!stderr.contains("unexpected argument"), "{stderr}");
    for rev in [&revs[0], &revs[1], &revs[2], &revs[3]] {
        assert!(
            stderr.contains(&format!("evaluated {} x86_64-linux", &rev[..12])),
            "{stderr}"
        );
    }
    // Aliases kept as `throw` are skipped without a word.
    assert!(!stderr.contains("ansible1"), "{stderr}");
    assert!(!stderr.contains("nodejs-14_x"), "{stderr}");
    assert!(!stderr.contains("failed to evaluate"), "{stderr}");
    // A missing `.nix` blob costs the attributes that read it, named; a missing patch costs
    // the revision, named; a set that does not evaluate for one system keeps the other.
    assert!(
        stderr.contains(&format!(
            "warning: revision {} lacks the git objects of pkgs/extra.nix",
            revs[4]
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "revision {} does not evaluate for x86_64-linux: it cannot be checked out: the repository lacks the git objects of pkgs/fix.patch",
            revs[5]
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "revision {} does not evaluate for aarch64-darwin",
            revs[6]
        )),
        "{stderr}"
    );
    // What users read about the missing objects and the failed evaluations.
    let read: String = stderr
        .lines()
        .filter(|l| {
            l.contains("lacks the git objects") || l.starts_with("error:") || l.starts_with("hint:")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::snapshots::settings(&ctx)
        .assert_snapshot("index_eras__missing_objects_and_failed_systems", &read);
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("index.json")).unwrap()).unwrap();
    let mut recorded: Vec<&String> = revs[..5].iter().collect();
    recorded.sort();
    assert_eq!(meta["revisions"], serde_json::json!(recorded));
    assert!(!index.join("packages/extra.json").exists());
    let hello: Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("packages/hello.json")).unwrap())
            .unwrap();
    let versions: Vec<(&str, Vec<&String>)> = hello["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["systems"].as_object().unwrap().keys().collect(),
            )
        })
        .collect();
    let both = vec!["aarch64-darwin", "x86_64-linux"];
    assert_eq!(
        versions
            .iter()
            .map(|(v, s)| (*v, s.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
        vec![
            ("2.12.4", vec!["x86_64-linux"]),
            ("2.12.2", both.clone()),
            ("2.12.1", both.clone()),
            ("2.10.2", both.clone()),
            ("2.10.1", both.clone()),
            ("2.10", both.clone()),
        ]
    );

    // `add` as a Nixhub user types it: (argument, version locked, attribute, revision).
    ctx.ok(&["init"]);
    let cases: &[(&str, &str, &str, usize)] = &[
        // Stored as `python2.7-ansible`; found by its name, under the attribute that has it.
        ("ansible@2.1.1.0", "2.1.1.0", "ansible2", 2),
        ("ansible@1.9", "1.9.6", "ansible", 2),
        ("ansible", "2.16.5", "ansible", 6),
        // `git`, not `gitFull` or `gitMinimal`, which carry the same name and version.
        ("git", "2.44.0", "git", 6),
        ("git@2.10", "2.10.0", "git", 2),
        // `gcc` is `gcc-wrapper`; the major version finds the attribute that has it.
        ("gcc@4", "4.9.4", "gcc49", 2),
        ("gcc@5", "5.4.0", "gcc", 2),
        ("gcc@13", "13.2.0", "gcc13", 6),
        ("nodejs@16", "16.20.2", "nodejs_16", 6),
        ("nodejs@6", "6.4.0", "nodejs-6_x", 2),
        ("nodejs@18", "18.19.0", "nodejs", 6),
        // `python3` derivations are found as `python`, under the attribute naming the version,
        // never its `Full` variant.
        ("python@3.11", "3.11.4", "python311", 6),
        ("python@3.5", "3.5.2", "python35", 2),
        ("python@2.7", "2.7.12", "python", 2),
        // Nested sets nixpkgs recurses into.
        (
            "python3Packages.requests",
            "2.31.0",
            "python3Packages.requests",
            6,
        ),
        (
            "python3Packages.requests@2.11",
            "2.11.1",
            "python3Packages.requests",
            2,
        ),
    ];
    // Adding a name again replaces its entry: keep each as it was locked.
    let mut locked = std::collections::BTreeMap::new();
    for (arg, version, attr, rev) in cases {
        run_ok(
            ctx.cmd()
                .args(["add", arg, "--no-install"])
                .env("DEVENV_INDEX", &index)
                .env("DEVENV_SYSTEM", "x86_64-linux"),
        );
        let key = if arg.contains('@') {
            arg.to_string()
        } else {
            format!("{arg}@latest")
        };
        let entry = lock_entry(&ctx, &key);
        assert_eq!(entry["version"], *version, "{arg}");
        assert_eq!(
            entry["resolved"],
            format!("github:NixOS/nixpkgs/{}#{attr}", revs[*rev]),
            "{arg}"
        );
        locked.insert(*arg, entry);
    }

    // The locked store path is the one real Nix gives that attribute of that revision, with
    // the arguments each era's entry point takes.
    let tree = ctx.root().join("tree-16.09");
    export(&ctx.root().join("nixpkgs"), &revs[1], &tree);
    let expected = nix_eval_json(&format!(
        "(import {} {{ system = \"aarch64-darwin\"; }}).python35.outPath",
        tree.display()
    ));
    let entry = &locked["python@3.5"];
    assert_eq!(
        entry["systems"]["aarch64-darwin"]["outputs"][0]["path"],
        expected
    );
    let tree = ctx.root().join("tree-today");
    export(&ctx.root().join("nixpkgs"), &revs[6], &tree);
    let expected = nix_eval_json(&format!(
        "(import {} {{ localSystem = {{ system = \"x86_64-linux\"; }}; }}).python3Packages.requests.outPath",
        tree.display()
    ));
    let entry = &locked["python3Packages.requests"];
    assert_eq!(
        entry["systems"]["x86_64-linux"]["outputs"][0]["path"],
        expected
    );
}

/// The Nixhub client and a static index, given the same data (the revision, its versions, the
/// attributes that carry each, their store paths), say the same: the same attribute per version
/// in `info`, the same attribute for the latest version in `search`.
#[test]
fn nixhub_and_a_static_index_agree_on_the_same_data() {
    use crate::common::index::{query, FnServer, Seen};

    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let index = ctx.root().join("index");
    let built = ctx
        .cmd()
        .args(["index", "build", "--nixpkgs"])
        .arg(&repo)
        .arg("--out")
        .arg(&index)
        .args(["--systems", "x86_64-linux", "--rev", &revs[3]])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    // Every attribute of that revision carrying each name and version, as the service's search
    // lists them (in its own order, variants first).
    let carriers: &[(&str, &str, &[&str])] = &[
        ("git", "2.44.0", &["gitFull", "gitMinimal", "git"]),
        (
            "python",
            "3.11.4",
            &["python311Full", "python3", "python311"],
        ),
        ("python", "3.12.1", &["python312"]),
        ("nodejs", "18.19.0", &["nodejs_18", "nodejs"]),
        ("nodejs", "16.20.2", &["nodejs_16"]),
        ("gcc", "13.2.0", &["gcc13"]),
        ("gcc", "12.3.0", &["gcc12", "gcc"]),
    ];
    let static_file = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(index.join(format!("packages/{name}.json"))).unwrap(),
        )
        .unwrap()
    };
    let mut search = serde_json::Map::new();
    for name in ["git", "python", "nodejs", "gcc"] {
        let file = static_file(name);
        let versions: Vec<Value> = file["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let version = v["version"].as_str().unwrap();
                let attrs = carriers
                    .iter()
                    .find(|(n, ver, _)| *n == name && *ver == version)
                    .map(|(_, _, a)| *a)
                    .unwrap_or_else(|| panic!("{name} {version}"));
                let path = v["systems"]["x86_64-linux"]["outputs"][0]["path"]
                    .as_str()
                    .unwrap();
                let base = path.strip_prefix("/nix/store/").unwrap();
                let (hash, rest) = base.split_at(32);
                let store_name = rest[1..].strip_suffix(&format!("-{version}")).unwrap();
                serde_json::json!({
                    "name": name, "version": version, "summary": file["summary"],
                    "commit_hash": v["rev"], "last_updated": 1685620800,
                    "systems": {"x86_64-linux": {
                        "commit_hash": v["rev"], "attr_paths": attrs, "store_hash": hash,
                        "store_name": store_name, "store_version": version,
                    }}
                })
            })
            .collect();
        search.insert(
            name.to_string(),
            serde_json::json!({"packages": [{"name": name, "versions": versions}]}),
        );
    }
    let server = FnServer::start(move |seen: &Seen| {
        let q = query(&seen.url);
        match (seen.url.split('?').next().unwrap(), q.get("q")) {
            ("/v1/search", Some(name)) if search.contains_key(name) => (
                200,
                vec![("Content-Type".into(), "application/json".into())],
                serde_json::to_vec(&search[name]).unwrap(),
            ),
            _ => (404, vec![], b"not found".to_vec()),
        }
    });

    let run = |index_url: &str, args: &[&str]| -> Value {
        let out = run_ok(
            ctx.cmd()
                .env("DEVENV_INDEX", index_url)
                .args(["--json"])
                .args(args),
        );
        serde_json::from_str(&out).unwrap()
    };
    let nixhub = format!("nixhub+{}", server.url);
    let local = index.to_str().unwrap().to_string();
    for name in ["git", "python", "nodejs", "gcc"] {
        let versions = |info: &Value| -> Vec<(String, String, String)> {
            info["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    (
                        v["version"].as_str().unwrap().to_owned(),
                        v["attr_path"].as_str().unwrap().to_owned(),
                        v["rev"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let from_static = versions(&run(&local, &["info", name]));
        let from_nixhub = versions(&run(&nixhub, &["info", name]));
        assert_eq!(from_static, from_nixhub, "{name}");
        let hit = |hits: Value| -> (String, String) {
            let h = hits
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["name"] == name)
                .unwrap()
                .clone();
            (
                h["latest"].as_str().unwrap().to_owned(),
                h["attr_path"].as_str().unwrap().to_owned(),
            )
        };
        assert_eq!(
            hit(run(&local, &["search", name])),
            hit(run(&nixhub, &["search", name])),
            "{name}"
        );
    }
    // And what both say is the documented rule.
    let python = run(&nixhub, &["info", "python"]);
    assert_eq!(python["versions"][1]["attr_path"], "python311");
    let git = run(&local, &["info", "git"]);
    assert_eq!(git["versions"][0]["attr_path"], "git");
}

/// A revision whose objects went missing after one of its systems was evaluated (and kept)
/// still gives that system from where it was kept; only the others fail.
#[test]
fn a_kept_evaluation_survives_objects_missing_later() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = crate::common::nixpkgs::make_repo(&repo);
    let out = ctx.root().join("index");
    let build = |systems: &str| {
        ctx.cmd()
            .args(["index", "build", "--nixpkgs"])
            .arg(&repo)
            .arg("--out")
            .arg(&out)
            .args(["--systems", systems, "--rev", &revs[4]])
            .output()
            .unwrap()
    };
    let first = build("x86_64-linux");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // As if that run had stopped before recording the revision, and the repository had since
    // lost a file every revision has.
    std::fs::remove_file(out.join("index.json")).unwrap();
    let blob = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["rev-parse", &format!("{}:ansible.cfg", revs[4])])
        .output()
        .unwrap();
    let blob = String::from_utf8(blob.stdout).unwrap().trim().to_owned();
    std::fs::remove_file(repo.join(".git/objects").join(&blob[..2]).join(&blob[2..])).unwrap();
    // Nor is the revision's checkout kept from that run (it would still hold the file).
    std::fs::remove_dir_all(ctx.home.join(".cache/devenv/index-build")).unwrap();

    let second = build("x86_64-linux,aarch64-darwin");
    let stderr = String::from_utf8(second.stderr).unwrap();
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("resumed {} x86_64-linux", &revs[4][..12])),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "revision {} does not evaluate for aarch64-darwin: it cannot be checked out",
            revs[4]
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("does not evaluate for x86_64-linux"),
        "{stderr}"
    );
    let ansible: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("packages/ansible.json")).unwrap())
            .unwrap();
    assert_eq!(ansible["versions"][0]["version"], "2.20.0");
    assert!(ansible["versions"][0]["systems"]["x86_64-linux"].is_object());
}
