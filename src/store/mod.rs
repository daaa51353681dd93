//! The Nix-compatible store: logical dir `/nix/store` under a configurable physical root, filled
//! by substituting signed NARs from binary caches, with metadata in SQLite and GC roots.
//!
//! The [`Store`] trait (`api`) is what other modules use: [`open`] picks the implementation for
//! the settings ([`LocalStore`], devenv's own store, or [`DaemonStore`], the machine's Nix daemon
//! when it owns `/nix/store`), [`Store::realize`] makes a set of typed store paths (and their
//! closures) valid, [`Store::add_gc_root`] keeps them alive. Failures are [`StoreError`] values
//! whose messages describe the store, never a command to run: what to do about them is for the
//! caller to say. The store never prints; progress goes through a [`Progress`] the caller passes.
//!
//! Submodules: `local` (devenv's own store), `daemon` (the hand-off to Nix), `db` (metadata),
//! `locks` (process safety), `cache` (reading binary caches), `substitute` (the verified pipeline
//! for one path), `fetch` (scheduling a closure's downloads and registrations), `durability`
//! (surviving a power failure without waiting for the disk), `diskfull` (a full disk told apart
//! from a bad download), `cache_writer` (writing binary caches, for `push` and `publish`), `push`
//! (a store's closure into a binary cache), `gc`, `nix` (coexisting with an installed Nix),
//! `mode` (which store, and why: at its root, in a user namespace, or the daemon's).

pub mod api;
pub mod cache;
pub mod cache_writer;
pub mod daemon;
pub mod db;
pub mod diskfull;
pub mod durability;
pub mod error;
pub mod fetch;
pub mod gc;
pub mod layout;
pub mod local;
pub mod locks;
pub mod mode;
pub mod nix;
pub mod push;
pub mod substitute;

use std::path::PathBuf;

use crate::settings::Settings;
pub use api::{RootSpec, Store};
pub use daemon::DaemonStore;
pub use error::{MissingPaths, StoreError};
pub use fetch::NarFallback;
pub use local::LocalStore;

/// Prefix of temporary directories inside the store dir (same file system, so renames are atomic).
pub const TMP_PREFIX: &str = ".devenv-tmp-";

/// Mode of the directories of the store tree (`nix/`, `nix/store/`, `nix/var/`) devenv creates:
/// Nix's, whatever the umask. Store paths themselves are unpacked read-only (0444/0555).
pub const PUBLIC_DIR: u32 = 0o755;

/// Receives progress events; the store itself never prints.
pub trait Progress: Sync {
    /// How many paths and NAR bytes are about to be fetched.
    fn planned(&self, _paths: usize, _nar_bytes: u64) {}
    fn started(&self, _path: &str, _nar_size: u64) {}
    /// NAR bytes processed (any path).
    fn bytes(&self, _n: u64) {}
    fn finished(&self, _path: &str) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What [`Store::realize`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RealizeReport {
    /// Paths asked for (before closure).
    pub requested: usize,
    /// Paths this process downloaded, sorted.
    pub fetched: Vec<String>,
    /// Sum of the NAR sizes fetched.
    pub nar_bytes: u64,
    /// Whether fetched paths were also registered with a Nix installation sharing the root.
    pub registered_with_nix: bool,
    /// Configured caches that could not be reached and were skipped.
    pub unreachable_caches: Vec<cache::Unreachable>,
    /// Paths registered before a restart whose files did not survive it (with their
    /// referrers): unregistered, and fetched again if wanted. Sorted.
    pub damaged_by_restart: Vec<String>,
    /// Registered paths whose directory had been deleted (with their referrers): unregistered,
    /// and fetched again if wanted. Sorted.
    pub missing_on_disk: Vec<String>,
    /// Paths a cache failed to deliver that came from another cache, sorted by path.
    pub nar_fallbacks: Vec<NarFallback>,
}

const DAEMON_SOCKET: &str = "/nix/var/nix/daemon-socket/socket";

/// devenv's database in a store whose root is `/`.
pub const DEFAULT_DB: &str = "/nix/var/devenv/db.sqlite";

/// Open the store the settings point at: devenv's own store under the root [`mode::choose`]
/// picks, or the Nix daemon's. A namespace store is checked first ([`mode::check_namespace`]),
/// so nothing is installed where its programs could not run.
pub fn open(settings: &Settings) -> Result<Box<dyn Store>, StoreError> {
    let choice = mode::choose(settings)?;
    if choice.mode == crate::settings::StoreMode::Namespace {
        if let Some(root) = &choice.root {
            mode::check_namespace(root)?;
        }
    }
    match choice.root {
        Some(root) => Ok(Box::new(LocalStore::open_at(&root, settings)?)),
        None => Ok(Box::new(DaemonStore::new(settings))),
    }
}

/// The physical root of devenv's own store for these settings, or `None` when the Nix daemon
/// is to be used (see [`mode::choose`]).
pub fn choose_root(settings: &Settings) -> Result<Option<PathBuf>, StoreError> {
    Ok(mode::choose(settings)?.root)
}
