//! `flake.nix` checked with the real Nix evaluator as far as this machine allows without the
//! network: it parses, and its outputs evaluate (against a stand-in nixpkgs, see
//! `tests/flake/check.nix`) to a package built from Cargo.toml's version and Cargo.lock, an app
//! that runs that package's `bin/devenv`, and a dev shell with the tools the tests need, for each
//! of the four usual systems. The `dummy://` store makes any accidental store write an error.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const SYSTEMS: [&str; 4] = [
    "aarch64-darwin",
    "aarch64-linux",
    "x86_64-darwin",
    "x86_64-linux",
];

fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn nix_instantiate(args: &[&str]) -> std::process::Output {
    let out = Command::new("nix-instantiate")
        .args(["--store", "dummy://"])
        .args(args)
        .current_dir(checkout())
        .env_remove("NIX_PATH")
        .output()
        .expect("nix-instantiate (Debian nix-bin) is required for this test");
    assert!(
        out.status.success(),
        "nix-instantiate {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn flake_nix_parses() {
    let out = nix_instantiate(&["--parse", "flake.nix"]);
    let ast = String::from_utf8_lossy(&out.stdout);
    assert!(ast.contains("outputs"), "{ast}");
}

#[test]
fn flake_outputs_evaluate_for_every_system() {
    let dir = checkout();
    let out = nix_instantiate(&[
        "--eval",
        "--strict",
        "--json",
        "tests/flake/check.nix",
        "--argstr",
        "flakeDir",
        dir.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cargo_toml = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let version = cargo_toml
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .unwrap()
        .trim_matches('"');

    assert_eq!(v["inputs"], serde_json::json!(["nixpkgs"]), "only nixpkgs");
    assert_eq!(
        v["outputs"],
        serde_json::json!(["apps", "devShells", "packages"])
    );
    for key in ["packages", "apps", "dev_shells"] {
        assert_eq!(v[key], serde_json::json!(SYSTEMS), "{key}");
    }
    for system in SYSTEMS {
        let s = &v["systems"][system];
        let pkg = &s["package"];
        assert_eq!(pkg["pname"], "devenv");
        assert_eq!(pkg["version"], version, "version comes from Cargo.toml");
        assert_eq!(pkg["same_as_devenv"], true, "default is the devenv package");
        assert_eq!(pkg["main_program"], "devenv");
        assert_eq!(
            PathBuf::from(pkg["lock_file"].as_str().unwrap()),
            dir.join("Cargo.lock")
        );
        assert_eq!(s["app"]["type"], "app");
        assert_eq!(
            s["app"]["program"],
            format!("/nix/store/stub-devenv-{version}-{system}/bin/devenv"),
            "the app runs this system's package"
        );
        let shell: Vec<&str> = s["dev_shell"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        for tool in [
            "cargo", "rustc", "clippy", "rustfmt", "nix", "zsh", "fish", "tmux",
        ] {
            assert!(shell.contains(&tool), "{system} dev shell lacks {tool}");
        }
    }
}
