//! The Nix-compatible local store: logical dir `/nix/store` under a configurable physical root,
//! filled by substituting signed NARs from binary caches, with metadata in SQLite and GC roots.
//!
//! [`Store`] is the one entry point other modules use: [`Store::open`] decides the root,
//! [`Store::realize`] makes a set of paths (and their closure) valid, [`Store::add_gc_root`]
//! keeps them alive. It never prints; progress goes through a [`Progress`] the caller passes.
//! Submodules: `db` (metadata), `locks` (process safety), `cache` (reading binary caches),
//! `substitute` (the verified pipeline for one path), `fetch` (scheduling a
//! closure's downloads and registrations), `durability` (surviving a power failure without
//! waiting for the disk), `diskfull` (a full disk told apart from a bad download), `push`
//! (writing binary caches), `gc`, `nix` (coexisting with an installed Nix).
//!
//! Realizing also checks what the database cannot know: that the directories of the registered
//! paths it hands out still exist (one `stat` each), since anything can delete them. And a
//! complete store that this user cannot write (a read-only mount, an image, a directory of
//! someone else) is opened read-only: everything it has can be used, nothing is locked or
//! written, and only a path it lacks is an error.

pub mod cache;
pub mod db;
pub mod diskfull;
pub mod durability;
pub mod fetch;
pub mod gc;
pub mod layout;
pub mod locks;
pub mod nix;
pub mod push;
pub mod substitute;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Context as _, Result};

use crate::diagnostic::ResultExt;
use crate::nix::signature::TrustedKeys;
use crate::nix::store_path::StorePath;
use crate::settings::Settings;
use cache::BinaryCache;
use db::{Db, PathInfo};
pub use fetch::NarFallback;
use layout::StoreLayout;
pub use substitute::MissingPaths;

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

/// Where realization happens for the current settings.
pub enum Backend {
    /// Our own store under a physical root.
    Local(Box<Store>),
    /// The machine's Nix daemon owns `/nix/store` and we cannot write it: delegate to Nix.
    NixDaemon,
}

/// An open local store.
pub struct Store {
    layout: StoreLayout,
    /// `<root>/nix/var/devenv`: database, locks.
    state_dir: PathBuf,
    db: Mutex<Db>,
    substituters: Vec<String>,
    trusted_public_keys: Vec<String>,
    cache_dir: PathBuf,
    /// Parallel narinfo lookups and downloads.
    jobs: usize,
    /// The invocation's HTTP client (timeout, retries, the waiting line).
    http: crate::http::Client,
    /// The kernel boot id, when known: fetched paths are then registered without waiting for
    /// the disk (see `durability`).
    boot_id: Option<String>,
    /// The database exists but this user cannot write it: nothing is locked or written.
    read_only: bool,
}

const DAEMON_SOCKET: &str = "/nix/var/nix/daemon-socket/socket";

/// devenv's database in a store whose root is `/`.
pub const DEFAULT_DB: &str = "/nix/var/devenv/db.sqlite";

impl Store {
    /// Open the store the settings point at (see [`Backend`] for the default root).
    pub fn open(settings: &Settings) -> Result<Store> {
        match Store::open_backend(settings)? {
            Backend::Local(s) => Ok(*s),
            Backend::NixDaemon => Err(no_writable_store())
                .hint("or set DEVENV_STORE_ROOT (or --store-root) to a directory you own"),
        }
    }

    /// Decide the root: `--store-root`/`DEVENV_STORE_ROOT`/config; else `/` when `/nix/store` is
    /// writable or can be created; else the Nix daemon when one runs; else `/` read-only when
    /// devenv's database is there; else an error with options.
    pub fn open_backend(settings: &Settings) -> Result<Backend> {
        let root = match &settings.store_root.value {
            Some(r) => r.clone(),
            None => {
                if layout::can_create(Path::new("/nix/store")) {
                    PathBuf::from("/")
                } else if Path::new(DAEMON_SOCKET).exists() {
                    return Ok(Backend::NixDaemon);
                } else if Path::new(DEFAULT_DB).exists() {
                    // A store this user cannot write (a read-only mount, an image): opened
                    // read-only, it still serves everything it has.
                    PathBuf::from("/")
                } else {
                    return Err(no_writable_store())
                        .hint(
                            "create it once, owned by you: `sudo mkdir -p /nix && sudo chown $USER /nix` \
                             (install.sh offers to do this)",
                        )
                        .hint("or set DEVENV_STORE_ROOT to a directory you own (programs from \
                               binary caches expect /nix/store, so this suits caches and tests)");
                }
            }
        };
        Store::open_at(&root, settings).map(|s| Backend::Local(Box::new(s)))
    }

    /// Open (creating) the store with physical root `root`; read-only when its database exists
    /// and this user cannot write it.
    pub fn open_at(root: &Path, settings: &Settings) -> Result<Store> {
        let layout = StoreLayout::new(root);
        let state_dir = layout.real_path("/nix/var/devenv");
        let db_path = state_dir.join("db.sqlite");
        // `access(2)`, so a read-only mount, an immutable file and permissions all count.
        let read_only =
            db_path.exists() && !(layout::writable(&state_dir) && layout::writable(&db_path));
        let db = if read_only {
            Db::open_read_only(&db_path)?
        } else {
            // Like Nix's: readable by everyone, writable by the owner alone, whatever the umask.
            crate::fsutil::create_dir_all_with_mode(&layout.store_dir(), PUBLIC_DIR)
                .and_then(|()| {
                    crate::fsutil::create_dir_all_with_mode(
                        &layout.real_path("/nix/var"),
                        PUBLIC_DIR,
                    )
                })
                .with_context(|| {
                    format!("cannot create the store `{}`", layout.store_dir().display())
                })
                .hint(
                    "check that the store root is writable, or choose another with \
                     DEVENV_STORE_ROOT",
                )?;
            // The database and locks are this user's alone.
            crate::fsutil::create_private_dir_all(&state_dir)
                .with_context(|| format!("cannot create `{}`", state_dir.display()))?;
            Db::open(&db_path)?
        };
        Ok(Store {
            layout,
            state_dir,
            db: Mutex::new(db),
            substituters: settings.substituters.value.clone(),
            trusted_public_keys: settings.trusted_public_keys.value.clone(),
            cache_dir: settings.dirs.cache.join("narinfo"),
            jobs: settings.jobs.value,
            http: settings.http.clone(),
            boot_id: durability::boot_id(),
            read_only,
        })
    }

    /// Whether the store was opened read-only (see [`Store::open_at`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn layout(&self) -> &StoreLayout {
        &self.layout
    }

    /// Whether `path` (`/nix/store/…`) is registered valid.
    pub fn is_valid(&self, path: &str) -> Result<bool> {
        self.db.lock().expect("db lock").is_valid(path)
    }

    /// Recorded metadata of a valid path.
    pub fn path_info(&self, path: &str) -> Result<Option<PathInfo>> {
        self.db.lock().expect("db lock").info(path)
    }

    /// All valid paths, sorted.
    pub fn valid_paths(&self) -> Result<Vec<String>> {
        self.db.lock().expect("db lock").all_paths()
    }

    pub(crate) fn register(&self, info: &PathInfo) -> Result<()> {
        self.db().register(info)
    }

    /// Register a fetched path. When the boot id is known its files need not be on disk yet:
    /// the registration records the boot (see `durability`). Otherwise the caller must have
    /// flushed them ([`Store::flush_before_registering`]).
    pub(crate) fn register_fetched(&self, info: &PathInfo) -> Result<()> {
        self.db().register_in_boot(info, self.boot_id.as_deref())
    }

    /// Whether fetched paths must be flushed to disk before they are registered: only when the
    /// boot id is unknown, so a restart could not be noticed afterwards.
    pub(crate) fn flush_before_registering(&self) -> bool {
        self.boot_id.is_none()
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().expect("db lock")
    }

    /// The closure of `paths` among valid paths, sorted references-first (a path after
    /// everything it references).
    pub fn closure(&self, paths: &[String]) -> Result<Vec<String>> {
        let db = self.db.lock().expect("db lock");
        let mut order = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        // Iterative post-order DFS so deep closures cannot overflow the stack.
        for p in paths {
            let mut stack: Vec<(String, bool)> = vec![(p.clone(), false)];
            while let Some((cur, expanded)) = stack.pop() {
                if expanded {
                    order.push(cur);
                    continue;
                }
                if !seen.insert(cur.clone()) {
                    continue;
                }
                let info = db
                    .info(&cur)?
                    .with_context(|| format!("`{cur}` is not valid in the store"))?;
                stack.push((cur.clone(), true));
                for r in info.references.iter().rev() {
                    if *r != cur && !seen.contains(r) {
                        stack.push((r.clone(), false));
                    }
                }
            }
        }
        Ok(order)
    }

    /// Make `paths` and their closures valid, substituting from the configured binary caches.
    /// Fails with [`MissingPaths`] in the chain when no cache has some path.
    pub fn realize(&self, paths: &[String], progress: &dyn Progress) -> Result<RealizeReport> {
        self.realize_rooted(paths, None, progress)
    }

    /// [`Store::realize`], then make `root` = (name, link) hold exactly `paths`, without a
    /// garbage collection able to run in between.
    pub fn realize_rooted(
        &self,
        paths: &[String],
        root: Option<(&str, Option<&Path>)>,
        progress: &dyn Progress,
    ) -> Result<RealizeReport> {
        let wanted = paths
            .iter()
            .map(|p| {
                StorePath::parse_absolute(p)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| format!("`{p}` is not a valid store path"))
                    .bad_input()
            })
            .collect::<Result<Vec<_>>>()?;
        // Before the shared lock: settling and repairing take it exclusively when they have work.
        let settled = match self.read_only {
            true => durability::Settled::default(),
            false => durability::settle(self)?,
        };
        let missing_on_disk = self.forget_missing(paths, root.map(|r| r.0))?;
        let _gc = self.gc_lock_shared()?;
        let mut report = RealizeReport {
            requested: paths.len(),
            damaged_by_restart: settled.invalidated,
            missing_on_disk,
            ..Default::default()
        };
        let mut invalid = Vec::new();
        for p in paths {
            if !self.is_valid(p)? {
                invalid.push(p.clone());
            }
        }
        if !invalid.is_empty() {
            if self.read_only {
                return Err(self.read_only_error(&invalid));
            }
            self.clean_stale_tmp();
            let subs = self.substituters()?;
            let fetched = fetch::fetch_closure(self, &subs, &wanted, self.jobs, progress)?;
            report.fetched = fetched.paths;
            report.nar_bytes = fetched.nar_bytes;
            report.nar_fallbacks = fetched.fallbacks;
            report.unreachable_caches = subs.unreachable.clone();
        }
        if self.read_only {
            // Nothing can be registered or rooted in a store nobody here may write, and nothing
            // can be collected from it either.
            return Ok(report);
        }
        report.registered_with_nix = nix::register_with_nix(self, paths)?;
        if let Some((name, link)) = root {
            self.db
                .lock()
                .expect("db lock")
                .set_root(name, paths, link)?;
            nix::sync_nix_roots(self)?;
        }
        Ok(report)
    }

    /// The registered paths of the closure of `paths` whose directory is gone. One query and one
    /// `stat` per path.
    pub fn missing_on_disk(&self, paths: &[String]) -> Result<Vec<String>> {
        let closure = self.db().closure_of(paths)?;
        Ok(closure
            .into_iter()
            .filter(|p| {
                std::fs::symlink_metadata(self.layout.real_path(p))
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            })
            .collect())
    }

    /// Unregister the paths of the closure of `paths` whose directory was deleted behind
    /// devenv's back, with every path referring to them (their closures are incomplete now), so
    /// the fetch replaces them. Returns what was unregistered, sorted.
    ///
    /// Removing a directory from the store changes the store directory's change time, so when
    /// it is what it was at the last complete check of root `root` holding these same paths,
    /// nothing can be missing and the check is skipped: one `stat` instead of one per path.
    fn forget_missing(&self, paths: &[String], root: Option<&str>) -> Result<Vec<String>> {
        // Taken before the check, so a removal during the check changes it afterwards. (A
        // read-only store records nothing, and may predate the table.)
        let stamp = root
            .filter(|_| !self.read_only)
            .and_then(|_| layout::dir_stamp(&self.layout.store_dir(), paths));
        if let (Some(name), Some((stamp, _))) = (root, &stamp) {
            if self.db().checked_stamp(name)?.as_ref() == Some(stamp) {
                return Ok(Vec::new());
            }
        }
        if self.missing_on_disk(paths)?.is_empty() {
            if let (Some(name), Some((stamp, true))) = (root, stamp) {
                self.db().set_checked_stamp(name, &stamp)?;
            }
            return Ok(Vec::new());
        }
        if self.read_only {
            let gone = self.missing_on_disk(paths)?;
            return Err(self.read_only_error(&gone));
        }
        // Exclusively, like settling: no install registers anything meanwhile, and another
        // process that repaired them first leaves nothing to do.
        let _gc = locks::exclusive(&self.state_dir.join("gc.lock"))?;
        let gone = self.missing_on_disk(paths)?;
        if gone.is_empty() {
            return Ok(Vec::new());
        }
        let mut db = self.db();
        let doomed = db.with_referrers(&gone)?;
        db.unregister(&doomed)?;
        Ok(doomed)
    }

    /// The store is read-only and lacks `paths` (or their directories).
    fn read_only_error(&self, paths: &[String]) -> anyhow::Error {
        let dir = self.layout.store_dir();
        Err::<(), _>(anyhow!(
            "the store `{}` is read-only, and {} path(s) needed here are not in it: {}",
            dir.display(),
            paths.len(),
            paths.join(", ")
        ))
        .hint(format!(
            "run `devenv install` where `{}` is writable (e.g. when building the image that \
             holds it), or set DEVENV_STORE_ROOT to a store root you can write",
            dir.display()
        ))
        .expect_err("an error")
    }

    /// The GC lock, shared. A read-only store takes it only when its lock file exists (a
    /// read-only descriptor can hold a shared `flock`), so someone who can write the store still
    /// does not collect while it is read.
    fn gc_lock_shared(&self) -> Result<Option<locks::Lock>> {
        let path = self.state_dir.join("gc.lock");
        match self.read_only {
            true => locks::shared_existing(&path),
            false => locks::shared(&path).map(Some),
        }
    }

    /// Open the configured binary caches, sorted by priority (stable: ties keep the given order).
    fn substituters(&self) -> Result<substitute::Substituters> {
        let keys = TrustedKeys::from_strings(&self.trusted_public_keys)
            .map_err(|e| anyhow!("{e}"))
            .context("invalid trusted public key")
            .hint("keys look like `name:base64`, e.g. the one in cache.nixos.org's documentation")
            .bad_input()?;
        let mut caches = Vec::new();
        let mut unreachable = Vec::new();
        for url in &self.substituters {
            match BinaryCache::open(url, &self.http, Some(&self.cache_dir)) {
                Ok(cache) => caches.push(cache),
                // Skipped like Nix skips a cache it cannot reach: the others may have
                // everything. A cache that answers wrongly (bad URL, other StoreDir) still
                // stops the install, since that is a mistake to fix, not an outage.
                Err(e) => match e.downcast::<cache::Unreachable>() {
                    Ok(u) => unreachable.push(u),
                    Err(e) => return Err(e),
                },
            }
        }
        if caches.is_empty() {
            if let Some(first) = unreachable.first() {
                let all: Vec<String> = unreachable.iter().map(|u| u.to_string()).collect();
                // A network that is not there is fixed by a local cache, not by a URL.
                let hint = unreachable
                    .iter()
                    .find_map(|u| u.hint.clone())
                    .unwrap_or_else(|| {
                        "check the network and the substituter URLs \
                     (--substituters / DEVENV_SUBSTITUTERS / \"substituters\" in config.json)"
                            .to_string()
                    });
                return Err(anyhow!("{}", all.join("; ")))
                    .context(format!(
                        "no binary cache could be reached (the first was `{}`)",
                        first.url
                    ))
                    .hint(hint);
            }
        }
        caches.sort_by_key(|c| c.priority);
        Ok(substitute::Substituters {
            caches,
            keys,
            unreachable,
        })
    }

    /// Remove temp dirs left by killed processes (those whose path lock is free).
    fn clean_stale_tmp(&self) {
        let Ok(entries) = std::fs::read_dir(self.layout.store_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(rest) = name.strip_prefix(TMP_PREFIX) else {
                continue;
            };
            let hash_part = rest.split('-').next().unwrap_or_default();
            if let Ok(Some(_lock)) =
                locks::try_exclusive(&locks::path_lock(&self.state_dir, hash_part))
            {
                let _ = substitute::remove_tree(&entry.path());
            }
        }
    }

    /// Make root `name` hold exactly `paths` (which should be valid); used for profile
    /// generations and projects. A root tied to a file (`link`) dies with that file. A
    /// read-only store records nothing: nothing can be collected from it either.
    pub fn add_gc_root(&self, name: &str, paths: &[String], link: Option<&Path>) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let _gc = locks::shared(&self.state_dir.join("gc.lock"))?;
        self.db
            .lock()
            .expect("db lock")
            .set_root(name, paths, link)?;
        nix::sync_nix_roots(self)
    }

    /// Drop root `name`; returns whether it existed.
    pub fn remove_gc_root(&self, name: &str) -> Result<bool> {
        let existed = self.db.lock().expect("db lock").remove_root(name)?;
        nix::sync_nix_roots(self)?;
        Ok(existed)
    }

    /// All GC roots.
    pub fn gc_roots(&self) -> Result<Vec<db::GcRoot>> {
        self.db.lock().expect("db lock").roots()
    }

    /// `<root>/nix/var/devenv`.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The configured binary cache URLs.
    pub fn substituter_urls(&self) -> &[String] {
        &self.substituters
    }
}

fn no_writable_store() -> anyhow::Error {
    anyhow!(
        "`/nix/store` does not exist and cannot be created by this user, and no Nix daemon runs"
    )
}
