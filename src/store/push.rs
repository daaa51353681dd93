//! Writing a signed binary cache (`devenv cache push`): the layout real Nix substitutes from,
//! so an environment can be carried to an air-gapped machine on a USB stick or served over HTTP.
//!
//! Per path: NAR of the store path → compress (xz or zstd) into a temp file while hashing both
//! streams → rename to `nar/<nix32 file hash>.nar.<ext>` → write `<hashpart>.narinfo` signed with
//! the given key. The NAR is checked against the hash recorded at registration, so a store path
//! damaged on disk is refused instead of published.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};

use super::Store;
use crate::diagnostic::ResultExt;
use crate::nix::hash::{HashingWriter, Sha256Hash};
use crate::nix::narinfo::NarInfo;
use crate::nix::signature::SecretKey;

/// Compression for pushed NARs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushCompression {
    Xz,
    Zstd,
}

impl PushCompression {
    fn name(self) -> &'static str {
        match self {
            PushCompression::Xz => "xz",
            PushCompression::Zstd => "zstd",
        }
    }
    fn ext(self) -> &'static str {
        match self {
            PushCompression::Xz => ".xz",
            PushCompression::Zstd => ".zst",
        }
    }
}

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
    let text = fs::read_to_string(file)
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
    store: &Store,
    paths: &[String],
    to: &Path,
    key: Option<&SecretKey>,
    compression: PushCompression,
) -> Result<PushReport> {
    let closure = store.closure(paths)?;
    fs::create_dir_all(to.join("nar"))
        .with_context(|| format!("cannot create the binary cache `{}`", to.display()))?;
    let info_file = to.join("nix-cache-info");
    match fs::read_to_string(&info_file) {
        Ok(text) => {
            let info = crate::nix::narinfo::CacheInfo::parse(&text)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| format!("invalid `{}`", info_file.display()))?;
            if info.store_dir != super::layout::STORE_DIR {
                bail!(
                    "`{}` is a binary cache for store `{}`, not `{}`",
                    to.display(),
                    info.store_dir,
                    super::layout::STORE_DIR
                );
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            crate::fsutil::write_atomic(&info_file, b"StoreDir: /nix/store\n")?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", info_file.display())),
    }
    let mut report = PushReport::default();
    for path in closure {
        let info = store
            .path_info(&path)?
            .with_context(|| format!("`{path}` is not valid in the store"))?;
        let sp =
            crate::nix::store_path::StorePath::parse_absolute(&path).map_err(|e| anyhow!("{e}"))?;
        let narinfo_path = to.join(format!("{}.narinfo", sp.hash_part()));
        if narinfo_path.exists() {
            report.skipped.push(path);
            continue;
        }
        let (file_name, file_hash, file_size, nar_hash, nar_size) =
            write_nar(store, &path, &to.join("nar"), compression)?;
        let recorded = Sha256Hash::parse(&info.nar_hash_hex).map_err(|e| anyhow!("{e}"))?;
        if nar_hash.0 != recorded.0 || nar_size != info.nar_size {
            let _ = fs::remove_file(to.join("nar").join(&file_name));
            bail!(
                "`{path}` was modified on disk: its NAR hashes to {} ({nar_size} bytes), \
                 registered as {} ({} bytes)",
                nar_hash.display_nix(),
                recorded.display_nix(),
                info.nar_size
            );
        }
        let refs: Vec<String> = info
            .references
            .iter()
            .map(|r| r.trim_start_matches("/nix/store/").to_string())
            .collect();
        let mut text = format!(
            "StorePath: {path}\nURL: nar/{file_name}\nCompression: {}\nFileHash: {}\n\
             FileSize: {file_size}\nNarHash: {}\nNarSize: {nar_size}\nReferences: {}\n",
            compression.name(),
            file_hash.display_nix(),
            nar_hash.display_nix(),
            refs.join(" ")
        );
        if let Some(d) = &info.deriver {
            text.push_str(&format!(
                "Deriver: {}\n",
                d.trim_start_matches("/nix/store/")
            ));
        }
        if let Some(ca) = &info.ca {
            text.push_str(&format!("CA: {ca}\n"));
        }
        let mut narinfo = NarInfo::parse(&text).map_err(|e| anyhow!("{e}"))?;
        if let Some(key) = key {
            let sig = key.sign(&narinfo.fingerprint());
            narinfo.sigs.push(sig);
        }
        crate::fsutil::write_atomic(&narinfo_path, narinfo.to_string().as_bytes())?;
        report.file_bytes += file_size;
        report.written.push(path);
    }
    crate::fsutil::sync_dir(&to.join("nar"))?;
    crate::fsutil::sync_dir(to)?;
    Ok(report)
}

/// Dump, compress and store one NAR; returns (file name, file hash, file size, NAR hash, NAR size).
fn write_nar(
    store: &Store,
    path: &str,
    nar_dir: &Path,
    compression: PushCompression,
) -> Result<(String, Sha256Hash, u64, Sha256Hash, u64)> {
    // Readable by whoever serves the cache, as the umask allows.
    let mut tmp = crate::fsutil::shared_temp_file(nar_dir)?;
    let file_hashing =
        HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut()));
    let source = store.layout().real_path(path);
    let dump = |out: &mut dyn Write| {
        crate::nix::nar::writer::dump(&source, out)
            .with_context(|| format!("cannot serialise `{path}`"))
    };
    let (nar_hash, nar_size, file_hashing) = match compression {
        PushCompression::Xz => {
            let mut nar = HashingWriter::new(liblzma::write::XzEncoder::new(file_hashing, 6));
            dump(&mut nar)?;
            let (nar_hash, nar_size, enc) = nar.finish();
            (nar_hash, nar_size, enc.finish()?)
        }
        PushCompression::Zstd => {
            let mut nar = HashingWriter::new(zstd::stream::write::Encoder::new(file_hashing, 3)?);
            dump(&mut nar)?;
            let (nar_hash, nar_size, enc) = nar.finish();
            (nar_hash, nar_size, enc.finish()?)
        }
    };
    let (file_hash, file_size, mut inner) = file_hashing.finish();
    inner.flush()?;
    drop(inner);
    tmp.as_file().sync_all()?;
    let name = format!("{}.nar{}", file_hash.to_nix32(), compression.ext());
    tmp.persist(nar_dir.join(&name)).map_err(|e| e.error)?;
    Ok((name, file_hash, file_size, nar_hash, nar_size))
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
