//! The NAR reader against arbitrary bytes: validation and unpacking agree, what is accepted is
//! canonical (dumping the unpacked tree gives back the input exactly) and restored with Nix's
//! modes and times, what is refused leaves nothing behind, and nothing is ever written outside
//! the target.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::nix::nar::{self, UnpackStats};

/// Validate and unpack `data` into a fresh sandbox, checking every property of the reader.
pub fn nar_reader(data: &[u8]) {
    let sandbox = Sandbox::new();
    let target = sandbox.target();
    let validated = nar::validate(data);
    let unpacked = nar::unpack(data, &target);
    match (&validated, &unpacked) {
        (Ok(checked), Ok(stats)) => {
            assert_eq!(checked, stats, "validate and unpack count differently");
            assert_eq!(stats.nar_size, data.len() as u64);
            let mut again = Vec::new();
            nar::dump(&target, &mut again).expect("an unpacked tree can be dumped");
            assert!(again == data, "a non-canonical NAR was accepted");
            let tree = UnpackStats {
                nar_size: stats.nar_size,
                ..restored(&target)
            };
            assert_eq!(&tree, stats, "the restored tree differs from the archive");
        }
        (Err(refused), Err(e)) => {
            assert!(
                fs::symlink_metadata(&target).is_err(),
                "a failed unpack left its target: {e}"
            );
            assert!(refused.rule().is_some(), "validate failed without a rule");
            assert_eq!(
                refused.rule(),
                e.rule(),
                "validate and unpack refuse differently"
            );
            assert!(
                refused.to_string().starts_with("invalid NAR at "),
                "{refused}"
            );
        }
        _ => panic!("validate and unpack disagree: {validated:?} / {unpacked:?}"),
    }
    sandbox.check_outside();
}

/// What the restored tree holds, counted as [`UnpackStats`] (except the archive size), after
/// checking each node carries the modes and time Nix's store gives it.
fn restored(target: &Path) -> UnpackStats {
    let mut stats = UnpackStats::default();
    // Never through a symlink, the root included (an archive may be a link to `/`).
    let walk = walkdir::WalkDir::new(target)
        .follow_links(false)
        .follow_root_links(false);
    for entry in walk {
        let entry = entry.expect("the restored tree can be walked");
        let meta = entry.metadata().expect("the restored tree can be read");
        assert_eq!(meta.mtime(), 1, "{}: mtime", entry.path().display());
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            stats.symlinks += 1;
        } else if meta.is_dir() {
            assert_eq!(mode, 0o555, "{}: mode", entry.path().display());
            stats.directories += 1;
        } else {
            assert!(
                mode == 0o444 || mode == 0o555,
                "{}: mode {mode:o}",
                entry.path().display()
            );
            stats.files += 1;
            stats.content_bytes += meta.len();
        }
    }
    stats
}

/// A directory holding the target's parent and a sibling that must stay untouched.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::create_dir(dir.path().join("outside")).expect("a sandbox directory");
        fs::write(dir.path().join("outside/keep"), b"keep").expect("a sandbox file");
        fs::create_dir(dir.path().join("work")).expect("a sandbox directory");
        Sandbox { dir }
    }

    fn target(&self) -> PathBuf {
        self.dir.path().join("work/target")
    }

    /// Everything but the target is as it was made.
    fn check_outside(&self) {
        let root = self.dir.path();
        let mut found: Vec<PathBuf> = walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .map(|e| e.expect("the sandbox can be walked").into_path())
            .filter(|p| !p.starts_with(self.target()))
            .collect();
        found.sort();
        let made: Vec<PathBuf> = ["", "outside", "outside/keep", "work"]
            .iter()
            .map(|p| {
                if p.is_empty() {
                    root.to_owned()
                } else {
                    root.join(p)
                }
            })
            .collect();
        assert_eq!(found, made, "something was written outside the target");
        assert_eq!(
            fs::read(root.join("outside/keep")).ok().as_deref(),
            Some(&b"keep"[..])
        );
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Restored directories are read-only; open them so the temporary directory can go.
        for entry in walkdir::WalkDir::new(self.dir.path())
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_dir() {
                let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755));
            }
        }
    }
}
