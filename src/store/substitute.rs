//! Substitution: find store paths in binary caches, compute the closure from narinfo
//! `References`, and fetch each missing path through one streaming pipeline
//! download → decompress → sha256 + size → NAR unpack into a temp dir inside the store →
//! verify NarHash/NarSize → fsync → atomic rename → register.
//!
//! The narinfo signature is checked before a byte of the NAR is fetched (the signature covers the
//! path, NarHash, NarSize and references), and the NAR stream is checked against NarHash and
//! NarSize before the rename, so nothing unverified ever appears under its store path. Memory is
//! independent of NAR size: nothing is buffered whole. References are realized before their
//! referrers; independent paths are fetched in parallel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};

use anyhow::{anyhow, bail, Context as _, Result};
use sha2::{Digest, Sha256};

use super::cache::BinaryCache;
use super::db::PathInfo;
use super::{locks, Progress, Store};
use crate::diagnostic::ResultExt;
use crate::nixfmt::narinfo::{Compression, NarInfo};
use crate::nixfmt::signature::TrustedKeys;
use crate::nixfmt::store_path::StorePath;

/// At most this many NARs are decompressed and unpacked at once, whatever `--jobs` says: an xz
/// decoder for Nix's default preset holds an 8 MiB dictionary, so four keep peak memory well
/// under 64 MiB, and four streams already saturate a small machine's cores.
pub const MAX_PARALLEL_UNPACKS: usize = 4;

/// A path some cache has, with its verified narinfo.
#[derive(Clone)]
pub struct Found {
    pub cache: usize,
    pub info: NarInfo,
}

/// Store paths that no configured binary cache has.
#[derive(Debug)]
pub struct MissingPaths {
    pub paths: Vec<String>,
    pub caches: Vec<String>,
}

impl std::fmt::Display for MissingPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} store path(s) are in none of the binary caches asked ({}): {}",
            self.paths.len(),
            if self.caches.is_empty() {
                "none configured".to_string()
            } else {
                self.caches.join(", ")
            },
            self.paths.join(", ")
        )
    }
}

impl std::error::Error for MissingPaths {}

/// The configured caches (sorted by priority) and the keys whose signatures count.
pub struct Substituters {
    pub caches: Vec<BinaryCache>,
    pub keys: TrustedKeys,
}

impl Substituters {
    /// Ask the caches, in priority order, for `path`. A narinfo that fails a check is reported
    /// and the next cache is tried, as Nix does; Ok(None) when no cache has it.
    pub fn query(&self, path: &StorePath) -> Result<Option<Found>> {
        let want = path.to_absolute();
        let mut refusals = Vec::new();
        for (i, cache) in self.caches.iter().enumerate() {
            let text = match cache.narinfo_text(&path.hash_part()) {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                // An unreachable cache is skipped for this path, as Nix does; if no other cache
                // has the path, the reason is reported below.
                Err(e) => {
                    refusals.push(format!("`{}`: {e:#}", cache.url));
                    continue;
                }
            };
            let refusal = match NarInfo::parse(&text) {
                Err(e) => format!("its narinfo is invalid: {e}"),
                Ok(info) if info.store_path.to_absolute() != want => format!(
                    "its narinfo `{}.narinfo` is for a different store path `{}`",
                    path.hash_part(),
                    info.store_path.to_absolute()
                ),
                Ok(info) if info.nar_size == 0 => "its narinfo has NarSize 0".to_string(),
                Ok(info) if !self.keys.verify_narinfo(&info) => {
                    if info.sigs.is_empty() {
                        "its narinfo is not signed".to_string()
                    } else {
                        "its narinfo is not signed by any trusted public key \
                         (unknown key or forged signature)"
                            .to_string()
                    }
                }
                Ok(info) => return Ok(Some(Found { cache: i, info })),
            };
            cache.forget_narinfo(&path.hash_part());
            refusals.push(format!("`{}`: {refusal}", cache.url));
        }
        if refusals.is_empty() {
            return Ok(None);
        }
        Err(anyhow!("{}", refusals.join("; ")))
            .with_context(|| format!("no usable substitute for `{want}`"))
            .hint(
                "a binary cache is trusted only for narinfos signed by a key in \
                 --trusted-public-keys / DEVENV_TRUSTED_PUBLIC_KEYS, and must be reachable",
            )
    }
}

/// Compute which of `wanted` (and their references) must be fetched: the closure over narinfo
/// `References`, stopping at paths already valid (their closure is valid by construction).
/// Lookups run `jobs` at a time.
pub fn plan(
    store: &Store,
    subs: &Substituters,
    wanted: &[StorePath],
    jobs: usize,
) -> Result<BTreeMap<String, Found>> {
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut frontier: Vec<StorePath> = Vec::new();
    for p in wanted {
        let abs = p.to_absolute();
        // A Nix sharing the root may have it already: adopt instead of downloading.
        if seen.insert(abs.clone())
            && !store.is_valid(&abs)?
            && !super::nix::adopt_closure(store, &abs)?
        {
            frontier.push(p.clone());
        }
    }
    while !frontier.is_empty() {
        let results = parallel_map(&frontier, jobs, |p| subs.query(p));
        let mut next = Vec::new();
        for (p, r) in frontier.iter().zip(results) {
            match r? {
                None => missing.push(p.to_absolute()),
                Some(f) => {
                    for r in &f.info.references {
                        let abs = r.to_absolute();
                        if seen.insert(abs.clone()) && !store.is_valid(&abs)? {
                            next.push(r.clone());
                        }
                    }
                    found.insert(p.to_absolute(), f);
                }
            }
        }
        frontier = next;
    }
    if !missing.is_empty() {
        missing.sort();
        return Err(MissingPaths {
            paths: missing,
            caches: subs.caches.iter().map(|c| c.url.clone()).collect(),
        }
        .into());
    }
    Ok(found)
}

/// Run `f` over `items` with at most `jobs` threads, keeping the order of results.
fn parallel_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                out.lock().expect("results lock")[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .expect("results lock")
        .into_iter()
        .map(|r| r.expect("every item processed"))
        .collect()
}

/// Fetch every planned path, references before referrers, `jobs` at a time. Returns the paths
/// this process fetched (others may have been fetched meanwhile by another process).
pub fn fetch_all(
    store: &Store,
    subs: &Substituters,
    planned: &BTreeMap<String, Found>,
    jobs: usize,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    // Dependencies among the planned paths only; everything else is valid already.
    let mut waiting_on: HashMap<&str, usize> = HashMap::new();
    let mut referrers: HashMap<&str, Vec<&str>> = HashMap::new();
    for (path, f) in planned {
        let mut n = 0;
        for r in &f.info.references {
            let abs = r.to_absolute();
            if abs != *path {
                if let Some((key, _)) = planned.get_key_value(&abs) {
                    n += 1;
                    referrers
                        .entry(key.as_str())
                        .or_default()
                        .push(path.as_str());
                }
            }
        }
        waiting_on.insert(path.as_str(), n);
    }
    struct Sched<'a> {
        ready: Vec<&'a str>,
        waiting_on: HashMap<&'a str, usize>,
        /// Paths being fetched by a worker.
        running: usize,
        /// Paths unpacked and in place, waiting for the committer (sync + register).
        to_commit: Vec<(&'a str, Placed)>,
        committing: usize,
        remaining: usize,
        errors: Vec<anyhow::Error>,
        fetched: Vec<String>,
    }
    impl<'a> Sched<'a> {
        fn done(&mut self, path: &'a str, referrers: &HashMap<&'a str, Vec<&'a str>>) {
            self.remaining -= 1;
            for r in referrers.get(path).into_iter().flatten() {
                let n = self.waiting_on.get_mut(r).expect("planned referrer");
                *n -= 1;
                if *n == 0 {
                    self.ready.push(r);
                }
            }
        }
    }
    let mut ready: Vec<&str> = waiting_on
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(p, _)| *p)
        .collect();
    // Largest first keeps the slowest downloads from being left for last.
    ready.sort_by_key(|p| std::cmp::Reverse(planned[*p].info.nar_size));
    let sched = Mutex::new(Sched {
        ready,
        waiting_on,
        running: 0,
        to_commit: Vec::new(),
        committing: 0,
        remaining: planned.len(),
        errors: Vec::new(),
        fetched: Vec::new(),
    });
    let cond = Condvar::new();
    std::thread::scope(|s| {
        // The committer: one `syncfs` for every batch of placed paths, then registration, so
        // workers go on decompressing while the disk flushes.
        s.spawn(|| loop {
            let batch = {
                let mut g = sched.lock().expect("scheduler lock");
                loop {
                    if !g.to_commit.is_empty() {
                        break std::mem::take(&mut g.to_commit);
                    }
                    if g.remaining == 0 || (!g.errors.is_empty() && g.running == 0) {
                        cond.notify_all();
                        return;
                    }
                    g = cond.wait(g).expect("scheduler lock");
                }
            };
            let synced = store.sync.sync(&store.layout.store_dir());
            let mut results = Vec::new();
            for (path, placed) in batch {
                let r = match &synced {
                    Ok(()) => store.register(&placed.info),
                    Err(e) => Err(anyhow!("{e:#}")),
                };
                if r.is_err() {
                    let _ = remove_tree(&store.layout.real_path(path));
                }
                // The path lock is released only now that the path is registered (or removed).
                drop(placed.lock);
                results.push((path, r));
            }
            let mut g = sched.lock().expect("scheduler lock");
            for (path, r) in results {
                g.committing -= 1;
                match r {
                    Ok(()) => {
                        g.fetched.push(path.to_string());
                        progress.finished(path);
                        g.done(path, &referrers);
                    }
                    Err(e) => g.errors.push(e),
                }
            }
            cond.notify_all();
        });
        for _ in 0..jobs
            .clamp(1, MAX_PARALLEL_UNPACKS)
            .min(planned.len().max(1))
        {
            s.spawn(|| loop {
                let path = {
                    let mut g = sched.lock().expect("scheduler lock");
                    loop {
                        if !g.errors.is_empty() || g.remaining == 0 {
                            cond.notify_all();
                            return;
                        }
                        if let Some(p) = g.ready.pop() {
                            g.running += 1;
                            break p;
                        }
                        if g.running == 0 && g.committing == 0 {
                            // Nothing ready, running or committing: only a reference cycle
                            // among narinfos could cause this.
                            g.errors
                                .push(anyhow!("the narinfo references form a cycle"));
                            cond.notify_all();
                            return;
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
                        g.committing += 1;
                        g.to_commit.push((path, placed));
                    }
                    Ok(None) => g.done(path, &referrers),
                    Err(e) => g.errors.push(e),
                }
                cond.notify_all();
            });
        }
    });
    let mut g = sched.into_inner().expect("scheduler lock");
    if let Some(e) = g.errors.drain(..).next() {
        return Err(e);
    }
    g.fetched.sort();
    Ok(g.fetched)
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

/// Download, decompress, hash and unpack into `tmp`; then compare with NarHash/NarSize.
/// The error says whether the transfer broke (worth retrying) or the content is wrong.
fn unpack_verified(
    cache: &BinaryCache,
    info: &NarInfo,
    tmp: &Path,
    progress: &dyn Progress,
) -> std::result::Result<(), (anyhow::Error, bool)> {
    // Opening already retried transient failures; only a broken stream is worth another go.
    let download = cache.open_nar(&info.url).map_err(|e| (e, false))?;
    let failed = download.transport_failed.clone();
    let decompressed = decoder(&info.compression, download.reader).map_err(|e| (e, false))?;
    unpack_checked(decompressed, &info.nar_hash, info.nar_size, tmp, progress)
        .map_err(|(e, stream_broke)| (e, stream_broke && failed.load(Ordering::SeqCst)))
}

/// Unpack the NAR stream `input` into `tmp`, checking it against `nar_hash` and `nar_size`.
/// The error says whether reading the stream failed (as opposed to wrong content).
pub(crate) fn unpack_checked(
    input: impl Read,
    nar_hash: &crate::nixfmt::hash::Sha256Hash,
    nar_size: u64,
    tmp: &Path,
    progress: &dyn Progress,
) -> std::result::Result<(), (anyhow::Error, bool)> {
    let mut reader = VerifyingReader {
        inner: input,
        hasher: Sha256::new(),
        count: 0,
        limit: nar_size,
        progress,
    };
    let unpacked = crate::nixfmt::nar::reader::unpack(&mut reader, tmp);
    if let Err(e) = unpacked {
        return Err((
            anyhow::Error::from(e).context("the NAR is corrupt or does not match its narinfo"),
            true,
        ));
    }
    // Whatever follows the archive still counts towards NarSize and NarHash.
    let mut rest = [0u8; 8192];
    loop {
        match reader.read(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err((anyhow!(e).context("cannot read the NAR"), true)),
        }
    }
    if reader.count != nar_size {
        return Err((
            anyhow!(
                "NAR size mismatch: the narinfo says NarSize {nar_size}, the download has {} bytes",
                reader.count
            ),
            false,
        ));
    }
    let got: [u8; 32] = reader.hasher.finalize().into();
    if got != nar_hash.0 {
        return Err((
            anyhow!(
                "NAR hash mismatch: the narinfo says {}, the download hashes to {}",
                nar_hash.display_nix(),
                crate::nixfmt::hash::Sha256Hash(got).display_nix()
            ),
            false,
        ));
    }
    Ok(())
}

/// Make a verified temp tree durable, move it to its store path and register it.
pub(crate) fn commit(store: &Store, tmp: &Path, info: &PathInfo) -> Result<()> {
    let final_path = store.layout.real_path(&info.path);
    // Renamed before it is durable: until it is registered below, the path counts as a
    // leftover that the next run replaces, so a crash in between loses nothing.
    fs::rename(tmp, &final_path).with_context(|| {
        format!(
            "cannot move `{}` to `{}`",
            tmp.display(),
            final_path.display()
        )
    })?;
    let result = store
        .sync
        .sync(&store.layout.store_dir())
        .and_then(|()| store.register(info));
    if result.is_err() {
        let _ = remove_tree(&final_path);
    }
    result
}

/// Group commit for durability: one `syncfs` covers every path renamed before it started, so
/// workers finishing together share a flush instead of each paying for one.
#[derive(Default)]
pub struct GroupSync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Default)]
struct SyncState {
    requested: u64,
    completed: u64,
    running: bool,
}

impl GroupSync {
    /// Return once a `syncfs` of the file system holding `dir` has started after this call.
    pub fn sync(&self, dir: &Path) -> Result<()> {
        let mut g = self.state.lock().expect("sync lock");
        g.requested += 1;
        let mine = g.requested;
        loop {
            if g.completed >= mine {
                return Ok(());
            }
            if g.running {
                g = self.done.wait(g).expect("sync lock");
                continue;
            }
            g.running = true;
            let target = g.requested;
            drop(g);
            let result = sync_fs(dir);
            g = self.state.lock().expect("sync lock");
            g.running = false;
            if result.is_ok() {
                g.completed = g.completed.max(target);
            }
            self.done.notify_all();
            result?;
        }
    }
}

/// A fresh temp dir name inside the store for `hash_part` (not created).
pub(crate) fn tmp_path(store: &Store, hash_part: &str) -> std::path::PathBuf {
    store.layout.store_dir().join(format!(
        "{}{hash_part}-{:08x}",
        super::TMP_PREFIX,
        rand::random::<u32>()
    ))
}

/// A decompressing reader for the narinfo's `Compression`.
pub fn decoder(
    compression: &Compression,
    input: Box<dyn Read + Send>,
) -> Result<Box<dyn Read + Send>> {
    Ok(match compression {
        Compression::None => input,
        Compression::Xz => Box::new(xz2::read::XzDecoder::new_multi_decoder(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(input)?),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        #[allow(unreachable_patterns)]
        other => {
            bail!("unsupported NAR compression `{other:?}` (devenv reads xz, zstd, bzip2 and none)")
        }
    })
}

/// Hashes and counts the NAR stream, refusing to read past NarSize (a decompression bomb or a
/// wrong size fails early instead of filling the disk).
struct VerifyingReader<'a, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    limit: u64,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for VerifyingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the NAR is larger than its NarSize {}", self.limit),
            ));
        }
        self.hasher.update(&buf[..n]);
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

/// Make everything on the file system holding `root` durable (`syncfs`).
fn sync_fs(root: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let dir = fs::File::open(root).with_context(|| format!("cannot open `{}`", root.display()))?;
    // SAFETY: `dir` is an open file descriptor for the duration of the call.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("cannot sync `{}`", root.display()));
    }
    Ok(())
}

/// Delete a tree whose directories may be read-only (store paths are 0555).
pub fn remove_tree(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot stat `{}`", path.display())),
    };
    if meta.is_dir() {
        for entry in walkdir::WalkDir::new(path).follow_links(false) {
            let Ok(entry) = entry else { continue };
            if entry.file_type().is_dir() {
                let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755));
            }
        }
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
    .with_context(|| format!("cannot delete `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn decodes_every_supported_compression() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let xz = {
            let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let bz = {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        for (c, bytes) in [
            (Compression::Xz, xz),
            (Compression::Zstd, zst),
            (Compression::Bzip2, bz),
            (Compression::None, data.clone()),
        ] {
            let mut out = Vec::new();
            decoder(&c, Box::new(io::Cursor::new(bytes)))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{c:?}");
        }
        assert!(decoder(&Compression::Brotli, Box::new(io::empty())).is_err());
    }

    #[test]
    fn stops_reading_past_nar_size() {
        let mut r = VerifyingReader {
            inner: io::Cursor::new(vec![7u8; 100]),
            hasher: Sha256::new(),
            count: 0,
            limit: 10,
            progress: &super::super::NoProgress,
        };
        let err = io::copy(&mut r, &mut io::sink()).unwrap_err();
        assert!(
            err.to_string().contains("larger than its NarSize 10"),
            "{err}"
        );
    }

    #[test]
    fn group_sync_returns_for_every_caller() {
        let dir = tempfile::tempdir().unwrap();
        let sync = GroupSync::default();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| sync.sync(dir.path()).unwrap());
            }
        });
        let g = sync.state.lock().unwrap();
        assert_eq!(g.completed, 8);
        assert!(!g.running);
    }
}
