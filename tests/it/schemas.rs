//! The JSON Schemas in `schemas/` agree with the docs and with what devenv writes: every example
//! in `docs/manifest.md` and `docs/lock.md` validates (and parses with devenv itself), files
//! written by devenv validate, and inputs devenv rejects are rejected by the schemas too. The
//! validator is the reference implementation, run through [`crate::common::json_schema`].

use std::path::Path;

use devenv::lock::{self, LockedPackage, LockedSystem, Lockfile, Output};
use devenv::manifest::{self, edit, Dialect, PackageSpec};
use serde_json::Value;

use crate::common::json_schema::Schema;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// JSONC text (comments, trailing commas) as a JSON value.
fn jsonc(text: &str) -> Value {
    jsonc_parser::parse_to_serde_value(text, &Default::default())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .expect("a value")
}

/// The ```json and ```jsonc blocks of a markdown file.
fn json_blocks(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs").join(doc)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == "```json" || line.trim() == "```jsonc" => {
                current = Some(String::new())
            }
            Some(_) if line.trim() == "```" => blocks.push(current.take().unwrap()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unclosed code block in {doc}");
    blocks
}

#[test]
fn manifest_doc_examples_validate_and_parse() {
    let blocks = json_blocks("manifest.md");
    assert!(blocks.len() >= 3, "docs/manifest.md lost its examples");
    let schema = Schema::devenv("devenv.schema.json");
    let mut checks = schema.checks();
    for block in &blocks {
        checks.valid("an example in docs/manifest.md", jsonc(block));
        let (_, warnings) = manifest::parse(block, "docs/manifest.md", Dialect::Devenv)
            .unwrap_or_else(|e| panic!("{e:#}\n{block}"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
    checks.run();
}

#[test]
fn manifests_shown_in_other_docs_validate() {
    // Any page may show a manifest; those with a top-level `packages` key are manifests.
    let schema = Schema::devenv("devenv.schema.json");
    let mut checks = schema.checks();
    let mut seen = 0;
    for doc in [
        "getting-started.md",
        "shell.md",
        "store.md",
        "security.md",
        "index.md",
    ] {
        for block in json_blocks(doc) {
            let value = jsonc(&block);
            if value.get("packages").is_none() || value.get("lockfile_version").is_some() {
                continue;
            }
            seen += 1;
            checks.valid(format!("a manifest in docs/{doc}"), value);
            manifest::parse(&block, doc, Dialect::Devenv)
                .unwrap_or_else(|e| panic!("{e:#}\n{block}"));
        }
    }
    assert!(seen >= 2, "getting-started.md lost its manifest examples");
    checks.run();
}

#[test]
fn lock_doc_examples_validate_and_are_canonical() {
    let blocks = json_blocks("lock.md");
    assert!(!blocks.is_empty(), "docs/lock.md lost its example");
    let schema = Schema::devenv("devenv.lock.schema.json");
    let mut checks = schema.checks();
    for block in &blocks {
        checks.valid("an example in docs/lock.md", jsonc(block));
        let parsed = lock::parse(block, "docs/lock.md").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            &lock::render(&parsed),
            block,
            "the documented lock is not in canonical form"
        );
    }
    checks.run();
}

#[test]
fn manifests_devenv_writes_validate() {
    let schema = Schema::devenv("devenv.schema.json");
    let mut checks = schema.checks();
    let mut text = manifest::template();
    checks.valid("the init template", jsonc(&text));
    let mut rg = PackageSpec::new("ripgrep", "^14");
    rg.excluded_platforms = vec!["x86_64-darwin".into()];
    rg.outputs = vec!["out".into(), "man".into()];
    for spec in [
        PackageSpec::new("ansible", "2.16.5"),
        PackageSpec::new("python3", ">=3.11 <3.13"),
        rg,
        PackageSpec::new("jq", "latest"),
    ] {
        text = edit::add_package(&text, &spec).unwrap();
        checks.valid(
            format!("the manifest after adding {}", spec.name),
            jsonc(&text),
        );
    }
    text = edit::remove_package(&text, "ansible").unwrap().unwrap();
    checks.valid("the manifest after rm", jsonc(&text));

    let converted = manifest::devbox::convert(
        r#"{"name": "x", "packages": {"go": "", "nodejs": {"version": "20", "disable_plugin": true}},
            "env": {"A": "1"}, "shell": {"init_hook": "echo", "scripts": {"t": ["a", "b"]}}}"#,
    )
    .unwrap();
    checks.valid("a manifest converted from Devbox", jsonc(&converted.text));
    checks.run();
}

fn store_path(seed: char, name: &str) -> String {
    format!("/nix/store/{}-{name}", seed.to_string().repeat(32))
}

#[test]
fn locks_devenv_writes_validate() {
    let schema = Schema::devenv("devenv.lock.schema.json");
    let mut checks = schema.checks();
    let mut lock = Lockfile::new();
    checks.valid(
        "an empty lock",
        serde_json::from_str(&lock::render(&lock)).unwrap(),
    );
    for (i, (key, version)) in [
        ("ansible@2.16", "2.16.5"),
        ("jq@latest", "1.7.1"),
        ("python3@>=3.11 <3.13", "3.12.4"),
    ]
    .into_iter()
    .enumerate()
    {
        let seed = char::from(b'a' + i as u8);
        let systems = devenv::system::LOCK_SYSTEMS
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    LockedSystem {
                        outputs: vec![
                            Output {
                                name: "man".into(),
                                path: store_path(seed, &format!("{version}-man")),
                                default: false,
                            },
                            Output {
                                name: "out".into(),
                                path: store_path(seed, version),
                                default: true,
                            },
                        ],
                    },
                )
            })
            .collect();
        lock.packages.insert(
            key.to_string(),
            LockedPackage {
                last_modified: "2024-06-01T12:30:00Z".into(),
                resolved: format!(
                    "github:NixOS/nixpkgs/{}#{}",
                    &"0123456789abcdef".repeat(3)[..40],
                    key.split('@').next().unwrap()
                ),
                source: "file:///srv/index".into(),
                systems,
                version: version.into(),
            },
        );
    }
    let text = lock::render(&lock);
    checks.valid(
        "a lock devenv rendered",
        serde_json::from_str(&text).unwrap(),
    );
    checks.run();
}

#[test]
fn schemas_reject_what_devenv_rejects() {
    let manifest_schema = Schema::devenv("devenv.schema.json");
    let mut checks = manifest_schema.checks();
    for bad in [
        r#"{"packages": ["jq@"]}"#,
        r#"{"packages": ["@1.0"]}"#,
        r#"{"packages": ["my tool"]}"#,
        r#"{"packages": ["foo/bar"]}"#,
        r#"{"packages": 5}"#,
        r#"{"packages": {"jq": {"platforms": ["x86_64-linux"], "excluded_platforms": ["aarch64-linux"]}}}"#,
        r#"{"packages": {"jq": {"platforms": ["x86_64-windows"]}}}"#,
        r#"{"env": {"A": 1}}"#,
        r#"{"shell": {"scripts": {"s": []}}}"#,
    ] {
        checks.invalid(bad, serde_json::from_str(bad).unwrap());
        assert!(
            manifest::parse(bad, "devenv.json", Dialect::Devenv).is_err(),
            "devenv accepts {bad}"
        );
    }
    checks.run();
    let lock_schema = Schema::devenv("devenv.lock.schema.json");
    let mut checks = lock_schema.checks();
    for bad in [
        r#"{"lockfile_version": "2", "packages": {}}"#,
        r#"{"packages": {}}"#,
        r#"{"lockfile_version": "1", "packages": {"a@1": {"version": "1"}}}"#,
    ] {
        checks.invalid(bad, serde_json::from_str(bad).unwrap());
        assert!(
            lock::parse(bad, "devenv.lock").is_err(),
            "devenv accepts {bad}"
        );
    }
    checks.run();
}

#[test]
fn the_manifest_schema_refuses_exactly_the_env_names_and_values_devenv_refuses() {
    let manifest_schema = Schema::devenv("devenv.schema.json");
    let mut checks = manifest_schema.checks();
    let env = |name: &str, value: &str| serde_json::json!({ "env": { name: value } });
    let (names, prefixes) = devenv::shell::vars::reserved();
    let mut refused: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    refused.extend(prefixes.iter().map(|p| format!("{p}X")));
    refused.extend(["__DEVENV_DIFF", "__DeVeNv_x", "1A", "A-B"].map(String::from));
    refused.push("A".repeat(257));
    for name in &refused {
        assert!(
            devenv::shell::vars::check_name(name).is_err(),
            "devenv accepts `{name}`"
        );
        checks.invalid(format!("the name `{name}`"), env(name, "x"));
    }
    for name in [
        "FOO",
        "PATH",
        "http_proxy",
        "XDG_DATA_DIRS",
        "DEVENVX",
        "_DEVENV",
        "PS5",
    ] {
        assert!(devenv::shell::vars::check_name(name).is_ok(), "{name}");
        checks.valid(format!("the name `{name}`"), env(name, "x"));
    }
    // The schema's own list of names holds nothing devenv accepts.
    let text = std::fs::read_to_string(root().join("schemas/devenv.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let listed = schema["properties"]["env"]["propertyNames"]["not"]["anyOf"][1]["enum"]
        .as_array()
        .expect("the list of refused names");
    for name in listed {
        let name = name.as_str().unwrap();
        assert!(
            names.contains(&name),
            "the schema refuses `{name}`, devenv does not"
        );
    }
    for value in ["a\u{0}b".to_string(), "x".repeat(32 * 1024 + 1)] {
        checks.invalid(
            format!(
                "a value of {} bytes with NUL: {}",
                value.len(),
                value.contains('\0')
            ),
            env("FOO", &value),
        );
        assert!(devenv::shell::vars::check_value(&value).is_err());
    }
    checks.valid("a value of 32 KiB", env("FOO", &"x".repeat(32 * 1024)));
    checks.run();
}
