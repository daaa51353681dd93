//! Index fixtures for tests: a static sparse index written to a directory, and a loopback server
//! whose answers come from a closure (used for a Nixhub-compatible API and for watching the
//! conditional-request headers a client sends).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::loopback::{Loopback, Reply};

pub const SYSTEMS: [&str; 4] = [
    "aarch64-darwin",
    "aarch64-linux",
    "x86_64-darwin",
    "x86_64-linux",
];

/// A 40-hex nixpkgs revision derived from `seed`.
pub fn rev(seed: &str) -> String {
    let d = Sha256::digest(seed.as_bytes());
    d[..20].iter().map(|b| format!("{b:02x}")).collect()
}

/// A well-formed store path (32 nixbase32 characters) derived from its parts.
pub fn store_path(name: &str, version: &str, system: &str, output: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdfghijklmnpqrsvwxyz";
    let d = Sha256::digest(format!("{name}-{version}-{system}-{output}").as_bytes());
    let hash: String = d
        .iter()
        .take(32)
        .map(|b| ALPHABET[(*b as usize) % 32] as char)
        .collect();
    let suffix = if output == "out" {
        String::new()
    } else {
        format!("-{output}")
    };
    format!("/nix/store/{hash}-{name}-{version}{suffix}")
}

/// One version entry of a package file.
pub fn version_entry(
    name: &str,
    version: &str,
    date: &str,
    systems: &[&str],
    outputs: &[(&str, bool)],
) -> Value {
    let mut sys = BTreeMap::new();
    for s in systems {
        let outs: Vec<Value> = outputs
            .iter()
            .map(|(o, default)| {
                json!({"name": o, "path": store_path(name, version, s, o), "default": default})
            })
            .collect();
        sys.insert(s.to_string(), json!({ "outputs": outs }));
    }
    json!({
        "version": version,
        "attr_path": name,
        "rev": rev(&format!("{name}-{version}")),
        "last_modified": format!("{date}T00:00:00Z"),
        "systems": sys,
    })
}

/// The fixture packages: `(name, summary, versions)`.
pub fn fixture_packages() -> Vec<(String, String, Vec<Value>)> {
    let all = &SYSTEMS[..];
    let no_x86_darwin = &["aarch64-darwin", "aarch64-linux", "x86_64-linux"][..];
    let out = &[("out", true)][..];
    vec![
        (
            "ansible".into(),
            "Radically simple IT automation".into(),
            vec![
                version_entry("ansible", "2.15.0", "2023-06-01", all, out),
                version_entry("ansible", "2.16.5", "2024-04-01", no_x86_darwin, out),
                version_entry("ansible", "2.16.10", "2024-08-01", all, out),
                version_entry("ansible", "2.17.1", "2024-07-01", all, out),
                version_entry("ansible", "2.160.0", "2025-01-01", all, out),
            ],
        ),
        (
            "ansible-lint".into(),
            "Best practices checker for Ansible".into(),
            vec![version_entry(
                "ansible-lint",
                "24.2.0",
                "2024-03-01",
                all,
                out,
            )],
        ),
        (
            "jq".into(),
            "A lightweight and flexible command-line JSON processor".into(),
            vec![
                version_entry(
                    "jq",
                    "1.6",
                    "2022-01-01",
                    all,
                    &[("bin", true), ("man", true), ("out", false), ("dev", false)],
                ),
                version_entry(
                    "jq",
                    "1.7.1",
                    "2024-01-01",
                    all,
                    &[("bin", true), ("man", true), ("out", false), ("dev", false)],
                ),
            ],
        ),
        (
            "tzdata".into(),
            "Database of current and historical time zones".into(),
            vec![
                version_entry("tzdata", "2023c", "2023-03-01", all, out),
                version_entry("tzdata", "2024a", "2024-02-01", all, out),
            ],
        ),
        (
            "hello".into(),
            "A program that produces a familiar, friendly greeting".into(),
            vec![
                version_entry("hello", "2.12.1", "2022-06-01", all, out),
                version_entry("hello", "2.12.2pre1", "2023-01-01", all, out),
                version_entry("hello", "2.12.2", "2023-06-01", all, out),
            ],
        ),
        (
            "iotop".into(),
            "A tool to find out the processes doing the most IO".into(),
            vec![version_entry(
                "iotop",
                "0.6",
                "2023-01-01",
                &["aarch64-linux", "x86_64-linux"],
                out,
            )],
        ),
        (
            "macfuse-stubs".into(),
            "Build time stubs for FUSE on macOS".into(),
            vec![version_entry(
                "macfuse-stubs",
                "4.8.0",
                "2024-01-01",
                &["aarch64-darwin", "x86_64-darwin"],
                out,
            )],
        ),
    ]
}

/// Write the fixture index (`index.json`, `names.jsonl`, `packages/*.json`) into `dir`.
pub fn write_fixture_index(dir: &Path) {
    std::fs::create_dir_all(dir.join("packages")).unwrap();
    std::fs::write(
        dir.join("index.json"),
        r#"{"format": 1, "id": "fixture-index", "systems": ["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"]}"#,
    )
    .unwrap();
    let mut names = Vec::new();
    for (name, summary, versions) in fixture_packages() {
        let latest = versions.last().unwrap()["version"]
            .as_str()
            .unwrap()
            .to_string();
        names.push(json!({"name": name, "summary": summary, "latest": latest}).to_string());
        let file = json!({
            "name": name,
            "summary": summary,
            "homepage": format!("https://example.org/{name}"),
            "license": ["MIT"],
            "versions": versions,
        });
        std::fs::write(
            dir.join("packages").join(format!("{name}.json")),
            serde_json::to_string_pretty(&file).unwrap(),
        )
        .unwrap();
    }
    names.sort();
    std::fs::write(dir.join("names.jsonl"), names.join("\n") + "\n").unwrap();
}

/// What a request looked like.
#[derive(Debug, Clone)]
pub struct Seen {
    pub url: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

/// An answer: status, headers, body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A loopback server whose answers come from a closure; stops when dropped.
pub struct FnServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _server: Loopback,
}

impl FnServer {
    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FnServer {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let server = {
            let seen = seen.clone();
            Loopback::start(move |req, _| {
                let s = Seen {
                    url: req.url.clone(),
                    if_none_match: req.header("If-None-Match").map(str::to_string),
                    if_modified_since: req.header("If-Modified-Since").map(str::to_string),
                };
                seen.lock().unwrap().push(s.clone());
                let (status, headers, body) = handler(&s);
                Reply::Full(status, headers, body)
            })
        };
        FnServer {
            url: format!("http://{}", server.addr),
            seen,
            _server: server,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Split `a=1&b=2` into pairs, percent-decoded.
pub fn query(url: &str) -> BTreeMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A temp world with the fixture index written to `<root>/index` and selected with
/// `DEVENV_INDEX`; the HTTP timeout is short so tests of stalling servers finish fast.
pub struct IndexWorld {
    pub t: super::TestContext,
    pub index: std::path::PathBuf,
    pub index_url: String,
}

impl IndexWorld {
    pub fn new() -> IndexWorld {
        let t = super::TestContext::new();
        let index = t.root().join("index");
        write_fixture_index(&index);
        let index_url = index.to_str().unwrap().to_string();
        IndexWorld {
            t,
            index,
            index_url,
        }
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.t
            .cmd()
            .env("DEVENV_INDEX", &self.index_url)
            .env("DEVENV_HTTP_TIMEOUT", "1")
            .args(args)
            .output()
            .unwrap()
    }

    /// Run, assert success, return (stdout, stderr).
    pub fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            out.status.success(),
            "devenv {args:?} failed ({:?}):\n{stdout}\n{stderr}",
            out.status.code()
        );
        (stdout, stderr)
    }

    /// Run, assert exit `code`, return stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "devenv {args:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    /// The project's lock parsed as JSON.
    pub fn lock(&self) -> Value {
        serde_json::from_str(&self.t.read("devenv.lock")).unwrap()
    }

    /// Rewrite one package file of the fixture index.
    pub fn edit_package(&self, name: &str, edit: impl FnOnce(&mut Value)) {
        let path = self.index.join("packages").join(format!("{name}.json"));
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}
