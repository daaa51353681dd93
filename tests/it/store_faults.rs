//! Faults around the store that are not a matter of trust: a first binary cache whose NAR is
//! corrupt, cut off or stalls while a second has a good one; a disk that fills up; a store
//! directory deleted behind devenv's back; a complete store on a read-only mount. The disk and
//! the mount are real: a tiny tmpfs and a read-only bind mount, each in its own mount namespace
//! (`unshare --mount`), so nothing outlives the command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::http::{Fault, Server};
use crate::common::nixfix::{self, Fixture};
use crate::common::TestContext;

/// Built once per test binary: the fixture packages, and an uncompressed copy of their cache
/// (so a flipped byte is a hash mismatch and `fixapp`'s 64 KiB file is as large on the wire).
struct Shared {
    _dir: tempfile::TempDir,
    fixture: Fixture,
    none_cache: PathBuf,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture::build(&dir.path().join("fx"), "store-faults", "xz");
        let none_cache = fixture.copy_to(&dir.path().join("cache-none"), "none");
        Shared {
            _dir: dir,
            fixture,
            none_cache,
        }
    })
}

fn path_of(attr: &str) -> String {
    shared().fixture.paths[attr].clone()
}

/// `fixapp`'s closure: fixapp → fixtool → fixlib.
fn app_closure() -> Vec<String> {
    let mut v = vec![path_of("fixapp"), path_of("fixtool.out"), path_of("fixlib")];
    v.sort();
    v
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn nar_url(cache: &Path, path: &str) -> String {
    format!(
        "/{}",
        nixfix::narinfo_field(&nixfix::narinfo_file(cache, path), "URL")
    )
}

/// NAR requests a server got, and how many of them were for `path`'s NAR.
fn nar_requests(server: &Server, cache: &Path, path: &str) -> (usize, usize) {
    let requests = server.requests();
    let nars = requests.iter().filter(|r| r.starts_with("/nar/")).count();
    let url = nar_url(cache, path);
    (nars, requests.iter().filter(|r| **r == url).count())
}

/// `install --frozen` of a project wanting `fixapp`, from `first`, then `second`.
fn install_from(cx: &TestContext, first: &Server, second: &Server) -> Output {
    let subs = format!("{} {}", first.url(), second.url());
    cx.cmd()
        .args(["install", "--frozen", "--substituters", &subs])
        .env("DEVENV_HTTP_TIMEOUT", "1")
        .output()
        .unwrap()
}

/// Exactly `fixapp`'s closure is registered and in the store, identical to what Nix built, and
/// nothing else (no temp dir) is left there.
fn assert_app_closure_installed(cx: &TestContext) {
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert_eq!(rows, app_closure());
    let names: Vec<String> = app_closure()
        .iter()
        .map(|p| p.trim_start_matches("/nix/store/").to_string())
        .collect();
    assert_eq!(entries, names);
    for p in app_closure() {
        nixfix::assert_same_tree(
            Path::new(&p),
            &cx.store_root.join(p.trim_start_matches('/')),
        );
    }
}

/// A copy of the uncompressed cache whose `fixlib` NAR has one byte flipped inside a file's
/// contents: it still parses, but fails its hash check.
fn corrupt_cache(under: &Path) -> PathBuf {
    let cache = under.join("corrupt-cache");
    nixfix::copy_tree(&shared().none_cache, &cache);
    let nar = cache.join(nar_url(&cache, &path_of("fixlib")).trim_start_matches('/'));
    let mut bytes = std::fs::read(&nar).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"lib data")
        .expect("file contents in the NAR");
    bytes[at] ^= 0x01;
    std::fs::write(&nar, bytes).unwrap();
    cache
}

/// The warning lines naming `cache`.
fn skipped_lines(err: &str, cache: &Server) -> Vec<String> {
    let name = format!("skipped binary cache `{}`", cache.url());
    err.lines()
        .filter(|l| l.contains(&name))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_corrupt_nar_in_the_first_cache_is_fetched_from_the_next_naming_the_first() {
    let sh = shared();
    let cx = sh.fixture.world("unused", &["fixapp"]);
    let bad = corrupt_cache(cx.root());
    let first = Server::serve_dir(&bad);
    let second = Server::serve_dir(&sh.none_cache);
    let out = install_from(&cx, &first, &second);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let lines = skipped_lines(&err, &first);
    assert_eq!(lines.len(), 1, "one warning, for fixlib:\n{err}");
    let line = &lines[0];
    assert!(line.starts_with("warning: "), "{line}");
    assert!(
        line.contains(&format!("for `{}`", path_of("fixlib"))),
        "{line}"
    );
    assert!(line.contains("NAR hash mismatch"), "{line}");
    assert!(
        line.ends_with(&format!("fetched it from `{}`", second.url())),
        "{line}"
    );
    assert_app_closure_installed(&cx);
    // Wrong bytes are not asked for again; only fixlib came from the second cache.
    assert_eq!(nar_requests(&first, &bad, &path_of("fixlib")), (3, 1));
    assert_eq!(
        nar_requests(&second, &sh.none_cache, &path_of("fixlib")),
        (1, 1)
    );
}

#[test]
fn truncated_nars_in_the_first_cache_are_fetched_from_the_next() {
    let sh = shared();
    let first = Server::serve_dir(&sh.none_cache);
    first.fault("/nar/", Fault::Truncate(40));
    let second = Server::serve_dir(&sh.none_cache);
    let cx = sh.fixture.world(&first.url(), &["fixapp"]);
    let out = install_from(&cx, &first, &second);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let lines = skipped_lines(&err, &first);
    assert_eq!(lines.len(), 3, "one warning per path:\n{err}");
    for p in app_closure() {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("for `{p}`")))
            .unwrap_or_else(|| panic!("no warning for {p}:\n{err}"));
        assert!(line.contains("truncated after 40 of"), "{line}");
        assert!(line.contains(&second.url()), "{line}");
    }
    assert_app_closure_installed(&cx);
    // The second cache was tried before the broken transfers were retried.
    assert_eq!(
        nar_requests(&first, &sh.none_cache, &path_of("fixlib")),
        (3, 1)
    );
    assert_eq!(
        nar_requests(&second, &sh.none_cache, &path_of("fixlib")),
        (3, 1)
    );
}

#[test]
fn a_nar_stalling_midway_costs_one_timeout_before_the_next_cache() {
    let sh = shared();
    let first = Server::serve_dir(&sh.none_cache);
    let lib_nar = nar_url(&sh.none_cache, &path_of("fixlib"));
    first.fault(&lib_nar, Fault::StallAfter(100, Duration::from_secs(4)));
    let second = Server::serve_dir(&sh.none_cache);
    let cx = sh.fixture.world(&first.url(), &["fixapp"]);
    let out = install_from(&cx, &first, &second);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let lines = skipped_lines(&err, &first);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("for `{}`", path_of("fixlib")))
            && lines[0].contains("truncated after 100 of")
            && lines[0].contains("no answer within 1s (DEVENV_HTTP_TIMEOUT)"),
        "{}",
        lines[0]
    );
    assert_app_closure_installed(&cx);
    assert_eq!(
        nar_requests(&first, &sh.none_cache, &path_of("fixlib")),
        (3, 1)
    );
    assert_eq!(
        nar_requests(&second, &sh.none_cache, &path_of("fixlib")),
        (1, 1)
    );
}

#[test]
fn when_every_cache_fails_the_error_names_each_and_nothing_is_left() {
    let sh = shared();
    let cx = sh.fixture.world("unused", &["fixapp"]);
    let bad = corrupt_cache(cx.root());
    let first = Server::serve_dir(&bad);
    let second = Server::serve_dir(&sh.none_cache);
    second.fault(
        &nar_url(&sh.none_cache, &path_of("fixlib")),
        Fault::Truncate(40),
    );
    let out = install_from(&cx, &first, &second);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot substitute `{}` from any binary cache",
            path_of("fixlib")
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("`{}`: NAR hash mismatch", first.url())),
        "{err}"
    );
    assert!(err.contains(&format!("`{}`: ", second.url())) && err.contains("truncated after 40"));
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert!(entries.is_empty(), "left in the store: {entries:?}");
    assert!(rows.is_empty(), "registered: {rows:?}");
    // Bad bytes once; the broken transfer three times, as with a single cache.
    assert_eq!(nar_requests(&first, &bad, &path_of("fixlib")).1, 1);
    assert_eq!(
        nar_requests(&second, &sh.none_cache, &path_of("fixlib")).1,
        3
    );
}

/// `devenv <args>` for `cx` inside a new mount namespace, after `setup` (a shell snippet that
/// gets `$1`, the store root) ran there; the exit code 99 means the setup failed. `after` runs
/// in the namespace once devenv is done (its exit code is kept).
fn in_namespace(cx: &TestContext, setup: &str, after: &str, args: &[&str]) -> Output {
    let script = format!("root=$1; shift; {setup} || exit 99; \"$@\"; rc=$?; {after}; exit $rc");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c", &script, "sh"])
        .arg(&cx.store_root)
        .arg(env!("CARGO_BIN_EXE_devenv"))
        .args(args)
        .current_dir(&cx.project);
    cx.isolate(&mut cmd);
    let out = cmd.output().expect("run unshare");
    assert_ne!(
        out.status.code(),
        Some(99),
        "the namespace could not be set up (root and `unshare` are needed): {}",
        stderr(&out)
    );
    out
}

#[test]
fn a_full_disk_says_so_naming_the_store_and_leaves_no_temp_dirs() {
    let sh = shared();
    // Uncompressed, so fixapp's 64 KiB file cannot fit the 48 KiB disk whatever the ratio.
    let server = Server::serve_dir(&sh.none_cache);
    let cx = sh.fixture.world(&server.url(), &["fixapp"]);
    let store = cx.store_root.join("nix/store");
    std::fs::create_dir_all(&store).unwrap();
    let listing = cx.root().join("listing");
    let out = in_namespace(
        &cx,
        "mount -t tmpfs -o size=48k devenv-test \"$root/nix/store\"",
        &format!("ls -A \"$root/nix/store\" > '{}'", listing.display()),
        // One worker, so the first path fetched, fixapp, is the one that does not fit.
        &["install", "--frozen", "--jobs", "1"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the disk holding `{}` is full (No space left on device",
            store.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("while writing `{}`", path_of("fixapp"))),
        "{err}"
    );
    assert!(
        err.contains("; this install needs about ") && err.contains(" is free"),
        "{err}"
    );
    assert!(
        err.contains("hint: free space on that disk") && err.contains("DEVENV_STORE_ROOT"),
        "{err}"
    );
    assert!(!err.contains("corrupt"), "{err}");
    let left = std::fs::read_to_string(&listing).unwrap();
    assert!(!left.contains(".devenv-tmp-"), "temp dirs left: {left}");
    assert!(!left.contains("fixapp"), "{left}");
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert!(!rows.contains(&path_of("fixapp")), "{rows:?}");
}

/// `doctor --json`'s `store-paths` check.
fn store_paths_check(cx: &TestContext) -> serde_json::Value {
    let out = cx
        .cmd()
        .args(["doctor", "--json"])
        // Offline: the index and cache checks fail at once instead of waiting.
        .env("DEVENV_INDEX", cx.root().join("no-index"))
        .output()
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let checks = json["checks"].as_array().unwrap();
    let found: Vec<&serde_json::Value> = checks
        .iter()
        .filter(|c| c["name"] == "store-paths")
        .collect();
    assert_eq!(found.len(), 1, "{json:#}");
    found[0].clone()
}

fn delete_store_path(cx: &TestContext, path: &str) -> PathBuf {
    let dir = cx.store_root.join(path.trim_start_matches('/'));
    let status = Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_store_path_deleted_behind_devenvs_back_is_fetched_again() {
    let sh = shared();
    let server = Server::serve_dir(&sh.fixture.cache);
    let cx = sh.fixture.world(&server.url(), &["fixapp"]);
    cx.ok(&["install", "--frozen"]);
    delete_store_path(&cx, &path_of("fixlib"));

    // Install notices, says so once, and fetches the path and the referrers it unregistered.
    server.clear_requests();
    let out = cx.cmd().args(["install", "--frozen"]).output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("already installed"), "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("their directories had been deleted"))
        .unwrap_or_else(|| panic!("no warning:\n{err}"));
    for p in app_closure() {
        assert!(warning.contains(&p), "{warning}");
    }
    assert_app_closure_installed(&cx);
    let nars = server
        .requests()
        .iter()
        .filter(|r| r.starts_with("/nar/"))
        .count();
    assert_eq!(nars, 3, "{:?}", server.requests());

    // Repaired: the next install fetches nothing and warns about nothing. Once the store
    // directory has not changed for a while, it records that, and later ones skip the check.
    std::thread::sleep(Duration::from_millis(2100));
    server.clear_requests();
    let out = cx.cmd().args(["install", "--frozen"]).output().unwrap();
    assert!(out.status.success());
    assert!(stderr(&out).contains("already installed"));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    let db = rusqlite::Connection::open(cx.store_root.join("nix/var/devenv/db.sqlite")).unwrap();
    let recorded: i64 = db
        .query_row("select count(*) from CheckedOnDisk", [], |r| r.get(0))
        .unwrap();
    assert_eq!(recorded, 1);
    drop(db);

    // Removing a directory moves the store directory's change time past that record: shellenv,
    // building the project's first profile, repairs the store the same way instead of failing
    // on the missing directory.
    delete_store_path(&cx, &path_of("fixtool.out"));
    let out = cx
        .cmd()
        .args(["shellenv", "--shell", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("export PATH="));
    assert_app_closure_installed(&cx);
}

#[test]
fn doctor_reports_a_deleted_store_path_with_the_fix() {
    let sh = shared();
    let server = Server::serve_dir(&sh.fixture.cache);
    let cx = sh.fixture.world(&server.url(), &["fixapp"]);
    cx.ok(&["install", "--frozen"]);
    let check = store_paths_check(&cx);
    assert_eq!(check["status"], "ok", "{check:#}");

    let lib_dir = delete_store_path(&cx, &path_of("fixlib"));
    let check = store_paths_check(&cx);
    assert_eq!(check["status"], "fail", "{check:#}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .starts_with("1 store path(s) of project "),
        "{check:#}"
    );
    assert_eq!(
        check["details"],
        serde_json::json!([lib_dir.display().to_string()])
    );
    assert_eq!(check["fix"], "devenv install   # fetches what is missing");

    // The fix it prints works.
    cx.ok(&["install", "--frozen"]);
    assert_eq!(store_paths_check(&cx)["status"], "ok");
}

/// Every file under `root` with its size, sorted: to show nothing was written there.
fn tree(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut v: Vec<(PathBuf, u64)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| {
            let e = e.unwrap();
            let len = e.path().symlink_metadata().unwrap().len();
            (e.path().to_path_buf(), len)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_complete_store_on_a_read_only_mount_serves_shellenv_and_run() {
    let sh = shared();
    let server = Server::serve_dir(&sh.fixture.cache);
    let cx = sh.fixture.world(&server.url(), &["fixtool"]);
    cx.ok(&["install", "--frozen"]);
    // Nothing can be fetched any more either.
    drop(server);
    let before = tree(&cx.store_root);
    let read_only = "mount --bind -o ro \"$root\" \"$root\"";

    let out = in_namespace(&cx, read_only, "true", &["shellenv", "--shell", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let exports = String::from_utf8_lossy(&out.stdout);
    assert!(exports.contains("export PATH="), "{exports}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    let out = in_namespace(&cx, read_only, "true", &["run", "fixtool"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("fixtool 1.0 store-faults"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(tree(&cx.store_root), before, "the store was written");

    // A path the read-only store lacks is an error saying so.
    sh.fixture.write_project(
        &cx.project,
        &devenv::system::current(),
        &["fixtool", "fixapp"],
    );
    let out = in_namespace(&cx, read_only, "true", &["install", "--frozen"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "the store `{}` is read-only, and 1 path(s) needed here are not in it: {}",
            cx.store_root.join("nix/store").display(),
            path_of("fixapp")
        )),
        "{err}"
    );
    assert!(err.contains("hint: run `devenv install` where"), "{err}");
}
