//! CycloneDX 1.6 JSON: one component per store path (`bom-ref` = the store path), the environment
//! as the metadata component depending on the top-level packages, and each path depending on its
//! references.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::{content_uuid, spdx_id_like};
use crate::supply::closure::{parse_name, store_name, Closure, Root};

/// The `bom-ref` of the environment itself.
const ENVIRONMENT_REF: &str = "environment";

pub fn document(closure: &Closure, subject: &str) -> Value {
    let mut roots: BTreeMap<String, &Root> = BTreeMap::new();
    for r in &closure.roots {
        roots.entry(r.path.to_absolute()).or_insert(r);
    }
    let components: Vec<Value> = closure
        .paths
        .iter()
        .map(|(path, facts)| {
            let root = roots.get(path).copied();
            let (name, version) = match root {
                Some(r) => (r.name.clone(), r.version.clone()),
                None => {
                    let (n, v) = parse_name(store_name(path));
                    (n.to_string(), v.to_string())
                }
            };
            let mut c = Map::new();
            c.insert(
                "type".into(),
                json!(if root.is_some() {
                    "application"
                } else {
                    "library"
                }),
            );
            c.insert("bom-ref".into(), json!(path));
            c.insert("name".into(), json!(name));
            if !version.is_empty() {
                c.insert("version".into(), json!(version));
            }
            c.insert(
                "hashes".into(),
                json!([{ "alg": "SHA-256", "content": facts.nar_hash.to_hex() }]),
            );
            if let Some(r) = root {
                if let Some(licenses) = licenses(&r.license) {
                    c.insert("licenses".into(), licenses);
                }
                if let Some(home) = &r.homepage {
                    c.insert(
                        "externalReferences".into(),
                        json!([{ "type": "website", "url": home }]),
                    );
                }
            }
            let mut props = vec![
                json!({ "name": "nix:store_path", "value": path }),
                json!({ "name": "nix:nar_size", "value": facts.nar_size.to_string() }),
            ];
            if let Some(r) = root {
                props.push(json!({ "name": "nix:output", "value": r.output }));
                if let Some(rev) = &r.rev {
                    props.push(json!({ "name": "nixpkgs:revision", "value": rev }));
                }
                if let Some(attr) = &r.attr {
                    props.push(json!({ "name": "nixpkgs:attribute", "value": attr }));
                }
                props.push(json!({ "name": "nixpkgs:resolved", "value": r.resolved }));
            }
            c.insert("properties".into(), Value::Array(props));
            Value::Object(c)
        })
        .collect();
    let top: BTreeSet<String> = roots.keys().cloned().collect();
    let mut dependencies = vec![json!({ "ref": ENVIRONMENT_REF, "dependsOn": top })];
    for (path, facts) in &closure.paths {
        dependencies.push(json!({ "ref": path, "dependsOn": facts.references }));
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", content_uuid(closure, subject, "cyclonedx")),
        "version": 1,
        "metadata": {
            "timestamp": closure.timestamp(),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "devenv",
                    "version": env!("CARGO_PKG_VERSION"),
                }]
            },
            "component": {
                "type": "application",
                "bom-ref": ENVIRONMENT_REF,
                "name": subject,
                "properties": [{ "name": "nix:system", "value": closure.system }],
            },
        },
        "components": components,
        "dependencies": dependencies,
    })
}

/// One SPDX expression when every licence reads as an identifier, else each by name.
fn licenses(license: &[String]) -> Option<Value> {
    if license.is_empty() {
        return None;
    }
    if license.iter().all(|l| spdx_id_like(l)) {
        return Some(json!([{ "expression": license.join(" AND ") }]));
    }
    Some(Value::Array(
        license
            .iter()
            .map(|l| json!({ "license": { "name": l } }))
            .collect(),
    ))
}
