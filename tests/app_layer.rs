//! The application layer's promises that cut across commands: `add`, `rm` and `update` make a
//! new generation at once (so `generations` and `rollback` see the change without waiting for a
//! prompt), and installing never needs a second project lock.

mod common;

use common::nixfix::Fixture;

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
