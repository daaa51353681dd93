//! `flake.nix` checked with the real Nix evaluator as far as this machine allows without the
//! network: it parses, and its outputs evaluate (against a stand-in nixpkgs, see
//! `tests/flake/check.nix`) to a package built from Cargo.toml's version and Cargo.lock, an app
//! that runs that package's `bin/devenv`, and a dev shell with the tools the tests need, for each
//! of the four usual systems; and its source filter leaves build output and version control out of
//! the package's `src`. The `dummy://` store makes any accidental store write an error.

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

/// The store path of the package's `src` for a copy of the flake in `dir`. `--eval` runs Nix in
/// read-only mode, so the path is computed from the filtered contents without adding anything.
fn src_path(dir: &std::path::Path) -> String {
    let expr = format!(
        "let f = import {}/flake.nix; \
         pkgs = {{ rustPlatform.buildRustPackage = a: a; lib.licenses = {{ mit = 1; asl20 = 2; }}; }}; \
         o = f.outputs {{ self = o; nixpkgs.legacyPackages.x86_64-linux = pkgs; }}; \
         in toString o.packages.x86_64-linux.devenv.src",
        dir.display()
    );
    let out = nix_instantiate(&["--eval", "--strict", "-E", &expr]);
    let text = String::from_utf8(out.stdout).unwrap();
    text.trim().trim_matches('"').to_string()
}

#[test]
fn package_source_leaves_out_build_output_and_version_control() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for f in ["flake.nix", "Cargo.toml", "Cargo.lock"] {
        std::fs::copy(checkout().join(f), dir.join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
    let before = src_path(dir);
    assert!(before.ends_with("-devenv-source"), "{before}");

    for junk in ["target/debug/devenv", ".git/HEAD", "result"] {
        let p = dir.join(junk);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "junk").unwrap();
    }
    assert_eq!(
        src_path(dir),
        before,
        "target/, .git and result are not part of the source"
    );

    std::fs::write(dir.join("src/lib.rs"), "\n").unwrap();
    assert_ne!(src_path(dir), before, "real sources are");
}
