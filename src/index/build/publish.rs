//! `devenv publish`: a local directory (a team's internal tool) becomes a store path, a signed
//! entry in a binary cache and a version in a static index, so it is locked, realized and
//! activated exactly like a nixpkgs package.
//!
//! The store path is the one `nix-store --add` gives a directory named `<name>-<version>`: type
//! `source`, the SHA-256 of the directory's NAR, no references. The cache entry is what
//! `nix copy --to file://…` writes (xz-compressed NAR under `nar/`, a narinfo with `CA:
//! fixed:r:sha256:…`, signed), written by the store's binary cache writer like `cache push`, so
//! real Nix can substitute it too. A published tool has no nixpkgs
//! commit; its index entry uses `attr_path` = the name and `rev` = the first 40 hex digits of the
//! NAR hash: deterministic, 40 hex like a commit, and different whenever the content differs.

use std::path::PathBuf;

use anyhow::{anyhow, Context};

use super::merge::{merge_entry, Meta};
use super::write;
use crate::diagnostic::ResultExt;
use crate::index::format::{PackageFile, SystemOutputs, VersionEntry};
use crate::lock::Output;
use crate::nix::hash::Sha256Hash;
use crate::nix::signature::SecretKey;
use crate::nix::store_path::{validate_name, StorePath};
use crate::store::cache_writer::{Added, CacheWriteError, CacheWriter, NarCompression, PathMeta};

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub dir: PathBuf,
    pub name: String,
    pub version: String,
    pub index: PathBuf,
    /// A binary cache directory (a `file://` URL already turned into a path).
    pub cache: PathBuf,
    pub key: SecretKey,
    /// Systems the tool is offered for.
    pub systems: Vec<String>,
    pub summary: String,
    pub homepage: String,
    pub license: Vec<String>,
    /// RFC 3339 date recorded as the entry's `last_modified`.
    pub last_modified: String,
}

/// The outcome.
#[derive(Debug, Clone)]
pub struct Published {
    pub store_path: String,
    pub nar_hash: String,
    pub nar_size: u64,
    pub rev: String,
    /// The cache had this path already (same content published before).
    pub cache_had_it: bool,
    /// The index changed.
    pub index_changed: bool,
}

/// The date a publish records: `SOURCE_DATE_EPOCH` when set (reproducible builds of an index),
/// else now.
pub fn now_rfc3339() -> anyhow::Result<String> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds"))
            .bad_input()?,
        Err(_) => time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    super::git::rfc3339(secs)
}

/// The index to publish into: a directory or `file://` URL (an HTTP index is read-only).
pub fn index_dir(url: &str) -> anyhow::Result<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if url.contains("://") {
        return Err(anyhow!("the index `{url}` is not a local directory"))
            .hint("pass --index <dir> (or DEVENV_INDEX=<dir>): publish writes a static index directory, which you can then serve over HTTP")
            .bad_input();
    }
    Ok(PathBuf::from(url))
}

/// The steps of [`publish_with`], for a line that shows where a large publish is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the directory once to compute its NAR hash.
    Hashing,
    /// Writing the compressed, signed NAR of this many bytes into the cache.
    Compressing { nar_size: u64 },
    /// Recording the version in the index.
    Indexing,
}

/// Publish `opts.dir`.
pub fn publish(opts: &PublishOptions) -> anyhow::Result<Published> {
    publish_with(opts, &|_| {})
}

/// [`publish`], telling `step` as each step starts.
pub fn publish_with(opts: &PublishOptions, step: &dyn Fn(Step)) -> anyhow::Result<Published> {
    let full_name = format!("{}-{}", opts.name, opts.version);
    if opts.version.is_empty()
        || !opts
            .version
            .starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(anyhow!("`{}` is not a usable version", opts.version))
            .hint("versions look like 1.4.2 or 2024-06-01")
            .bad_input();
    }
    if !write::valid_name(&opts.name) || opts.name.starts_with('.') {
        return Err(anyhow!("`{}` is not a usable package name", opts.name))
            .hint("use letters, digits and + - . _ ? = only")
            .bad_input();
    }
    validate_name(&full_name)
        .map_err(|e| anyhow!("{e}"))
        .bad_input()?;
    let meta = std::fs::symlink_metadata(&opts.dir)
        .with_context(|| format!("cannot read {}", opts.dir.display()))
        .bad_input()?;
    if !meta.is_dir() {
        return Err(anyhow!("{} is not a directory", opts.dir.display()))
            .hint("publish the directory that holds the tool (for example with a bin/ inside)")
            .bad_input();
    }

    step(Step::Hashing);
    let (nar_hash, nar_size) = crate::nix::nar::writer::dump_hash(&opts.dir)
        .with_context(|| format!("cannot serialise {}", opts.dir.display()))
        .bad_input()?;
    let store_path =
        StorePath::make_source(&full_name, &nar_hash, &[], false).map_err(|e| anyhow!("{e}"))?;
    let rev = nar_hash.to_hex()[..40].to_owned();

    step(Step::Compressing { nar_size });
    let cache_had_it = write_cache(opts, &store_path, &nar_hash, nar_size)?;
    let store_path = store_path.to_absolute();
    step(Step::Indexing);
    let index_changed = add_to_index(opts, &store_path, &rev)?;
    Ok(Published {
        store_path,
        nar_hash: nar_hash.display_nix(),
        nar_size,
        rev,
        cache_had_it,
        index_changed,
    })
}

/// Put the NAR and a signed narinfo into the cache, unless the path is there already; returns
/// whether it was.
fn write_cache(
    opts: &PublishOptions,
    store_path: &StorePath,
    nar_hash: &Sha256Hash,
    nar_size: u64,
) -> anyhow::Result<bool> {
    let writer = CacheWriter::open(&opts.cache).map_err(cache_error)?;
    let meta = PathMeta {
        nar_hash: *nar_hash,
        nar_size,
        references: Vec::new(),
        deriver: None,
        ca: Some(format!("fixed:r:sha256:{}", nar_hash.to_nix32())),
    };
    // A second pass over the directory, which must not have changed since the store path was
    // computed from the first.
    match writer.add(
        store_path,
        &opts.dir,
        &meta,
        NarCompression::Xz,
        Some(&opts.key),
    ) {
        Ok(Added::Present) => Ok(true),
        Ok(Added::Written { .. }) => Ok(false),
        Err(CacheWriteError::Changed { .. }) => Err(anyhow!(
            "{} changed while it was being published",
            opts.dir.display()
        ))
        .hint("run the command again once nothing writes to it"),
        Err(e) => Err(cache_error(e)),
    }
}

/// A cache that cannot be written, as an error; a directory that is not a cache for
/// `/nix/store` is the user's to fix.
fn cache_error(e: CacheWriteError) -> anyhow::Error {
    let bad_input = matches!(
        e,
        CacheWriteError::OtherStore { .. } | CacheWriteError::BadCacheInfo { .. }
    );
    let e = anyhow::Error::new(e);
    match bad_input {
        true => Err::<(), _>(e).bad_input().expect_err("an error"),
        false => e,
    }
}

/// Add (or refresh) the version entry. Publishing the same content again keeps the entry and
/// its date and only adds systems; different content under the same version replaces it.
fn add_to_index(opts: &PublishOptions, store_path: &str, rev: &str) -> anyhow::Result<bool> {
    std::fs::create_dir_all(&opts.index)
        .with_context(|| format!("cannot create the index {}", opts.index.display()))?;
    let _lock = write::lock(&opts.index)?;
    let mut index = write::load(&opts.index)?;
    let outputs = vec![Output {
        name: "out".into(),
        path: store_path.to_owned(),
        default: true,
    }];
    let file = index
        .packages
        .entry(opts.name.clone())
        .or_insert_with(|| PackageFile {
            name: opts.name.clone(),
            ..PackageFile::default()
        });
    let last_modified = file
        .versions
        .iter()
        .find(|v| v.version == opts.version && v.rev == rev)
        .map(|v| v.last_modified.clone())
        .unwrap_or_else(|| opts.last_modified.clone());
    let entry = VersionEntry {
        version: opts.version.clone(),
        attr_path: opts.name.clone(),
        rev: rev.to_owned(),
        last_modified,
        systems: opts
            .systems
            .iter()
            .map(|s| {
                (
                    s.clone(),
                    SystemOutputs {
                        outputs: outputs.clone(),
                    },
                )
            })
            .collect(),
    };
    let meta = Meta {
        summary: opts.summary.clone(),
        homepage: opts.homepage.clone(),
        license: opts.license.clone(),
    };
    let changed = merge_entry(file, entry, &meta);
    write::store(
        &opts.index,
        &index,
        Some(std::slice::from_ref(&opts.name)),
        None,
    )?;
    Ok(changed)
}
