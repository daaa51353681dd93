//! What the suite keeps of the fuzzers: every committed input of every `cargo fuzz` target, the
//! seed corpus (`fuzz/corpus/<target>/`) and the inputs that once made a target fail
//! (`fuzz/regressions/<target>/`), replayed through the same property the target checks
//! (`devenv::fuzzing`). Running the fuzzers themselves is `scripts/fuzz.sh`.

use std::path::{Path, PathBuf};

use devenv::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files in `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Run `target`'s property on each of its corpus and regression inputs; the message names every
/// input that fails.
fn replay(target: &str) {
    let (_, check) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target `{target}`"));
    let corpus = inputs(&fuzz_dir().join("corpus").join(target));
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ has no seeds");
    let regressions = inputs(&fuzz_dir().join("regressions").join(target));
    let mut failed = Vec::new();
    for file in corpus.iter().chain(&regressions) {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(failed.is_empty(), "{target} fails on: {failed:#?}");
}

#[test]
fn lock() {
    replay("lock");
}

#[test]
fn manifest() {
    replay("manifest");
}

#[test]
fn nar_reader() {
    replay("nar_reader");
}

#[test]
fn narinfo() {
    replay("narinfo");
}

#[test]
fn store_path() {
    replay("store_path");
}

#[test]
fn version() {
    replay("version");
}

/// Every target has a test above, a seed corpus and a binary; nothing under `fuzz/` names a
/// target that does not exist.
#[test]
fn targets_binaries_and_directories_match() {
    let this = std::fs::read_to_string(file!()).unwrap();
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        assert!(
            this.contains(&format!("replay(\"{name}\")")),
            "{name} is not replayed"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no binary {name}"
        );
        assert!(fuzz_dir().join(format!("fuzz_targets/{name}.rs")).is_file());
    }
    for dir in ["corpus", "regressions", "fuzz_targets"] {
        for entry in std::fs::read_dir(fuzz_dir().join(dir))
            .into_iter()
            .flatten()
        {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(name, _)| *name == stem),
                "{} is not a fuzz target's",
                path.display()
            );
        }
    }
}
