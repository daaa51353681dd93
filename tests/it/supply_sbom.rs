//! `devenv sbom`: CycloneDX 1.6 and SPDX 2.3 documents of packages built by real Nix 2.8 and
//! published in a signed binary cache. They validate against the official schemas (vendored in
//! `tests/fixtures/schemas/`), list exactly the closure `nix-store -qR` gives, carry the graph of
//! `nix-store -q --references`, and are the same bytes whether the facts come from the binary
//! cache's narinfos (nothing installed) or from the store after `devenv install`. The same
//! fixture backs `devenv provenance`, whose signed envelope is checked with OpenSSL.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::json_schema::Schema;
use crate::common::nixfix::Fixture;
use crate::common::TestContext;

struct Shared {
    _dir: tempfile::TempDir,
    fixture: Fixture,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::build(&dir.path().join("fx"), "supply-sbom", "xz");
        Shared { _dir: dir, fixture }
    })
}

fn world() -> TestContext {
    let fx = &shared().fixture;
    fx.world(
        &format!("file://{}", fx.cache.display()),
        &["fixapp", "fixtool"],
    )
}

fn schemas() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/schemas"
    ))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_valid(schema: &Schema, doc: &Value, what: &str) {
    schema
        .checks()
        .valid(format!("the {what} SBOM"), doc.clone())
        .run();
}

fn validate_cyclonedx(doc: &Value) {
    let dir = schemas().join("cyclonedx-1.6");
    let schema = Schema::load(
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
    assert_valid(&schema, doc, "CycloneDX 1.6");
}

fn validate_spdx(doc: &Value) {
    let schema = Schema::load(schemas().join("spdx-2.3/spdx-schema.json"), &[]);
    assert_valid(&schema, doc, "SPDX 2.3");
}

/// What real Nix says: `nix-store -qR` of the locked outputs, and each path's references.
fn nix_closure(roots: &[&str]) -> (BTreeSet<String>, Vec<(String, BTreeSet<String>)>) {
    let out = Command::new("nix-store")
        .arg("-qR")
        .args(roots)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let graph = all
        .iter()
        .map(|p| {
            let out = Command::new("nix-store")
                .args(["-q", "--references", p])
                .output()
                .unwrap();
            let refs = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter(|r| r != p)
                .map(str::to_string)
                .collect();
            (p.clone(), refs)
        })
        .collect();
    (all, graph)
}

fn roots() -> Vec<String> {
    let p = &shared().fixture.paths;
    vec![
        p["fixapp"].clone(),
        p["fixtool.out"].clone(),
        p["fixtool.man"].clone(),
    ]
}

#[test]
fn sboms_validate_and_list_exactly_the_nix_closure_from_narinfos_alone() {
    let cx = world();
    let cyclonedx = cx.ok(&["sbom"]);
    let cdx: Value = serde_json::from_str(&cyclonedx).unwrap();
    validate_cyclonedx(&cdx);
    cx.ok(&["sbom", "--format", "spdx", "--output", "sbom.spdx.json"]);
    let spdx = read_json(&cx.project.join("sbom.spdx.json"));
    validate_spdx(&spdx);
    // Nothing was installed: the facts came from the cache's signed narinfos.
    let store = cx.store_root.join("nix/store");
    let installed: Vec<_> = std::fs::read_dir(&store)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(installed.is_empty(), "sbom installed {installed:?}");

    let roots = roots();
    let root_refs: Vec<&str> = roots.iter().map(String::as_str).collect();
    let (closure, graph) = nix_closure(&root_refs);
    assert_eq!(
        closure.len(),
        4,
        "the fixture closure is fixapp, fixtool (2 outputs), fixlib"
    );

    let components: BTreeSet<String> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["bom-ref"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(components, closure);
    let packages: BTreeSet<String> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["packageFileName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(packages, closure);

    // The dependency graph is the store's references.
    for (path, refs) in &graph {
        let dep = cdx["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"] == path.as_str())
            .unwrap_or_else(|| panic!("no dependency entry for {path}"));
        let listed: BTreeSet<String> = dep["dependsOn"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        assert_eq!(&listed, refs, "references of {path}");
    }
    let env = cdx["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["ref"] == "environment")
        .unwrap();
    let top: BTreeSet<String> = env["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(top, roots.iter().cloned().collect());

    // NAR hashes are Nix's.
    let fixapp = &shared().fixture.paths["fixapp"];
    let out = Command::new("nix-store")
        .args(["-q", "--hash", fixapp])
        .output()
        .unwrap();
    let nix_hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let ours = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["bom-ref"] == fixapp.as_str())
        .unwrap();
    let hex = ours["hashes"][0]["content"].as_str().unwrap();
    let parsed = devenv::nix::hash::Sha256Hash::parse(&nix_hash).unwrap();
    assert_eq!(hex, parsed.to_hex());
    // Top-level packages carry the nixpkgs revision and attribute; the timestamp is the lock's.
    let props = ours["properties"].as_array().unwrap();
    assert!(props.contains(&serde_json::json!({"name": "nixpkgs:attribute", "value": "fixapp"})));
    assert!(props.contains(&serde_json::json!({
        "name": "nixpkgs:revision",
        "value": "0000000000000000000000000000000000000000"
    })));
    assert_eq!(cdx["metadata"]["timestamp"], "2024-06-01T00:00:00Z");
    assert_eq!(spdx["creationInfo"]["created"], "2024-06-01T00:00:00Z");
}

#[test]
fn the_sbom_is_the_same_bytes_from_narinfos_and_from_the_store() {
    let cx = world();
    let before = cx.ok(&["sbom"]);
    let before_spdx = cx.ok(&["sbom", "--format", "spdx"]);
    assert_eq!(before, cx.ok(&["sbom"]), "two runs differ");
    cx.ok(&["install"]);
    // Now from the store database: the cache is gone, so nothing else could answer.
    let cfg = cx.home.join(".config/devenv/config.json");
    std::fs::write(&cfg, r#"{"substituters": []}"#).unwrap();
    assert_eq!(before, cx.ok(&["sbom"]));
    assert_eq!(before_spdx, cx.ok(&["sbom", "--format", "spdx"]));
}

/// `devenv provenance`: an in-toto statement whose subjects are the locked paths with Nix's NAR
/// hashes and whose dependencies say which cache and key each path came with; `--sign` wraps it
/// in a DSSE envelope that OpenSSL verifies with the cache's public key.
#[test]
fn provenance_names_caches_and_keys_and_its_signature_verifies_with_openssl() {
    let cx = world();
    let fx = &shared().fixture;
    let statement: Value = serde_json::from_str(&cx.ok(&["provenance"])).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    let subjects: BTreeSet<(String, String)> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["digest"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = roots()
        .into_iter()
        .map(|p| {
            let out = Command::new("nix-store")
                .args(["-q", "--hash", &p])
                .output()
                .unwrap();
            let h = String::from_utf8(out.stdout).unwrap();
            let hex = devenv::nix::hash::Sha256Hash::parse(h.trim())
                .unwrap()
                .to_hex();
            (p, hex)
        })
        .collect();
    assert_eq!(subjects, expected);
    let deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    assert!(deps.contains(&serde_json::json!({
        "uri": "github:NixOS/nixpkgs/0000000000000000000000000000000000000000",
        "digest": { "gitCommit": "0000000000000000000000000000000000000000" },
        "name": "nixpkgs",
    })));
    let cache_url = format!("file://{}", fx.cache.display());
    let paths: Vec<&Value> = deps
        .iter()
        .filter(|d| d.get("annotations").is_some())
        .collect();
    assert_eq!(paths.len(), 4);
    for d in paths {
        assert_eq!(d["annotations"]["from"], cache_url.as_str(), "{d}");
        assert_eq!(
            d["annotations"]["signedBy"],
            serde_json::json!([{ "key": "devenv-test-1", "trusted": true }]),
            "{d}"
        );
    }

    // Signed: a DSSE envelope over the same statement.
    let key = fx.secret_key_file.display().to_string();
    cx.ok(&["provenance", "--sign", &key, "--output", "prov.dsse.json"]);
    let envelope = read_json(&cx.project.join("prov.dsse.json"));
    assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let signed: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(signed, statement);
    assert_eq!(envelope["signatures"][0]["keyid"], "devenv-test-1");
    // What a verifier does with standard tools: the DSSE pre-authentication encoding, the
    // ed25519 public key as PEM, `openssl pkeyutl -verify -rawin`.
    let dir = cx.root();
    let mut pae = format!("DSSEv1 28 application/vnd.in-toto+json {} ", payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    std::fs::write(dir.join("pae.bin"), &pae).unwrap();
    let sig = b64
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.join("sig.bin"), &sig).unwrap();
    let raw = b64
        .decode(fx.public_key.split_once(':').unwrap().1)
        .unwrap();
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(&raw);
    std::fs::write(
        dir.join("pub.pem"),
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            b64.encode(&der)
        ),
    )
    .unwrap();
    let verify = |data: &str| {
        Command::new("openssl")
            .args([
                "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin",
            ])
            .args(["-in", data, "-sigfile", "sig.bin"])
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let ok = verify("pae.bin");
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    // A changed byte does not verify.
    let last = pae.len() - 2;
    pae[last] ^= 1;
    std::fs::write(dir.join("bad.bin"), &pae).unwrap();
    assert!(!verify("bad.bin").status.success());
}

/// Licence and homepage come from the index: identifiers as an SPDX expression, anything else by
/// name (CycloneDX) or `NOASSERTION` (SPDX); both documents still validate.
#[test]
fn licence_and_homepage_come_from_the_index() {
    let cx = world();
    let index = cx.root().join("index");
    std::fs::create_dir_all(index.join("packages")).unwrap();
    std::fs::write(
        index.join("index.json"),
        r#"{"format": 1, "id": "sbom-index"}"#,
    )
    .unwrap();
    std::fs::write(index.join("names.jsonl"), "").unwrap();
    for (name, license) in [
        ("fixapp", serde_json::json!(["MIT", "Apache-2.0"])),
        ("fixtool", serde_json::json!(["Some custom licence"])),
    ] {
        std::fs::write(
            index.join(format!("packages/{name}.json")),
            serde_json::json!({
                "name": name,
                "homepage": format!("https://example.org/{name}"),
                "license": license,
                "versions": [],
            })
            .to_string(),
        )
        .unwrap();
    }
    let cfg = cx.home.join(".config/devenv/config.json");
    let mut config: Value = read_json(&cfg);
    config["index"] = index.display().to_string().into();
    std::fs::write(&cfg, config.to_string()).unwrap();

    let cdx: Value = serde_json::from_str(&cx.ok(&["sbom"])).unwrap();
    validate_cyclonedx(&cdx);
    let spdx: Value = serde_json::from_str(&cx.ok(&["sbom", "--format", "spdx"])).unwrap();
    validate_spdx(&spdx);
    let fx = &shared().fixture;
    let component = |path: &str| {
        cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["bom-ref"] == path)
            .unwrap()
            .clone()
    };
    let package = |path: &str| {
        spdx["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["packageFileName"] == path)
            .unwrap()
            .clone()
    };
    let app = component(&fx.paths["fixapp"]);
    assert_eq!(
        app["licenses"],
        serde_json::json!([{ "expression": "MIT AND Apache-2.0" }])
    );
    assert_eq!(
        app["externalReferences"],
        serde_json::json!([{ "type": "website", "url": "https://example.org/fixapp" }])
    );
    assert_eq!(
        package(&fx.paths["fixapp"])["licenseDeclared"],
        "MIT AND Apache-2.0"
    );
    assert_eq!(
        package(&fx.paths["fixapp"])["homepage"],
        "https://example.org/fixapp"
    );
    let tool = component(&fx.paths["fixtool.out"]);
    assert_eq!(
        tool["licenses"],
        serde_json::json!([{ "license": { "name": "Some custom licence" } }])
    );
    assert_eq!(
        package(&fx.paths["fixtool.out"])["licenseDeclared"],
        "NOASSERTION"
    );
    // A path only in the closure (not a manifest package) has no licence claimed.
    assert!(component(&fx.paths["fixlib"]).get("licenses").is_none());
}
