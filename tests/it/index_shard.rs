//! `devenv index build --shard K/N` and `devenv index merge` against the fixture nixpkgs
//! repository, evaluated by real Nix: shards merge into the bytes of one build, in any order;
//! the batch-system examples of docs/index-build.md run as written; a published index merges
//! into a mirror.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::nixpkgs::make_repo;
use crate::common::{run_ok, TestContext};

const SYSTEMS: &str = "x86_64-linux,aarch64-darwin";

/// Run devenv with `args` in `cwd`, asserting success and nothing on stdout; returns stderr.
fn ok(ctx: &TestContext, cwd: &Path, args: &[&str]) -> String {
    crate::index_build::ok(ctx.cmd().current_dir(cwd).args(args).output().unwrap())
}

fn build(ctx: &TestContext, repo: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["index", "build", "--nixpkgs", repo.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap(), "--systems", SYSTEMS]);
    args.extend(extra);
    ok(ctx, ctx.root(), &args)
}

fn merge(ctx: &TestContext, dirs: &[&Path], out: &Path) -> String {
    let mut args = vec!["index", "merge"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    ok(ctx, ctx.root(), &args)
}

/// Every file of an index except `.build/` (kept evaluations, the lock), by relative path.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let files: BTreeMap<String, Vec<u8>> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap();
            (rel.to_string_lossy().into_owned(), e.path().to_owned())
        })
        .filter(|(rel, _)| !rel.starts_with(".build"))
        .map(|(rel, path)| (rel, std::fs::read(path).unwrap()))
        .collect();
    assert!(
        files.contains_key("index.json"),
        "{} has no index",
        dir.display()
    );
    files
}

fn index_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

/// The number in "N evaluation(s)" of a build's plan line.
fn planned(stderr: &str) -> usize {
    let line = stderr.lines().find(|l| l.starts_with("Indexing")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| w.starts_with("evaluation"))
        .unwrap();
    words[i - 1].parse().unwrap()
}

#[test]
fn two_shards_merge_into_the_bytes_of_one_build_in_any_order() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let all = format!("{}..{}", revs[0], revs[4]);
    let range: [&str; 4] = ["--revs", &all, "--rev", &revs[0]];

    let whole = ctx.root().join("whole");
    build(&ctx, &repo, &whole, &range);
    let (s1, s2) = (ctx.root().join("s1"), ctx.root().join("s2"));
    let e1 = planned(&build(
        &ctx,
        &repo,
        &s1,
        &[&range[..], &["--shard", "1/2"]].concat(),
    ));
    let e2 = planned(&build(
        &ctx,
        &repo,
        &s2,
        &[&range[..], &["--shard", "2/2"]].concat(),
    ));
    assert_eq!(e1 + e2, 10, "5 revisions x 2 systems, each in one shard");
    assert!(e1 > 0 && e2 > 0, "both shards have work: {e1} and {e2}");
    assert_eq!(index_json(&s1)["shard"], "1/2");

    let (m12, m21) = (ctx.root().join("m12"), ctx.root().join("m21"));
    let stderr = merge(&ctx, &[&s1, &s2], &m12);
    assert!(
        stderr.contains("5 revision(s); merged 2 index(es)"),
        "{stderr}"
    );
    merge(&ctx, &[&s2, &s1], &m21);
    assert_eq!(files(&m12), files(&whole));
    assert_eq!(files(&m21), files(&whole));

    // Into itself, or once more with the same shards: nothing changes, nothing is written.
    let before = files(&m12);
    let stderr = merge(&ctx, &[&m12], &m12);
    assert!(stderr.contains("0 file(s) written"), "{stderr}");
    let stderr = merge(&ctx, &[&s2, &s1, &whole], &m12);
    assert!(stderr.contains("0 file(s) written"), "{stderr}");
    assert_eq!(files(&m12), before);

    // A whole index and a shard's output are not extended by one another.
    let mut args = vec!["index", "build", "--nixpkgs", repo.to_str().unwrap()];
    args.extend(["--out", whole.to_str().unwrap(), "--rev", &revs[4]]);
    args.extend(["--shard", "1/2"]);
    let out = ctx.cmd().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a whole index"), "{stderr}");
    assert!(stderr.contains("index merge"), "{stderr}");
    assert_eq!(files(&whole), before);
}

#[test]
fn a_revision_a_shard_failed_is_left_out_of_the_merge_until_that_shard_is_rerun() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let two = ["--rev", revs[3].as_str(), "--rev", revs[4].as_str()];
    let whole = ctx.root().join("whole");
    build(&ctx, &repo, &whole, &two);

    // An evaluator that fails for one system: whichever shards own those evaluations fail them.
    let broken = ctx.root().join("nix-env-without-darwin");
    std::fs::write(
        &broken,
        "#!/bin/sh\ncase \"$*\" in *aarch64-darwin*) echo 'error: no darwin' >&2; exit 1;; esac\nexec nix-env \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let shards = [ctx.root().join("s1"), ctx.root().join("s2")];
    for (k, dir) in ["1/2", "2/2"].iter().zip(&shards) {
        let mut args = vec!["index", "build", "--nixpkgs", repo.to_str().unwrap()];
        args.extend(["--out", dir.to_str().unwrap(), "--systems", SYSTEMS]);
        args.extend(two);
        args.extend(["--shard", k, "--nix-env", broken.to_str().unwrap()]);
        let out = ctx.cmd().args(&args).output().unwrap();
        assert!(out.status.code() == Some(0) || out.status.code() == Some(1));
    }
    let merged = ctx.root().join("merged");
    merge(&ctx, &[&shards[0], &shards[1]], &merged);
    assert_eq!(index_json(&merged)["revisions"], serde_json::json!([]));
    let ansible = String::from_utf8(files(&merged)["packages/ansible.json"].clone()).unwrap();
    assert!(ansible.contains("x86_64-linux"), "{ansible}");
    assert!(!ansible.contains("aarch64-darwin"), "{ansible}");

    // Rerun with a working evaluator, merge again: complete, and the bytes of one build.
    for (k, dir) in ["1/2", "2/2"].iter().zip(&shards) {
        build(&ctx, &repo, dir, &[&two[..], &["--shard", k]].concat());
    }
    merge(&ctx, &[&shards[0], &shards[1]], &merged);
    assert_eq!(files(&merged), files(&whole));
}

/// The lines of `block` that run devenv, with continuation lines joined and indentation and a
/// YAML `- run:` prefix removed.
fn devenv_lines(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in block.lines() {
        let line = line.trim();
        let line = line.strip_prefix("- run:").map(str::trim).unwrap_or(line);
        match current.as_mut() {
            Some(cmd) => cmd.push_str(line.trim_end_matches('\\')),
            None if line.starts_with("devenv index") => {
                current = Some(line.trim_end_matches('\\').to_owned());
            }
            None => continue,
        }
        if !line.ends_with('\\') {
            out.push(current.take().unwrap());
        }
    }
    out
}

/// The fenced block after `<!-- shard-example: NAME -->` in docs/index-build.md.
fn example(name: &str) -> String {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/index-build.md");
    let text = std::fs::read_to_string(page).unwrap();
    let marker = format!("<!-- shard-example: {name} -->");
    let after = &text[text.find(&marker).unwrap_or_else(|| panic!("no {marker}"))..];
    let body = &after[after.find("```").unwrap()..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

/// Run `script` with bash in `cwd`, with devenv on PATH and `env` set.
fn bash(ctx: &TestContext, cwd: &Path, script: &str, env: &[(&str, String)]) {
    let bin = Path::new(env!("CARGO_BIN_EXE_devenv")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut cmd = Command::new("bash");
    ctx.isolate(&mut cmd);
    cmd.current_dir(cwd)
        .env("PATH", path)
        .args(["-euo", "pipefail", "-c", script]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_ok(&mut cmd);
}

#[test]
fn the_documented_batch_system_examples_build_shards_that_merge() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let range = format!("{}..{}", revs[2], revs[4]);
    let whole = ctx.root().join("whole");
    build(&ctx, &repo, &whole, &["--revs", &range]);
    let expected = files(&whole);
    let vars = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("NIXPKGS", repo.display().to_string()),
            ("REVS", range.clone()),
            ("SYSTEMS", SYSTEMS.to_owned()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    // Each scheduler's job in a directory of its own, holding the nixpkgs checkout where the
    // example expects it.
    let job_dir = |name: &str| {
        let dir = ctx.root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&repo, dir.join("nixpkgs")).unwrap();
        dir
    };

    let slurm = example("slurm");
    let merge_line = devenv_lines(&example("merge"));
    assert_eq!(merge_line.len(), 1, "{merge_line:?}");
    let dir = job_dir("slurm");
    for task in 0..3 {
        let env = vars(&[
            ("SLURM_ARRAY_TASK_ID", task.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", "3".into()),
        ]);
        bash(&ctx, &dir, &slurm, &env);
    }
    bash(&ctx, &dir, &merge_line[0], &[]);
    assert_eq!(files(&dir.join("index")), expected, "slurm");

    // The Kubernetes Job's command, with its volumes' mount points as directories of the test.
    let k8s = devenv_lines(&example("kubernetes"));
    assert_eq!(k8s.len(), 1, "{k8s:?}");
    let k8s = k8s[0]
        .replace("/nixpkgs ", "nixpkgs ")
        .replace("\"/shards/", "\"shards/");
    let dir = job_dir("kubernetes");
    for index in 0..2 {
        let env = vars(&[
            ("JOB_COMPLETION_INDEX", index.to_string()),
            ("SHARDS", "2".into()),
        ]);
        bash(&ctx, &dir, &k8s, &env);
    }
    bash(&ctx, &dir, &merge_line[0], &[]);
    assert_eq!(files(&dir.join("index")), expected, "kubernetes");

    // The GitHub Actions matrix: its build step once per matrix value, then its merge step.
    let github = example("github");
    let lines = devenv_lines(&github);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let matrix = github
        .lines()
        .find_map(|l| l.trim().strip_prefix("shard: ["))
        .expect("a shard matrix");
    let dir = job_dir("github");
    for k in matrix.trim_end_matches(']').split(',') {
        let line = lines[0].replace("${{ matrix.shard }}", k.trim());
        bash(&ctx, &dir, &line, &vars(&[]));
    }
    bash(&ctx, &dir, &lines[1], &[]);
    assert_eq!(files(&dir.join("index")), expected, "github");
}

#[test]
fn a_published_index_merges_into_a_mirror_of_a_public_one() {
    let ctx = TestContext::new();
    let repo = ctx.root().join("nixpkgs");
    let revs = make_repo(&repo);
    let mirror = ctx.root().join("mirror");
    build(&ctx, &repo, &mirror, &["--rev", &revs[4]]);
    let public = files(&mirror);

    let private = ctx.root().join("private");
    let tool = ctx.root().join("deploy-helper");
    std::fs::create_dir_all(tool.join("bin")).unwrap();
    std::fs::write(tool.join("bin/deploy-helper"), "#!/bin/sh\necho deployed\n").unwrap();
    let cache = format!("file://{}", ctx.root().join("cache").display());
    let key = ctx.root().join("team.key");
    let mut args = vec!["publish", tool.to_str().unwrap(), "--name", "deploy-helper"];
    args.extend(["--version", "1.4.2", "--index", private.to_str().unwrap()]);
    args.extend(["--cache", &cache, "--key", key.to_str().unwrap()]);
    args.extend(["--generate-key", "team-1", "--systems", SYSTEMS]);
    run_ok(ctx.cmd().env("SOURCE_DATE_EPOCH", "1700000000").args(&args));

    merge(&ctx, &[&private], &mirror);
    let merged = files(&mirror);
    let tool_file = "packages/deploy-helper.json";
    assert_eq!(merged[tool_file], files(&private)[tool_file]);
    for (path, bytes) in &public {
        if path.starts_with("packages/") {
            assert_eq!(&merged[path], bytes, "{path} changed");
        }
    }
    let names = String::from_utf8(merged["names.jsonl"].clone()).unwrap();
    assert!(names.contains("\"deploy-helper\""), "{names}");
    assert!(names.contains("\"ansible\""), "{names}");
    assert_eq!(
        index_json(&mirror)["revisions"],
        serde_json::json!([revs[4]])
    );

    // The other way round, into a fresh directory: the same files.
    let other = ctx.root().join("other");
    let fresh = ctx.root().join("public-again");
    build(&ctx, &repo, &fresh, &["--rev", &revs[4]]);
    merge(&ctx, &[&private, &fresh], &other);
    assert_eq!(files(&other), merged);

    // Users of the mirror find the tool.
    let out = ctx
        .cmd()
        .env("DEVENV_INDEX", &mirror)
        .args(["search", "deploy"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deploy-helper"), "{text}");
}
