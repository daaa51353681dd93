//! The application layer's promises that cut across commands: `add`, `rm` and `update` make a
//! new generation at once (so `generations` and `rollback` see the change without waiting for a
//! prompt), and installing never needs a second project lock.

use crate::common::nixfix::Fixture;

#[test]
fn rm_makes_a_generation_at_once_and_rollback_undoes_it() {
    let root = tempfile::tempdir().unwrap();
    let fx = Fixture::build(&root.path().join("fx"), "app-generations", "xz");
    let cx = fx.world(
        &format!("file://{}", fx.cache.display()),
        &["fixapp", "fixtool"],
    );
    cx.ok(&["shellenv"]);
    let out = cx.ok(&["generations"]);
    assert!(out.contains("*   1"), "{out}");

    let err = String::from_utf8(cx.run(&["rm", "fixapp"]).stderr).unwrap();
    assert!(err.contains("removed fixapp"), "{err}");
    let out = cx.ok(&["generations"]);
    assert!(
        out.contains("*   2"),
        "rm made generation 2 at once:\n{out}"
    );
    assert!(
        !out.lines()
            .find(|l| l.starts_with("*"))
            .unwrap()
            .contains("fixapp"),
        "{out}"
    );

    let out = cx.run(&["rollback"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("switched to generation 1"), "{err}");
}

#[test]
fn deleting_generations_lets_gc_free_what_only_they_kept() {
    let root = tempfile::tempdir().unwrap();
    let fx = Fixture::build(&root.path().join("fx"), "app-prune", "xz");
    let cx = fx.world(
        &format!("file://{}", fx.cache.display()),
        &["fixapp", "fixtool"],
    );
    cx.ok(&["shellenv"]);
    cx.ok(&["rm", "fixapp"]);
    let app = cx
        .store_root
        .join(fx.paths["fixapp"].trim_start_matches('/'));

    // Generation 1 still holds fixapp: gc keeps it.
    cx.ok(&["gc"]);
    assert!(app.exists(), "an old generation keeps its paths");

    let err = cx.fails(&["generations", "--delete", "2"], 2);
    assert!(err.contains("generation 2 is the current one"), "{err}");
    let out = cx.run(&["generations", "--delete", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("deleted generation(s) 1"), "{err}");
    assert!(!cx.ok(&["generations"]).contains("fixapp"));
    cx.ok(&["gc"]);
    assert!(
        !app.exists(),
        "gc frees what only the deleted generation kept"
    );

    // gc --delete-older-than prunes every project's old generations first, never a current one.
    fx.write_project(&cx.project, &devenv::system::current(), &["fixlib"]);
    cx.ok(&["allow"]);
    cx.ok(&["shellenv"]);
    let tool = cx
        .store_root
        .join(fx.paths["fixtool.out"].trim_start_matches('/'));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = cx.run(&["gc", "--delete-older-than", "1s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("deleted generation(s) 2 of project"), "{err}");
    assert!(!tool.exists(), "{err}");
    let lib = cx
        .store_root
        .join(fx.paths["fixlib"].trim_start_matches('/'));
    assert!(lib.exists(), "the current generation stays");
}
