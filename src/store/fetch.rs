//! Fetching a closure: which path is looked up, downloaded and made valid when.
//!
//! Lookups, downloads and registration overlap, and are ordered differently on purpose. A
//! planner thread walks the closure through narinfo `References`, a wave of lookups at a time;
//! every path it finds is downloaded, decompressed, verified and renamed into place as soon as a
//! worker is free — downloads do not wait for the walk to finish, so a deep closure keeps every
//! core busy from the first wave; workers prefer paths whose references are already under way.
//! Validity is where order matters: a committer thread registers each placed path only after all
//! its references are registered, so the database never lists a path whose closure is
//! incomplete. (Where the boot id is unknown it also flushes placed paths to disk first, one
//! `syncfs` per batch; see `durability`.) A placed path that is not yet registered keeps its path
//! lock and counts as a leftover that the next run replaces, so a crash at any instant leaves
//! nothing half done; when a fetch fails, placed paths that can no longer be registered are
//! removed before their locks are released.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex};

use anyhow::{anyhow, Result};

use super::db::PathInfo;
use super::error::{RefusalStage, Refused, StoreError};
use super::substitute::{
    parallel_map, place, remove_tree, tmp_path, unpack_verified, Found, NarFault, Substituters,
};
use super::{locks, LocalStore, Progress};
use crate::nix::narinfo::{Compression, NarInfo};
use crate::nix::store_path::StorePath;

/// At most this many NARs are decompressed and unpacked at once, whatever `--jobs` says. With
/// cheap decompression (zstd, none) a stream often waits on the network or the file system, and
/// six keep a small machine's cores busy where four left some of the time idle; a zstd decoder
/// at Nix's default level holds a window of at most a few MiB, so six stay well under 64 MiB.
pub const MAX_PARALLEL_UNPACKS: usize = 6;

/// At most this many of them xz: an xz decoder for Nix's default preset holds an 8 MiB
/// dictionary, and xz decoding keeps its core busy anyway, so more would only cost memory.
pub const MAX_PARALLEL_XZ: usize = 4;

/// Workers stop taking new paths while this many are placed but not yet registered, which bounds
/// the path locks (open files) held when a large reference is slow to arrive.
const MAX_UNREGISTERED: usize = 256;

/// When it must flush (see [`LocalStore::flush_before_registering`]), the committer does so at most
/// this often while paths are still arriving. Each `syncfs` commits the file system's journal,
/// which stalls the workers creating files meanwhile, so a flush per path costs more than the
/// flushing itself; registration is what waits, not the downloads.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// A path whose NAR some cache failed to deliver (bad bytes, a broken or stalled transfer, an
/// unusable narinfo), fetched from another cache instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarFallback {
    pub path: String,
    /// `(cache URL, why it was skipped)`, in the order the caches were tried.
    pub skipped: Vec<(String, String)>,
    pub fetched_from: String,
}

impl std::fmt::Display for NarFallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (url, why) in &self.skipped {
            write!(
                f,
                "skipped binary cache `{url}` for `{}`: {why}; ",
                self.path
            )?;
        }
        write!(f, "fetched it from `{}`", self.fetched_from)
    }
}

/// What [`fetch_closure`] did.
pub struct Fetched {
    /// Paths this process fetched, sorted (others may have been fetched meanwhile by another
    /// process).
    pub paths: Vec<String>,
    /// Sum of their NAR sizes.
    pub nar_bytes: u64,
    /// Paths fetched from another cache than the first that offered them, sorted by path.
    pub fallbacks: Vec<NarFallback>,
}

/// Make `wanted` and their closures valid: look the paths up in the caches (the closure comes
/// from narinfo `References`, stopping at paths already valid) and fetch them, `jobs` lookups
/// at a time and at most [`MAX_PARALLEL_UNPACKS`] NARs at once ([`MAX_PARALLEL_XZ`] of them xz).
/// Lookups and downloads overlap:
/// a path is downloaded as soon as its narinfo is verified, while the lookups of its
/// references go on. Fails with [`MissingPaths`](super::MissingPaths) when no cache has some
/// path of the closure.
pub fn fetch_closure(
    store: &LocalStore,
    subs: &Substituters,
    wanted: &[StorePath],
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Fetched> {
    let sched = Mutex::new(Sched::default());
    let cond = Condvar::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let planned = plan_waves(store, subs, wanted, jobs, &sched, &cond, progress);
            finish_planning(&sched, &cond, subs, planned);
        });
        s.spawn(|| commit_loop(store, &sched, &cond, progress));
        for _ in 0..jobs.clamp(1, MAX_PARALLEL_UNPACKS) {
            s.spawn(|| worker_loop(store, subs, &sched, &cond, progress));
        }
    });
    let mut g = sched.into_inner().expect("scheduler lock");
    if let Some(missing) = g.missing.take() {
        return Err(missing.into());
    }
    // When several paths fail, report the one a user would fix first (see `Sched::fail`).
    if let Some((_, e)) = g.errors.drain(..).min_by_key(|(key, _)| *key) {
        // A full disk is reported as such, with what this install still needed.
        let needed = (g.found.iter())
            .filter(|(p, _)| !g.valid.contains(*p))
            .map(|(_, f)| f.info.nar_size)
            .sum();
        let store_dir = store.layout.store_dir();
        return Err(super::diskfull::explain(e, &store_dir, None, Some(needed)));
    }
    g.fetched.sort();
    g.fallbacks.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Fetched {
        paths: g.fetched,
        nar_bytes: g.fetched_bytes,
        fallbacks: g.fallbacks,
    })
}

/// Placed paths with what each holds until it is registered: a [`Placed`], or `()` where the
/// unit tests run the scheduler's decisions without a store.
type Placements<P = Placed> = Vec<(String, P)>;

/// Shared state of one [`fetch_closure`], behind a mutex with one condition variable.
#[derive(Default)]
struct Sched<L = Placements> {
    /// Verified narinfos of the paths to fetch.
    found: HashMap<String, Found>,
    /// For each path in `found`: its references that were not valid when it was found (they
    /// are fetched too, and must be registered first).
    refs: HashMap<String, Vec<String>>,
    /// Each path's position in the order paths were discovered.
    rank: HashMap<String, usize>,
    /// Whether the lookups are over (nothing more will be added to `queue`).
    planned: bool,
    /// Paths found but not started, in the order to start them.
    queue: VecDeque<String>,
    /// Paths a worker is fetching.
    running: usize,
    /// Paths taken from `queue` (fetching, fetched or found valid).
    started: HashSet<String>,
    /// How many of the `running` paths are xz-compressed.
    running_xz: usize,
    /// Paths renamed into place since the committer last looked.
    placed: L,
    /// Paths placed but not registered (including those in `placed`).
    unregistered: usize,
    /// Found paths that are valid now: registered by us, or found valid (another process).
    valid: HashSet<String>,
    /// Paths no cache has (set when the lookups are over).
    missing: Option<super::MissingPaths>,
    /// Failures with their sort keys (lowest reported; see `fail`).
    errors: Vec<(usize, anyhow::Error)>,
    fetched: Vec<String>,
    /// Sum of the NAR sizes of `fetched`.
    fetched_bytes: u64,
    fallbacks: Vec<NarFallback>,
}

impl<P> Sched<Placements<P>> {
    /// Record a failure of `path`. Its sort key puts paths found later first: the walk finds
    /// references after their referrers, so the failure reported is the deepest one, the
    /// cause rather than what it stopped.
    fn fail(&mut self, path: &str, e: anyhow::Error) {
        let key = self
            .rank
            .get(path)
            .map_or(usize::MAX, |r| usize::MAX - 1 - r);
        self.errors.push((key, e));
    }

    fn failed(&self) -> bool {
        !self.errors.is_empty() || self.missing.is_some()
    }

    /// Found paths not valid yet.
    fn remaining(&self) -> usize {
        self.found.len() - self.valid.len()
    }

    /// Take the next path to fetch: the first in queue order whose references have all been
    /// started, else the first; skipping xz paths while [`MAX_PARALLEL_XZ`] run. A referrer
    /// fetched before its references cannot be registered until they arrive; fetching in this
    /// order lets registration (and the lock and file handles each placed path holds) keep pace
    /// with the downloads, as Nix's goal order does.
    fn take_next(&mut self) -> Option<(String, Found)> {
        let allowed = |p: &String| {
            self.running_xz < MAX_PARALLEL_XZ
                || !matches!(self.found[p].info.compression, Compression::Xz)
        };
        let ready = |p: &String| {
            self.refs[p]
                .iter()
                .all(|r| self.started.contains(r) || self.valid.contains(r))
        };
        let at = (self.queue.iter())
            .position(|p| allowed(p) && ready(p))
            .or_else(|| self.queue.iter().position(allowed))?;
        let p = self.queue.remove(at).expect("position in the queue");
        let found = self.found[&p].clone();
        self.running += 1;
        if matches!(found.info.compression, Compression::Xz) {
            self.running_xz += 1;
        }
        self.started.insert(p.clone());
        Some((p, found))
    }

    /// A worker's next step: stop once the fetch failed or every path is taken; take the next
    /// path unless [`MAX_UNREGISTERED`] paths wait for registration; else wait.
    fn worker_step(&mut self) -> WorkerStep {
        if self.failed() || (self.planned && self.queue.is_empty()) {
            return WorkerStep::Stop;
        }
        if self.unregistered < MAX_UNREGISTERED {
            if let Some((path, found)) = self.take_next() {
                return WorkerStep::Fetch(path, found);
            }
        }
        WorkerStep::Wait
    }

    /// Whether placed `path` may be registered: all its references are valid, so the database
    /// never lists a path whose closure is incomplete.
    fn registrable(&self, path: &str) -> bool {
        self.refs[path].iter().all(|r| self.valid.contains(r))
    }

    /// Split the committer's waiting paths into those it may register now and the rest.
    fn split_registrable<T>(&self, waiting: Placements<T>) -> (Placements<T>, Placements<T>) {
        waiting.into_iter().partition(|(p, _)| self.registrable(p))
    }

    /// The committer's next step, from the shared state and its own: whether paths are `waiting`
    /// for a reference, how many paths were valid when it last took a batch, whether it must
    /// flush before registering and how long ago it last did.
    fn commit_step(
        &self,
        waiting: bool,
        seen_valid: usize,
        flushing: bool,
        since_sync: std::time::Duration,
    ) -> CommitStep {
        let failed = self.failed();
        if failed && self.running == 0 {
            return CommitStep::Abandon;
        }
        if self.planned && self.remaining() == 0 {
            return CommitStep::Finished;
        }
        if !failed && (!self.placed.is_empty() || self.valid.len() != seen_valid) {
            let arriving = !self.planned || !self.queue.is_empty() || self.running > 0;
            if self.placed.is_empty()
                || !flushing
                || !arriving
                || since_sync >= SYNC_INTERVAL
                || self.unregistered >= MAX_UNREGISTERED / 2
            {
                return CommitStep::Take;
            }
            return CommitStep::WaitFor(SYNC_INTERVAL - since_sync);
        }
        if !failed
            && self.planned
            && self.queue.is_empty()
            && self.running == 0
            && self.placed.is_empty()
            && waiting
        {
            return CommitStep::Cycle;
        }
        CommitStep::Wait
    }
}

/// What a worker does next (see [`Sched::worker_step`]).
// Taken apart as soon as it is returned: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum WorkerStep {
    Stop,
    Fetch(String, Found),
    Wait,
}

/// What the committer does next (see [`Sched::commit_step`]).
#[derive(Debug, PartialEq, Eq)]
enum CommitStep {
    /// A fetch failed and no worker is running: nothing more will arrive, and what is placed
    /// cannot all be registered in order any more, so it is removed, as after a crash.
    Abandon,
    /// Every found path is valid.
    Finished,
    /// Take the placed paths (flushing them first where it must) and register what is ready:
    /// paths were placed, or became valid, since it last looked.
    Take,
    /// Paths are placed but more are arriving: wait this long to flush them in one batch.
    WaitFor(std::time::Duration),
    /// Everything is placed and nothing can be registered: impossible unless the narinfos are
    /// inconsistent (a reference cycle), but never hang on it.
    Cycle,
    /// Wait for a worker.
    Wait,
}

/// Record the outcome of the lookups: the paths no cache has, or the lookup that failed.
fn finish_planning(
    sched: &Mutex<Sched>,
    cond: &Condvar,
    subs: &Substituters,
    planned: Result<Vec<String>>,
) {
    let mut g = sched.lock().expect("scheduler lock");
    g.planned = true;
    match planned {
        Ok(missing) if !missing.is_empty() => {
            g.missing = Some(super::MissingPaths {
                paths: missing,
                caches: subs.caches.iter().map(|c| c.url.clone()).collect(),
                unreachable: subs.unreachable.clone(),
            })
        }
        Ok(_) => {}
        // A refused or failed lookup is the cause to report, before any fetch failure it led to.
        Err(e) => g.errors.insert(0, (0, e)),
    }
    cond.notify_all();
}

/// The planner: breadth-first over narinfo `References`, one wave of lookups at a time; each
/// wave's paths are handed to the workers at once (largest first, so the slowest downloads are
/// not left for last). Returns the paths no cache has, sorted, or the first failed lookup.
fn plan_waves(
    store: &LocalStore,
    subs: &Substituters,
    wanted: &[StorePath],
    jobs: usize,
    sched: &Mutex<Sched>,
    cond: &Condvar,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    // Seen and not valid: to be fetched (or missing).
    let mut pending: HashSet<String> = HashSet::new();
    let mut frontier: Vec<StorePath> = Vec::new();
    let mut rank = 0usize;
    let (mut total_paths, mut total_bytes) = (0usize, 0u64);
    for p in wanted {
        let abs = p.to_absolute();
        if !seen.insert(abs.clone()) {
            continue;
        }
        // A Nix sharing the root may have it already: adopt instead of downloading.
        let valid = store.is_valid_path(&abs)? || super::nix::adopt_closure(store, &abs)?;
        if !valid {
            pending.insert(abs);
            frontier.push(p.clone());
        }
    }
    while !frontier.is_empty() {
        if sched.lock().expect("scheduler lock").failed() {
            break;
        }
        let results = parallel_map(&frontier, jobs, |p| subs.query(p));
        let mut next = Vec::new();
        let mut wave = Vec::new();
        for (p, r) in frontier.iter().zip(results) {
            let abs = p.to_absolute();
            let found = match r {
                Ok(Some(found)) => found,
                Ok(None) => {
                    missing.push(abs);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut refs = Vec::new();
            for r in &found.info.references {
                let r_abs = r.to_absolute();
                if r_abs == abs {
                    continue;
                }
                if seen.insert(r_abs.clone()) && !store.is_valid_path(&r_abs)? {
                    pending.insert(r_abs.clone());
                    next.push(r.clone());
                }
                if pending.contains(&r_abs) {
                    refs.push(r_abs);
                }
            }
            wave.push((abs, found, refs));
        }
        wave.sort_by(|a, b| (b.1.info.nar_size, &a.0).cmp(&(a.1.info.nar_size, &b.0)));
        total_paths += wave.len();
        total_bytes += wave.iter().map(|w| w.1.info.nar_size).sum::<u64>();
        progress.planned(total_paths, total_bytes);
        let mut g = sched.lock().expect("scheduler lock");
        for (abs, found, refs) in wave {
            g.rank.insert(abs.clone(), rank);
            rank += 1;
            g.found.insert(abs.clone(), found);
            g.refs.insert(abs.clone(), refs);
            g.queue.push_back(abs);
        }
        drop(g);
        cond.notify_all();
        frontier = next;
    }
    missing.sort();
    Ok(missing)
}

/// A worker: take the next path, fetch it, hand it to the committer.
fn worker_loop(
    store: &LocalStore,
    subs: &Substituters,
    sched: &Mutex<Sched>,
    cond: &Condvar,
    progress: &dyn Progress,
) {
    loop {
        let (path, found) = {
            let mut g = sched.lock().expect("scheduler lock");
            loop {
                match g.worker_step() {
                    WorkerStep::Stop => {
                        cond.notify_all();
                        return;
                    }
                    WorkerStep::Fetch(path, found) => break (path, found),
                    WorkerStep::Wait => {}
                }
                g = cond.wait(g).expect("scheduler lock");
            }
        };
        let result = fetch_one(store, subs, &found, progress);
        let mut g = sched.lock().expect("scheduler lock");
        g.running -= 1;
        if matches!(found.info.compression, Compression::Xz) {
            g.running_xz -= 1;
        }
        match result {
            Ok(Some(placed)) => {
                g.unregistered += 1;
                g.placed.push((path, placed));
            }
            Ok(None) => {
                g.valid.insert(path);
            }
            Err(e) => g.fail(&path, e),
        }
        cond.notify_all();
    }
}

/// The committer: register placed paths once their references are valid (flushing them first,
/// one `syncfs` per batch, where it must). On failure elsewhere, remove what can no longer be
/// registered.
fn commit_loop(store: &LocalStore, sched: &Mutex<Sched>, cond: &Condvar, progress: &dyn Progress) {
    let flushing = store.flush_before_registering();
    // Placed (and flushed where needed), waiting for a reference to become valid.
    let mut waiting: Vec<(String, Placed)> = Vec::new();
    // How many paths were valid when the committer last looked: a worker finding a path valid
    // (another process fetched it) can make a waiting referrer registrable.
    let mut seen_valid = 0;
    let mut last_sync: Option<std::time::Instant> = None;
    loop {
        let batch = {
            let mut g = sched.lock().expect("scheduler lock");
            loop {
                let since = last_sync.map_or(SYNC_INTERVAL, |t| t.elapsed());
                match g.commit_step(!waiting.is_empty(), seen_valid, flushing, since) {
                    CommitStep::Abandon => {
                        let mut dropped = std::mem::take(&mut g.placed);
                        g.unregistered = 0;
                        drop(g);
                        dropped.append(&mut waiting);
                        for (path, placed) in dropped {
                            let _ = remove_tree(&store.layout.real_path(&path));
                            drop(placed.lock);
                        }
                        cond.notify_all();
                        return;
                    }
                    CommitStep::Finished => {
                        cond.notify_all();
                        return;
                    }
                    CommitStep::Take => {
                        seen_valid = g.valid.len();
                        break std::mem::take(&mut g.placed);
                    }
                    CommitStep::WaitFor(delay) => {
                        g = cond.wait_timeout(g, delay).expect("scheduler lock").0;
                    }
                    CommitStep::Cycle => {
                        let path = waiting[0].0.clone();
                        g.fail(
                            &path,
                            anyhow!(
                                "`{path}` cannot be registered: its references never became \
                                 valid (do the narinfo references form a cycle?)"
                            ),
                        );
                    }
                    CommitStep::Wait => g = cond.wait(g).expect("scheduler lock"),
                }
            }
        };
        if !batch.is_empty() && flushing {
            last_sync = Some(std::time::Instant::now());
            let synced = super::substitute::sync_fs(&store.layout.store_dir());
            if let Err(e) = synced {
                let mut g = sched.lock().expect("scheduler lock");
                let path = batch[0].0.clone();
                g.fail(&path, e);
                // Back into `placed`, so the failure branch above removes them.
                g.placed.extend(batch);
                cond.notify_all();
                continue;
            }
        }
        waiting.extend(batch);
        register_ready(store, sched, cond, &mut waiting, progress);
    }
}

/// Register every waiting path whose references are all valid, repeatedly (a registration can
/// make a waiting referrer ready).
fn register_ready(
    store: &LocalStore,
    sched: &Mutex<Sched>,
    cond: &Condvar,
    waiting: &mut Vec<(String, Placed)>,
    progress: &dyn Progress,
) {
    loop {
        let ready: Vec<(String, Placed)> = {
            let g = sched.lock().expect("scheduler lock");
            let (ready, rest) = g.split_registrable(std::mem::take(waiting));
            *waiting = rest;
            ready
        };
        if ready.is_empty() {
            return;
        }
        let mut results = Vec::with_capacity(ready.len());
        for (path, placed) in ready {
            let r = store.register_fetched(&placed.info);
            if r.is_err() {
                let _ = remove_tree(&store.layout.real_path(&path));
            }
            // The path lock is released only now that the path is registered (or removed).
            drop(placed.lock);
            results.push((path, placed.info.nar_size, placed.fallback, r));
        }
        let mut g = sched.lock().expect("scheduler lock");
        for (path, nar_size, fallback, r) in results {
            g.unregistered -= 1;
            match r {
                Ok(()) => {
                    progress.finished(&path);
                    g.fetched.push(path.clone());
                    g.fetched_bytes += nar_size;
                    g.fallbacks.extend(fallback);
                    g.valid.insert(path);
                }
                Err(e) => g.fail(&path, e),
            }
        }
        cond.notify_all();
        if g.failed() {
            return;
        }
    }
}

/// A verified path renamed into place, not yet registered; its path lock is held until it is.
struct Placed {
    info: PathInfo,
    lock: locks::Lock,
    /// Set when the first cache offering the path failed and another delivered it.
    fallback: Option<NarFallback>,
}

/// Fetch one path unless another process did meanwhile (None). Leaves it in place, unregistered,
/// holding its lock, for the committer.
///
/// When a cache's NAR fails (wrong bytes, a transfer that breaks or stalls for the HTTP
/// timeout), the partial tree is removed and the next cache with a usable narinfo for the path
/// is tried, as Nix does; a broken transfer is retried only after every other cache was tried.
/// The path fails only when every cache that has it failed, and the error names each one. A
/// failure to write into the store (a full disk) stops at once: no cache can help with that.
fn fetch_one(
    store: &LocalStore,
    subs: &Substituters,
    found: &Found,
    progress: &dyn Progress,
) -> Result<Option<Placed>> {
    let info = &found.info;
    let path = info.store_path.to_absolute();
    let hash_part = info.store_path.hash_part();
    let lock = locks::exclusive(&locks::path_lock(&store.state_dir, &hash_part))?;
    if store.is_valid_path(&path)? {
        return Ok(None);
    }
    progress.started(&path, info.nar_size);
    // On disk but not registered: put there by a Nix sharing the root (adopt it), or left by a
    // process killed between rename and registration (replace it with a verified copy).
    if super::nix::adopt_or_clear(store, &path)? {
        return Ok(None);
    }
    let mut current = found.clone();
    // Caches from this position on have not been asked for the path yet.
    let mut unasked = found.cache + 1;
    let mut attempts = vec![0u32; subs.caches.len()];
    // Caches whose transfer broke, to try again once the others are exhausted.
    let mut broken: VecDeque<Found> = VecDeque::new();
    // Each cache's latest failure, in the order they were tried.
    let mut failures: Vec<(String, anyhow::Error)> = Vec::new();
    loop {
        let cache = &subs.caches[current.cache];
        let tmp = tmp_path(store, &hash_part);
        let fault = match unpack_verified(cache, &current.info, &tmp, progress) {
            Ok(()) => {
                place(store, &tmp, &path)?;
                failures.retain(|(url, _)| *url != cache.url);
                let fallback = (!failures.is_empty()).then(|| NarFallback {
                    path: path.clone(),
                    skipped: (failures.iter())
                        .map(|(url, e)| (url.clone(), format!("{e:#}")))
                        .collect(),
                    fetched_from: cache.url.clone(),
                });
                return Ok(Some(Placed {
                    info: path_info(&current.info),
                    lock,
                    fallback,
                }));
            }
            Err(fault) => fault,
        };
        let _ = remove_tree(&tmp);
        attempts[current.cache] += 1;
        let e = match fault {
            NarFault::Local(e) => {
                let e = e.context(format!("cannot substitute `{path}`"));
                let store_dir = store.layout.store_dir();
                return Err(super::diskfull::explain(e, &store_dir, Some(&path), None));
            }
            NarFault::Broken(e) => {
                // Transfers are tried as often as any request (the one HTTP policy).
                if attempts[current.cache] < cache.http_policy().attempts() {
                    broken.push_back(current.clone());
                }
                e
            }
            NarFault::Bad(e) => e,
        };
        failures.retain(|(url, _)| *url != cache.url);
        failures.push((cache.url.clone(), e));
        // A cache not tried yet comes before another attempt at a broken transfer.
        let next = loop {
            let mut refusals = Vec::new();
            let candidate = subs.find_from(&info.store_path, unasked, &mut refusals);
            failures.extend(refusals.into_iter().map(|(url, why)| (url, anyhow!(why))));
            let Some(candidate) = candidate else {
                unasked = subs.caches.len();
                break None;
            };
            unasked = candidate.cache + 1;
            // The scheduler registers the path after the references of the first narinfo.
            if same_references(&candidate.info, info) {
                break Some(candidate);
            }
            failures.push((
                subs.caches[candidate.cache].url.clone(),
                anyhow!(
                    "its narinfo lists other references than the one of `{}`",
                    subs.caches[found.cache].url
                ),
            ));
        };
        current = match next.or_else(|| broken.pop_front()) {
            Some(next) => {
                if attempts[next.cache] > 0 {
                    subs.caches[next.cache]
                        .http_policy()
                        .pause_before(attempts[next.cache]);
                }
                next
            }
            None => return Err(all_failed(&path, failures)),
        };
    }
}

fn same_references(a: &NarInfo, b: &NarInfo) -> bool {
    let set =
        |i: &NarInfo| -> HashSet<String> { i.references.iter().map(|r| r.to_absolute()).collect() };
    set(a) == set(b)
}

/// The error for a path no cache could deliver, naming each cache that was tried and why.
fn all_failed(path: &str, failures: Vec<(String, anyhow::Error)>) -> anyhow::Error {
    let refusals = (failures.into_iter())
        .map(|(url, e)| (url, format!("{e:#}")))
        .collect();
    StoreError::Refused(Refused::new(path.to_string(), RefusalStage::Nar, refusals)).into()
}

/// The database row for a verified narinfo.
fn path_info(info: &NarInfo) -> PathInfo {
    PathInfo {
        path: info.store_path.to_absolute(),
        nar_hash_hex: format!("sha256:{}", info.nar_hash.to_hex()),
        nar_size: info.nar_size,
        references: info.references.iter().map(|r| r.to_absolute()).collect(),
        deriver: info
            .deriver
            .as_deref()
            .filter(|d| !d.is_empty() && *d != "unknown-deriver")
            .map(|d| format!("{}/{d}", super::layout::STORE_DIR)),
        sigs: info.sigs.iter().map(|s| s.to_string()).collect(),
        ca: info.ca.clone(),
        registration_time: super::db::now_secs(),
    }
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
