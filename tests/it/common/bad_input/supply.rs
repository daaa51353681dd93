//! Bad input for `sbom`, `image` and `provenance`: a locked path that neither the store nor any
//! binary cache has, a system the lock does not cover (or no image can run on), and an output
//! path nobody can write. Each is one message, and no output file is left behind.

use super::cases::project;
use super::{Case, Run, Setup};

/// [`project`] (jq locked for every system, in no cache) with one empty binary cache configured.
fn with_empty_cache() -> Setup {
    let w = project();
    let cache = w.t.root().join("empty-cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    let cfg = w.t.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({ "substituters": [format!("file://{}", cache.display())] }).to_string(),
    )
    .unwrap();
    Setup { w, server: None }
}

pub fn supply_cases() -> Vec<Case> {
    let linux = |args: &[&'static str], code: i32, needles: &[&'static str]| {
        Run::new(args, code, needles).env("DEVENV_SYSTEM", "x86_64-linux")
    };
    vec![
        Case {
            name: "supply_lock_path_in_no_store_and_no_cache",
            setup: Box::new(with_empty_cache),
            runs: vec![
                linux(
                    &["sbom"],
                    1,
                    &[
                        "cannot know the environment's closure",
                        "-jq-1.7.1",
                        "empty-cache",
                    ],
                ),
                linux(
                    &["provenance"],
                    1,
                    &["cannot know the environment's closure", "-jq-1.7.1"],
                ),
                linux(&["image"], 1, &["-jq-1.7.1", "empty-cache"]),
            ],
        },
        Case {
            name: "supply_system_the_lock_does_not_cover",
            setup: Box::new(with_empty_cache),
            runs: vec![
                Run::new(
                    &["sbom", "--system", "i686-linux"],
                    2,
                    &["no packages for system `i686-linux`", "x86_64-linux"],
                ),
                Run::new(
                    &["image", "--system", "aarch64-darwin"],
                    2,
                    &["images are Linux only", "aarch64-darwin"],
                ),
                Run::new(&["sbom", "--system", "sparc-plan9"], 2, &["`sparc-plan9`"]),
            ],
        },
        Case {
            name: "supply_output_nobody_can_write",
            setup: Box::new(with_empty_cache),
            runs: vec![
                linux(
                    &["sbom", "--output", "missing-dir/sbom.json"],
                    1,
                    &["cannot write `missing-dir/sbom.json`", "--output"],
                ),
                linux(
                    &["image", "--output", "missing-dir/image.tar"],
                    1,
                    &["cannot write `missing-dir/image.tar`", "--output"],
                ),
                linux(
                    &["provenance", "-o", "."],
                    1,
                    &["cannot write `.`", "directory"],
                ),
            ],
        },
    ]
}
