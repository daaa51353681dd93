//! `cache push`: the closure of store paths, written into a binary cache directory (see
//! `cache_writer`) so an environment can be carried to an air-gapped machine on a USB stick or
//! served over HTTP. Each NAR is checked against the hash recorded at registration, so a store
//! path damaged on disk is refused instead of published.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use super::cache_writer::{Added, CacheWriteError, CacheWriter, PathMeta};
use super::{LocalStore, StoreError};
use crate::diagnostic::ResultExt;
use crate::nix::hash::Sha256Hash;
use crate::nix::signature::SecretKey;
use crate::nix::store_path::StorePath;

/// Compression for pushed NARs.
pub use super::cache_writer::NarCompression as PushCompression;

/// What a push wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Paths written, references first.
    pub written: Vec<String>,
    /// Paths the cache already had.
    pub skipped: Vec<String>,
    /// Bytes of compressed NARs written.
    pub file_bytes: u64,
}

/// The directory a binary cache is written to, from `dir` or `file://dir` (a query such as
/// `?compression=xz`, which Nix's store URLs carry, is ignored). Remote URLs are refused: a
/// cache is written locally, then served or copied.
pub fn local_cache_dir(arg: &str) -> Result<PathBuf> {
    if let Some(rest) = arg.strip_prefix("file://") {
        let path = rest.split('?').next().unwrap_or(rest);
        return Ok(PathBuf::from(path));
    }
    if arg.contains("://") {
        return Err(anyhow!("`{arg}` is not a local binary cache"))
            .hint("write the cache to a directory (or file://<dir>), then serve or copy that directory")
            .bad_input();
    }
    Ok(PathBuf::from(arg))
}

/// Read a secret signing key file (`name:base64`, as `nix-store --generate-binary-cache-key`
/// writes it).
pub fn read_secret_key(file: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the secret key file `{}`", file.display()))
        .hint("check the path; a key pair is made with `nix-store --generate-binary-cache-key <name> <secret file> <public file>`")
        .bad_input()?;
    SecretKey::parse(text.trim())
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("`{}` is not a secret signing key", file.display()))
        .hint("create one with `nix-store --generate-binary-cache-key <name> <secret file> <public file>`")
        .bad_input()
}

/// Write the closure of `paths` into the binary cache directory `to`.
pub fn push(
    store: &LocalStore,
    paths: &[StorePath],
    to: &Path,
    key: Option<&SecretKey>,
    compression: PushCompression,
) -> Result<PushReport, StoreError> {
    let wanted: Vec<String> = paths.iter().map(StorePath::to_absolute).collect();
    let closure = store.closure(&wanted)?;
    let writer = CacheWriter::open(to)?;
    let mut report = PushReport::default();
    for path in closure {
        let info = store
            .path_info(&path)?
            .with_context(|| format!("`{path}` is not valid in the store"))?;
        let typed = |p: &str| StorePath::parse_absolute(p).map_err(|e| anyhow!("{e}"));
        let meta = PathMeta {
            nar_hash: Sha256Hash::parse(&info.nar_hash_hex).map_err(|e| anyhow!("{e}"))?,
            nar_size: info.nar_size,
            references: (info.references.iter())
                .map(|r| typed(r))
                .collect::<Result<_>>()?,
            deriver: (info.deriver.as_deref())
                .map(|d| typed(d).map(|d| d.base_name()))
                .transpose()?,
            ca: info.ca.clone(),
        };
        let source = store.layout().real_path(&path);
        match writer.add(&typed(&path)?, &source, &meta, compression, key) {
            Ok(Added::Present) => report.skipped.push(path),
            Ok(Added::Written { file_size }) => {
                report.file_bytes += file_size;
                report.written.push(path);
            }
            Err(CacheWriteError::Changed {
                found, found_size, ..
            }) => {
                return Err(StoreError::Modified {
                    path,
                    found: found.display_nix(),
                    found_size,
                    registered: meta.nar_hash.display_nix(),
                    registered_size: meta.nar_size,
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_arguments() {
        assert_eq!(
            local_cache_dir("file:///srv/cache").unwrap(),
            PathBuf::from("/srv/cache")
        );
        assert_eq!(
            local_cache_dir("file:///srv/cache?compression=xz").unwrap(),
            PathBuf::from("/srv/cache")
        );
        assert_eq!(local_cache_dir("cache").unwrap(), PathBuf::from("cache"));
        assert!(local_cache_dir("https://example.org/cache").is_err());
    }
}
