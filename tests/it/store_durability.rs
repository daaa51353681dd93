//! Surviving a power failure without waiting for the disk: fetched paths are registered with
//! the kernel's boot id; after a restart (another boot id) the next install re-hashes them,
//! unregisters the damaged ones with their referrers and fetches those again, and rows of the
//! current boot are settled once old enough. `DEVENV_BOOT_ID` stands for the kernel's boot id.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::http::Server;
use crate::common::nixfix::Fixture;
use crate::common::TestContext;

/// `devenv install --frozen` as if the kernel's boot id were `boot`; (success, stderr).
fn install_in_boot(cx: &TestContext, boot: &str) -> String {
    let out = cx
        .cmd()
        .args(["install", "--frozen"])
        .env("DEVENV_BOOT_ID", boot)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "install failed: {stderr}");
    stderr
}

fn db(cx: &TestContext) -> rusqlite::Connection {
    rusqlite::Connection::open(cx.store_root.join("nix/var/devenv/db.sqlite")).unwrap()
}

/// Unflushed rows: path → boot id.
fn unflushed(cx: &TestContext) -> BTreeMap<String, String> {
    let conn = db(cx);
    let mut stmt = conn.prepare("select path, bootId from Unflushed").unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

fn valid_paths(cx: &TestContext) -> Vec<String> {
    let conn = db(cx);
    let mut stmt = conn
        .prepare("select path from ValidPaths order by path")
        .unwrap();
    let rows = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

/// Store paths whose NAR the server was asked for since the last clear, sorted.
fn nars_fetched(server: &Server, fixture: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = server
        .requests()
        .iter()
        .filter(|r| r.contains("/nar/"))
        .map(|r| r.to_string())
        .collect();
    names.sort();
    // Map each NAR URL back to its store path through the narinfos.
    let mut paths = Vec::new();
    for p in fixture.all_paths() {
        let info = crate::common::nixfix::narinfo_file(&fixture.cache, &p);
        let url = crate::common::nixfix::narinfo_field(&info, "URL");
        if names.iter().any(|n| n.ends_with(&url)) {
            paths.push(p);
        }
    }
    paths
}

/// Whether every registered path hashes on disk to its registered NAR hash.
fn assert_store_intact(cx: &TestContext) {
    let conn = db(cx);
    let mut stmt = conn.prepare("select path, hash from ValidPaths").unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (path, hash) in rows {
        let on_disk = cx.store_root.join(path.trim_start_matches('/'));
        let (h, _) = devenv::nix::nar::writer::dump_hash(&on_disk).unwrap();
        assert_eq!(
            format!("sha256:{}", h.to_hex()),
            hash,
            "{path} differs on disk"
        );
    }
}

/// What a power failure does to a file whose data never reached the disk: it comes back empty.
fn lose_contents(file: &Path) {
    let dir = file.parent().unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(file, b"").unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
}

#[test]
fn a_restart_that_lost_files_is_noticed_and_only_the_damage_is_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "durability-restart", "zstd");
    let server = Server::serve_dir(&fixture.cache);
    let cx = fixture.world(&server.url(), &["fixapp", "fixtool"]);

    install_in_boot(&cx, "boot-a");
    let all = fixture.all_paths();
    assert_eq!(valid_paths(&cx), all);
    // Registered without waiting for the disk, each marked with the boot it happened in.
    let rows = unflushed(&cx);
    assert_eq!(rows.keys().cloned().collect::<Vec<_>>(), all);
    assert!(rows.values().all(|b| b == "boot-a"), "{rows:?}");

    // The power fails before fixlib's file reached the disk.
    let fixlib = fixture.paths["fixlib"].clone();
    lose_contents(
        &cx.store_root
            .join(fixlib.trim_start_matches('/'))
            .join("lib/libfix.txt"),
    );
    server.clear_requests();

    // After the restart: fixlib and everything referring to it are fetched again, nothing else.
    let stderr = install_in_boot(&cx, "boot-b");
    let mut damaged = vec![
        fixlib.clone(),
        fixture.paths["fixtool.out"].clone(),
        fixture.paths["fixapp"].clone(),
    ];
    damaged.sort();
    assert!(
        stderr.contains("registered just before the last restart"),
        "{stderr}"
    );
    for p in &damaged {
        assert!(stderr.contains(p.as_str()), "{p} not named in: {stderr}");
    }
    assert!(!stderr.contains(&fixture.paths["fixtool.man"]), "{stderr}");
    assert_eq!(nars_fetched(&server, &fixture), damaged);
    assert_eq!(valid_paths(&cx), all);
    assert_store_intact(&cx);
    // The intact path was checked and settled; the refetched ones belong to the new boot.
    let rows = unflushed(&cx);
    assert_eq!(rows.keys().cloned().collect::<Vec<_>>(), damaged);
    assert!(rows.values().all(|b| b == "boot-b"), "{rows:?}");
    let tool = cx
        .store_root
        .join(fixture.paths["fixapp"].trim_start_matches('/'));
    assert!(tool.join("bin/fixapp").exists());

    // Nothing more to do in the same boot.
    server.clear_requests();
    let stderr = install_in_boot(&cx, "boot-b");
    assert!(!stderr.contains("restart"), "{stderr}");
    assert!(nars_fetched(&server, &fixture).is_empty());
}

#[test]
fn rows_of_the_current_boot_are_settled_once_old_enough_and_intact_paths_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "durability-settle", "xz");
    let cx = fixture.world(
        &format!("file://{}", fixture.cache.display()),
        &["fixapp", "fixtool"],
    );
    install_in_boot(&cx, "boot-a");
    assert_eq!(unflushed(&cx).len(), fixture.all_paths().len());

    // Young rows of this boot are left alone (no flush on every command).
    install_in_boot(&cx, "boot-a");
    assert_eq!(unflushed(&cx).len(), fixture.all_paths().len());

    // Old enough: flushed and forgotten.
    db(&cx)
        .execute(
            "update ValidPaths set registrationTime = registrationTime - 3600",
            [],
        )
        .unwrap();
    install_in_boot(&cx, "boot-a");
    assert!(unflushed(&cx).is_empty(), "{:?}", unflushed(&cx));
    assert_eq!(valid_paths(&cx), fixture.all_paths());

    // A second project's install in a new store, then a restart with every file intact: the
    // rows are checked and dropped, nothing is fetched or unregistered.
    let cx2 = fixture.world(
        &format!("file://{}", fixture.cache.display()),
        &["fixapp", "fixtool"],
    );
    install_in_boot(&cx2, "boot-a");
    let stderr = install_in_boot(&cx2, "boot-b");
    assert!(!stderr.contains("restart"), "{stderr}");
    assert!(unflushed(&cx2).is_empty(), "{:?}", unflushed(&cx2));
    assert_eq!(valid_paths(&cx2), fixture.all_paths());
    assert_store_intact(&cx2);
}

#[test]
fn without_a_boot_id_fetched_paths_are_flushed_before_they_are_registered() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "durability-noboot", "zstd");
    let cx = fixture.world(
        &format!("file://{}", fixture.cache.display()),
        &["fixapp", "fixtool"],
    );
    // An empty boot id stands for a system where it cannot be read.
    install_in_boot(&cx, "");
    assert_eq!(valid_paths(&cx), fixture.all_paths());
    assert!(unflushed(&cx).is_empty(), "{:?}", unflushed(&cx));
    assert_store_intact(&cx);
}
