//! `devenv cache push` writes caches real Nix 2.8 substitutes from; `devenv gc` deletes exactly
//! what no root reaches; paths realized into a root shared with Nix are registered with Nix.

use std::path::Path;
use std::process::Command;

use crate::common::nixfix::{self, Fixture};
use crate::common::{run_ok, TestContext};

fn nix_store(root: &Path) -> Command {
    let mut cmd = Command::new("nix-store");
    cmd.arg("--store")
        .arg(root)
        .args(["--option", "build-users-group", ""])
        .args(["--option", "sandbox", "false"]);
    cmd
}

#[test]
fn nix_substitutes_from_a_cache_written_by_cache_push() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-push", "xz");
    let cx = fixture.world(
        &format!("file://{}", fixture.cache.display()),
        &["fixapp", "fixtool"],
    );
    cx.ok(&["install", "--frozen"]);
    // Our own key, made by Nix.
    let sk = cx.root().join("push-sk");
    let pk = cx.root().join("push-pk");
    run_ok(
        Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg("pushed-1")
            .arg(&sk)
            .arg(&pk),
    );
    let pk = std::fs::read_to_string(&pk).unwrap();
    for compression in ["xz", "zstd"] {
        let cache = cx.root().join(format!("pushed-{compression}"));
        // Default: the current project's closure.
        cx.ok(&[
            "cache",
            "push",
            "--to",
            cache.to_str().unwrap(),
            "--key",
            sk.to_str().unwrap(),
            "--compression",
            compression,
        ]);
        let app = &fixture.paths["fixapp"];
        let man = &fixture.paths["fixtool.man"];
        let target = cx.root().join(format!("nix-root-{compression}"));
        run_ok(
            nix_store(&target)
                .args(["-r", app, man])
                .args(["--option", "substituters"])
                .arg(format!("file://{}", cache.display()))
                .args(["--option", "trusted-public-keys", pk.trim()])
                .args(["--option", "require-sigs", "true"]),
        );
        for p in fixture.all_paths() {
            nixfix::assert_same_tree(Path::new(&p), &target.join(p.trim_start_matches('/')));
        }
        let refs = run_ok(nix_store(&target).args(["-q", "--references", app]));
        assert_eq!(refs.trim(), fixture.paths["fixtool.out"]);
        run_ok(nix_store(&target).args(["--verify", "--check-contents"]));
        // Pushing again writes nothing new.
        let err = String::from_utf8(
            cx.cmd()
                .args(["cache", "push", "--to"])
                .arg(format!("file://{}", cache.display()))
                .args(["--key", sk.to_str().unwrap()])
                .output()
                .unwrap()
                .stderr,
        )
        .unwrap();
        assert!(err.contains("wrote 0 path(s)"), "{err}");
    }
}

#[test]
fn nix_refuses_a_pushed_cache_signed_by_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-push", "xz");
    let cx = fixture.world(&format!("file://{}", fixture.cache.display()), &["fixlib"]);
    cx.ok(&["install", "--frozen"]);
    let sk = cx.root().join("sk");
    std::fs::write(
        &sk,
        devenv::nix::signature::SecretKey::generate("other-1").to_key_file(),
    )
    .unwrap();
    let cache = cx.root().join("pushed");
    let lib = &fixture.paths["fixlib"];
    cx.ok(&[
        "cache",
        "push",
        "--to",
        cache.to_str().unwrap(),
        "--key",
        sk.to_str().unwrap(),
        lib,
    ]);
    let target = cx.root().join("nix-root");
    let out = nix_store(&target)
        .args(["-r", lib])
        .args(["--option", "substituters"])
        .arg(format!("file://{}", cache.display()))
        .args(["--option", "trusted-public-keys", &fixture.public_key])
        .output()
        .unwrap();
    assert!(!out.status.success(), "Nix accepted an untrusted signature");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not signed by any of the keys"), "{err}");
}

#[test]
fn cache_push_rejects_bad_input() {
    let cx = TestContext::new();
    let err = cx.fails(&["cache", "push", "--to", "s3://bucket", "/nix/store/x"], 2);
    assert!(err.contains("s3://bucket"), "{err}");
    let key = cx.root().join("bad-key");
    std::fs::write(&key, "not a key").unwrap();
    let err = cx.fails(
        &[
            "cache",
            "push",
            "--to",
            cx.root().join("c").to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        2,
    );
    assert!(err.contains("bad-key"), "{err}");
    let err = cx.fails(
        &[
            "cache",
            "push",
            "--to",
            cx.root().join("c").to_str().unwrap(),
            "/nix/store/00000000000000000000000000000000-nothing",
        ],
        2,
    );
    assert!(err.contains("is not a valid path"), "{err}");
}

#[test]
fn gc_keeps_what_roots_reach_and_deletes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-gc", "zstd");
    let url = format!("file://{}", fixture.cache.display());
    let cx = fixture.world(&url, &["fixapp", "fixtool"]);
    cx.ok(&["install", "--frozen"]);
    let all = fixture.all_paths();

    // Everything is reachable from the project's root.
    let out: serde_json::Value = serde_json::from_str(&cx.ok(&["gc", "--json"])).unwrap();
    assert_eq!(out["deleted"], serde_json::json!([]));
    assert_eq!(out["kept"], 4);

    // Lock only fixlib: the root now holds fixlib alone.
    fixture.write_project(&cx.project, &devenv::system::current(), &["fixlib"]);
    cx.ok(&["install", "--frozen"]);
    let dry: serde_json::Value =
        serde_json::from_str(&cx.ok(&["gc", "--dry-run", "--json"])).unwrap();
    let mut doomed: Vec<String> = all
        .iter()
        .filter(|p| **p != fixture.paths["fixlib"])
        .cloned()
        .collect();
    doomed.sort();
    assert_eq!(dry["deleted"], serde_json::json!(doomed));
    assert!(dry["bytes_freed"].as_u64().unwrap() > 64 * 1024);
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert_eq!(rows, all, "a dry run deletes nothing");
    assert_eq!(entries.len(), 4);

    // Fresh paths survive --older-than.
    let young: serde_json::Value =
        serde_json::from_str(&cx.ok(&["gc", "--older-than", "30d", "--json"])).unwrap();
    assert_eq!(young["deleted"], serde_json::json!([]));

    let done: serde_json::Value = serde_json::from_str(&cx.ok(&["gc", "--json"])).unwrap();
    assert_eq!(done["deleted"], serde_json::json!(doomed));
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert_eq!(rows, vec![fixture.paths["fixlib"].clone()]);
    assert_eq!(
        entries,
        vec![fixture.paths["fixlib"]
            .trim_start_matches("/nix/store/")
            .to_string()]
    );

    // A project whose lock is gone no longer roots anything.
    std::fs::remove_file(cx.project.join("devenv.lock")).unwrap();
    cx.ok(&["gc"]);
    let (entries, rows) = nixfix::store_contents(&cx.store_root);
    assert!(
        rows.is_empty() && entries.is_empty(),
        "{rows:?} {entries:?}"
    );

    let err = cx.fails(&["gc", "--older-than", "soon"], 2);
    assert!(err.contains("`soon`"), "{err}");
}

#[test]
fn paths_realized_into_a_nix_store_root_are_registered_with_nix() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-nixreg", "xz");
    let cx = fixture.world(&format!("file://{}", fixture.cache.display()), &["fixapp"]);
    // A chroot store Nix itself created at our root.
    run_ok(nix_store(&cx.store_root).arg("--init"));
    cx.ok(&["install", "--frozen"]);
    let app = &fixture.paths["fixapp"];
    let closure = run_ok(nix_store(&cx.store_root).args(["-q", "--requisites", app]));
    let mut closure: Vec<&str> = closure.lines().collect();
    closure.sort();
    let mut want = vec![
        fixture.paths["fixapp"].as_str(),
        fixture.paths["fixtool.out"].as_str(),
        fixture.paths["fixlib"].as_str(),
    ];
    want.sort();
    assert_eq!(closure, want);
    // Nix agrees with the hashes we registered and the files we wrote.
    run_ok(nix_store(&cx.store_root).args(["--verify", "--check-contents"]));
    let ours = nixfix::narinfo_field(&nixfix::narinfo_file(&fixture.cache, app), "NarHash");
    let theirs = run_ok(nix_store(&cx.store_root).args(["-q", "--hash", app]));
    assert_eq!(theirs.trim(), ours);
    // Nix cannot re-check them after a restart, so they were flushed to disk before it was told:
    // nothing is left marked as possibly not on disk.
    let db = rusqlite::Connection::open(cx.store_root.join("nix/var/devenv/db.sqlite")).unwrap();
    let unflushed: i64 = db
        .query_row("select count(*) from Unflushed", [], |r| r.get(0))
        .unwrap();
    assert_eq!(unflushed, 0);
}

#[test]
fn nix_gc_keeps_what_devenv_roots_and_devenv_gc_leaves_shared_paths_to_nix() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-nixreg", "xz");
    let cx = fixture.world(&format!("file://{}", fixture.cache.display()), &["fixlib"]);
    run_ok(nix_store(&cx.store_root).arg("--init"));
    cx.ok(&["install", "--frozen"]);
    let lib = fixture.paths["fixlib"].clone();
    let on_disk = cx.store_root.join(lib.trim_start_matches('/'));
    // Nix's own collector keeps the project's paths: devenv mirrored its root for Nix.
    run_ok(nix_store(&cx.store_root).arg("--gc"));
    assert!(on_disk.exists(), "Nix collected a path devenv roots");

    std::fs::remove_file(cx.project.join("devenv.lock")).unwrap();
    let out: serde_json::Value = serde_json::from_str(&cx.ok(&["gc", "--json"])).unwrap();
    assert_eq!(out["deleted"], serde_json::json!([]));
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    assert!(rows.is_empty(), "{rows:?}");
    assert!(on_disk.exists(), "the files stay for Nix");
    run_ok(nix_store(&cx.store_root).args(["--verify", "--check-contents"]));
    // Now nothing roots it: Nix's collector removes it.
    run_ok(nix_store(&cx.store_root).arg("--gc"));
    assert!(!on_disk.exists(), "Nix kept a path nothing roots");
}

#[test]
fn paths_a_nix_sharing_the_root_already_has_are_adopted_without_a_cache() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-nixreg", "xz");
    let empty = dir.path().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    let cx = fixture.world(&format!("file://{}", empty.display()), &["fixapp"]);
    // Nix itself substitutes the closure into the root first.
    run_ok(
        nix_store(&cx.store_root)
            .args(["-r", &fixture.paths["fixapp"]])
            .args(["--option", "substituters"])
            .arg(format!("file://{}", fixture.cache.display()))
            .args(["--option", "trusted-public-keys", &fixture.public_key]),
    );
    cx.ok(&["install", "--frozen"]);
    let (_, rows) = nixfix::store_contents(&cx.store_root);
    let mut want = vec![
        fixture.paths["fixapp"].clone(),
        fixture.paths["fixtool.out"].clone(),
        fixture.paths["fixlib"].clone(),
    ];
    want.sort();
    assert_eq!(rows, want);
}

#[test]
fn a_later_install_registers_with_nix_what_an_earlier_one_could_not() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture::build(&dir.path().join("fx"), "store-nixreg", "xz");
    let cx = fixture.world(&format!("file://{}", fixture.cache.display()), &["fixapp"]);
    cx.ok(&["install", "--frozen"]);
    // Nix arrives afterwards (or the first run was killed before registering with it).
    run_ok(nix_store(&cx.store_root).arg("--init"));
    let app = &fixture.paths["fixapp"];
    let out = nix_store(&cx.store_root)
        .args(["--check-validity", app])
        .output()
        .unwrap();
    assert!(!out.status.success(), "Nix knew the path too early");
    cx.ok(&["install", "--frozen"]);
    let closure = run_ok(nix_store(&cx.store_root).args(["-q", "--requisites", app]));
    assert_eq!(closure.lines().count(), 3, "{closure}");
    run_ok(nix_store(&cx.store_root).args(["--verify", "--check-contents"]));
}
