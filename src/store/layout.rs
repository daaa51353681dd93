//! Where store paths live on disk: the logical store dir is always `/nix/store` (hashes depend on
//! it), the physical root is configurable like Nix's `local?root=`.

use std::path::{Path, PathBuf};

/// The logical store directory every store path starts with.
pub const STORE_DIR: &str = "/nix/store";

/// Maps logical store paths to files under a physical root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLayout {
    /// `/` for a real `/nix/store`, or any directory for a diverted store.
    pub root: PathBuf,
}

impl StoreLayout {
    pub fn new(root: impl Into<PathBuf>) -> StoreLayout {
        StoreLayout { root: root.into() }
    }

    /// The physical directory of the store (`<root>/nix/store`).
    pub fn store_dir(&self) -> PathBuf {
        self.root.join(STORE_DIR.trim_start_matches('/'))
    }

    /// The physical location of an absolute logical path such as `/nix/store/…-hello-2.12/bin/hello`.
    pub fn real_path(&self, logical: &str) -> PathBuf {
        self.root.join(logical.trim_start_matches('/'))
    }

    /// The logical form of a physical path inside the store, if it is one.
    pub fn logical_path(&self, physical: &Path) -> Option<String> {
        let rel = physical.strip_prefix(&self.root).ok()?;
        let logical = Path::new("/").join(rel);
        let s = logical.to_str()?;
        s.starts_with(STORE_DIR).then(|| s.to_string())
    }
}

/// Whether `dir` is a writable directory, or its nearest existing ancestor is one (so it can be
/// created). An ancestor that is a file means it can never be created. Only looks; creates nothing.
pub fn can_create(dir: &Path) -> bool {
    dir.ancestors()
        .find(|d| d.symlink_metadata().is_ok())
        .is_some_and(|d| d.is_dir() && writable(d))
}

/// Whether this user may write into `dir` (asks the kernel, so root and ACLs are accounted for).
pub fn writable(dir: &Path) -> bool {
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
}

/// What identifies the state of directory `dir`'s entry list, combined with `paths` (what was
/// checked in it): device, inode and change time (which moves whenever an entry is added,
/// removed or renamed, and cannot be set by anyone). The flag says whether the change time is
/// old enough (2 s) that a change in the same tick of a coarse file system clock has already
/// shown; only then may the stamp stand for "nothing changed since".
pub fn dir_stamp(dir: &Path, paths: &[String]) -> Option<(String, bool)> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).ok()?;
    let mut sorted: Vec<&String> = paths.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for p in sorted {
        hasher.update(p.as_bytes());
        hasher.update(b"\n");
    }
    let digest = hasher.finalize();
    let stamp = format!(
        "{}:{}:{}.{:09}:{}",
        meta.dev(),
        meta.ino(),
        meta.ctime(),
        meta.ctime_nsec(),
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Some((stamp, now - meta.ctime() >= 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_between_logical_and_physical() {
        let l = StoreLayout::new("/tmp/root");
        let p = l.real_path("/nix/store/abc-hello/bin/hello");
        assert_eq!(p, PathBuf::from("/tmp/root/nix/store/abc-hello/bin/hello"));
        assert_eq!(
            l.logical_path(&p).unwrap(),
            "/nix/store/abc-hello/bin/hello"
        );
        assert_eq!(
            StoreLayout::new("/").store_dir(),
            PathBuf::from("/nix/store")
        );
    }

    #[test]
    fn a_dir_stamp_moves_when_an_entry_goes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        let paths = vec!["/nix/store/a".to_string()];
        let (before, settled) = dir_stamp(tmp.path(), &paths).unwrap();
        assert!(!settled, "just changed");
        assert_eq!(dir_stamp(tmp.path(), &paths).unwrap().0, before);
        assert_ne!(dir_stamp(tmp.path(), &[]).unwrap().0, before, "other paths");
        // Past one tick of any file system clock, then a removal.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::remove_dir(tmp.path().join("a")).unwrap();
        assert_ne!(dir_stamp(tmp.path(), &paths).unwrap().0, before);
        assert!(dir_stamp(&tmp.path().join("none"), &paths).is_none());
    }

    #[test]
    fn creatable_walks_up_to_an_existing_ancestor() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(can_create(&tmp.path().join("a/b/nix/store")));
        std::fs::write(tmp.path().join("file"), "").unwrap();
        assert!(!can_create(&tmp.path().join("file/nix/store")));
        let ro = tmp.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        let mut perm = std::fs::metadata(&ro).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o555);
        std::fs::set_permissions(&ro, perm).unwrap();
        // root may write anywhere; the answer must then agree with what the kernel says.
        let kernel_says = std::fs::create_dir(ro.join("probe")).is_ok();
        assert_eq!(can_create(&ro.join("nix/store")), kernel_says);
    }
}
