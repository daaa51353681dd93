//! `devenv index build` against the fixture nixpkgs repository, evaluated by real Nix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::nixpkgs::{export, make_repo, nix_eval_json};
use crate::common::TestContext;
use serde_json::Value;

const SYSTEMS: &str = "x86_64-linux,aarch64-darwin";

fn build(ctx: &TestContext, repo: &Path, out: &Path, revs: &[&str]) -> std::process::Output {
    let mut args = vec![
        "index".to_owned(),
        "build".into(),
        "--nixpkgs".into(),
        repo.display().to_string(),
        "--out".into(),
        out.display().to_string(),
        "--systems".into(),
        SYSTEMS.into(),
    ];
    args.extend(revs.iter().map(|s| s.to_string()));
    ctx.cmd().args(&args).output().unwrap()
}

/// Assert that a devenv run succeeded and printed nothing on stdout (index commands print their
/// reports on stderr); returns stderr.
pub(crate) fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "devenv failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "stdout is for data only");
    String::from_utf8(out.stderr).unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every file of an index except the resumable evaluation cache, by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| !p.starts_with(".build"))
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn indexes_every_version_from_its_newest_revision_with_real_nix() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    assert_eq!(revs.len(), 5);
    let out = ctx.root().join("index");
    let range = format!("{}..{}", revs[0], revs[4]);
    let stderr = ok(build(
        &ctx,
        &repo,
        &out,
        &["--revs", &range, "--rev", &revs[0], "--jobs", "2"],
    ));

    // The checkout is left as it was: no changed files, no extra worktrees, same index file.
    let git_out = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(git_out(&["status", "--porcelain"]), "");
    assert_eq!(git_out(&["worktree", "list"]).lines().count(), 1);

    // Broken attributes are skipped, named and counted; one that is itself a `throw` (how
    // nixpkgs keeps removed aliases) is skipped quietly; the build still succeeds.
    assert!(stderr.contains("failed to evaluate (badmeta)"), "{stderr}");
    assert!(!stderr.contains("broken"), "{stderr}");
    assert!(stderr.contains("failed to evaluate (aborting)"), "{stderr}");
    assert!(stderr.contains("4 attribute(s) skipped"), "{stderr}");

    let meta = json(&out.join("index.json"));
    assert_eq!(meta["format"], 1);
    let mut sorted = revs.clone();
    sorted.sort();
    assert_eq!(meta["revisions"], serde_json::json!(sorted));
    assert_eq!(
        meta["systems"],
        serde_json::json!(["aarch64-darwin", "x86_64-linux"])
    );

    let names = std::fs::read_to_string(out.join("names.jsonl")).unwrap();
    let lines: Vec<Value> = names
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let latest: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["latest"].as_str().unwrap()))
        .collect();
    assert_eq!(
        latest,
        vec![
            ("ansible", "2.20.0"),
            ("hello", "2.12.1"),
            // `python3` 3.x is also found as `python`.
            ("python", "3.12.1"),
            ("python3", "3.12.1")
        ]
    );
    assert!(!out.join("packages/broken.json").exists());

    let ansible = json(&out.join("packages/ansible.json"));
    assert_eq!(ansible["summary"], "Radically simple IT automation");
    assert_eq!(ansible["license"], serde_json::json!(["MIT"]));
    let versions: Vec<&str> = ansible["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["2.20.0", "2.17.1", "2.16.5", "2.15.0"]);
    let by_version = |v: &str| {
        ansible["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["version"] == v)
            .unwrap()
            .clone()
    };
    // 2.15.0 is in revisions 1 and 2: the newer one wins.
    let v215 = by_version("2.15.0");
    assert_eq!(v215["rev"], revs[1]);
    assert_eq!(v215["last_modified"], "2023-06-01T12:00:00Z");

    // Output paths are the ones the real evaluator gives for that revision and system.
    let v2165 = by_version("2.16.5");
    assert_eq!(v2165["rev"], revs[2]);
    assert_eq!(v2165["attr_path"], "ansible");
    let tree = ctx.root().join("tree");
    export(&repo, &revs[2], &tree);
    for system in ["x86_64-linux", "aarch64-darwin"] {
        let expected = nix_eval_json(&format!(
            "let p = (import {} {{ system = \"{system}\"; }}).ansible; in {{ out = p.out.outPath; man = p.man.outPath; }}",
            tree.display()
        ));
        let outputs = &v2165["systems"][system]["outputs"];
        assert_eq!(outputs[0]["name"], "out");
        assert_eq!(outputs[0]["default"], true);
        assert_eq!(outputs[0]["path"], expected["out"]);
        assert_eq!(outputs[1]["name"], "man");
        assert_eq!(outputs[1]["path"], expected["man"]);
        assert!(outputs[1].get("default").is_none());
    }
    let darwin = v2165["systems"]["aarch64-darwin"]["outputs"][0]["path"].clone();
    assert_ne!(
        darwin,
        v2165["systems"]["x86_64-linux"]["outputs"][0]["path"]
    );
}

#[test]
fn incremental_parallel_and_resumed_builds_give_byte_identical_files() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let all = format!("{}..{}", revs[0], revs[4]);

    let serial = ctx.root().join("serial");
    ok(build(
        &ctx,
        &repo,
        &serial,
        &["--revs", &all, "--rev", &revs[0]],
    ));

    // In two steps, newest first, with two jobs.
    let steps = ctx.root().join("steps");
    let first = format!("{}..{}", revs[2], revs[4]);
    ok(build(
        &ctx,
        &repo,
        &steps,
        &["--revs", &first, "--jobs", "2"],
    ));
    let stderr = ok(build(
        &ctx,
        &repo,
        &steps,
        &["--revs", &all, "--rev", &revs[0], "--jobs", "2"],
    ));
    assert!(stderr.contains("2 revision(s) already indexed"), "{stderr}");
    assert_eq!(files(&serial), files(&steps));

    // A rerun evaluates nothing and writes nothing.
    let before = std::fs::metadata(serial.join("packages/ansible.json"))
        .unwrap()
        .modified()
        .unwrap();
    let stderr = ok(build(
        &ctx,
        &repo,
        &serial,
        &[
            "--revs",
            &all,
            "--rev",
            &revs[0],
            "--nix-env",
            "/nonexistent/nix-env",
        ],
    ));
    assert!(stderr.contains("5 revision(s) already indexed"), "{stderr}");
    assert!(stderr.contains("0 file(s) written"), "{stderr}");
    let after = std::fs::metadata(serial.join("packages/ansible.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);

    // An interrupted build: its finished evaluations are on disk, the index is not. The rerun
    // takes them from there (nix-env cannot even run) and writes the same index.
    let interrupted = ctx.root().join("interrupted");
    std::fs::create_dir_all(interrupted.join(".build")).unwrap();
    for entry in std::fs::read_dir(serial.join(".build")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(&revs[3]) || name.starts_with(&revs[1]) {
            std::fs::copy(&path, interrupted.join(".build").join(&name)).unwrap();
        }
    }
    let stderr = ok(build(
        &ctx,
        &repo,
        &interrupted,
        &[
            "--rev",
            &revs[3],
            "--rev",
            &revs[1],
            "--nix-env",
            "/nonexistent/nix-env",
        ],
    ));
    assert!(stderr.contains("4 resumed"), "{stderr}");
    ok(build(
        &ctx,
        &repo,
        &interrupted,
        &["--revs", &all, "--rev", &revs[0]],
    ));
    assert_eq!(files(&serial), files(&interrupted));
}

#[test]
fn a_revision_that_does_not_evaluate_is_reported_and_left_unrecorded() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    std::fs::write(
        repo.join("default.nix"),
        "{ system ? builtins.currentSystem }: {\n",
    )
    .unwrap();
    let git = |args: &[&str]| {
        let s = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .status()
            .unwrap();
        assert!(s.success());
    };
    git(&["commit", "-qam", "syntax error"]);
    let out = ctx.root().join("index");
    let result = build(&ctx, &repo, &out, &["--rev", &revs[4], "--rev", "HEAD"]);
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("does not evaluate"), "{stderr}");
    assert!(
        stderr.contains("error: 2 evaluation(s) failed as a whole"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    let meta = json(&out.join("index.json"));
    assert_eq!(meta["revisions"], serde_json::json!([revs[4]]));
    assert!(out.join("packages/ansible.json").exists());
}

#[test]
fn bad_arguments_are_reported_with_exit_code_2() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    make_repo(&repo);
    let out = ctx.root().join("index");
    let not_git = ctx.root().join("empty");
    std::fs::create_dir_all(&not_git).unwrap();

    let r = build(&ctx, &not_git, &out, &["--rev", "HEAD"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is not a git checkout of nixpkgs"));

    let r = build(&ctx, &repo, &out, &["--rev", "no-such-branch"]);
    assert_eq!(r.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("`no-such-branch` is not a commit"),
        "{stderr}"
    );

    let r = build(&ctx, &repo, &out, &["--revs", "HEAD"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is not a revision range"));

    let r = build(&ctx, &repo, &out, &[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no revisions to index"));

    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("index.json"), "{\"format\": 7}\n").unwrap();
    let r = build(&ctx, &repo, &out, &["--rev", "HEAD"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("has index format 7"));
    assert_eq!(
        std::fs::read_to_string(out.join("index.json")).unwrap(),
        "{\"format\": 7}\n"
    );
}

#[test]
fn a_missing_evaluator_stops_the_build_with_a_hint() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let out = ctx.root().join("index");
    // Several revisions and jobs: the first failure stops the others without hanging.
    let range = format!("{}..{}", revs[0], revs[4]);
    let r = build(
        &ctx,
        &repo,
        &out,
        &[
            "--revs",
            &range,
            "--jobs",
            "2",
            "--nix-env",
            "/nonexistent/nix-env",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("error: could not run the Nix evaluator `/nonexistent/nix-env`"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: install Nix"), "{stderr}");
    assert!(!out.join("index.json").exists());
}

#[test]
fn a_new_system_is_evaluated_for_the_revisions_already_indexed() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let run = |out: &Path, systems: &str, revs: &[&str]| {
        let mut args = vec!["index", "build", "--nixpkgs", repo.to_str().unwrap()];
        args.extend(["--out", out.to_str().unwrap(), "--systems", systems]);
        for r in revs {
            args.extend(["--rev", r]);
        }
        ok(ctx.cmd().args(&args).output().unwrap())
    };
    let grown = ctx.root().join("grown");
    run(&grown, "x86_64-linux", &[&revs[4]]);
    let stderr = run(&grown, "aarch64-darwin", &[&revs[3]]);
    assert!(
        stderr.contains("Indexing 2 revision(s): 3 evaluation(s)"),
        "{stderr}"
    );
    let direct = ctx.root().join("direct");
    run(&direct, SYSTEMS, &[&revs[3], &revs[4]]);
    assert_eq!(files(&grown), files(&direct));
}

#[test]
fn a_killed_build_continues_where_it_stopped() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let all = format!("{}..{}", revs[0], revs[4]);
    // An evaluator that is slow enough to be killed half-way.
    let slow = ctx.root().join("slow-nix-env");
    std::fs::write(&slow, "#!/bin/sh\nsleep 0.5\nexec nix-env \"$@\"\n").unwrap();
    std::fs::set_permissions(&slow, std::fs::Permissions::from_mode(0o755)).unwrap();

    let out = ctx.root().join("index");
    let mut child = ctx
        .cmd()
        .args(["index", "build", "--nixpkgs", repo.to_str().unwrap()])
        .args(["--revs", &all, "--rev", &revs[0], "--systems", SYSTEMS])
        .args([
            "--out",
            out.to_str().unwrap(),
            "--nix-env",
            slow.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let finished = |dir: &Path| {
        std::fs::read_dir(dir.join(".build"))
            .map(|d| {
                d.filter(|e| {
                    let name = e
                        .as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .into_owned();
                    name.len() > 40 && name.ends_with(".json.zst")
                })
                .count()
            })
            .unwrap_or(0)
    };
    while finished(&out) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the build ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join("index.json").exists(),
        "killed before writing the index"
    );
    // A new index's package files are built in `.build/` and appear in one rename at the end:
    // nothing half-built is where it would be served.
    assert!(!out.join("packages").exists());
    let staged: Vec<_> = std::fs::read_dir(out.join(".build"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-packages-"))
        .collect();
    assert_eq!(staged.len(), 1, "{staged:?}");
    let done_before = finished(&out);

    let stderr = ok(build(
        &ctx,
        &repo,
        &out,
        &["--revs", &all, "--rev", &revs[0]],
    ));
    assert!(
        stderr.contains(&format!("{done_before} resumed")),
        "{stderr}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(out.join(".build"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("export-") || n.starts_with(".tmp-"))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());
    // Readable by everyone who serves or copies the index, like a directory made the usual way.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let usual = ctx.root().join("usual");
    std::fs::create_dir(&usual).unwrap();
    assert_eq!(mode(&out.join("packages")), mode(&usual));
    assert_eq!(mode(&out.join("packages/ansible.json")), 0o644);

    let fresh = ctx.root().join("fresh");
    ok(build(
        &ctx,
        &repo,
        &fresh,
        &["--revs", &all, "--rev", &revs[0]],
    ));
    assert_eq!(files(&out), files(&fresh));
}

#[test]
fn a_cut_short_or_garbled_kept_evaluation_is_evaluated_again() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let whole = ctx.root().join("whole");
    ok(build(
        &ctx,
        &repo,
        &whole,
        &["--rev", &revs[3], "--rev", &revs[1]],
    ));

    // What a crash or a bad disk could leave: one kept evaluation cut short, one with a byte
    // changed, two intact.
    let damaged = ctx.root().join("damaged");
    std::fs::create_dir_all(damaged.join(".build")).unwrap();
    let kept = |rev: &str, system: &str| format!("{rev}-{system}.json.zst");
    for rev in [&revs[3], &revs[1]] {
        for system in SYSTEMS.split(',') {
            let name = kept(rev, system);
            let from = whole.join(".build").join(&name);
            assert!(from.is_file(), "{name} is kept");
            std::fs::copy(&from, damaged.join(".build").join(&name)).unwrap();
        }
    }
    let cut = damaged.join(".build").join(kept(&revs[3], "x86_64-linux"));
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let garbled = damaged
        .join(".build")
        .join(kept(&revs[1], "aarch64-darwin"));
    let mut bytes = std::fs::read(&garbled).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&garbled, &bytes).unwrap();

    // Without an evaluator the damaged ones cannot be redone: the build stops instead of
    // trusting them, and records nothing.
    let r = build(
        &ctx,
        &repo,
        &damaged,
        &[
            "--rev",
            &revs[3],
            "--rev",
            &revs[1],
            "--nix-env",
            "/nonexistent/nix-env",
        ],
    );
    assert_eq!(r.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("could not run the Nix evaluator"),
        "{stderr}"
    );
    assert!(!damaged.join("index.json").exists());

    // With one, the intact ones are resumed, the damaged ones evaluated again, and the index is
    // the same as the undamaged build's.
    let stderr = ok(build(
        &ctx,
        &repo,
        &damaged,
        &["--rev", &revs[3], "--rev", &revs[1]],
    ));
    assert!(
        stderr.contains("2 evaluation(s) run, 2 resumed"),
        "{stderr}"
    );
    assert_eq!(files(&whole), files(&damaged));
    for rev in [&revs[3], &revs[1]] {
        for system in SYSTEMS.split(',') {
            assert_eq!(
                std::fs::read(damaged.join(".build").join(kept(rev, system))).unwrap(),
                std::fs::read(whole.join(".build").join(kept(rev, system))).unwrap(),
                "{rev} {system} is kept again, whole"
            );
        }
    }
}

#[test]
fn json_prints_the_summary_on_stdout() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let out = ctx.root().join("index");
    let r = ctx
        .cmd()
        .args([
            "--json",
            "index",
            "build",
            "--nixpkgs",
            repo.to_str().unwrap(),
        ])
        .args([
            "--rev",
            &revs[2],
            "--out",
            out.to_str().unwrap(),
            "--systems",
            "x86_64-linux",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(summary["packages"], 4);
    assert_eq!(summary["evaluated"], 1);
    assert_eq!(summary["failed_attributes"], 1);
    assert_eq!(summary["failed_evaluations"], serde_json::json!([]));
}

#[test]
fn a_nixpkgs_style_set_gets_an_empty_configuration_without_aliases() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("like-nixpkgs");
    std::fs::create_dir_all(&repo).unwrap();
    // Like nixpkgs: `{ ... }@args`, reads `config` and `overlays`.
    std::fs::write(
        repo.join("default.nix"),
        r#"{ ... }@args:
let
  system = args.system;
  aliases = (args.config or (throw "no config")).allowAliases or true;
  overlays = args.overlays or (throw "no overlays");
in {
  hello = (derivation { name = "hello-1.0"; inherit system; builder = "/bin/sh"; }) // {
    meta.description = if aliases then "aliases on" else "aliases off";
  };
}
"#,
    )
    .unwrap();
    let git = |args: &[&str]| {
        let s = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
            .status()
            .unwrap();
        assert!(s.success());
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-qm",
        "one",
    ]);
    let out = ctx.root().join("index");
    ok(build(&ctx, &repo, &out, &["--rev", "HEAD"]));
    let hello = json(&out.join("packages/hello.json"));
    assert_eq!(hello["summary"], "aliases off");
}

#[test]
fn checkouts_are_kept_for_later_builds_and_a_held_cache_is_not_waited_for() {
    use fs4::fs_std::FileExt as _;
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let first = ctx.root().join("first");
    ok(build(&ctx, &repo, &first, &["--rev", &revs[1]]));
    // The checkout stays in the cache for the next build; the index holds none.
    let cache = ctx.home.join(".cache/devenv/index-build");
    let kept: Vec<PathBuf> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("slot-0/tree/default.nix").is_file());
    let build_dir: Vec<_> = std::fs::read_dir(first.join(".build"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("export-"))
        .collect();
    assert!(build_dir.is_empty(), "{build_dir:?}");

    // A later build moves the kept tree to its revision and indexes it as a fresh checkout would.
    let later = ctx.root().join("later");
    ok(build(&ctx, &repo, &later, &["--rev", &revs[3]]));
    // The same build of revs[3] with XDG_CACHE_HOME at `cache`, into `out`.
    let with_cache = |cache: &Path, out: &Path| {
        let built = ctx
            .cmd()
            .env("XDG_CACHE_HOME", cache)
            .args(["index", "build", "--nixpkgs"])
            .arg(&repo)
            .arg("--out")
            .arg(out)
            .args(["--systems", SYSTEMS, "--rev", &revs[3]])
            .output()
            .unwrap();
        ok(built);
        files(out)
    };
    let fresh = with_cache(&ctx.root().join("fresh-cache"), &ctx.root().join("fresh"));
    assert_eq!(files(&later), fresh);

    // A cache that cannot be written to costs the reuse, not the build.
    let not_a_dir = ctx.root().join("cache-file");
    std::fs::write(&not_a_dir, "").unwrap();
    assert_eq!(
        files(&later),
        with_cache(&not_a_dir, &ctx.root().join("uncached"))
    );

    // While another build holds the kept checkouts, this one checks out on its own, at once.
    let held = std::fs::File::open(kept[0].join("lock")).unwrap();
    held.lock_exclusive().unwrap();
    let beside = ctx.root().join("beside");
    ok(build(&ctx, &repo, &beside, &["--rev", &revs[3]]));
    assert_eq!(files(&later), files(&beside));
}
