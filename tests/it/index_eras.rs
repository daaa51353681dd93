//! `devenv index build` over a repository shaped like nixpkgs in each of its eras (16.03's
//! `all-packages.nix`, 16.09's `impure.nix` without `overlays`, 17.09's `localSystem`, today's
//! set without `system`), evaluated by real Nix, then `add` as users type names: attribute names
//! that differ from derivation names, nested package sets, variants, throw aliases, and
//! revisions with missing git objects.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::nixpkgs::{export, nix_eval_json};
use crate::common::TestContext;
use serde_json::Value;

/// Create the eras fixture at `dest`; its revisions, oldest first.
fn make_repo(dest: &Path) -> Vec<String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nixpkgs-eras/make-repo.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(dest)
        .output()
        .unwrap();
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
        .unwrap();
    String::from_utf8(log.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
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
            "revision {} cannot be checked out: the repository lacks the git objects of pkgs/fix.patch",
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
        let out = ctx
            .cmd()
            .args(["add", arg, "--no-install"])
            .env("DEVENV_INDEX", &index)
            .env("DEVENV_SYSTEM", "x86_64-linux")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "add {arg}: {}",
            String::from_utf8_lossy(&out.stderr)
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
