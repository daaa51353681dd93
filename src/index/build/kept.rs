//! Kept evaluations: each finished (revision, system) evaluation is stored under `<out>/.build/`
//! as soon as it finishes, so a build interrupted at any point evaluates only what was left.
//!
//! A kept evaluation is the [`EvalResult`] as compact JSON in one zstd frame with a content
//! checksum (`<rev>-<system>.json.zst`). Compression makes it about six times smaller (nixpkgs
//! evaluations are tens of megabytes of store paths and descriptions) for well under a
//! millisecond per megabyte. Kept evaluations are not fsynced: one that a crash lost, cut short
//! or garbled fails to decompress, fails its checksum or fails to parse, and is evaluated again;
//! one that names another revision or system than its file name is not trusted either.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::eval::EvalResult;

/// zstd level 1: on this data as small as the default level 3, at three times the speed.
const LEVEL: i32 = 1;

/// Where the evaluation of `rev` for `system` is kept.
pub fn path(build_dir: &Path, rev: &str, system: &str) -> PathBuf {
    build_dir.join(format!("{rev}-{system}.json.zst"))
}

/// The kept evaluation at `path`, if it is whole and is the evaluation of `rev` for `system`.
pub fn read(path: &Path, rev: &str, system: &str) -> Option<EvalResult> {
    let compressed = std::fs::read(path).ok()?;
    let json = zstd::stream::decode_all(compressed.as_slice()).ok()?;
    let result: EvalResult = serde_json::from_slice(&json).ok()?;
    (result.rev == rev && result.system == system).then_some(result)
}

/// Keep a finished evaluation for a rerun (temp file + rename, so the name only ever holds a
/// whole file or none).
pub fn save(build_dir: &Path, result: &EvalResult) -> anyhow::Result<()> {
    let path = path(build_dir, &result.rev, &result.system);
    let write = || -> std::io::Result<()> {
        let json = serde_json::to_vec(result)?;
        let mut compressor = zstd::bulk::Compressor::new(LEVEL)?;
        compressor.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        let compressed = compressor.compress(&json)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(build_dir)?;
        tmp.write_all(&compressed)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::build::eval::EvalPackage;
    use crate::lock::Output;

    fn evaluation(rev: &str, system: &str) -> EvalResult {
        EvalResult {
            rev: rev.into(),
            last_modified: "2024-06-01T00:00:00Z".into(),
            system: system.into(),
            packages: (0..200)
                .map(|i| EvalPackage {
                    attr_path: format!("tool{i}"),
                    name: format!("tool{i}"),
                    version: format!("1.{i}"),
                    outputs: vec![Output {
                        name: "out".into(),
                        path: format!("/nix/store/{i:032}-tool{i}-1.{i}"),
                        default: true,
                    }],
                    summary: format!("Tool number {i}"),
                    homepage: String::new(),
                    license: vec!["MIT".into()],
                })
                .collect(),
            failed: vec!["broken".into()],
        }
    }

    #[test]
    fn a_saved_evaluation_reads_back_and_is_compressed() {
        let dir = tempfile::tempdir().unwrap();
        let rev = "a".repeat(40);
        let result = evaluation(&rev, "x86_64-linux");
        save(dir.path(), &result).unwrap();
        let file = path(dir.path(), &rev, "x86_64-linux");
        assert_eq!(read(&file, &rev, "x86_64-linux"), Some(result.clone()));
        let json_len = serde_json::to_vec(&result).unwrap().len() as u64;
        assert!(std::fs::metadata(&file).unwrap().len() * 3 < json_len);
        // Nothing but the kept file is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_cut_short_or_garbled_evaluation_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let rev = "b".repeat(40);
        save(dir.path(), &evaluation(&rev, "x86_64-linux")).unwrap();
        let file = path(dir.path(), &rev, "x86_64-linux");
        let whole = std::fs::read(&file).unwrap();
        // Cut at every length a crash could leave, and every byte flipped in turn.
        for len in 0..whole.len() {
            std::fs::write(&file, &whole[..len]).unwrap();
            assert_eq!(read(&file, &rev, "x86_64-linux"), None, "cut at {len}");
        }
        // A flipped bit may land where it changes nothing (the frame's window size, say); what
        // must never happen is reading back anything but the evaluation that was saved.
        let original = evaluation(&rev, "x86_64-linux");
        let mut detected = 0;
        for i in 0..whole.len() {
            let mut bytes = whole.clone();
            bytes[i] ^= 0x20;
            std::fs::write(&file, &bytes).unwrap();
            match read(&file, &rev, "x86_64-linux") {
                None => detected += 1,
                Some(r) => assert_eq!(r, original, "byte {i} flipped"),
            }
        }
        assert!(detected >= whole.len() - 8, "{detected} of {}", whole.len());
        // Whole, but under another revision's or system's name.
        std::fs::write(&file, &whole).unwrap();
        assert_eq!(read(&file, &"c".repeat(40), "x86_64-linux"), None);
        assert_eq!(read(&file, &rev, "aarch64-darwin"), None);
        assert!(read(&dir.path().join("missing.json.zst"), &rev, "x86_64-linux").is_none());
    }
}
