//! Fetching a planned closure: which path is downloaded when, and when it becomes valid.
//!
//! Downloading and registering are ordered differently on purpose. Every planned path is
//! downloaded, decompressed, verified and renamed into place as soon as a worker is free — a
//! referrer does not wait for its references, so a deep closure keeps every core busy from the
//! first second. Validity is where order matters: a committer thread makes placed paths durable
//! with one `syncfs` per batch and registers each only after all its references are registered,
//! so the database never lists a path whose closure is incomplete. A placed path that is not yet
//! registered keeps its path lock and counts as a leftover that the next run replaces, so a crash
//! at any instant leaves nothing half done; when a fetch fails, placed paths that can no longer be
//! registered are removed before their locks are released.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::sync::{Condvar, Mutex};

use anyhow::{anyhow, Context as _, Result};

use super::cache::BinaryCache;
use super::db::PathInfo;
use super::substitute::{remove_tree, tmp_path, unpack_verified, Found, Substituters};
use super::{locks, Progress, Store};
use crate::nixfmt::narinfo::NarInfo;

/// At most this many NARs are decompressed and unpacked at once, whatever `--jobs` says: an xz
/// decoder for Nix's default preset holds an 8 MiB dictionary, so four keep peak memory well
/// under 64 MiB, and four streams already saturate a small machine's cores.
pub const MAX_PARALLEL_UNPACKS: usize = 4;

/// Workers stop taking new paths while this many are placed but not yet registered, which bounds
/// the path locks (open files) held when a large reference is slow to arrive.
const MAX_UNREGISTERED: usize = 256;

/// While paths are still arriving, the committer flushes at most this often. Each `syncfs`
/// commits the file system's journal, which stalls the workers creating files meanwhile, so a
/// flush per path costs more than the flushing itself; registration is what waits, not the
/// downloads.
const SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Fetch every planned path, `jobs` at a time, registering references before referrers.
/// Returns the paths this process fetched (others may have been fetched meanwhile by another
/// process).
pub fn fetch_all(
    store: &Store,
    subs: &Substituters,
    planned: &std::collections::BTreeMap<String, Found>,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    // References among the planned paths only; everything else is valid already.
    let refs: HashMap<&str, Vec<&str>> = planned
        .iter()
        .map(|(path, f)| {
            let within: Vec<&str> = f
                .info
                .references
                .iter()
                .filter_map(|r| planned.get_key_value(&r.to_absolute()))
                .map(|(k, _)| k.as_str())
                .filter(|k| *k != path)
                .collect();
            (path.as_str(), within)
        })
        .collect();
    let queue = download_order(planned, &refs)?;
    let rank: HashMap<&str, usize> = queue.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let sched = Mutex::new(Sched {
        queue,
        running: 0,
        placed: Vec::new(),
        unregistered: 0,
        valid: HashSet::new(),
        valid_events: 0,
        remaining: planned.len(),
        errors: Vec::new(),
        fetched: Vec::new(),
        rank,
    });
    let cond = Condvar::new();
    std::thread::scope(|s| {
        s.spawn(|| commit_loop(store, &sched, &cond, &refs, progress));
        let workers = jobs
            .clamp(1, MAX_PARALLEL_UNPACKS)
            .min(planned.len().max(1));
        for _ in 0..workers {
            s.spawn(|| worker_loop(store, subs, planned, &sched, &cond, progress));
        }
    });
    let mut g = sched.into_inner().expect("scheduler lock");
    // When several paths fail, report the one a user would fix first: the earliest in
    // references-first order (often the reference that broke its referrers too).
    if let Some((_, e)) = g.errors.drain(..).min_by_key(|(rank, _)| *rank) {
        return Err(e);
    }
    g.fetched.sort();
    Ok(g.fetched)
}

/// Shared state of one `fetch_all`, behind a mutex with one condition variable.
struct Sched<'a> {
    /// Paths nobody has started, references before referrers.
    queue: VecDeque<&'a str>,
    /// Paths a worker is fetching.
    running: usize,
    /// Paths renamed into place since the committer last looked.
    placed: Vec<(&'a str, Placed)>,
    /// Paths placed but not registered (including those in `placed`).
    unregistered: usize,
    /// Planned paths that are valid now: registered by us, or found valid (another process).
    valid: HashSet<&'a str>,
    /// Bumped whenever a worker finds a path valid without placing it, so the committer can
    /// register referrers that were waiting for it.
    valid_events: u64,
    /// Planned paths not valid yet.
    remaining: usize,
    /// Failures, each with the position in `rank` of the path it concerns.
    errors: Vec<(usize, anyhow::Error)>,
    fetched: Vec<String>,
    /// Each path's position in download order.
    rank: HashMap<&'a str, usize>,
}

impl<'a> Sched<'a> {
    fn fail(&mut self, path: &'a str, e: anyhow::Error) {
        let rank = self.rank[path];
        self.errors.push((rank, e));
    }
}

/// The order workers take paths in: references before referrers (so registration can follow
/// closely behind), and among paths that became ready together, the largest first (so the
/// slowest downloads are not left for last). A reference cycle among narinfos is an error.
fn download_order<'a>(
    planned: &'a std::collections::BTreeMap<String, Found>,
    refs: &HashMap<&'a str, Vec<&'a str>>,
) -> Result<VecDeque<&'a str>> {
    let mut waiting_on: HashMap<&str, usize> = refs.iter().map(|(p, r)| (*p, r.len())).collect();
    let mut referrers: HashMap<&str, Vec<&str>> = HashMap::new();
    for (p, rs) in refs {
        for r in rs {
            referrers.entry(*r).or_default().push(*p);
        }
    }
    let by_size = |wave: &mut Vec<&'a str>| {
        wave.sort_by(|a, b| {
            let (sa, sb) = (planned[*a].info.nar_size, planned[*b].info.nar_size);
            sb.cmp(&sa).then(a.cmp(b))
        })
    };
    let mut wave: Vec<&str> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(p, _)| *p)
        .collect();
    let mut order = VecDeque::with_capacity(planned.len());
    while !wave.is_empty() {
        by_size(&mut wave);
        let mut next = Vec::new();
        for p in &wave {
            for r in referrers.get(p).into_iter().flatten() {
                let n = waiting_on.get_mut(r).expect("planned referrer");
                *n -= 1;
                if *n == 0 {
                    next.push(*r);
                }
            }
        }
        order.extend(wave);
        wave = next;
    }
    if order.len() != planned.len() {
        let mut cyclic: Vec<&str> = waiting_on
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(p, _)| *p)
            .collect();
        cyclic.sort();
        return Err(anyhow!(
            "the narinfo references form a cycle among: {}",
            cyclic.join(", ")
        ));
    }
    Ok(order)
}

/// A worker: take the next path, fetch it, hand it to the committer.
fn worker_loop<'a>(
    store: &Store,
    subs: &Substituters,
    planned: &'a std::collections::BTreeMap<String, Found>,
    sched: &Mutex<Sched<'a>>,
    cond: &Condvar,
    progress: &dyn Progress,
) {
    loop {
        let path = {
            let mut g = sched.lock().expect("scheduler lock");
            loop {
                if !g.errors.is_empty() || g.queue.is_empty() {
                    cond.notify_all();
                    return;
                }
                if g.unregistered < MAX_UNREGISTERED {
                    let p = g.queue.pop_front().expect("non-empty queue");
                    g.running += 1;
                    break p;
                }
                g = cond.wait(g).expect("scheduler lock");
            }
        };
        let found = &planned[path];
        let result = fetch_one(store, &subs.caches[found.cache], &found.info, progress);
        let mut g = sched.lock().expect("scheduler lock");
        g.running -= 1;
        match result {
            Ok(Some(placed)) => {
                g.unregistered += 1;
                g.placed.push((path, placed));
            }
            Ok(None) => {
                g.valid.insert(path);
                g.remaining -= 1;
                g.valid_events += 1;
            }
            Err(e) => g.fail(path, e),
        }
        cond.notify_all();
    }
}

/// The committer: make placed paths durable (one `syncfs` per batch) and register each once its
/// references are valid. On failure elsewhere, remove what can no longer be registered.
fn commit_loop<'a>(
    store: &Store,
    sched: &Mutex<Sched<'a>>,
    cond: &Condvar,
    refs: &HashMap<&'a str, Vec<&'a str>>,
    progress: &dyn Progress,
) {
    // Durable, waiting for a reference to become valid.
    let mut waiting: Vec<(&'a str, Placed)> = Vec::new();
    let mut seen_events = 0;
    let mut last_sync: Option<std::time::Instant> = None;
    loop {
        let batch = {
            let mut g = sched.lock().expect("scheduler lock");
            loop {
                let failed = !g.errors.is_empty();
                if failed && g.running == 0 {
                    // Nothing more will arrive; what is placed cannot all be registered safely
                    // in order any more, so it goes, as a crash would have left it to go.
                    let mut dropped = std::mem::take(&mut g.placed);
                    g.unregistered = 0;
                    drop(g);
                    dropped.append(&mut waiting);
                    for (path, placed) in dropped {
                        let _ = remove_tree(&store.layout.real_path(path));
                        drop(placed.lock);
                    }
                    cond.notify_all();
                    return;
                }
                if g.remaining == 0 {
                    cond.notify_all();
                    return;
                }
                if !failed && (!g.placed.is_empty() || g.valid_events != seen_events) {
                    let arriving = !g.queue.is_empty() || g.running > 0;
                    let since = last_sync.map_or(SYNC_INTERVAL, |t| t.elapsed());
                    if g.placed.is_empty()
                        || !arriving
                        || since >= SYNC_INTERVAL
                        || g.unregistered >= MAX_UNREGISTERED / 2
                    {
                        seen_events = g.valid_events;
                        break std::mem::take(&mut g.placed);
                    }
                    g = cond
                        .wait_timeout(g, SYNC_INTERVAL - since)
                        .expect("scheduler lock")
                        .0;
                    continue;
                }
                if !failed
                    && g.queue.is_empty()
                    && g.running == 0
                    && g.placed.is_empty()
                    && !waiting.is_empty()
                {
                    // Everything is placed and nothing can be registered: impossible unless
                    // the narinfos are inconsistent, but never hang on it.
                    let path = waiting[0].0;
                    g.fail(
                        path,
                        anyhow!(
                            "`{path}` cannot be registered: a reference of it was never fetched"
                        ),
                    );
                    continue;
                }
                g = cond.wait(g).expect("scheduler lock");
            }
        };
        if !batch.is_empty() {
            last_sync = Some(std::time::Instant::now());
            let synced = store.sync.sync(&store.layout.store_dir());
            if let Err(e) = synced {
                let mut g = sched.lock().expect("scheduler lock");
                g.fail(batch[0].0, e);
                // Back into `placed`, so the failure branch above removes them.
                g.placed.extend(batch);
                cond.notify_all();
                continue;
            }
            waiting.extend(batch);
        }
        register_ready(store, sched, cond, refs, &mut waiting, progress);
    }
}

/// Register every waiting path whose references are all valid, repeatedly (a registration can
/// make a waiting referrer ready).
fn register_ready<'a>(
    store: &Store,
    sched: &Mutex<Sched<'a>>,
    cond: &Condvar,
    refs: &HashMap<&'a str, Vec<&'a str>>,
    waiting: &mut Vec<(&'a str, Placed)>,
    progress: &dyn Progress,
) {
    loop {
        let ready: Vec<(&'a str, Placed)> = {
            let g = sched.lock().expect("scheduler lock");
            let (ready, rest) = std::mem::take(waiting)
                .into_iter()
                .partition(|(p, _)| refs[p].iter().all(|r| g.valid.contains(r)));
            *waiting = rest;
            ready
        };
        if ready.is_empty() {
            return;
        }
        let mut results = Vec::with_capacity(ready.len());
        for (path, placed) in ready {
            let r = store.register(&placed.info);
            if r.is_err() {
                let _ = remove_tree(&store.layout.real_path(path));
            }
            // The path lock is released only now that the path is registered (or removed).
            drop(placed.lock);
            results.push((path, r));
        }
        let mut g = sched.lock().expect("scheduler lock");
        for (path, r) in results {
            g.unregistered -= 1;
            match r {
                Ok(()) => {
                    g.valid.insert(path);
                    g.remaining -= 1;
                    g.fetched.push(path.to_string());
                    progress.finished(path);
                }
                Err(e) => g.fail(path, e),
            }
        }
        cond.notify_all();
        if !g.errors.is_empty() {
            return;
        }
    }
}

/// A verified path renamed into place, not yet durable nor registered; its path lock is held
/// until it is.
struct Placed {
    info: PathInfo,
    lock: locks::Lock,
}

/// Fetch one path unless another process did meanwhile (None). Leaves it in place, unregistered,
/// holding its lock, for the committer.
fn fetch_one(
    store: &Store,
    cache: &BinaryCache,
    info: &NarInfo,
    progress: &dyn Progress,
) -> Result<Option<Placed>> {
    let path = info.store_path.to_absolute();
    let hash_part = info.store_path.hash_part();
    let lock = locks::exclusive(&locks::path_lock(&store.state_dir, &hash_part))?;
    if store.is_valid(&path)? {
        return Ok(None);
    }
    progress.started(&path, info.nar_size);
    // On disk but not registered: put there by a Nix sharing the root (adopt it), or left by a
    // process killed between rename and registration (replace it with a verified copy).
    if super::nix::adopt_or_clear(store, &path)? {
        return Ok(None);
    }
    let mut attempt = 0;
    let tmp = loop {
        let tmp = tmp_path(store, &hash_part);
        match unpack_verified(cache, info, &tmp, progress) {
            Ok(()) => break tmp,
            Err((e, transient)) => {
                let _ = remove_tree(&tmp);
                attempt += 1;
                if transient && attempt < 3 {
                    std::thread::sleep(std::time::Duration::from_millis(300 * attempt));
                    continue;
                }
                return Err(e.context(format!("cannot substitute `{path}` from `{}`", cache.url)));
            }
        }
    };
    let final_path = store.layout.real_path(&path);
    // Renamed before it is durable: until the committer registers it, the path counts as a
    // leftover that a later run replaces, so a crash in between loses nothing.
    if let Err(e) = fs::rename(&tmp, &final_path) {
        let _ = remove_tree(&tmp);
        return Err(e).with_context(|| {
            format!(
                "cannot move `{}` to `{}`",
                tmp.display(),
                final_path.display()
            )
        });
    }
    Ok(Some(Placed {
        info: path_info(info),
        lock,
    }))
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
