//! `devenv install` substituting from binary caches written by real Nix 2.8, and refusing every
//! kind of bad cache without adding anything to the store.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::http::{Fault, Server};
use crate::common::nixfix::{self, Fixture};
use crate::common::TestContext;
use devenv::nix::narinfo::NarInfo;
use devenv::nix::signature::SecretKey;

/// Built once per test binary: the fixture packages, an xz cache and an uncompressed one.
struct Shared {
    _dir: tempfile::TempDir,
    fixture: Fixture,
    none_cache: PathBuf,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::build(&dir.path().join("fx"), "store-substitute", "xz");
        let none_cache = fixture.copy_to(&dir.path().join("cache-none"), "none");
        Shared {
            _dir: dir,
            fixture,
            none_cache,
        }
    })
}

fn system() -> String {
    devenv::system::current()
}

/// A test world whose project locks `packages` and whose substituter is `url`.
fn world(packages: &[&str], url: &str) -> TestContext {
    let cx = TestContext::new();
    shared()
        .fixture
        .write_project(&cx.project, &system(), packages);
    let mut cfg = cx.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    cfg.push("config.json");
    std::fs::write(
        &cfg,
        serde_json::json!({
            "substituters": [url],
            "trusted_public_keys": [shared().fixture.public_key],
        })
        .to_string(),
    )
    .unwrap();
    cx
}

fn copy_cache(from: &Path, cx: &TestContext) -> PathBuf {
    let to = cx.root().join("cache");
    nixfix::copy_tree(from, &to);
    to
}

fn nar_requests(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.starts_with("/nar/"))
        .count()
}

#[test]
fn installs_the_closure_from_an_http_cache_and_then_fetches_nothing() {
    let sh = shared();
    let server = Server::serve_dir(&sh.fixture.cache);
    let cx = world(&["fixapp", "fixtool"], &server.url());
    let out = cx.run(&["install", "--frozen", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["packages"][0]["key"], "fixapp@2.0");
    assert_eq!(json["packages"][1]["key"], "fixtool@1.0");
    assert_eq!(
        json["packages"][1]["outputs"].as_array().unwrap().len(),
        2,
        "out and man"
    );
    // The whole closure (fixlib comes in as a reference) is valid and identical to Nix's copy.
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert_eq!(rows, sh.fixture.all_paths());
    let mut expected_entries: Vec<String> = sh
        .fixture
        .all_paths()
        .iter()
        .map(|p| p.trim_start_matches("/nix/store/").to_string())
        .collect();
    expected_entries.sort();
    assert_eq!(entries, expected_entries);
    for p in sh.fixture.all_paths() {
        nixfix::assert_same_tree(
            Path::new(&p),
            &cx.store_root.join(p.trim_start_matches('/')),
        );
    }
    assert_eq!(nar_requests(&server), 4, "{:?}", server.requests());

    // Everything present: no request at all, and the data says nothing was fetched.
    server.clear_requests();
    let out = cx.run(&["install", "--frozen", "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["fetched"], serde_json::json!([]));
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn reads_zstd_bzip2_and_uncompressed_file_caches() {
    let sh = shared();
    for compression in ["zstd", "bzip2", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let cache = sh.fixture.copy_to(&dir.path().join("c"), compression);
        let cx = world(&["fixapp"], &format!("file://{}", cache.display()));
        cx.ok(&["install", "--frozen"]);
        let (_, rows) = nixfix::store_contents(&cx.store_root);
        let mut want = vec![
            sh.fixture.paths["fixapp"].clone(),
            sh.fixture.paths["fixtool.out"].clone(),
            sh.fixture.paths["fixlib"].clone(),
        ];
        want.sort();
        assert_eq!(rows, want, "{compression}");
        let app = &sh.fixture.paths["fixapp"];
        nixfix::assert_same_tree(
            Path::new(app),
            &cx.store_root.join(app.trim_start_matches('/')),
        );
    }
}

#[test]
fn a_missing_path_is_reported_with_the_caches_asked() {
    let cx = TestContext::new();
    let sh = shared();
    let empty = cx.root().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    sh.fixture
        .write_project(&cx.project, &system(), &["fixlib"]);
    let url = format!("file://{}", empty.display());
    // Without Nix on PATH there is no build fallback.
    let out = cx
        .cmd()
        .env("PATH", "/nonexistent")
        .args(["install", "--frozen", "--substituters", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&sh.fixture.paths["fixlib"]), "{err}");
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn a_missing_lock_is_bad_input_with_a_hint() {
    let cx = TestContext::new();
    cx.write("devenv.json", "{\"packages\": []}\n");
    let err = cx.fails(&["install", "--frozen"], 1);
    assert!(err.contains("devenv.lock"), "{err}");
    assert!(err.contains("devenv update"), "{err}");
}

/// Re-sign the narinfo of `path` in `cache` with `key` after `edit` changed it.
fn edit_narinfo(
    cache: &Path,
    path: &str,
    key: Option<&SecretKey>,
    edit: impl FnOnce(&mut NarInfo),
) {
    let file = nixfix::narinfo_file(cache, path);
    let mut info = NarInfo::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    edit(&mut info);
    if let Some(key) = key {
        info.sigs = vec![key.sign(&info.fingerprint())];
    }
    std::fs::write(&file, info.to_string()).unwrap();
}

fn fixture_key() -> SecretKey {
    SecretKey::parse(
        std::fs::read_to_string(&shared().fixture.secret_key_file)
            .unwrap()
            .trim(),
    )
    .unwrap()
}

/// Install `fixapp` (closure fixapp → fixtool → fixlib, so a damaged fixlib stops everything)
/// from a damaged copy of `base` and check the refusal: exit 1, `expected` in the message,
/// nothing in the store (no directory, no row, no temp dir).
fn assert_refused(base: &Path, damage: impl FnOnce(&Path, &Server), expected: &[&str]) {
    let probe = TestContext::new();
    let cache = copy_cache(base, &probe);
    let server = Server::serve_dir(&cache);
    damage(&cache, &server);
    let cx = world(&["fixapp"], &server.url());
    let out = cx
        .cmd()
        .args(["install", "--frozen"])
        .env("DEVENV_HTTP_TIMEOUT", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error:"), "{err}");
    for e in expected {
        assert!(err.contains(e), "expected `{e}` in:\n{err}");
    }
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert!(entries.is_empty(), "left in the store: {entries:?}");
    assert!(rows.is_empty(), "registered: {rows:?}");
}

fn lib() -> String {
    shared().fixture.paths["fixlib"].clone()
}

fn nar_file(cache: &Path, path: &str) -> PathBuf {
    let url = nixfix::narinfo_field(&nixfix::narinfo_file(cache, path), "URL");
    cache.join(url)
}

#[test]
fn refuses_a_flipped_byte_in_an_uncompressed_nar() {
    assert_refused(
        &shared().none_cache,
        |cache, _| {
            let nar = nar_file(cache, &lib());
            let mut bytes = std::fs::read(&nar).unwrap();
            // Inside the contents of libfix.txt ("lib data …"), so the NAR still parses.
            let at = bytes
                .windows(8)
                .position(|w| w == b"lib data")
                .expect("file contents in the NAR");
            bytes[at] ^= 0x01;
            std::fs::write(&nar, bytes).unwrap();
        },
        &["NAR hash mismatch", &lib()],
    );
}

#[test]
fn refuses_a_flipped_byte_in_an_xz_nar() {
    assert_refused(
        &shared().fixture.cache,
        |cache, _| {
            let nar = nar_file(cache, &lib());
            let mut bytes = std::fs::read(&nar).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x40;
            std::fs::write(&nar, bytes).unwrap();
        },
        &["cannot substitute", &lib()],
    );
}

#[test]
fn refuses_a_wrong_nar_hash() {
    let other = shared().fixture.paths["fixtool.man"].clone();
    assert_refused(
        &shared().none_cache,
        |cache, _| {
            let other_hash = nixfix::narinfo_field(&nixfix::narinfo_file(cache, &other), "NarHash");
            edit_narinfo(cache, &lib(), Some(&fixture_key()), |i| {
                i.nar_hash = devenv::nix::hash::Sha256Hash::parse(&other_hash).unwrap();
            });
        },
        &["NAR hash mismatch", &lib()],
    );
}

#[test]
fn refuses_a_wrong_nar_size() {
    for delta in [-8i64, 8] {
        assert_refused(
            &shared().fixture.cache,
            |cache, _| {
                edit_narinfo(cache, &lib(), Some(&fixture_key()), |i| {
                    i.nar_size = (i.nar_size as i64 + delta) as u64;
                });
            },
            &["NarSize", &lib()],
        );
    }
}

#[test]
fn refuses_a_missing_signature() {
    assert_refused(
        &shared().fixture.cache,
        |cache, _| nixfix::set_narinfo_field(&nixfix::narinfo_file(cache, &lib()), "Sig", None),
        &["not signed", &lib()],
    );
}

#[test]
fn refuses_a_signature_by_an_unknown_key() {
    assert_refused(
        &shared().fixture.cache,
        |cache, _| {
            let stranger = SecretKey::generate("devenv-test-1");
            edit_narinfo(cache, &lib(), Some(&stranger), |_| {});
        },
        &["not signed by any trusted public key", &lib()],
    );
}

#[test]
fn refuses_a_forged_signature() {
    // The real signature of another path, under the trusted key's name.
    let other = shared().fixture.paths["fixtool.man"].clone();
    assert_refused(
        &shared().fixture.cache,
        |cache, _| {
            let sig = nixfix::narinfo_field(&nixfix::narinfo_file(cache, &other), "Sig");
            nixfix::set_narinfo_field(&nixfix::narinfo_file(cache, &lib()), "Sig", Some(&sig));
        },
        &["not signed by any trusted public key", &lib()],
    );
}

#[test]
fn refuses_a_narinfo_for_a_different_store_path() {
    let other = shared().fixture.paths["fixtool.man"].clone();
    assert_refused(
        &shared().fixture.cache,
        |cache, _| {
            std::fs::copy(
                nixfix::narinfo_file(cache, &other),
                nixfix::narinfo_file(cache, &lib()),
            )
            .unwrap();
        },
        &["different store path", &other],
    );
}

#[test]
fn refuses_a_cache_for_another_store_dir() {
    assert_refused(
        &shared().fixture.cache,
        |cache, _| std::fs::write(cache.join("nix-cache-info"), "StoreDir: /gnu/store\n").unwrap(),
        &["/gnu/store", "nix-cache-info"],
    );
}

#[test]
fn refuses_a_truncated_download() {
    assert_refused(
        &shared().fixture.cache,
        |_, server| server.fault("/nar/", Fault::Truncate(40)),
        &["truncated", &lib()],
    );
}

#[test]
fn refuses_a_server_answering_500() {
    assert_refused(
        &shared().fixture.cache,
        |_, server| server.fault("/", Fault::Status(500)),
        &["500"],
    );
}

#[test]
fn gives_up_on_a_server_that_stalls_past_the_timeout() {
    assert_refused(
        &shared().fixture.cache,
        |_, server| server.fault("/nar/", Fault::Stall(Duration::from_secs(3))),
        &["DEVENV_HTTP_TIMEOUT", &lib()],
    );
}

/// A sparse index that offers the fixture packages at their real store paths.
fn write_index(dir: &Path) {
    let sh = shared();
    let sys = system();
    std::fs::create_dir_all(dir.join("packages")).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::json!({"format": 1, "id": "fixture-store", "systems": [sys]}).to_string(),
    )
    .unwrap();
    let mut names = Vec::new();
    for (name, version, outputs) in [
        ("fixapp", "2.0", vec![("out", "fixapp", true)]),
        ("fixlib", "1.0", vec![("out", "fixlib", true)]),
        (
            "fixtool",
            "1.0",
            vec![("out", "fixtool.out", true), ("man", "fixtool.man", false)],
        ),
    ] {
        let outs: Vec<serde_json::Value> = outputs
            .iter()
            .map(|(o, attr, d)| serde_json::json!({"name": o, "path": sh.fixture.paths[*attr], "default": d}))
            .collect();
        let file = serde_json::json!({
            "name": name,
            "summary": "fixture",
            "versions": [{
                "version": version,
                "attr_path": name,
                "rev": "1111111111111111111111111111111111111111",
                "last_modified": "2024-06-01T00:00:00Z",
                "systems": { sys.clone(): { "outputs": outs } },
            }],
        });
        std::fs::write(
            dir.join("packages").join(format!("{name}.json")),
            file.to_string(),
        )
        .unwrap();
        names.push(
            serde_json::json!({"name": name, "summary": "fixture", "latest": version}).to_string(),
        );
    }
    std::fs::write(dir.join("names.jsonl"), names.join("\n") + "\n").unwrap();
}

#[test]
fn add_locks_and_installs_and_install_resolves_a_stale_lock() {
    let sh = shared();
    let cache_url = format!("file://{}", sh.fixture.cache.display());
    let cx = world(&[], &cache_url);
    let index = cx.root().join("index");
    write_index(&index);
    cx.write("devenv.json", "{\n  \"packages\": []\n}\n");
    let run = |args: &[&str]| {
        let out = cx
            .cmd()
            .env("DEVENV_INDEX", &index)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["add", "fixapp"]);
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert!(rows.contains(&sh.fixture.paths["fixapp"]), "{rows:?}");
    assert!(
        rows.contains(&sh.fixture.paths["fixlib"]),
        "the closure came along: {rows:?}"
    );

    // The manifest gains a package behind the lock's back: --frozen refuses, install resolves.
    let manifest = cx
        .read("devenv.json")
        .replace("\"packages\": [", "\"packages\": [\"fixtool@1.0\", ");
    cx.write("devenv.json", &manifest);
    let out = cx
        .cmd()
        .env("DEVENV_INDEX", &index)
        .args(["install", "--frozen"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("out of date") && err.contains("fixtool@1.0"),
        "{err}"
    );
    run(&["install"]);
    let lock = cx.read("devenv.lock");
    assert!(lock.contains(&sh.fixture.paths["fixtool.out"]), "{lock}");
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert!(rows.contains(&sh.fixture.paths["fixtool.out"]), "{rows:?}");

    // rm installs the smaller set (and keeps the store consistent).
    run(&["rm", "fixapp"]);
    assert!(!cx.read("devenv.lock").contains("fixapp"));
}

#[test]
fn builds_with_nix_when_no_cache_has_a_path() {
    let sh = shared();
    let cx = TestContext::new();
    // The fixture as a flake: `resolved` points at it, as a lock's nixpkgs reference would.
    let flake = cx.root().join("flake");
    let rev = nixfix::fixture_flake(&flake, "store-substitute", &system());
    sh.fixture
        .write_project(&cx.project, &system(), &["fixapp"]);
    let lock = cx
        .read("devenv.lock")
        .replace("0000000000000000000000000000000000000000", &rev);
    cx.write("devenv.lock", &lock);
    let empty = cx.root().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    let out = cx
        .cmd()
        .env(
            "NIX_CONFIG",
            "build-users-group =\nsandbox = false\nsubstituters =\nflake-registry = /dev/null",
        )
        .env("DEVENV_NIXPKGS", &flake)
        .args(["install", "--frozen", "--substituters"])
        .arg(format!("file://{}", empty.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("building fixapp@2.0 with Nix"), "{err}");
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    let mut want = vec![
        sh.fixture.paths["fixapp"].clone(),
        sh.fixture.paths["fixtool.out"].clone(),
        sh.fixture.paths["fixlib"].clone(),
    ];
    want.sort();
    assert_eq!(rows, want);
    for p in &want {
        nixfix::assert_same_tree(Path::new(p), &cx.store_root.join(p.trim_start_matches('/')));
    }
}

#[test]
fn a_refused_or_missing_substitute_falls_through_to_the_next_cache() {
    let sh = shared();
    let probe = TestContext::new();
    // First cache: fixlib signed by a stranger, fixapp missing. Second: the good one.
    let bad = copy_cache(&sh.fixture.cache, &probe);
    let stranger = SecretKey::generate("devenv-test-1");
    edit_narinfo(&bad, &lib(), Some(&stranger), |_| {});
    std::fs::remove_file(nixfix::narinfo_file(&bad, &sh.fixture.paths["fixapp"])).unwrap();
    let first = Server::serve_dir(&bad);
    let second = Server::serve_dir(&sh.fixture.cache);
    let cx = world(&["fixapp"], &first.url());
    let subs = format!("{} {}", first.url(), second.url());
    cx.ok(&["install", "--frozen", "--substituters", &subs]);
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert_eq!(rows.len(), 3, "{rows:?}");
    // fixtool came from the first cache (valid there); fixlib and fixapp from the second.
    assert_eq!(nar_requests(&first), 1, "{:?}", first.requests());
    assert_eq!(nar_requests(&second), 2, "{:?}", second.requests());
}

#[test]
fn bad_substituter_settings_are_bad_input_naming_the_value() {
    let sh = shared();
    let cache_url = format!("file://{}", sh.fixture.cache.display());
    let cx = world(&["fixlib"], &cache_url);
    let err = cx.fails(
        &[
            "install",
            "--frozen",
            "--substituters",
            "ftp://cache.example",
        ],
        2,
    );
    assert!(err.contains("ftp://cache.example"), "{err}");
    let err = cx.fails(
        &[
            "install",
            "--frozen",
            "--trusted-public-keys",
            "nonsense-key",
        ],
        2,
    );
    assert!(err.contains("nonsense-key"), "{err}");
    let out = cx
        .cmd()
        .env("DEVENV_HTTP_TIMEOUT", "soon")
        .args(["install", "--frozen"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`soon`"));
    let err = cx.fails(&["install", "--frozen", "--jobs", "0"], 2);
    assert!(err.contains("--jobs"), "{err}");
    // Nothing was fetched by any of them.
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert!(
        entries.is_empty() && rows.is_empty(),
        "{entries:?} {rows:?}"
    );
}

#[test]
fn refuses_a_narinfo_url_outside_the_cache() {
    for url in ["../../../etc/passwd", "file:///etc/passwd"] {
        assert_refused(
            &shared().fixture.cache,
            |cache, _| {
                nixfix::set_narinfo_field(&nixfix::narinfo_file(cache, &lib()), "URL", Some(url))
            },
            &["points outside the binary cache", url],
        );
    }
}

#[test]
fn a_cache_failing_for_one_narinfo_is_skipped_for_that_path() {
    let sh = shared();
    let first = Server::serve_dir(&sh.fixture.cache);
    let second = Server::serve_dir(&sh.fixture.cache);
    let hash = &lib()["/nix/store/".len().."/nix/store/".len() + 32];
    first.fault(&format!("/{hash}.narinfo"), Fault::Status(503));
    let cx = world(&["fixlib"], &first.url());
    let subs = format!("{} {}", first.url(), second.url());
    cx.ok(&["install", "--frozen", "--substituters", &subs]);
    assert_eq!(nar_requests(&first), 0);
    assert_eq!(nar_requests(&second), 1);
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert_eq!(rows, vec![lib()]);
}

#[test]
fn refuses_a_garbage_narinfo() {
    let hash = lib()["/nix/store/".len().."/nix/store/".len() + 32].to_string();
    assert_refused(
        &shared().fixture.cache,
        move |_, server| {
            server.fault(
                &format!("/{hash}.narinfo"),
                Fault::Body(b"<html>captive portal</html>".to_vec()),
            )
        },
        &["narinfo is invalid", &lib()],
    );
}

#[test]
fn shows_progress_bars_on_a_terminal_and_a_summary_line_otherwise() {
    let sh = shared();
    let server = Server::serve_dir(&sh.fixture.cache);
    server.fault("/nar/", Fault::Stall(Duration::from_millis(400)));
    let cx = world(&["fixapp"], &server.url());
    // A pseudo-terminal via script(1): progress bars with paths and bytes.
    let mut cmd = std::process::Command::new("script");
    cx.isolate(&mut cmd);
    let out = cmd
        .current_dir(&cx.project)
        .env("TERM", "xterm")
        .args(["-qec"])
        .arg(format!("{} install --frozen", env!("CARGO_BIN_EXE_devenv")))
        .arg("/dev/null")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains("fetching") && tty.contains("paths"), "{tty}");
    assert!(tty.contains("unpacking"), "{tty}");

    // Not a terminal: no bars, one summary line.
    let cx = world(&["fixapp"], &server.url());
    let out = cx.cmd().args(["install", "--frozen"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("fetching"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("fetched 3 path(s)"), "{err}");
}

/// Downloads do not wait for references: while the NAR of `fixlib` is held back by the server,
/// the NARs of its referrers are already requested. Validity still goes references first: each
/// path is registered (database row order) after everything it references.
#[test]
fn downloads_overlap_references_but_registration_follows_them() {
    let fixture = &shared().fixture;
    let server = Server::serve_dir(&fixture.cache);
    let lib_nar = format!(
        "/{}",
        nixfix::narinfo_field(&nixfix::narinfo_file(&fixture.cache, &lib()), "URL")
    );
    server.fault(&lib_nar, Fault::Stall(Duration::from_secs(4)));
    let cx = world(&["fixapp"], &server.url());
    let mut child = cx
        .cmd()
        .args(["install", "--frozen"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let closure = ["fixapp", "fixtool", "fixlib"].len();
    let mut lib_requested: Option<std::time::Instant> = None;
    let mut all_requested_after = None;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        let requests = server.requests();
        let nars: Vec<&String> = requests.iter().filter(|r| r.starts_with("/nar/")).collect();
        if lib_requested.is_none() && nars.iter().any(|r| **r == lib_nar) {
            lib_requested = Some(std::time::Instant::now());
        }
        if let Some(t) = lib_requested {
            if nars.len() >= closure {
                all_requested_after = Some(t.elapsed());
                break;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let waited = all_requested_after.expect("every NAR of the closure was requested");
    assert!(
        waited < Duration::from_secs(3),
        "the referrers' NARs were requested only {waited:?} after the stalled reference's: {:?}",
        server.requests()
    );

    let db = rusqlite::Connection::open(cx.store_root.join("nix/var/devenv/db.sqlite")).unwrap();
    let id = |path: &str| -> i64 {
        db.query_row("select id from ValidPaths where path = ?1", [path], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let [app, tool, lib] = ["fixapp", "fixtool.out", "fixlib"].map(|p| id(&fixture.paths[p]));
    assert!(
        lib < tool && tool < app,
        "registration order: lib {lib}, tool {tool}, app {app}"
    );
}

/// A URL on the loopback interface where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An unreachable cache is skipped with a warning naming it, as Nix does, when another cache
/// has everything; when the others lack a path, the error names the skipped cache too.
#[test]
fn skips_an_unreachable_cache_and_says_so() {
    let fixture = &shared().fixture;
    let server = Server::serve_dir(&fixture.cache);
    let dead = dead_url();
    let cx = world(&["fixapp"], &server.url());
    let out = cx
        .cmd()
        .args(["install", "--frozen", "--substituters"])
        .arg(format!("{dead} {}", server.url()))
        .env("DEVENV_HTTP_TIMEOUT", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning:"), "{err}");
    assert!(err.contains(&format!("`{dead}` is unreachable")), "{err}");
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert!(rows.contains(&fixture.paths["fixapp"]), "{rows:?}");

    // The reachable cache lacks everything now: the error lists both caches.
    let empty = cx.root().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    let other = world(&["fixapp"], &server.url());
    let out = other
        .cmd()
        .env("PATH", "/nonexistent")
        .env("DEVENV_HTTP_TIMEOUT", "2")
        .args(["install", "--frozen", "--substituters"])
        .arg(format!("{dead} file://{}", empty.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&fixture.paths["fixapp"]), "{err}");
    assert!(
        err.contains(&format!("skipped binary cache `{dead}` is unreachable")),
        "{err}"
    );

    // Only unreachable caches: a clear error with a hint, nothing added.
    let out = other
        .cmd()
        .env("DEVENV_HTTP_TIMEOUT", "2")
        .args(["install", "--frozen", "--substituters", &dead])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no binary cache could be reached"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let (entries, rows) = nixfix::store_contents(&other.store_root);
    assert!(
        rows.is_empty() && entries.is_empty(),
        "{entries:?} {rows:?}"
    );
}

/// A reference no cache has, found while its referrers are already downloading: the install
/// fails naming it, and the referrers, which can never be valid without it, are not left
/// behind (no directory, no row).
#[test]
fn a_missing_reference_found_late_leaves_nothing_behind() {
    let probe = TestContext::new();
    let cache = copy_cache(&shared().fixture.cache, &probe);
    std::fs::remove_file(nixfix::narinfo_file(&cache, &lib())).unwrap();
    let server = Server::serve_dir(&cache);
    let cx = world(&["fixapp"], &server.url());
    let out = cx
        .cmd()
        .env("PATH", "/nonexistent")
        .args(["install", "--frozen"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&lib()), "{err}");
    assert!(err.contains("in none of the binary caches"), "{err}");
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert!(entries.is_empty(), "left in the store: {entries:?}");
    assert!(rows.is_empty(), "registered: {rows:?}");
}
