//! Crash safety and concurrency: `devenv install` killed with SIGKILL at random moments never
//! leaves a registered partial path, and eight installs at once on one store all succeed while
//! fetching each path once.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::common::http::{Fault, Server};
use crate::common::nixfix::{self, Fixture};
use rand::RngExt;

/// Every registered path is on disk with exactly the registered NAR hash and size, and its
/// references are registered too. Returns the registered paths.
fn assert_consistent(root: &Path) -> Vec<String> {
    let db = root.join("nix/var/devenv/db.sqlite");
    if !db.exists() {
        return Vec::new();
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Killed while creating the schema: nothing registered yet.
    let tables: i64 = conn
        .query_row(
            "select count(*) from sqlite_master where name = 'ValidPaths'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if tables == 0 {
        return Vec::new();
    }
    let mut stmt = conn
        .prepare("select id, path, hash, narSize from ValidPaths order by path")
        .unwrap();
    let rows: Vec<(i64, String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, path, hash, size) in &rows {
        let on_disk = root.join(path.trim_start_matches('/'));
        let (h, n) = devenv::nix::nar::writer::dump_hash(&on_disk)
            .unwrap_or_else(|e| panic!("registered `{path}` is not readable on disk: {e}"));
        assert_eq!(
            format!("sha256:{}", h.to_hex()),
            *hash,
            "{path} differs on disk"
        );
        assert_eq!(n as i64, *size, "{path} size");
        let missing: i64 = conn
            .query_row(
                "select count(*) from Refs r left join ValidPaths v on v.id = r.reference \
                 where r.referrer = ?1 and v.id is null",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(missing, 0, "{path} has unregistered references");
    }
    rows.into_iter().map(|r| r.1).collect()
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_registered_partial_path() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-crash", "xz");
    let server = Server::serve_dir(&fixture.cache);
    // Slow each NAR a little so kills land during downloads and unpacking too.
    server.fault("/nar/", Fault::Stall(Duration::from_millis(15)));
    let mut rng = rand::rng();
    let mut states = std::collections::BTreeSet::new();
    for trial in 0..24 {
        let cx = fixture.world(&server.url(), &["fixapp", "fixtool"]);
        let mut child = cx
            .cmd()
            .args(["install", "--frozen", "--jobs", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // From "barely started" to "probably done", varied per trial.
        let delay = rng.random_range(0..(20 + trial * 12));
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let registered = assert_consistent(&cx.store_root);
        states.insert(registered.len());

        // A rerun completes, and afterwards the database matches the disk exactly.
        cx.ok(&["install", "--frozen"]);
        let registered = assert_consistent(&cx.store_root);
        assert_eq!(registered, fixture.all_paths(), "trial {trial}");
        let (entries, _) = nixfix::store_contents(&cx.store_root);
        let mut expected: Vec<String> = registered
            .iter()
            .map(|p| p.trim_start_matches("/nix/store/").to_string())
            .collect();
        expected.sort();
        assert_eq!(
            entries, expected,
            "trial {trial}: stray entries in the store"
        );
    }
    // The kills hit different stages (not all before the first or after the last path).
    assert!(
        states.len() >= 2,
        "kills all landed at one stage: {states:?}"
    );
}

#[test]
fn eight_concurrent_installs_share_one_store_and_fetch_each_path_once() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-concurrent", "zstd");
    // Each process gets the same cache under a URL of its own (`/p<n>/`, links to one
    // directory), so the request log tells which process fetched what: a NAR asked for twice
    // by one process is a retried transfer, by two processes a path fetched twice.
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let server = Server::serve_dir(&served);
    for n in 0..8 {
        std::os::unix::fs::symlink(&fixture.cache, served.join(format!("p{n}"))).unwrap();
        server.fault(
            &format!("/p{n}/nar/"),
            Fault::Stall(Duration::from_millis(100)),
        );
    }
    let cx = fixture.world(&format!("{}/p0", server.url()), &["fixapp", "fixtool"]);
    let children: Vec<_> = (0..8)
        .map(|n| {
            cx.cmd()
                .args(["install", "--frozen", "--substituters"])
                .arg(format!("{}/p{n}", server.url()))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let registered = assert_consistent(&cx.store_root);
    assert_eq!(registered, fixture.all_paths());
    // NAR file name → the processes that asked for it.
    let mut fetchers: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for request in server.requests() {
        let mut parts = request.trim_start_matches('/').splitn(3, '/');
        let (Some(process), Some("nar"), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        fetchers
            .entry(file.to_string())
            .or_default()
            .insert(process.to_string());
    }
    for (nar, processes) in &fetchers {
        assert_eq!(
            processes.len(),
            1,
            "{nar} was fetched by several processes: {processes:?}"
        );
    }
    assert_eq!(fetchers.len(), fixture.all_paths().len(), "{fetchers:?}");
}
