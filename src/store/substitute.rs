//! Substitution: find store paths in binary caches, compute the closure from narinfo
//! `References`, and fetch each missing path through one streaming pipeline
//! download → decompress → sha256 + size → NAR unpack into a temp dir inside the store →
//! verify NarHash/NarSize → atomic rename → register (durability: see `durability`).
//!
//! The narinfo signature is checked before a byte of the NAR is fetched (the signature covers the
//! path, NarHash, NarSize and references), and the NAR stream is checked against NarHash and
//! NarSize before the rename, so nothing unverified ever appears under its store path. Memory is
//! independent of NAR size: nothing is buffered whole. References are realized before their
//! referrers; independent paths are fetched in parallel.

use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context as _, Result};
use sha2::{Digest, Sha256};

use super::cache::BinaryCache;
use super::db::PathInfo;
use super::error::{RefusalStage, Refused, StoreError};
use super::{LocalStore, Progress};
use crate::nix::narinfo::{Compression, NarInfo};
use crate::nix::signature::TrustedKeys;
use crate::nix::store_path::StorePath;

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
    /// Configured caches that were skipped because they could not be reached.
    pub unreachable: Vec<super::cache::Unreachable>,
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
        )?;
        for u in &self.unreachable {
            write!(f, "; skipped {u}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MissingPaths {}

/// The configured caches (sorted by priority) and the keys whose signatures count.
pub struct Substituters {
    pub caches: Vec<BinaryCache>,
    pub keys: TrustedKeys,
    /// Configured caches that could not be reached, skipped.
    pub unreachable: Vec<super::cache::Unreachable>,
}

impl Substituters {
    /// Ask the caches, in priority order, for `path`. A narinfo that fails a check is reported
    /// and the next cache is tried, as Nix does; Ok(None) when no cache has it.
    pub fn query(&self, path: &StorePath) -> Result<Option<Found>> {
        let want = path.to_absolute();
        let mut refusals = Vec::new();
        if let Some(found) = self.find_from(path, 0, &mut refusals) {
            return Ok(Some(found));
        }
        if refusals.is_empty() {
            return Ok(None);
        }
        Err(StoreError::Refused(Refused::new(want, RefusalStage::Narinfo, refusals)).into())
    }

    /// The first cache at or after position `from` (in priority order) with a usable narinfo for
    /// `path`; the caches whose narinfo was refused or could not be read are added to
    /// `refusals` as (URL, why). Used for the first lookup, and again when a NAR fails.
    pub fn find_from(
        &self,
        path: &StorePath,
        from: usize,
        refusals: &mut Vec<(String, String)>,
    ) -> Option<Found> {
        for (i, cache) in self.caches.iter().enumerate().skip(from) {
            let hash_part = path.hash_part();
            let mut text = match cache.narinfo_text(&hash_part) {
                Ok(Some(text)) => text,
                Ok(None) => continue,
                // An unreachable cache is skipped for this path, as Nix does; if no other cache
                // has the path, the reason is reported.
                Err(e) => {
                    refusals.push((cache.url.clone(), format!("{e:#}")));
                    continue;
                }
            };
            let mut asked_again = false;
            let refusal = loop {
                let refusal = match self.check(path, &text) {
                    Ok(info) => return Some(Found { cache: i, info }),
                    Err(refusal) => refusal,
                };
                cache.forget_narinfo(&hash_part);
                // The answer may have come from the on-disk lookup cache (stale, or damaged by a
                // power failure): ask the cache itself once before refusing.
                if !asked_again {
                    asked_again = true;
                    if let Ok(Some(fresh)) = cache.narinfo_text_remote(&hash_part) {
                        if fresh != text {
                            text = fresh;
                            continue;
                        }
                    }
                }
                break refusal;
            };
            cache.forget_narinfo(&hash_part);
            refusals.push((cache.url.clone(), refusal));
        }
        None
    }
}

impl Substituters {
    /// Parse and check a narinfo served for `path`; the reason when it is unusable.
    fn check(&self, path: &StorePath, text: &str) -> std::result::Result<NarInfo, String> {
        let want = path.to_absolute();
        match NarInfo::parse(text) {
            Err(e) => Err(format!("its narinfo is invalid: {e}")),
            Ok(info) if info.store_path.to_absolute() != want => Err(format!(
                "its narinfo `{}.narinfo` is for a different store path `{}`",
                path.hash_part(),
                info.store_path.to_absolute()
            )),
            Ok(info) if info.nar_size == 0 => Err("its narinfo has NarSize 0".to_string()),
            Ok(info) if !self.keys.verify_narinfo(&info) => Err(if info.sigs.is_empty() {
                "its narinfo is not signed".to_string()
            } else {
                "its narinfo is not signed by any trusted public key \
                 (unknown key or forged signature)"
                    .to_string()
            }),
            Ok(info) => Ok(info),
        }
    }
}

/// Run `f` over `items` with at most `jobs` threads, keeping the order of results.
pub(super) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
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

/// Why a NAR could not be placed in the store, which decides what happens next.
#[derive(Debug)]
pub(crate) enum NarFault {
    /// The transfer broke (cut off, timed out, refused): trying again, or another cache, may work.
    Broken(anyhow::Error),
    /// This cache's answer is unusable (wrong hash or size, not a NAR, no NAR behind the
    /// narinfo): another cache may have a good copy.
    Bad(anyhow::Error),
    /// Writing into the store failed (a full disk, permissions): no cache can help.
    Local(anyhow::Error),
}

impl NarFault {
    pub fn into_error(self) -> anyhow::Error {
        match self {
            NarFault::Broken(e) | NarFault::Bad(e) | NarFault::Local(e) => e,
        }
    }
}

/// Download, decompress, hash and unpack into `tmp`; then compare with NarHash/NarSize.
pub(super) fn unpack_verified(
    cache: &BinaryCache,
    info: &NarInfo,
    tmp: &Path,
    progress: &dyn Progress,
) -> std::result::Result<(), NarFault> {
    let download = cache.open_nar(&info.url).map_err(|(e, transient)| {
        if transient {
            NarFault::Broken(e)
        } else {
            NarFault::Bad(e)
        }
    })?;
    let failed = download.transport_failed.clone();
    let decompressed = decoder(&info.compression, download.reader).map_err(NarFault::Bad)?;
    // A stream that failed to read is only a broken transfer when the transport says so: a
    // decompressor choking on garbage is the cache's fault.
    unpack_checked(decompressed, &info.nar_hash, info.nar_size, tmp, progress).map_err(
        |f| match f {
            NarFault::Broken(e) if !failed.load(Ordering::SeqCst) => {
                NarFault::Bad(e.context("the NAR is corrupt or does not match its narinfo"))
            }
            f => f,
        },
    )
}

/// Unpack the NAR stream `input` into `tmp`, checking it against `nar_hash` and `nar_size`.
/// A failure to read the stream is [`NarFault::Broken`], wrong content [`NarFault::Bad`], and a
/// failure to write into the store [`NarFault::Local`] (a full disk says so: see `diskfull`).
pub(crate) fn unpack_checked(
    input: impl Read,
    nar_hash: &crate::nix::hash::Sha256Hash,
    nar_size: u64,
    tmp: &Path,
    progress: &dyn Progress,
) -> std::result::Result<(), NarFault> {
    use crate::nix::nar::reader::NarError;
    let mut reader = VerifyingReader {
        inner: input,
        hasher: Sha256::new(),
        count: 0,
        limit: nar_size,
        progress,
    };
    match crate::nix::nar::reader::unpack(&mut reader, tmp) {
        Ok(_) => {}
        Err(e @ (NarError::Write { .. } | NarError::TargetExists(_))) => {
            let store_dir = tmp.parent().unwrap_or(tmp);
            let e = anyhow::Error::from(e).context(format!(
                "cannot unpack into the store `{}`",
                store_dir.display()
            ));
            return Err(NarFault::Local(super::diskfull::explain(
                e, store_dir, None, None,
            )));
        }
        Err(e @ NarError::Invalid { .. }) => {
            return Err(NarFault::Bad(
                anyhow::Error::from(e).context("the NAR is corrupt or does not match its narinfo"),
            ))
        }
        // The stream failed: the transfer, or the decompressor (the caller tells which).
        Err(e) => return Err(NarFault::Broken(e.into())),
    }
    // Whatever follows the archive still counts towards NarSize and NarHash.
    let mut rest = [0u8; 8192];
    loop {
        match reader.read(&mut rest) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(NarFault::Broken(anyhow!(e).context("cannot read the NAR"))),
        }
    }
    if reader.count != nar_size {
        return Err(NarFault::Bad(anyhow!(
            "NAR size mismatch: the narinfo says NarSize {nar_size}, the download has {} bytes",
            reader.count
        )));
    }
    let got: [u8; 32] = reader.hasher.finalize().into();
    if got != nar_hash.0 {
        return Err(NarFault::Bad(anyhow!(
            "NAR hash mismatch: the narinfo says {}, the download hashes to {}",
            nar_hash.display_nix(),
            crate::nix::hash::Sha256Hash(got).display_nix()
        )));
    }
    Ok(())
}

/// Move a verified temp tree to its store path and register it (flushing it first only where
/// a restart could not be noticed afterwards; see `durability`).
pub(crate) fn commit(store: &LocalStore, tmp: &Path, info: &PathInfo) -> Result<()> {
    let final_path = place(store, tmp, &info.path)?;
    let flushed = if store.flush_before_registering() {
        sync_fs(&store.layout.store_dir())
    } else {
        Ok(())
    };
    let result = flushed.and_then(|()| store.register_fetched(info));
    if result.is_err() {
        let _ = remove_tree(&final_path);
    }
    result
}

/// Rename a verified temp tree to its store path `path` (removing the tree if that fails).
/// It is renamed before it is durable: until it is registered, the path counts as a leftover
/// that a later run replaces, so a crash in between loses nothing.
pub(super) fn place(store: &LocalStore, tmp: &Path, path: &str) -> Result<std::path::PathBuf> {
    let final_path = store.layout.real_path(path);
    if let Err(e) = fs::rename(tmp, &final_path) {
        let _ = remove_tree(tmp);
        return Err(e).with_context(|| {
            format!(
                "cannot move `{}` to `{}`",
                tmp.display(),
                final_path.display()
            )
        });
    }
    Ok(final_path)
}

/// A fresh temp dir name inside the store for `hash_part` (not created).
pub(crate) fn tmp_path(store: &LocalStore, hash_part: &str) -> std::path::PathBuf {
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
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(input)),
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
pub(super) fn sync_fs(root: &Path) -> Result<()> {
    let dir = fs::File::open(root).with_context(|| format!("cannot open `{}`", root.display()))?;
    crate::fsutil::platform::sync_filesystem(&dir)
        .with_context(|| format!("cannot sync `{}`", root.display()))
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
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
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
}
