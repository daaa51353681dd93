//! The bad-input corpus: every case runs the real binary and checks the exit code (2 for bad
//! input, 1 for failures), that stderr names the file and line:column or the offending value,
//! and that devenv.json and devenv.lock are byte-for-byte what they were.

use std::time::Duration;

use crate::common::http::{Fault, Server};
use crate::common::index::IndexWorld;

const MANIFEST: &str = "{\n  // team tools\n  \"packages\": [\"jq@1.7.1\"],\n}\n";

/// A project with a valid manifest and its lock.
fn project() -> IndexWorld {
    let w = IndexWorld::new();
    w.t.write("devenv.json", MANIFEST);
    w.ok(&["add", "jq@1.7.1", "--no-install"]);
    w
}

fn snapshot(w: &IndexWorld) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let read = |f: &str| std::fs::read(w.t.project.join(f)).ok();
    (read("devenv.json"), read("devenv.lock"))
}

/// Run `args`, expect exit `code`, expect every `needles` in stderr, and no file change.
#[track_caller]
fn check(w: &IndexWorld, args: &[&str], code: i32, needles: &[&str]) -> String {
    let before = snapshot(w);
    let err = w.fails(args, code);
    for n in needles {
        assert!(
            err.contains(n),
            "devenv {args:?}: stderr lacks {n:?}:\n{err}"
        );
    }
    assert!(
        err.starts_with("error:") || err.contains("\nerror:"),
        "{err}"
    );
    assert_eq!(snapshot(w), before, "devenv {args:?} changed a file");
    err
}

fn with_manifest(text: &str) -> IndexWorld {
    let w = IndexWorld::new();
    w.t.write("devenv.json", text);
    w
}

fn with_lock(text: &str) -> IndexWorld {
    let w = project();
    w.t.write("devenv.lock", text);
    w
}

// ---- manifest ----

#[test]
fn manifest_broken_json() {
    let w = with_manifest("{\n  \"packages\": [\"jq\"\n");
    check(
        &w,
        &["add", "hello", "--no-install"],
        2,
        &["devenv.json:2:15"],
    );
}

#[test]
fn manifest_packages_of_wrong_type() {
    let w = with_manifest("{\n  \"packages\": 5\n}\n");
    check(&w, &["list"], 2, &["devenv.json:2:"]);
}

#[test]
fn manifest_package_entry_of_wrong_type() {
    let w = with_manifest("{\n  \"packages\": [\n    true\n  ]\n}\n");
    check(&w, &["add", "jq", "--no-install"], 2, &["devenv.json:3:"]);
}

#[test]
fn manifest_env_value_of_wrong_type() {
    let w = with_manifest("{\"packages\": [], \"env\": {\"A\": 1}}");
    check(&w, &["list"], 2, &["devenv.json:1:"]);
}

#[test]
fn manifest_init_hook_of_wrong_type() {
    let w = with_manifest("{\"packages\": [],\n \"shell\": {\"init_hook\": 3}}");
    check(&w, &["list"], 2, &["devenv.json:2:"]);
}

#[test]
fn manifest_package_with_empty_version() {
    let w = with_manifest("{\"packages\": [\n  \"ansible@\"\n]}");
    check(&w, &["list"], 2, &["devenv.json:2:", "ansible@"]);
}

#[test]
fn manifest_platforms_and_excluded_platforms_together() {
    let w = with_manifest(
        "{\"packages\": {\n  \"jq\": {\"platforms\": [\"x86_64-linux\"], \"excluded_platforms\": [\"aarch64-linux\"]}\n}}",
    );
    check(&w, &["list"], 2, &["devenv.json:2:", "excluded_platforms"]);
}

#[test]
fn manifest_unknown_system() {
    let w = with_manifest("{\"packages\": {\n  \"jq\": {\"platforms\": [\"sparc-plan9\"]}\n}}");
    check(&w, &["list"], 2, &["sparc-plan9"]);
}

#[test]
fn manifest_unknown_key_is_a_warning_not_an_error() {
    let w = with_manifest("{\n  \"packages\": [],\n  \"frobnicate\": 1\n}\n");
    let before = snapshot(&w);
    let (_, err) = w.ok(&["list"]);
    assert!(err.contains("warning:"), "{err}");
    assert!(
        err.contains("devenv.json:3:") && err.contains("frobnicate"),
        "{err}"
    );
    assert_eq!(snapshot(&w), before);
}

#[test]
fn no_manifest_anywhere() {
    let w = IndexWorld::new();
    check(
        &w,
        &["add", "jq", "--no-install"],
        2,
        &["no devenv.json", "devenv init"],
    );
}

// ---- command-line packages ----

#[test]
fn argument_with_empty_version() {
    check(&project(), &["add", "pkg@", "--no-install"], 2, &["`pkg@`"]);
}

#[test]
fn argument_with_empty_name() {
    check(&project(), &["add", "@1.0", "--no-install"], 2, &["`@1.0`"]);
}

#[test]
fn argument_with_a_space() {
    check(
        &project(),
        &["add", "my pkg", "--no-install"],
        2,
        &["my pkg"],
    );
}

#[test]
fn argument_with_a_slash() {
    check(
        &project(),
        &["add", "foo/bar", "--no-install"],
        2,
        &["foo/bar"],
    );
}

#[test]
fn argument_empty() {
    check(&project(), &["add", "", "--no-install"], 2, &["empty"]);
}

#[test]
fn argument_with_a_broken_range() {
    check(&project(), &["add", "jq@>=", "--no-install"], 2, &["jq@>="]);
}

#[test]
fn argument_with_an_unknown_platform() {
    check(
        &project(),
        &["add", "jq", "--platform", "sparc-plan9", "--no-install"],
        2,
        &["sparc-plan9", "x86_64-linux"],
    );
}

#[test]
fn unknown_package_name_suggests_and_changes_nothing() {
    check(
        &project(),
        &["add", "hello", "ansibel", "--no-install"],
        2,
        &["`ansibel` is not in the index", "did you mean ansible"],
    );
}

#[test]
fn unknown_version_lists_what_exists() {
    check(
        &project(),
        &["add", "ansible@9.9", "--no-install"],
        2,
        &["`9.9`", "available versions: 2.160.0, 2.17.1"],
    );
    check(&project(), &["info", "jq@1.9.9"], 2, &["1.9.9", "1.7.1"]);
}

#[test]
fn rm_and_update_of_a_package_not_in_the_manifest() {
    let w = project();
    check(&w, &["rm", "hello", "--no-install"], 2, &["`hello`", "jq"]);
    check(&w, &["update", "hello", "--no-install"], 2, &["`hello`"]);
}

// ---- lock ----

#[test]
fn lock_from_a_newer_devenv() {
    let w = with_lock("{\n  \"lockfile_version\": \"99\",\n  \"packages\": {}\n}\n");
    let err = check(
        &w,
        &["add", "hello", "--no-install"],
        2,
        &["devenv.lock", "99"],
    );
    assert!(err.contains("upgrade"), "{err}");
}

#[test]
fn lock_edited_into_invalid_json() {
    let w = with_lock("{\n  \"lockfile_version\": \"1\",\n  \"packages\": {,}\n}\n");
    check(
        &w,
        &["add", "hello", "--no-install"],
        2,
        &["devenv.lock:3:"],
    );
}

#[test]
fn lock_with_merge_conflict_markers() {
    let w = project();
    let lock = w.t.read("devenv.lock");
    let conflicted = lock.replacen(
        "  \"packages\": {",
        "<<<<<<< HEAD\n  \"packages\": {\n=======\n  \"packages\": {\n>>>>>>> theirs",
        1,
    );
    w.t.write("devenv.lock", &conflicted);
    let err = check(&w, &["update", "--no-install"], 2, &["devenv.lock:3:1"]);
    assert!(err.contains("conflict"), "{err}");
}

#[test]
fn lock_with_wrong_types() {
    let w = with_lock("{\"lockfile_version\": \"1\", \"packages\": []}\n");
    check(&w, &["list"], 2, &["devenv.lock:1:"]);
}

// ---- index ----

#[test]
fn index_directory_missing() {
    let mut w = project();
    w.index_url = w.t.root().join("nowhere").display().to_string();
    check(
        &w,
        &["add", "hello", "--no-install"],
        2,
        &["nowhere", "does not exist"],
    );
}

#[test]
fn index_package_file_is_not_json() {
    let w = project();
    std::fs::write(
        w.index.join("packages/hello.json"),
        "{\"name\": \"hello\",\n  oops\n}",
    )
    .unwrap();
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["packages/hello.json:2:3"],
    );
}

#[test]
fn index_in_a_newer_format() {
    let w = project();
    std::fs::write(w.index.join("index.json"), "{\"format\": 2}").unwrap();
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["format 2", "upgrade devenv"],
    );
}

fn over_http(w: &mut IndexWorld) -> Server {
    let server = Server::serve_dir(&w.index);
    w.index_url = format!("sparse+{}", server.url());
    server
}

#[test]
fn index_http_404_for_index_json() {
    let mut w = project();
    let server = over_http(&mut w);
    server.fault("/index.json", Fault::Status(404));
    check(
        &w,
        &["add", "hello", "--no-install"],
        2,
        &["index.json` does not exist"],
    );
}

#[test]
fn index_http_500() {
    let mut w = project();
    let server = over_http(&mut w);
    server.fault("/packages/", Fault::Status(500));
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["packages/hello.json", "500"],
    );
    // Retried (bounded), not hammered.
    let tries = server
        .requests()
        .iter()
        .filter(|r| r.as_str() == "/packages/hello.json")
        .count();
    assert_eq!(tries, 3);
}

#[test]
fn index_http_garbage() {
    let mut w = project();
    let server = over_http(&mut w);
    server.fault(
        "/packages/",
        Fault::Body(b"<html>\n<h1>It works!</h1>".to_vec()),
    );
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["packages/hello.json:1:1"],
    );
}

#[test]
fn index_http_truncated() {
    let mut w = project();
    let server = over_http(&mut w);
    server.fault("/packages/", Fault::Truncate(10));
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["packages/hello.json"],
    );
}

#[test]
fn index_http_slow() {
    let mut w = project();
    let server = over_http(&mut w);
    server.fault("/packages/", Fault::Stall(Duration::from_secs(4)));
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["packages/hello.json", "no answer within 1s"],
    );
}

#[test]
fn http_timeout_that_is_not_a_number() {
    let mut w = project();
    let _server = over_http(&mut w);
    let before = snapshot(&w);
    let out =
        w.t.cmd()
            .env("DEVENV_INDEX", &w.index_url)
            .env("DEVENV_HTTP_TIMEOUT", "soon")
            .args(["add", "hello", "--no-install"])
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("DEVENV_HTTP_TIMEOUT=`soon`"), "{err}");
    assert_eq!(snapshot(&w), before);
}

#[test]
fn unsupported_index_url_scheme() {
    let mut w = project();
    w.index_url = "ftp://example.org/index".into();
    check(&w, &["search", "jq"], 2, &["ftp://example.org/index"]);
}

#[test]
fn requested_output_that_does_not_exist() {
    check(
        &project(),
        &["add", "jq", "--outputs", "bin,docs", "--no-install"],
        2,
        &["jq 1.7.1 has no output named `docs`", "bin, dev, man, out"],
    );
}

#[test]
fn package_built_for_none_of_the_wanted_systems() {
    check(
        &project(),
        &[
            "add",
            "macfuse-stubs",
            "--platform",
            "x86_64-linux",
            "--no-install",
        ],
        2,
        &["macfuse-stubs 4.8.0 has no build", "x86_64-linux"],
    );
}

// ---- untrusted data: index entries, code in locks, deep and huge files ----

/// No control character but line breaks reaches the terminal.
#[track_caller]
fn assert_no_raw_controls(what: &str, text: &str) {
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} carries raw control characters: {text:?}"
    );
}

/// Give the fixture index a package `evil` with these version entries and this summary.
fn with_evil_package(w: &IndexWorld, summary: &str, versions: Vec<serde_json::Value>) {
    let latest = versions[0]["version"].clone();
    let file = serde_json::json!({"name": "evil", "summary": summary, "versions": versions});
    std::fs::write(w.index.join("packages/evil.json"), file.to_string()).unwrap();
    let line = serde_json::json!({"name": "evil", "summary": summary, "latest": latest});
    let mut names = std::fs::read_to_string(w.index.join("names.jsonl")).unwrap();
    names.push_str(&format!("{line}\n"));
    std::fs::write(w.index.join("names.jsonl"), names).unwrap();
}

fn evil_entry(version: &str, edit: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut e = crate::common::index::version_entry(
        "evil",
        version,
        "2024-01-01",
        &["x86_64-linux"],
        &[("out", true)],
    );
    edit(&mut e);
    e
}

#[test]
fn index_entries_that_break_the_lock_rules_are_refused_and_nothing_is_written() {
    let path = |p: &'static str| {
        move |e: &mut serde_json::Value| {
            e["systems"]["x86_64-linux"]["outputs"][0]["path"] = p.into()
        }
    };
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "1.0",
            Box::new(path("/etc/passwd")),
            "`systems.x86_64-linux.outputs[0].path` is not a store path: store path `/etc/passwd`",
        ),
        (
            "1.0",
            Box::new(path("/nix/store/../../etc/passwd")),
            "`systems.x86_64-linux.outputs[0].path` is not a store path",
        ),
        (
            "1.0",
            Box::new(|e| e["rev"] = "main; touch x".into()),
            "`rev` is `main; touch x`, not a 40-character",
        ),
        (
            "1.0",
            Box::new(|e| e["last_modified"] = "not a date".into()),
            "`last_modified` is not an RFC 3339 date: `not a date`",
        ),
        (
            "1.0",
            Box::new(|e| e["attr_path"] = "evil\n$(touch x)".into()),
            "`attr_path` is `evil\\n$(touch x)`, not a nixpkgs attribute path",
        ),
        (
            "1.0\nerror: all is well",
            Box::new(|_| {}),
            "`version` is `1.0\\nerror: all is well`, which contains a control",
        ),
        (
            "1.0\u{1b}[31m",
            Box::new(|_| {}),
            "`version` is `1.0\\e[31m`, which contains a control",
        ),
    ];
    for (version, edit, needle) in cases {
        let w = project();
        with_evil_package(&w, "harmless", vec![evil_entry(version, edit)]);
        let err = check(
            &w,
            &["add", "evil", "--no-install"],
            1,
            &[
                "the index `fixture-index` gave an unusable answer for `evil`",
                needle,
            ],
        );
        assert_no_raw_controls("stderr", &err);
        assert!(
            !err.contains("\nerror: all is well"),
            "a forged line: {err}"
        );
        assert!(!w.t.project.join("x").exists());
        // The project is as usable as before.
        w.ok(&["update", "--no-install"]);
    }
}

#[test]
fn a_bad_entry_among_good_ones_is_ignored_with_a_warning() {
    let w = project();
    let bad = evil_entry("2.0", |e| e["rev"] = "main; touch x".into());
    with_evil_package(&w, "harmless", vec![bad, evil_entry("1.0", |_| {})]);
    let (_, err) = w.ok(&["add", "evil", "--no-install"]);
    assert!(
        err.contains("warning: the index `fixture-index` has an unusable entry for `evil` (version `2.0`: `rev` is `main; touch x`"),
        "{err}"
    );
    assert_eq!(w.lock()["packages"]["evil@latest"]["version"], "1.0");
    w.ok(&["update", "--no-install"]);
    w.ok(&["rm", "evil", "--no-install"]);
    assert!(w.lock()["packages"].get("evil@latest").is_none());
}

#[test]
fn info_and_search_never_print_raw_control_characters() {
    let w = project();
    let summary = "calm\u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}txt.exe";
    let odd = evil_entry("2.0\u{1b}[31m", |_| {});
    with_evil_package(&w, summary, vec![evil_entry("1.0", |_| {}), odd]);
    let (out, err) = w.ok(&["info", "evil"]);
    assert_no_raw_controls("info stdout", &out);
    assert_no_raw_controls("info stderr", &err);
    assert!(
        out.contains("calm\\e[2J\\e]0;owned\\u{7} \\u{202e}txt.exe"),
        "{out}"
    );
    assert!(err.contains("`version` is `2.0\\e[31m`"), "{err}");
    let (out, err) = w.ok(&["search", "evil"]);
    assert_no_raw_controls("search stdout", &out);
    assert_no_raw_controls("search stderr", &err);
    assert!(out.contains("calm\\e[2J"), "{out}");
}

#[test]
fn lock_with_code_in_resolved_is_refused_naming_the_field() {
    let w = project();
    let lock = w.t.read("devenv.lock");
    let rev = crate::common::index::rev("jq-1.7.1");
    let tampered = lock.replace(&format!("{rev}#jq\""), &format!("{rev}#a\\n$(touch x)\""));
    assert_ne!(lock, tampered);
    w.t.write("devenv.lock", &tampered);
    for args in [&["list"][..], &["install"], &["update", "--no-install"]] {
        let err = check(
            &w,
            args,
            2,
            &["devenv.lock", "`resolved` must be", "#a\\n$(touch x)`"],
        );
        assert_no_raw_controls("stderr", &err);
    }
    assert!(!w.t.project.join("x").exists());
}

fn deep_json(prefix: &str) -> String {
    format!("{prefix}{}{}", "[".repeat(30_000), "]".repeat(30_000))
}

#[test]
fn files_nested_thirty_thousand_deep_are_clear_errors_not_crashes() {
    let needle = "nests deeper than 64 levels";
    let w = with_manifest(&format!("{}}}", deep_json("{\"packages\": ")));
    for args in [&["list"][..], &["add", "jq", "--no-install"]] {
        let err = check(&w, args, 2, &["devenv.json:1:77:", needle]);
        assert!(!err.contains("overflow"), "{err}");
    }
    // The hook parses a manifest once it is allowed: the error is shown, the shell unharmed.
    w.ok(&["allow"]);
    let out = w.run(&["export", "bash"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("devenv.json:1:77:") && err.contains(needle),
        "{err}"
    );

    let w = with_lock(&deep_json(""));
    check(&w, &["list"], 2, &["devenv.lock:1:65:", needle]);

    let w = project();
    let config = w.t.home.join(".config/devenv/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, deep_json("")).unwrap();
    check(&w, &["list"], 2, &["config.json:1:65:", needle]);

    let w = project();
    std::fs::write(w.index.join("packages/hello.json"), deep_json("")).unwrap();
    check(
        &w,
        &["add", "hello", "--no-install"],
        1,
        &["packages/hello.json:1:65:", needle],
    );
}

#[test]
fn a_sparse_gigabyte_manifest_is_refused_quickly_with_bounded_memory() {
    let w = project();
    let manifest = w.t.project.join("devenv.json");
    std::fs::File::create(&manifest)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    std::fs::File::create(w.index.join("packages/hello.json"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    // 256 MiB of address space: reading the file whole would abort instead of exiting 2.
    let bounded = |args: &[&str]| {
        let mut cmd = std::process::Command::new("bash");
        cmd.current_dir(&w.t.project)
            .arg("-c")
            .arg("ulimit -v 262144 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_devenv"))
            .args(args);
        w.t.isolate(&mut cmd);
        let started = std::time::Instant::now();
        let out = cmd.env("DEVENV_INDEX", &w.index_url).output().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} was slow"
        );
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for args in [
        &["list"][..],
        &["export", "bash"],
        &["allow"],
        &["add", "jq", "--no-install"],
    ] {
        let (code, err) = bounded(args);
        assert_eq!(code, Some(2), "devenv {args:?}: {err}");
        assert!(
            err.contains("devenv.json` is too large to read") && err.contains("larger than 8 MiB"),
            "devenv {args:?}: {err}"
        );
    }
    std::fs::write(&manifest, MANIFEST).unwrap();
    let (code, err) = bounded(&["info", "hello"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("packages/hello.json") && err.contains("larger than 64 MiB"),
        "{err}"
    );
}
