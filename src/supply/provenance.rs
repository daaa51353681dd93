//! SLSA provenance of an environment: an in-toto Statement v1 whose predicate is SLSA Provenance
//! v1, and optionally a DSSE envelope signing it with a binary cache's ed25519 key (the key
//! files `cache push` and `nix-store --generate-binary-cache-key` use).
//!
//! The subjects are the top-level store paths the lock names (digest: the SHA-256 of their NAR,
//! what Nix records and binary caches sign) and, when asked, an image archive. The resolved
//! dependencies are the nixpkgs revisions of the lock and every path of the runtime closure with
//! where its facts came from (the store, or a binary cache's URL) and which keys signed it, each
//! signature checked against the configured trusted keys. The statement holds nothing from the
//! clock: the same lock and store give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde_json::{json, Value};

use super::closure::{Closure, Origin};
use crate::nix::signature::{SecretKey, Signature, TrustedKeys};
use crate::nix::store_path::StorePath;

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What the statement describes: an environment realized from a devenv lock.
pub const BUILD_TYPE: &str = "urn:devenv:build-type:environment-from-lock:v1";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// An extra subject: a file (an image archive) and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSubject {
    pub name: String,
    pub sha256_hex: String,
}

/// The project files the environment comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub manifest_name: String,
    pub manifest_sha256_hex: String,
    pub lock_name: String,
    pub lock_sha256_hex: String,
}

/// The in-toto statement for `closure`.
pub fn statement(
    closure: &Closure,
    inputs: &Inputs,
    trusted: &TrustedKeys,
    files: &[FileSubject],
) -> Value {
    let mut subjects: BTreeMap<String, String> = BTreeMap::new();
    for r in &closure.roots {
        let path = r.path.to_absolute();
        if let Some(facts) = closure.paths.get(&path) {
            subjects.insert(path, facts.nar_hash.to_hex());
        }
    }
    let mut subject: Vec<Value> = subjects
        .into_iter()
        .map(|(name, hex)| json!({ "name": name, "digest": { "sha256": hex } }))
        .collect();
    for f in files {
        subject.push(json!({ "name": f.name, "digest": { "sha256": f.sha256_hex } }));
    }

    let mut dependencies = Vec::new();
    let revisions: BTreeSet<(String, String)> = closure
        .roots
        .iter()
        .filter_map(|r| {
            let rev = r.rev.clone()?;
            let flake = r.resolved.split_once('#').map_or(&*r.resolved, |(f, _)| f);
            Some((flake.to_string(), rev))
        })
        .collect();
    for (uri, rev) in revisions {
        dependencies.push(json!({
            "uri": uri,
            "digest": { "gitCommit": rev },
            "name": "nixpkgs",
        }));
    }
    for (path, facts) in &closure.paths {
        let references: Vec<StorePath> = facts
            .references
            .iter()
            .filter_map(|r| StorePath::parse_absolute(r).ok())
            .collect();
        let fingerprint = StorePath::parse_absolute(path)
            .map(|p| {
                crate::nix::narinfo::fingerprint(&p, &facts.nar_hash, facts.nar_size, &references)
            })
            .unwrap_or_default();
        let mut signers: BTreeMap<String, bool> = BTreeMap::new();
        for s in &facts.sigs {
            let Ok(sig) = Signature::parse(s) else {
                continue;
            };
            let valid = trusted.verify(&fingerprint, std::slice::from_ref(&sig));
            let entry = signers.entry(sig.key_name).or_insert(false);
            *entry |= valid;
        }
        let signed_by: Vec<Value> = signers
            .into_iter()
            .map(|(key, trusted)| json!({ "key": key, "trusted": trusted }))
            .collect();
        let from = match &facts.origin {
            Origin::Store => "store".to_string(),
            Origin::Cache(url) => url.clone(),
        };
        dependencies.push(json!({
            "name": path,
            "digest": { "sha256": facts.nar_hash.to_hex() },
            "annotations": {
                "narSize": facts.nar_size,
                "from": from,
                "signedBy": signed_by,
            },
        }));
    }
    let packages: Vec<Value> = closure
        .roots
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "version": r.version,
                "output": r.output,
                "resolved": r.resolved,
                "storePath": r.path.to_absolute(),
            })
        })
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "system": closure.system,
                    "manifest": {
                        "name": inputs.manifest_name,
                        "digest": { "sha256": inputs.manifest_sha256_hex },
                    },
                    "lock": {
                        "name": inputs.lock_name,
                        "digest": { "sha256": inputs.lock_sha256_hex },
                    },
                    "packages": packages,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": { "id": format!("urn:devenv:{}", env!("CARGO_PKG_VERSION")) },
                "metadata": { "finishedOn": closure.timestamp() },
            },
        },
    })
}

/// DSSE's pre-authentication encoding of `payload`: what the signature covers.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope of `statement` signed by `key` (key id: the key's name).
pub fn envelope(statement: &[u8], key: &SecretKey) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let pae = pae(PAYLOAD_TYPE, statement);
    // The statement is JSON, so the encoding is UTF-8 and the key signs exactly these bytes.
    let text = String::from_utf8(pae).expect("JSON is UTF-8");
    let sig = key.sign(&text);
    json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": b64.encode(statement),
        "signatures": [{ "keyid": key.name, "sig": b64.encode(sig.bytes) }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_encoding() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn the_envelope_verifies_with_the_public_key() {
        let key = SecretKey::generate("test-1");
        let env = envelope(b"{\"a\":1}", &key);
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, b"{\"a\":1}");
        let sig_bytes = b64
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        let sig = Signature {
            key_name: "test-1".into(),
            bytes: sig_bytes.try_into().unwrap(),
        };
        let text = String::from_utf8(pae(PAYLOAD_TYPE, &payload)).unwrap();
        assert!(key.public().verify(&text, &sig));
        assert!(!key.public().verify("something else", &sig));
    }
}
