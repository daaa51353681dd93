//! SPDX 2.3 JSON: one package per store path (`SPDXRef-<hash part>`), the document describing
//! the top-level packages, and `DEPENDS_ON` relationships from the store's references. The NAR
//! hash is the package checksum; nixpkgs revision and attribute go in `sourceInfo`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{content_uuid, spdx_id_like};
use crate::supply::closure::{parse_name, store_name, Closure, Root};

/// `SPDXRef-<hash part>`: store path hashes are unique and use only allowed characters.
fn spdx_ref(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let hash = base.split('-').next().unwrap_or(base);
    format!("SPDXRef-{hash}")
}

pub fn document(closure: &Closure, subject: &str) -> Value {
    let mut roots: BTreeMap<String, &Root> = BTreeMap::new();
    for r in &closure.roots {
        roots.entry(r.path.to_absolute()).or_insert(r);
    }
    let packages: Vec<Value> = closure
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
            let mut p = Map::new();
            p.insert("SPDXID".into(), json!(spdx_ref(path)));
            p.insert("name".into(), json!(name));
            if !version.is_empty() {
                p.insert("versionInfo".into(), json!(version));
            }
            p.insert("packageFileName".into(), json!(path));
            p.insert("downloadLocation".into(), json!("NOASSERTION"));
            p.insert("filesAnalyzed".into(), json!(false));
            p.insert(
                "checksums".into(),
                json!([{ "algorithm": "SHA256", "checksumValue": facts.nar_hash.to_hex() }]),
            );
            let declared = root
                .map(|r| declared_license(&r.license))
                .unwrap_or_else(|| "NOASSERTION".to_string());
            p.insert("licenseConcluded".into(), json!("NOASSERTION"));
            p.insert("licenseDeclared".into(), json!(declared));
            p.insert("copyrightText".into(), json!("NOASSERTION"));
            if let Some(r) = root {
                if let Some(home) = &r.homepage {
                    p.insert("homepage".into(), json!(home));
                }
                let mut source = format!("{} output of {}", r.output, r.resolved);
                if let (Some(rev), Some(attr)) = (&r.rev, &r.attr) {
                    source = format!(
                        "{} output of nixpkgs attribute {attr} at revision {rev} ({})",
                        r.output, r.resolved
                    );
                }
                p.insert("sourceInfo".into(), json!(source));
                p.insert("primaryPackagePurpose".into(), json!("APPLICATION"));
            } else {
                p.insert("primaryPackagePurpose".into(), json!("LIBRARY"));
            }
            p.insert(
                "comment".into(),
                json!(format!(
                    "Nix store path {path}; checksum is the SHA-256 of its NAR ({} bytes)",
                    facts.nar_size
                )),
            );
            Value::Object(p)
        })
        .collect();
    let mut relationships = Vec::new();
    for path in roots.keys() {
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": spdx_ref(path),
        }));
    }
    for (path, facts) in &closure.paths {
        for r in &facts.references {
            relationships.push(json!({
                "spdxElementId": spdx_ref(path),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": spdx_ref(r),
            }));
        }
    }
    let uuid = content_uuid(closure, subject, "spdx");
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{subject} ({})", closure.system),
        "documentNamespace": format!("urn:uuid:{uuid}"),
        "creationInfo": {
            "created": closure.timestamp(),
            "creators": [format!("Tool: devenv-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    })
}

/// The declared licence: identifiers joined with `AND`, `NOASSERTION` when unknown or not
/// identifiers.
fn declared_license(license: &[String]) -> String {
    if license.is_empty() || !license.iter().all(|l| spdx_id_like(l)) {
        return "NOASSERTION".to_string();
    }
    license.join(" AND ")
}
