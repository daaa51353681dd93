//! Every `format` the JSON Schemas use (devenv's own in `schemas/` and the vendored SBOM schemas
//! in `tests/fixtures/schemas/`) is really asserted by the validator the tests run. The reference
//! implementation checks some formats only when an optional library is installed and accepts any
//! value otherwise; a missing checker must fail here instead of silently weakening every test
//! that relies on the format.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::json_schema::Schema;

/// Each format: values that must validate, values that must be rejected.
const FORMATS: &[(&str, &[&str], &[&str])] = &[
    (
        "date-time",
        &[
            "2024-06-01T12:30:00Z",
            "2024-06-01T12:30:00.25+02:00",
            "2024-02-29T00:00:00-05:30",
        ],
        &[
            "yesterday",
            "2024-06-01",
            "2024-06-01 12:30:00Z",
            "2023-02-29T00:00:00Z",
            "2024-06-01T24:00:00Z",
            "2024-06-01T12:30:00",
        ],
    ),
    (
        "iri-reference",
        &[
            "https://example.org/caf\u{e9}",
            "../relative#fragment",
            "pkg:nix/jq@1.7.1",
        ],
        &["http://exa mple.org/", "https://example.org/<x>"],
    ),
    (
        "uri",
        &["https://example.org/x", "urn:uuid:0"],
        &["/only/a/path", "not a uri"],
    ),
    (
        "idn-email",
        &["me@example.org", "\u{e9}@example.org"],
        &["nobody"],
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["schemas", "tests/fixtures/schemas"] {
        let mut stack = vec![root().join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "json") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files
}

/// The string values of every `format` keyword in `schema`.
fn formats_in(schema: &Value, out: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::String(name) if key == "format" => {
                        out.insert(name.clone());
                    }
                    _ => formats_in(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| formats_in(v, out)),
        _ => {}
    }
}

#[test]
fn every_format_the_schemas_use_is_asserted_in_each_dialect_they_use() {
    let mut used = BTreeSet::new();
    let mut dialects = BTreeSet::new();
    for file in schema_files() {
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        formats_in(&schema, &mut used);
        dialects.insert(schema["$schema"].as_str().expect("a $schema").to_string());
    }
    let known: BTreeSet<String> = FORMATS.iter().map(|(f, _, _)| f.to_string()).collect();
    assert!(
        used.is_subset(&known),
        "a schema uses a format this test has no bad value for: {:?}",
        used.difference(&known).collect::<Vec<_>>()
    );
    assert!(
        used.contains("date-time"),
        "the lock schema's format is gone"
    );
    assert!(dialects.len() >= 2, "{dialects:?}");

    let dir = tempfile::tempdir().unwrap();
    for (i, dialect) in dialects.iter().enumerate() {
        let properties: serde_json::Map<String, Value> = FORMATS
            .iter()
            .map(|(f, _, _)| (f.to_string(), json!({ "type": "string", "format": f })))
            .collect();
        let path = dir.path().join(format!("formats-{i}.json"));
        let schema = json!({ "$schema": dialect, "properties": properties });
        std::fs::write(&path, schema.to_string()).unwrap();
        let schema = Schema::load(&path, &[]);
        let mut checks = schema.checks();
        for (format, good, bad) in FORMATS {
            for value in *good {
                checks.valid(
                    format!("{format} {value:?} ({dialect})"),
                    json!({ *format: value }),
                );
            }
            for value in *bad {
                checks.invalid(
                    format!("{format} {value:?} ({dialect})"),
                    json!({ *format: value }),
                );
            }
        }
        checks.run();
    }
}

#[test]
fn the_real_schemas_reject_bad_formatted_values() {
    let lock: Value = serde_json::from_str(
        r#"{"lockfile_version": "1", "packages": {"jq@latest": {
            "last_modified": "2024-06-01T00:00:00Z",
            "resolved": "github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567#jq",
            "source": "file:///srv/index",
            "systems": {"x86_64-linux": {"outputs": [
                {"name": "out", "path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-jq-1.7.1", "default": true}
            ]}},
            "version": "1.7.1"}}}"#,
    )
    .unwrap();
    let mut bad_lock = lock.clone();
    bad_lock["packages"]["jq@latest"]["last_modified"] = json!("2024-06-01");
    Schema::devenv("devenv.lock.schema.json")
        .checks()
        .valid("a lock", lock)
        .invalid("a lock with a date for last_modified", bad_lock)
        .run();

    let dir = root().join("tests/fixtures/schemas/cyclonedx-1.6");
    let cyclonedx = Schema::load(
        dir.join("bom-1.6.schema.json"),
        &[
            (
                "http://cyclonedx.org/schema/spdx.schema.json",
                &dir.join("spdx.schema.json"),
            ),
            (
                "http://cyclonedx.org/schema/jsf-0.82.schema.json",
                &dir.join("jsf-0.82.schema.json"),
            ),
        ],
    );
    let bom = |timestamp: &str, url: &str| {
        json!({
            "bomFormat": "CycloneDX", "specVersion": "1.6",
            "metadata": { "timestamp": timestamp },
            "components": [{ "type": "application", "name": "jq",
                "licenses": [{ "license": { "id": "MIT" } }],
                "externalReferences": [{ "type": "website", "url": url }] }]
        })
    };
    cyclonedx
        .checks()
        .valid("a BOM", bom("2024-06-01T00:00:00Z", "https://jqlang.org/"))
        .invalid(
            "a BOM with a bad timestamp",
            bom("2024-06-01", "https://jqlang.org/"),
        )
        .invalid(
            "a BOM with a bad URL",
            bom("2024-06-01T00:00:00Z", "https://jq lang.org/"),
        )
        .run();
}
