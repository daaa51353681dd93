//! Packages realized from a binary cache built and signed by real Nix, activated in real bash:
//! tools from the profile on PATH, man pages on MANPATH, one generation per change, rollback that
//! the next prompt follows, generations kept by the garbage collector, exact restore on leaving.

mod common;

use common::nixfix::Fixture;
use common::shells::ShellWorld;

#[test]
fn profile_generations_rollback_and_gc_roots_in_a_real_shell() {
    let w = ShellWorld::new();
    let fx = Fixture::build(&w.t.root().join("fx"), "shell-packages", "xz");
    let system = devenv::system::current();
    let proj = w.t.root().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    fx.write_project(&proj, &system, &["fixtool", "fixapp"]);
    let cfg = w.t.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({
            "substituters": [format!("file://{}", fx.cache.display())],
            "trusted_public_keys": [fx.public_key],
        })
        .to_string(),
    )
    .unwrap();
    w.allow(&proj);
    let (out, err) = w.ok(
        "bash",
        r#"set -u
prompt; env -0 > "$ROOT/before"
cd "$ROOT/proj"; prompt
fixtool; fixapp
[ -e "$DEVENV_PROFILE/share/man/man1/fixtool.1" ] && echo "man page linked"
case ":$MANPATH:" in *":$DEVENV_PROFILE/share/man:"*) echo "MANPATH ok";; esac
"$ROOT/wrap/devenv" generations
"#,
    );
    assert_eq!(
        out.matches("fixtool 1.0 shell-packages").count(),
        2,
        "{out}\n{err}"
    );
    assert!(out.contains("man page linked\nMANPATH ok\n"), "{out}");
    assert!(out.contains("*   1") && out.contains("fixapp@2.0"), "{out}");

    // drop fixapp: a new generation; allowing the changed manifest loads it
    fx.write_project(&proj, &system, &["fixtool"]);
    w.allow(&proj);
    let (out, err) = w.ok(
        "bash",
        r#"cd "$ROOT/proj"; prompt
command -v fixapp || echo "no fixapp"
fixtool
"$ROOT/wrap/devenv" rollback; prompt
fixapp
"$ROOT/wrap/devenv" --json generations
"$ROOT/wrap/devenv" gc
fixapp
cd "$OUT"; prompt; env -0 > "$ROOT/after"
"#,
    );
    assert!(out.contains("no fixapp\nfixtool 1.0"), "{out}\n{err}");
    assert_eq!(
        out.matches("fixtool 1.0 shell-packages").count(),
        3,
        "{out}\n{err}"
    );
    let json_start = out.find('[').unwrap();
    let json_end = out.rfind(']').unwrap();
    let gens: serde_json::Value = serde_json::from_str(&out[json_start..=json_end]).unwrap();
    assert_eq!(gens.as_array().unwrap().len(), 2, "{gens}");
    assert_eq!(gens[0]["current"], true, "rolled back to 1: {gens}");
    assert!(err.contains("switched to generation 1"), "{err}");
    assert_eq!(w.dump("before"), w.dump("after"));
}
