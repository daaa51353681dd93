//! The static sparse index, from a directory and over HTTP: search, info, version order,
//! ETag revalidation and offline use of the cache.

use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

use crate::common::index::{rev, write_fixture_index, FnServer};
use crate::common::TestContext;

fn with_index(t: &TestContext) -> PathBuf {
    let dir = t.root().join("index");
    write_fixture_index(&dir);
    dir
}

fn run(t: &TestContext, index: &str, args: &[&str]) -> Output {
    t.cmd()
        .env("DEVENV_INDEX", index)
        .env("DEVENV_HTTP_TIMEOUT", "2")
        .args(args)
        .output()
        .unwrap()
}

fn ok(t: &TestContext, index: &str, args: &[&str]) -> (String, String) {
    let out = run(t, index, args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn versions_of(info_json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(info_json).unwrap();
    v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn search_ranks_names_before_summaries() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let idx = idx.to_str().unwrap();
    let (out, _) = ok(&t, idx, &["search", "ansible", "--json"]);
    let hits: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ansible", "ansible-lint"]);
    assert_eq!(hits[0]["latest"], "2.160.0");

    let (human, _) = ok(&t, idx, &["search", "json"]);
    assert!(human.starts_with("jq"), "{human}");
    assert!(human.contains("1.7.1"), "{human}");

    let (none, err) = ok(&t, idx, &["search", "no-such-thing"]);
    assert_eq!(none, "");
    assert!(err.contains("no packages match"), "{err}");
}

#[test]
fn info_lists_versions_newest_first_in_nix_order() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let idx = idx.to_str().unwrap();
    let (out, _) = ok(&t, idx, &["info", "ansible", "--json"]);
    assert_eq!(
        versions_of(&out),
        vec!["2.160.0", "2.17.1", "2.16.10", "2.16.5", "2.15.0"]
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["versions"][2]["rev"], rev("ansible-2.16.10"));
    assert_eq!(v["versions"][2]["last_modified"], "2024-08-01T00:00:00Z");
    assert_eq!(v["homepage"], "https://example.org/ansible");

    let (out, _) = ok(&t, idx, &["info", "ansible@2.16", "--json"]);
    assert_eq!(versions_of(&out), vec!["2.16.10", "2.16.5"]);
    let (out, _) = ok(&t, idx, &["info", "ansible@>=2.15 <2.17", "--json"]);
    assert_eq!(versions_of(&out), vec!["2.16.10", "2.16.5", "2.15.0"]);
    let (out, _) = ok(&t, idx, &["info", "tzdata", "--json"]);
    assert_eq!(versions_of(&out), vec!["2024a", "2023c"]);
    let (out, _) = ok(&t, idx, &["info", "hello", "--json"]);
    assert_eq!(versions_of(&out), vec!["2.12.2", "2.12.2pre1", "2.12.1"]);

    let (human, _) = ok(&t, idx, &["info", "ansible@2.16.5"]);
    let line = human.lines().find(|l| l.starts_with("2.16.5")).unwrap();
    assert!(line.contains("2024-04-01"), "{human}");
    assert!(line.contains(&rev("ansible-2.16.5")[..12]), "{human}");
    assert!(!line.contains("x86_64-darwin"), "{human}");
}

#[test]
fn unknown_name_suggests_close_names() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let out = run(&t, idx.to_str().unwrap(), &["info", "ansibel"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`ansibel` is not in the index"), "{err}");
    assert!(err.contains("hint: did you mean ansible"), "{err}");
}

#[test]
fn file_url_and_http_serve_the_same_answers() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let (from_dir, _) = ok(&t, idx.to_str().unwrap(), &["info", "jq", "--json"]);
    let file_url = format!("file://{}", idx.display());
    let (from_file_url, _) = ok(&t, &file_url, &["info", "jq", "--json"]);
    assert_eq!(from_dir, from_file_url);

    let server = crate::common::http::Server::serve_dir(&idx);
    let (over_http, _) = ok(&t, &server.url(), &["info", "jq", "--json"]);
    assert_eq!(from_dir, over_http);
    let (hits, _) = ok(&t, &server.url(), &["search", "jq", "--json"]);
    assert!(hits.contains("\"jq\""), "{hits}");
    let requested = server.requests();
    assert!(
        requested.contains(&"/index.json".to_string()),
        "{requested:?}"
    );
    assert!(
        requested.contains(&"/packages/jq.json".to_string()),
        "{requested:?}"
    );
    // A sparse index fetches only what it needs: no other package file was requested.
    assert!(
        !requested
            .iter()
            .any(|r| r.starts_with("/packages/") && r != "/packages/jq.json"),
        "{requested:?}"
    );
}

/// Serves the fixture with ETags derived from content and answers 304 to a matching
/// If-None-Match; `bump` changes the content of `packages/jq.json`.
fn etag_server(dir: PathBuf, bump: Arc<Mutex<bool>>) -> FnServer {
    FnServer::start(move |seen| {
        let path = seen.url.split('?').next().unwrap().trim_start_matches('/');
        let Ok(mut body) = std::fs::read(dir.join(path)) else {
            return (404, vec![], vec![]);
        };
        if path == "packages/jq.json" && *bump.lock().unwrap() {
            let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            v["summary"] = "changed upstream".into();
            body = serde_json::to_vec(&v).unwrap();
        }
        let etag = format!("\"{}\"", &rev(&String::from_utf8_lossy(&body))[..16]);
        if seen.if_none_match.as_deref() == Some(etag.as_str()) {
            return (304, vec![("ETag".into(), etag)], vec![]);
        }
        (200, vec![("ETag".into(), etag)], body)
    })
}

#[test]
fn http_cache_revalidates_with_etag_and_works_offline() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let bump = Arc::new(Mutex::new(false));
    let server = etag_server(idx.clone(), bump.clone());
    let url = server.url.clone();

    let (first, _) = ok(&t, &url, &["info", "jq", "--json"]);
    let (second, _) = ok(&t, &url, &["info", "jq", "--json"]);
    assert_eq!(first, second);
    let seen = server.seen();
    let jq: Vec<_> = seen
        .iter()
        .filter(|s| s.url == "/packages/jq.json")
        .collect();
    assert_eq!(jq.len(), 2, "{seen:?}");
    assert!(jq[0].if_none_match.is_none(), "{seen:?}");
    assert!(
        jq[1].if_none_match.is_some(),
        "second request must revalidate: {seen:?}"
    );

    // A change on the server is seen on the next run (no stale cache).
    *bump.lock().unwrap() = true;
    let (third, _) = ok(&t, &url, &["info", "jq", "--json"]);
    assert!(third.contains("changed upstream"), "{third}");

    // Server gone: the cached copy answers, with one warning.
    drop(server);
    let (offline, err) = ok(&t, &url, &["info", "jq", "--json"]);
    assert_eq!(offline, third);
    assert!(err.contains("using the cached copy"), "{err}");
    assert_eq!(err.matches("warning:").count(), 1, "{err}");

    // Something never fetched cannot come from the cache: a clear failure, exit 1.
    let out = run(&t, &url, &["info", "hello"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("packages/hello.json"), "{err}");
}

#[test]
fn devenv_offline_answers_from_the_cache_without_any_request() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let server = crate::common::http::Server::serve_dir(&idx);
    let (warm, _) = ok(&t, &server.url(), &["info", "jq", "--json"]);
    server.clear_requests();
    let out = t
        .cmd()
        .env("DEVENV_INDEX", server.url())
        .env("DEVENV_OFFLINE", "1")
        .args(["info", "jq", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), warm);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    let out = t
        .cmd()
        .env("DEVENV_INDEX", server.url())
        .env("DEVENV_OFFLINE", "1")
        .args(["info", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("packages/hello.json` is not in the index cache"),
        "{err}"
    );
    assert!(err.contains("unset DEVENV_OFFLINE"), "{err}");
}

#[test]
fn index_comes_from_flag_then_env_then_user_config() {
    let t = TestContext::new();
    let idx = with_index(&t);
    let other = t.root().join("other-index");
    std::fs::create_dir_all(other.join("packages")).unwrap();
    std::fs::write(other.join("index.json"), r#"{"format": 1, "id": "other"}"#).unwrap();
    std::fs::write(other.join("names.jsonl"), "").unwrap();

    let cfg = t.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({ "index": idx.to_str().unwrap() }).to_string(),
    )
    .unwrap();
    // Config only: the fixture index answers.
    assert!(t.ok(&["info", "jq", "--json"]).contains("\"jq\""));
    // DEVENV_INDEX beats the config file.
    let out = run(&t, other.to_str().unwrap(), &["info", "jq"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the index `other`"));
    // --index beats DEVENV_INDEX.
    let out = run(
        &t,
        other.to_str().unwrap(),
        &["--index", idx.to_str().unwrap(), "info", "jq"],
    );
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn last_modified_alone_is_enough_to_revalidate() {
    let t = TestContext::new();
    let idx = with_index(&t);
    const STAMP: &str = "Mon, 01 Jan 2024 00:00:00 GMT";
    let server = FnServer::start(move |seen| {
        let path = seen.url.trim_start_matches('/');
        let Ok(body) = std::fs::read(idx.join(path)) else {
            return (404, vec![], vec![]);
        };
        if seen.if_modified_since.as_deref() == Some(STAMP) {
            return (304, vec![], vec![]);
        }
        (200, vec![("Last-Modified".into(), STAMP.into())], body)
    });
    let (first, _) = ok(&t, &server.url, &["info", "hello", "--json"]);
    let (second, _) = ok(&t, &server.url, &["info", "hello", "--json"]);
    assert_eq!(first, second);
    let seen = server.seen();
    let hello: Vec<_> = seen
        .iter()
        .filter(|s| s.url == "/packages/hello.json")
        .collect();
    assert_eq!(hello.len(), 2, "{seen:?}");
    assert_eq!(hello[0].if_modified_since, None);
    assert_eq!(hello[1].if_modified_since.as_deref(), Some(STAMP));
    assert_eq!(hello[1].if_none_match, None);
}
