//! The store as the rest of devenv sees it: a [`Store`] makes typed store paths valid, says where
//! they are on disk and keeps them alive with GC roots, whoever owns the store.
//!
//! Two implementations exist. [`LocalStore`](super::LocalStore) is devenv's own store under a
//! physical root, filled by substituting from binary caches. [`DaemonStore`](super::DaemonStore)
//! hands everything to the machine's Nix daemon when it owns `/nix/store` and this user cannot
//! write it. [`open`](super::open) picks one for the settings, so callers never match on which
//! they got. Paths are [`StorePath`]s: parsing is done once, where they enter (the lock), and
//! nothing below handles a string that might not be a store path.

use std::path::{Path, PathBuf};

use super::{Progress, RealizeReport, StoreError};
use crate::nix::store_path::StorePath;

/// A GC root: a name that keeps a set of paths alive, optionally only as long as a file exists
/// (a project's lock or manifest), so deleting a project frees what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootSpec<'a> {
    pub name: &'a str,
    pub link: Option<&'a Path>,
}

/// A store devenv can realize paths in.
pub trait Store: Send + Sync {
    /// The store in a few words, for messages ("the store at `/`", "the Nix daemon's store").
    fn describe(&self) -> String;

    /// Make `paths` and their closures valid, then (with `root`) make that root hold exactly
    /// `paths`, with no garbage collection able to run in between. Fails with
    /// [`StoreError::MissingPaths`] when no binary cache has some path.
    fn realize(
        &self,
        paths: &[StorePath],
        root: Option<RootSpec<'_>>,
        progress: &dyn Progress,
    ) -> Result<RealizeReport, StoreError>;

    /// Whether `path` is valid (complete and registered) in this store.
    fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError>;

    /// Where `path` is on disk.
    fn real_path(&self, path: &StorePath) -> PathBuf;

    /// Make root `root` hold exactly `paths` (which should be valid).
    fn add_gc_root(&self, root: RootSpec<'_>, paths: &[StorePath]) -> Result<(), StoreError>;

    /// Drop root `name`; returns whether it existed.
    fn remove_gc_root(&self, name: &str) -> Result<bool, StoreError>;

    /// Build `installable` with the installed Nix, check that it produced every path in
    /// `wanted`, and make the results (with their closures) valid here. Returns what was built.
    fn build_with_nix(
        &self,
        installable: &str,
        wanted: &[StorePath],
    ) -> Result<Vec<String>, StoreError>;
}
