//! devenv's own store: the logical dir `/nix/store` under a physical root, filled by substituting
//! signed NARs from binary caches, with metadata in SQLite and GC roots in the same database.
//!
//! Realizing also checks what the database cannot know: that the directories of the registered
//! paths it hands out still exist (one `stat` each), since anything can delete them. And a
//! complete store that this user cannot write (a read-only mount, an image, a directory of
//! someone else) is opened read-only: everything it has can be used, nothing is locked or
//! written, and only a path it lacks is an error.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Context as _, Result};

use super::api::{RootSpec, Store};
use super::cache::{BinaryCache, Unreachable};
use super::db::{self, Db, PathInfo};
use super::error::{AllUnreachable, StoreError};
use super::layout::{self, StoreLayout};
use super::{durability, fetch, locks, nix, substitute};
use super::{Progress, RealizeReport, PUBLIC_DIR};
use crate::diagnostic::ResultExt;
use crate::nix::signature::TrustedKeys;
use crate::nix::store_path::StorePath;
use crate::settings::Settings;

/// An open local store. Its fields are shared with the submodules of `store` that do the work
/// (substitution, fetching, durability, GC).
pub struct LocalStore {
    pub(super) layout: StoreLayout,
    /// `<root>/nix/var/devenv`: database, locks.
    pub(super) state_dir: PathBuf,
    pub(super) db: Mutex<Db>,
    substituters: Vec<String>,
    trusted_public_keys: Vec<String>,
    cache_dir: PathBuf,
    /// Parallel narinfo lookups and downloads (the `jobs` setting).
    jobs: usize,
    /// The invocation's HTTP client (timeout, retries, the waiting line).
    http: crate::http::Client,
    /// The kernel boot id, when known: fetched paths are then registered without waiting for
    /// the disk (see `durability`).
    pub(super) boot_id: Option<String>,
    /// The database exists but this user cannot write it: nothing is locked or written.
    read_only: bool,
}

impl LocalStore {
    /// Open the local store the settings point at, for operations only devenv's own store
    /// supports (collecting garbage, pushing to a binary cache). Fails with
    /// [`StoreError::DaemonOwned`] where [`super::open`] would hand over to the Nix daemon.
    pub fn open(settings: &Settings) -> Result<LocalStore, StoreError> {
        match super::choose_root(settings)? {
            Some(root) => LocalStore::open_at(&root, settings),
            None => Err(StoreError::DaemonOwned),
        }
    }

    /// Open (creating) the store with physical root `root`; read-only when its database exists
    /// and this user cannot write it.
    pub fn open_at(root: &Path, settings: &Settings) -> Result<LocalStore, StoreError> {
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
                .map_err(|source| StoreError::CannotCreate {
                    store_dir: layout.store_dir(),
                    source,
                })?;
            // The database and locks are this user's alone.
            crate::fsutil::create_private_dir_all(&state_dir)
                .with_context(|| format!("cannot create `{}`", state_dir.display()))?;
            Db::open(&db_path)?
        };
        Ok(LocalStore {
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

    /// Whether the store was opened read-only (see [`LocalStore::open_at`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn layout(&self) -> &StoreLayout {
        &self.layout
    }

    /// Whether `path` (`/nix/store/…`) is registered valid.
    pub fn is_valid_path(&self, path: &str) -> Result<bool> {
        self.db().is_valid(path)
    }

    /// Recorded metadata of a valid path.
    pub fn path_info(&self, path: &str) -> Result<Option<PathInfo>> {
        self.db().info(path)
    }

    /// All valid paths, sorted.
    pub fn valid_paths(&self) -> Result<Vec<String>> {
        self.db().all_paths()
    }

    pub(crate) fn register(&self, info: &PathInfo) -> Result<()> {
        self.db().register(info)
    }

    /// Register a fetched path. When the boot id is known its files need not be on disk yet:
    /// the registration records the boot (see `durability`). Otherwise the caller must have
    /// flushed them ([`LocalStore::flush_before_registering`]).
    pub(crate) fn register_fetched(&self, info: &PathInfo) -> Result<()> {
        self.db().register_in_boot(info, self.boot_id.as_deref())
    }

    /// Whether fetched paths must be flushed to disk before they are registered: only when the
    /// boot id is unknown, so a restart could not be noticed afterwards.
    pub(crate) fn flush_before_registering(&self) -> bool {
        self.boot_id.is_none()
    }

    pub(super) fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().expect("db lock")
    }

    /// The closure of `paths` among valid paths, sorted references-first (a path after
    /// everything it references).
    pub fn closure(&self, paths: &[String]) -> Result<Vec<String>> {
        let db = self.db();
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

    /// [`Store::realize`]: substitute what is missing from the configured binary caches, then
    /// record `root` under the same shared GC lock.
    fn realize_rooted(
        &self,
        wanted: &[StorePath],
        root: Option<RootSpec<'_>>,
        progress: &dyn Progress,
    ) -> Result<RealizeReport> {
        let paths: Vec<String> = wanted.iter().map(StorePath::to_absolute).collect();
        // Before the shared lock: settling and repairing take it exclusively when they have work.
        let settled = match self.read_only {
            true => durability::Settled::default(),
            false => durability::settle(self)?,
        };
        let missing_on_disk = self.forget_missing(&paths, root.map(|r| r.name))?;
        let _gc = self.gc_lock_shared()?;
        let mut report = RealizeReport {
            requested: paths.len(),
            damaged_by_restart: settled.invalidated,
            missing_on_disk,
            ..Default::default()
        };
        let mut invalid = Vec::new();
        for p in &paths {
            if !self.is_valid_path(p)? {
                invalid.push(p.clone());
            }
        }
        if !invalid.is_empty() {
            if self.read_only {
                return Err(self.read_only_error(invalid));
            }
            self.clean_stale_tmp();
            let subs = self.substituters()?;
            let fetched = fetch::fetch_closure(self, &subs, wanted, self.jobs, progress)?;
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
        report.registered_with_nix = nix::register_with_nix(self, &paths)?;
        if let Some(root) = root {
            self.db().set_root(root.name, &paths, root.link)?;
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
            return Err(self.read_only_error(gone));
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
    fn read_only_error(&self, paths: Vec<String>) -> anyhow::Error {
        StoreError::ReadOnly {
            store_dir: self.layout.store_dir(),
            paths,
        }
        .into()
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
    /// Also what `supply` asks for the narinfos of paths that are not installed.
    pub fn substituters(&self) -> Result<substitute::Substituters> {
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
                Err(e) => match e.downcast::<Unreachable>() {
                    Ok(u) => unreachable.push(u),
                    Err(e) => return Err(e),
                },
            }
        }
        if caches.is_empty() && !unreachable.is_empty() {
            return Err(StoreError::Unreachable(AllUnreachable::new(unreachable)).into());
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
            let Some(rest) = name.strip_prefix(super::TMP_PREFIX) else {
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
    fn set_gc_root(&self, root: RootSpec<'_>, paths: &[String]) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let _gc = locks::shared(&self.state_dir.join("gc.lock"))?;
        self.db().set_root(root.name, paths, root.link)?;
        nix::sync_nix_roots(self)
    }

    /// All GC roots.
    pub fn gc_roots(&self) -> Result<Vec<db::GcRoot>> {
        self.db().roots()
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

impl Store for LocalStore {
    fn describe(&self) -> String {
        format!("the store at `{}`", self.layout.root.display())
    }

    fn realize(
        &self,
        paths: &[StorePath],
        root: Option<RootSpec<'_>>,
        progress: &dyn Progress,
    ) -> Result<RealizeReport, StoreError> {
        Ok(self.realize_rooted(paths, root, progress)?)
    }

    fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError> {
        Ok(self.is_valid_path(&path.to_absolute())?)
    }

    fn real_path(&self, path: &StorePath) -> PathBuf {
        self.layout.real_path(&path.to_absolute())
    }

    fn add_gc_root(&self, root: RootSpec<'_>, paths: &[StorePath]) -> Result<(), StoreError> {
        let paths: Vec<String> = paths.iter().map(StorePath::to_absolute).collect();
        Ok(self.set_gc_root(root, &paths)?)
    }

    fn remove_gc_root(&self, name: &str) -> Result<bool, StoreError> {
        if self.read_only {
            return Ok(false);
        }
        let existed = self.db().remove_root(name)?;
        nix::sync_nix_roots(self)?;
        Ok(existed)
    }

    fn build_with_nix(
        &self,
        installable: &str,
        wanted: &[StorePath],
    ) -> Result<Vec<String>, StoreError> {
        let wanted: Vec<String> = wanted.iter().map(StorePath::to_absolute).collect();
        nix::build_and_import(self, installable, &wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::signature::SecretKey;
    use crate::settings::Overrides;
    use crate::store::cache_writer::testing::{add_dir, sample_dir};
    use crate::store::{gc, NoProgress};

    /// Settings for a world under `tmp`: a store root, devenv's directories, and the caches.
    fn settings(tmp: &Path, substituters: Vec<String>, keys: Vec<String>) -> Settings {
        Settings::for_tests(
            tmp,
            Overrides {
                substituters: Some(substituters.join(" ")),
                trusted_public_keys: Some(keys.join(" ")),
                store_root: Some(tmp.join("root")),
                ..Default::default()
            },
        )
    }

    /// A cache at `<tmp>/bincache` holding one directory signed by a new key; the settings trust
    /// that key.
    fn world(tmp: &Path) -> (Settings, StorePath, PathBuf) {
        let key = SecretKey::generate("local-test-1");
        let dir = sample_dir(tmp, "one");
        let cache = tmp.join("bincache");
        let path = add_dir(&cache, &dir, "one-1.0", Some(&key));
        let settings = settings(
            tmp,
            vec![format!("file://{}", cache.display())],
            vec![key.public().to_string()],
        );
        (settings, path, dir)
    }

    #[test]
    fn realizes_roots_and_releases_through_the_trait() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, path, dir) = world(tmp.path());
        let store: Box<dyn Store> = crate::store::open(&settings).unwrap();
        assert!(store
            .describe()
            .contains(&tmp.path().join("root").display().to_string()));
        assert!(!store.is_valid(&path).unwrap());

        let lock = tmp.path().join("devenv.lock");
        std::fs::write(&lock, "{}").unwrap();
        let root = RootSpec {
            name: "project:/p",
            link: Some(&lock),
        };
        let report = store
            .realize(std::slice::from_ref(&path), Some(root), &NoProgress)
            .unwrap();
        assert_eq!(report.requested, 1);
        assert_eq!(report.fetched, vec![path.to_absolute()]);
        assert!(store.is_valid(&path).unwrap());
        let real = store.real_path(&path);
        assert_eq!(
            real,
            tmp.path()
                .join("root")
                .join(path.to_absolute().trim_start_matches('/'))
        );
        assert_eq!(
            std::fs::read(real.join("data.txt")).unwrap(),
            std::fs::read(dir.join("data.txt")).unwrap()
        );
        // Realizing again fetches nothing.
        let again = store
            .realize(std::slice::from_ref(&path), Some(root), &NoProgress)
            .unwrap();
        assert!(again.fetched.is_empty(), "{again:?}");

        // Rooted twice (the project and a generation): collected only once both are gone.
        let generation = RootSpec {
            name: "profile-x-1",
            link: None,
        };
        store
            .add_gc_root(generation, std::slice::from_ref(&path))
            .unwrap();
        let local = LocalStore::open(&settings).unwrap();
        let kept = gc::collect(&local, None, false).unwrap();
        assert!(kept.deleted.is_empty(), "{kept:?}");
        assert!(store.remove_gc_root("project:/p").unwrap());
        assert!(!store.remove_gc_root("project:/p").unwrap());
        assert!(gc::collect(&local, None, false).unwrap().deleted.is_empty());
        assert!(store.remove_gc_root("profile-x-1").unwrap());
        let collected = gc::collect(&local, None, false).unwrap();
        assert_eq!(collected.deleted, vec![path.to_absolute()]);
        assert!(!store.is_valid(&path).unwrap());
        assert!(!real.exists());
    }

    #[test]
    fn a_root_tied_to_a_file_dies_with_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, path, _) = world(tmp.path());
        let store = LocalStore::open(&settings).unwrap();
        let manifest = tmp.path().join("devenv.json");
        std::fs::write(&manifest, "{}").unwrap();
        let root = RootSpec {
            name: "profile-y-1",
            link: Some(&manifest),
        };
        Store::realize(&store, std::slice::from_ref(&path), Some(root), &NoProgress).unwrap();
        assert!(gc::collect(&store, None, false).unwrap().deleted.is_empty());
        std::fs::remove_file(&manifest).unwrap();
        let report = gc::collect(&store, None, false).unwrap();
        assert_eq!(report.dead_roots, vec!["profile-y-1".to_string()]);
        assert_eq!(report.deleted, vec![path.to_absolute()]);
    }

    #[test]
    fn failures_are_typed() {
        let tmp = tempfile::tempdir().unwrap();
        let (settings, path, _) = world(tmp.path());

        // A path no cache has.
        let absent =
            StorePath::parse_absolute("/nix/store/7hiak8prkncd6k6wwqvkv7dbwqqswr71-absent-1.0")
                .unwrap();
        let store = LocalStore::open(&settings).unwrap();
        match Store::realize(&store, std::slice::from_ref(&absent), None, &NoProgress) {
            Err(StoreError::MissingPaths(m)) => {
                assert_eq!(m.paths, vec![absent.to_absolute()]);
                assert_eq!(m.caches, settings.substituters.value);
            }
            other => panic!("{other:?}"),
        }

        // The cache's narinfo is signed by a key nobody trusts.
        let other_key = SecretKey::generate("someone-else-1");
        let mut untrusting = settings.clone();
        untrusting.trusted_public_keys.value = vec![other_key.public().to_string()];
        let store = LocalStore::open(&untrusting).unwrap();
        match Store::realize(&store, std::slice::from_ref(&path), None, &NoProgress) {
            Err(StoreError::Refused(r)) => {
                assert_eq!(r.stage, crate::store::error::RefusalStage::Narinfo);
                assert_eq!(r.path, path.to_absolute());
                assert!(r.refusals[0]
                    .1
                    .contains("not signed by any trusted public key"));
            }
            other => panic!("{other:?}"),
        }

        // No cache answers at all.
        let mut dead = settings.clone();
        dead.substituters.value = vec!["http://127.0.0.1:1".into()];
        dead.jobs.value = 1;
        dead.http = crate::http::Client::new(crate::http::Policy {
            timeout: std::time::Duration::from_secs(2),
            retries: 2,
            backoff: std::time::Duration::from_millis(1),
        });
        let store = LocalStore::open(&dead).unwrap();
        match Store::realize(&store, std::slice::from_ref(&path), None, &NoProgress) {
            Err(StoreError::Unreachable(u)) => {
                assert_eq!(u.caches[0].url, "http://127.0.0.1:1");
                assert!(u
                    .to_string()
                    .starts_with("no binary cache could be reached"));
            }
            other => panic!("{other:?}"),
        }

        // Nothing was added by any of them.
        assert!(store.valid_paths().unwrap().is_empty());
    }
}
