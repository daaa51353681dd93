//! The Nixhub client against recorded answers of the service (tests/fixtures/nixhub/): a version
//! the search lists but `/v2/resolve` does not know, an answer without `outputs`, and versions
//! without a date.

use std::path::Path;

use crate::common::index::{query, Answer, FnServer, IndexWorld, Seen};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/nixhub")
            .join(name),
    )
    .unwrap()
}

/// The service as recorded: `/v2/resolve` knows python 3.11.14 only (answered with `resolve`),
/// `/v1/search` lists 3.11.15 too.
fn service(resolve: &'static str) -> impl Fn(&Seen) -> Answer + Send {
    move |seen: &Seen| {
        let json = |body: Vec<u8>| {
            let headers = vec![("Content-Type".into(), "application/json".into())];
            (200, headers, body)
        };
        let q = query(&seen.url);
        match seen.url.split('?').next().unwrap() {
            "/v1/search" if "python".starts_with(q["q"].as_str()) => {
                json(fixture("v1-search-python.json"))
            }
            "/v1/search" => json(br#"{"num_results": 0, "packages": []}"#.to_vec()),
            "/v2/resolve" if q["name"] == "python" && q["version"] == "3.11.14" => {
                json(fixture(resolve))
            }
            _ => (404, vec![], b"version not found".to_vec()),
        }
    }
}

fn world(server: &FnServer) -> IndexWorld {
    let mut w = IndexWorld::new();
    w.index_url = format!("nixhub+{}", server.url);
    w.ok(&["init"]);
    w
}

const OUT: &str = "/nix/store/00x3abm7y8j13i6n4sahvbar99irkc7d-python3-3.11.14";

/// The newest matching version is a 404 from `/v2/resolve`: the next one is resolved, and the
/// user is told (it once said "no version matches").
#[test]
fn a_version_resolve_does_not_know_makes_way_for_the_next() {
    let server = FnServer::start(service("v2-resolve-python-3.11.14.json"));
    let w = world(&server);
    let (_, err) = w.ok(&[
        "add",
        "python@^3.11",
        "--no-install",
        "--system",
        "x86_64-linux",
    ]);
    let lock = w.lock();
    let entry = &lock["packages"]["python@^3.11"];
    assert_eq!(entry["version"], "3.11.14");
    assert_eq!(
        entry["resolved"],
        "github:NixOS/nixpkgs/ee09932cedcef15aaf476f9343d1dea2cb77e261#python311"
    );
    assert_eq!(entry["systems"]["x86_64-linux"]["outputs"][0]["path"], OUT);
    let urls: Vec<String> = server.seen().into_iter().map(|s| s.url).collect();
    assert!(
        urls.contains(&"/v2/resolve?name=python&version=3.11.15".to_string()),
        "{urls:?}"
    );
    let text = format!("$ devenv add python@^3.11\n{err}");
    crate::snapshots::settings(&w.t)
        .assert_snapshot("nixhub__a_version_resolve_does_not_know", &text);
}

/// An answer without `outputs` (older packages): the store path the search data records for the
/// same revision is used (it was refused as "no build in the index"), and the user is told.
#[test]
fn an_answer_without_outputs_falls_back_to_the_search_data() {
    let server = FnServer::start(service("v2-resolve-python-3.11.14-without-outputs.json"));
    let w = world(&server);
    let (_, err) = w.ok(&[
        "add",
        "python@3.11.14",
        "--no-install",
        "--system",
        "x86_64-linux",
    ]);
    let lock = w.lock();
    let outputs = &lock["packages"]["python@3.11.14"]["systems"]["x86_64-linux"]["outputs"];
    assert_eq!(
        outputs,
        &serde_json::json!([{"name": "out", "path": OUT, "default": true}])
    );
    assert!(
        err.contains(
            "has no `outputs` on x86_64-linux; using the store path its search data records"
        ),
        "{err}"
    );
}

/// A version without a date prints `-` (it printed 1970-01-01).
#[test]
fn versions_without_a_date_print_a_dash() {
    let server = FnServer::start(service("v2-resolve-python-3.11.14.json"));
    let w = world(&server);
    let (out, _) = w.ok(&["info", "python"]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("3.11.")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("3.11.15  -  111111111111  "), "{out}");
    assert!(
        lines[1].starts_with("3.11.14  2025-11-23  ee09932cedce  python311"),
        "{out}"
    );
    assert!(!out.contains("1970"), "{out}");
    // The plugin a Devbox project gets with it.
    assert!(out.ends_with("\nDevbox plugin: python\n"), "{out}");
}
