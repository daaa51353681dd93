//! Bad input for sharded index builds and `index merge`: a `--shard` that is not K/N with
//! 1 <= K <= N, a directory that is not an index, a sharded build given without all its shards,
//! and two indexes that disagree about one evaluation. Each names the value or both directories.

use super::cases::project;
use super::{Case, Run, Setup};

const INDEX_JSON: &str = "{\n  \"format\": 1,\n  \"revisions\": [],\n  \"systems\": []\n}\n";

/// A package file with one version of revision `a…a`, whose output is `path`.
fn package(path: &str) -> String {
    serde_json::json!({
        "name": "hello",
        "summary": "",
        "homepage": "",
        "license": [],
        "versions": [{
            "version": "2.12.1",
            "attr_path": "hello",
            "rev": "a".repeat(40),
            "last_modified": "2024-01-01T00:00:00Z",
            "systems": {"x86_64-linux": {"outputs": [
                {"name": "out", "path": path, "default": true}
            ]}}
        }]
    })
    .to_string()
}

fn build_with_shard(shard: &'static str, needles: &[&'static str]) -> Run {
    let args = [
        "index",
        "build",
        "--nixpkgs",
        "nixpkgs",
        "--out",
        "idx",
        "--rev",
        "HEAD",
        "--shard",
    ];
    let mut args = args.to_vec();
    args.push(shard);
    Run::new(&args, 2, needles)
}

pub fn sharding_cases() -> Vec<Case> {
    let plain = || Setup {
        w: project(),
        server: None,
    };
    vec![
        Case {
            name: "index_shard_not_k_of_n",
            setup: Box::new(plain),
            runs: vec![
                build_with_shard("0/2", &["`0/2`", "counted from 1"]),
                build_with_shard("3/2", &["`3/2`", "K is larger than N"]),
                build_with_shard("two/4", &["`two/4`", "whole numbers"]),
                build_with_shard("2", &["`2`", "no `/`"]),
            ],
        },
        Case {
            name: "index_merge_of_a_directory_that_is_no_index",
            setup: Box::new(plain),
            runs: vec![Run::new(
                &["index", "merge", "nowhere", "--out", "merged"],
                2,
                &["nowhere is not an index"],
            )],
        },
        Case {
            name: "index_merge_without_every_shard",
            setup: Box::new(|| {
                let w = project();
                let shard =
                    INDEX_JSON.replace("\"format\": 1,", "\"format\": 1,\n  \"shard\": \"1/3\",");
                w.t.write("s1/index.json", &shard);
                Setup { w, server: None }
            }),
            runs: vec![Run::new(
                &["index", "merge", "s1", "--out", "merged"],
                2,
                &["shard 2/3 is missing", "s1"],
            )],
        },
        Case {
            name: "index_merge_of_indexes_that_disagree",
            setup: Box::new(|| {
                let w = project();
                for (dir, path) in [
                    (
                        "one",
                        "/nix/store/00000000000000000000000000000000-hello-2.12.1",
                    ),
                    (
                        "two",
                        "/nix/store/11111111111111111111111111111111-hello-2.12.1",
                    ),
                ] {
                    w.t.write(&format!("{dir}/index.json"), INDEX_JSON);
                    w.t.write(&format!("{dir}/packages/hello.json"), &package(path));
                }
                Setup { w, server: None }
            }),
            runs: vec![Run::new(
                &["index", "merge", "one", "two", "--out", "merged"],
                2,
                &[
                    "hello 2.12.1",
                    "00000000000000000000000000000000-hello-2.12.1 in one",
                    "11111111111111111111111111111111-hello-2.12.1 in two",
                ],
            )],
        },
    ]
}
