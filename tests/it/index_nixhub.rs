//! The Nixhub-compatible API client against a loopback server that answers `/v2/resolve` and
//! `/v1/search` in the service's JSON shapes, built from the fixture packages.

use serde_json::{json, Value};

use crate::common::index::{fixture_packages, query, Answer, FnServer, IndexWorld, Seen};

/// Versions newest first by numeric components (enough for the fixture's dotted versions).
fn newest_first(versions: &mut [Value]) {
    let key = |v: &Value| -> Vec<u64> {
        v["version"]
            .as_str()
            .unwrap()
            .split('.')
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    versions.sort_by_key(|v| std::cmp::Reverse(key(v)));
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// The service's answers. Like the real one, a version is matched exactly or as a plain
/// *string* prefix (so `2.16` can come back as `2.160.0`; the client must not accept that).
fn nixhub(seen: &Seen) -> Answer {
    let path = seen.url.split('?').next().unwrap();
    let q = query(&seen.url);
    let packages = fixture_packages();
    let json_answer = |v: Value| {
        (
            200,
            vec![("Content-Type".into(), "application/json".into())],
            serde_json::to_vec(&v).unwrap(),
        )
    };
    match path {
        "/v2/resolve" => {
            let Some((name, summary, mut versions)) =
                packages.into_iter().find(|p| p.0 == q["name"])
            else {
                return (404, vec![], b"package not found".to_vec());
            };
            newest_first(&mut versions);
            let wanted = &q["version"];
            let hit = versions.iter().find(|v| {
                let s = v["version"].as_str().unwrap();
                wanted == "latest" || s == wanted || s.starts_with(wanted.as_str())
            });
            let Some(v) = hit else {
                return (404, vec![], b"version not found".to_vec());
            };
            let mut systems = serde_json::Map::new();
            for (sys, outs) in v["systems"].as_object().unwrap() {
                systems.insert(
                    sys.clone(),
                    json!({
                        "flake_installable": {
                            "ref": {"type": "github", "owner": "NixOS", "repo": "nixpkgs", "rev": v["rev"]},
                            "attr_path": v["attr_path"],
                        },
                        "last_updated": v["last_modified"],
                        "outputs": outs["outputs"],
                    }),
                );
            }
            json_answer(json!({
                "name": name, "version": v["version"], "summary": summary, "systems": systems,
            }))
        }
        "/v1/search" => {
            let term = &q["q"];
            let hits: Vec<Value> = packages
                .into_iter()
                .filter(|p| p.0.contains(term.as_str()))
                .map(|(name, summary, mut versions)| {
                    newest_first(&mut versions);
                    let vs: Vec<Value> = versions
                        .iter()
                        .map(|v| {
                            let mut systems = serde_json::Map::new();
                            for (sys, outs) in v["systems"].as_object().unwrap() {
                                let out = outs["outputs"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .find(|o| o["name"] == "out")
                                    .unwrap_or(&outs["outputs"][0]);
                                let base = out["path"].as_str().unwrap();
                                let file = base.trim_start_matches("/nix/store/");
                                let (hash, _) = file.split_once('-').unwrap();
                                systems.insert(sys.clone(), json!({
                                    "id": 0, "system": sys, "commit_hash": v["rev"],
                                    "last_updated": unix(v["last_modified"].as_str().unwrap()),
                                    "version": v["version"], "attr_paths": [v["attr_path"]],
                                    "store_hash": hash, "store_name": name, "store_version": v["version"],
                                }));
                            }
                            json!({
                                "name": name, "version": v["version"], "summary": summary,
                                "commit_hash": v["rev"],
                                "last_updated": unix(v["last_modified"].as_str().unwrap()),
                                "systems": systems,
                            })
                        })
                        .collect();
                    json!({"name": name, "num_versions": vs.len(), "versions": vs})
                })
                .collect();
            json_answer(json!({"num_results": hits.len(), "packages": hits}))
        }
        _ => (404, vec![], b"not found".to_vec()),
    }
}

fn world(server: &FnServer, prefix: &str) -> IndexWorld {
    let mut w = IndexWorld::new();
    w.index_url = format!("{prefix}{}", server.url);
    w.ok(&["init"]);
    w
}

#[test]
fn resolve_uses_v2_with_outputs_for_every_system() {
    let server = FnServer::start(nixhub);
    let w = world(&server, "nixhub+");
    w.ok(&["add", "jq@1.7", "--no-install"]);
    let lock = w.lock();
    let e = &lock["packages"]["jq@1.7"];
    assert_eq!(e["version"], "1.7.1");
    assert_eq!(e["source"], server.url);
    assert_eq!(
        e["resolved"],
        format!(
            "github:NixOS/nixpkgs/{}#jq",
            crate::common::index::rev("jq-1.7.1")
        )
    );
    assert_eq!(e["systems"].as_object().unwrap().len(), 4);
    let outs = e["systems"]["aarch64-linux"]["outputs"].as_array().unwrap();
    assert_eq!(outs.len(), 4, "{outs:?}");
    let urls: Vec<String> = server.seen().into_iter().map(|s| s.url).collect();
    assert_eq!(urls, vec!["/v2/resolve?name=jq&version=1.7"]);
}

#[test]
fn a_plain_http_url_without_index_json_is_detected_as_nixhub() {
    let server = FnServer::start(nixhub);
    let w = world(&server, "");
    w.ok(&["add", "hello@2.12.1", "--no-install"]);
    assert_eq!(w.lock()["packages"]["hello@2.12.1"]["version"], "2.12.1");
    let urls: Vec<String> = server.seen().into_iter().map(|s| s.url).collect();
    assert_eq!(urls[0], "/index.json");
    assert!(urls.contains(&"/v2/resolve?name=hello&version=2.12.1".to_string()));
}

#[test]
fn ranges_and_rejected_prefix_answers_go_through_the_version_list() {
    let server = FnServer::start(nixhub);
    let w = world(&server, "nixhub+");
    // The service reads `2.16` as a string prefix and answers 2.160.0; devenv must not take it.
    w.ok(&["add", "ansible@2.16", "--no-install"]);
    assert_eq!(w.lock()["packages"]["ansible@2.16"]["version"], "2.16.10");
    let urls: Vec<String> = server.seen().into_iter().map(|s| s.url).collect();
    assert_eq!(
        urls,
        vec![
            "/v2/resolve?name=ansible&version=2.16",
            "/v1/search?q=ansible",
            "/v2/resolve?name=ansible&version=2.16.10",
        ]
    );

    w.ok(&["add", "ansible@>=2.15 <2.16", "--no-install"]);
    let lock = w.lock();
    assert_eq!(
        lock["packages"]["ansible@>=2.15 <2.16"]["version"],
        "2.15.0"
    );
    let urls: Vec<String> = server.seen().into_iter().map(|s| s.url).collect();
    assert!(
        !urls.iter().any(|u| u.contains("version=%3E")),
        "ranges are never sent to the service: {urls:?}"
    );
}

#[test]
fn search_and_info_use_v1_search() {
    let server = FnServer::start(nixhub);
    let w = world(&server, "nixhub+");
    let (out, _) = w.ok(&["search", "ansible", "--json"]);
    let hits: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(hits[0]["name"], "ansible");
    assert_eq!(hits[0]["latest"], "2.160.0");
    assert_eq!(hits[1]["name"], "ansible-lint");

    let (out, _) = w.ok(&["info", "ansible@2.16", "--json"]);
    let info: Value = serde_json::from_str(&out).unwrap();
    let versions: Vec<&str> = info["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, vec!["2.16.10", "2.16.5"]);
    assert_eq!(info["versions"][1]["last_modified"], "2024-04-01T00:00:00Z");
    assert_eq!(
        info["versions"][1]["rev"],
        crate::common::index::rev("ansible-2.16.5")
    );
}

#[test]
fn unknown_names_and_versions_are_bad_input() {
    let server = FnServer::start(nixhub);
    let w = world(&server, "nixhub+");
    let before = w.t.read("devenv.json");
    let err = w.fails(&["add", "ansibl", "--no-install"], 2);
    assert!(
        err.contains("package `ansibl` is not in the index"),
        "{err}"
    );
    assert!(err.contains("did you mean ansible"), "{err}");
    let err = w.fails(&["add", "jq@9", "--no-install"], 2);
    assert!(err.contains("no version of `jq` matches `9`"), "{err}");
    assert!(err.contains("available versions: 1.7.1, 1.6"), "{err}");
    assert_eq!(w.t.read("devenv.json"), before);
    assert!(!w.t.project.join("devenv.lock").exists());
}

/// The service, with the JSON answers for `path` changed by `edit`.
fn tampered(path: &'static str, edit: fn(&mut Value)) -> impl Fn(&Seen) -> Answer + Send {
    move |seen| {
        let (status, headers, body) = nixhub(seen);
        if status != 200 || !seen.url.starts_with(path) {
            return (status, headers, body);
        }
        let mut v: Value = serde_json::from_slice(&body).unwrap();
        edit(&mut v);
        (status, headers, serde_json::to_vec(&v).unwrap())
    }
}

#[test]
fn answers_that_break_the_lock_rules_are_refused_and_nothing_is_written() {
    type Edit = fn(&mut Value);
    let cases: [(Edit, &str); 6] = [
        (
            |v| v["systems"]["x86_64-linux"]["outputs"][0]["path"] = "/etc/passwd".into(),
            "`systems.x86_64-linux.outputs[0].path` is not a store path: store path `/etc/passwd`",
        ),
        (
            |v| {
                v["systems"]["aarch64-linux"]["outputs"][1]["path"] =
                    "/nix/store/../../etc/passwd".into()
            },
            "`systems.aarch64-linux.outputs[1].path` is not a store path",
        ),
        (
            |v| {
                v["systems"]["x86_64-linux"]["flake_installable"]["ref"]["rev"] =
                    "main; touch x".into()
            },
            "`rev` is `main; touch x`, not a 40-character",
        ),
        (
            |v| v["systems"]["x86_64-linux"]["last_updated"] = "not a date".into(),
            "`last_modified` is not an RFC 3339 date: `not a date`",
        ),
        (
            |v| v["version"] = "1.7.1\nerror: all is well".into(),
            "`version` is `1.7.1\\nerror: all is well`",
        ),
        (
            |v| v["version"] = "1.7.1\u{1b}[31m".into(),
            "`version` is `1.7.1\\e[31m`",
        ),
    ];
    for (edit, needle) in cases {
        let server = FnServer::start(tampered("/v2/resolve", edit));
        let w = world(&server, "nixhub+");
        let before = w.t.read("devenv.json");
        let err = w.fails(&["add", "jq@1.7", "--no-install"], 1);
        assert!(
            err.contains(&format!(
                "the index `{}` gave an unusable answer for `jq`",
                server.url
            )),
            "{err}"
        );
        assert!(err.contains(needle), "{needle:?} not in:\n{err}");
        assert!(
            !err.chars().any(|c| c.is_control() && c != '\n') && !err.contains("\nerror: all"),
            "{err:?}"
        );
        assert_eq!(w.t.read("devenv.json"), before);
        assert!(!w.t.project.join("devenv.lock").exists());
    }
}

#[test]
fn info_shows_answers_escaped_and_leaves_bad_versions_out() {
    let server = FnServer::start(tampered("/v1/search", |v| {
        let versions = &mut v["packages"][0]["versions"];
        versions[0]["summary"] = "JSON\u{1b}[2J\u{1b}]0;owned\u{7}".into();
        versions[1]["version"] = "1.6\u{1b}[31m".into();
    }));
    let w = world(&server, "nixhub+");
    let (out, err) = w.ok(&["info", "jq"]);
    for text in [&out, &err] {
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }
    assert!(out.contains("jq: JSON\\e[2J\\e]0;owned\\u{7}"), "{out}");
    assert!(out.contains("1.7.1") && !out.contains("1.6"), "{out}");
    assert!(
        err.contains("has an unusable entry for `jq` (`version` is `1.6\\e[31m`"),
        "{err}"
    );
}

#[test]
fn an_answer_nested_thirty_thousand_deep_is_a_clear_error() {
    let server = FnServer::start(|seen| {
        let deep = "[".repeat(30_000) + &"]".repeat(30_000);
        match seen.url.starts_with("/v2/resolve") {
            true => (200, vec![], deep.into_bytes()),
            false => nixhub(seen),
        }
    });
    let w = world(&server, "nixhub+");
    let err = w.fails(&["add", "jq@1.7", "--no-install"], 1);
    assert!(
        err.contains(
            "/v2/resolve?name=jq&version=1.7:1:65: the document nests deeper than 64 levels"
        ),
        "{err}"
    );
    assert!(!w.t.project.join("devenv.lock").exists());
}
