//! The bad-input corpus: every case runs the real binary and checks the exit code (2 for bad
//! input, 1 for failures), that stderr names the file and line:column or the offending value,
//! and that devenv.json and devenv.lock are byte-for-byte what they were.

mod common;

use std::time::Duration;

use common::http::{Fault, Server};
use common::index::IndexWorld;

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
