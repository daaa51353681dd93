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
}
