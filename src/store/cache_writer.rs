//! Writing a binary cache: the one writer behind `cache push` (paths of a store) and `publish`
//! (a directory that becomes a store path), producing the layout real Nix substitutes from.
//!
//! A cache is `nix-cache-info` (`StoreDir: /nix/store`, written when missing and checked when
//! present), `nar/<nix32 file hash>.nar.<ext>` and `<hash part>.narinfo`. Per path: the NAR of
//! its contents is compressed (xz or zstd) into a temp file under `nar/` while both streams are
//! hashed; it is kept only when the NAR hashes to what the caller expects (what was registered
//! for a store path, or what a directory hashed to when its store path was computed), so damaged
//! or changing contents are refused instead of published. Then the NAR is renamed into place and
//! made durable before the narinfo that points at it is written (atomically) and signed. A path
//! whose narinfo exists is skipped.
//!
//! Every file is created like any file the user writes (0666 minus the umask, directories as
//! `mkdir -p` makes them: see `fsutil`), so a web server running as another user can serve it.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::nix::hash::{HashingWriter, Sha256Hash};
use crate::nix::narinfo::{CacheInfo, Compression, NarInfo};
use crate::nix::signature::SecretKey;
use crate::nix::store_path::{StorePath, STORE_DIR};

/// How NARs are compressed in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NarCompression {
    Xz,
    Zstd,
}

impl NarCompression {
    fn narinfo(self) -> Compression {
        match self {
            NarCompression::Xz => Compression::Xz,
            NarCompression::Zstd => Compression::Zstd,
        }
    }
}

/// Why a binary cache could not be written.
#[derive(Debug, Error)]
pub enum CacheWriteError {
    /// The directory holds a cache for another store directory.
    #[error("`{}` is a binary cache for store `{store_dir}`, not `{STORE_DIR}`", dir.display())]
    OtherStore { dir: PathBuf, store_dir: String },
    /// The directory's `nix-cache-info` cannot be read as one.
    #[error("`{}` is not a valid nix-cache-info: {reason}", file.display())]
    BadCacheInfo { file: PathBuf, reason: String },
    /// The contents' NAR is not the one expected: they changed, or were damaged, since the
    /// expected hash was taken. Nothing was written.
    #[error(
        "the NAR of `{}` hashes to {} ({found_size} bytes), not {} ({expected_size} bytes)",
        contents.display(),
        found.display_nix(),
        expected.display_nix()
    )]
    Changed {
        contents: PathBuf,
        found: Sha256Hash,
        found_size: u64,
        expected: Sha256Hash,
        expected_size: u64,
    },
    /// Reading the contents or writing a file of the cache failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(what: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> CacheWriteError {
    move |source| CacheWriteError::Io {
        what: what(),
        source,
    }
}

/// What a narinfo says about a path besides its NAR file: the NAR hash and size the contents
/// must have, and the path's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMeta {
    pub nar_hash: Sha256Hash,
    pub nar_size: u64,
    /// In the order the narinfo lists them.
    pub references: Vec<StorePath>,
    /// Base name of the deriver (`<hash>-<name>.drv`).
    pub deriver: Option<String>,
    /// Content address (`fixed:r:sha256:…`), for content-addressed paths.
    pub ca: Option<String>,
}

/// What [`CacheWriter::add`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// The cache had a narinfo for the path already; nothing was written.
    Present,
    /// The NAR and the narinfo were written; `file_size` bytes of compressed NAR.
    Written { file_size: u64 },
}

/// An open binary cache directory being written.
pub struct CacheWriter {
    dir: PathBuf,
    nar_dir: PathBuf,
}

impl CacheWriter {
    /// Open the cache in `dir`, creating it (with `nar/` and `nix-cache-info`) when needed; a
    /// cache for another store directory is refused.
    pub fn open(dir: &Path) -> Result<CacheWriter, CacheWriteError> {
        let nar_dir = dir.join("nar");
        std::fs::create_dir_all(&nar_dir).map_err(io_error(|| {
            format!("cannot create the binary cache `{}`", dir.display())
        }))?;
        let info_file = dir.join("nix-cache-info");
        match std::fs::read_to_string(&info_file) {
            Ok(text) => {
                let info = CacheInfo::parse(&text).map_err(|e| CacheWriteError::BadCacheInfo {
                    file: info_file.clone(),
                    reason: e.to_string(),
                })?;
                if info.store_dir != STORE_DIR {
                    return Err(CacheWriteError::OtherStore {
                        dir: dir.to_path_buf(),
                        store_dir: info.store_dir,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let text = format!("StoreDir: {STORE_DIR}\n");
                crate::fsutil::write_atomic(&info_file, text.as_bytes()).map_err(io_error(
                    || format!("cannot write `{}`", info_file.display()),
                ))?;
            }
            Err(e) => {
                return Err(io_error(|| {
                    format!("cannot read `{}`", info_file.display())
                })(e))
            }
        }
        Ok(CacheWriter {
            dir: dir.to_path_buf(),
            nar_dir,
        })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The narinfo file of `path` in this cache.
    pub fn narinfo_file(&self, path: &StorePath) -> PathBuf {
        self.dir.join(format!("{}.narinfo", path.hash_part()))
    }

    /// Whether the cache has `path` (its narinfo).
    pub fn has(&self, path: &StorePath) -> bool {
        self.narinfo_file(path).exists()
    }

    /// Add store path `path` whose files are `contents` (a store path on disk, or the directory
    /// it is made from), unless the cache has it: its NAR, compressed, then its narinfo, signed
    /// with `key` when given. Fails with [`CacheWriteError::Changed`], writing nothing, when the
    /// NAR of `contents` is not `meta`'s.
    pub fn add(
        &self,
        path: &StorePath,
        contents: &Path,
        meta: &PathMeta,
        compression: NarCompression,
        key: Option<&SecretKey>,
    ) -> Result<Added, CacheWriteError> {
        if self.has(path) {
            return Ok(Added::Present);
        }
        let nar = self.write_nar(contents, meta, compression)?;
        let file_size = nar.file_size;
        let mut narinfo = NarInfo {
            store_path: path.clone(),
            url: format!("nar/{}", nar.file_name),
            compression: compression.narinfo(),
            file_hash: Some(nar.file_hash),
            file_size: Some(nar.file_size),
            nar_hash: meta.nar_hash,
            nar_size: meta.nar_size,
            references: meta.references.clone(),
            deriver: meta.deriver.clone(),
            sigs: Vec::new(),
            ca: meta.ca.clone(),
            system: None,
        };
        if let Some(key) = key {
            key.sign_narinfo(&mut narinfo);
        }
        let file = self.narinfo_file(path);
        crate::fsutil::write_atomic(&file, narinfo.to_string().as_bytes())
            .map_err(io_error(|| format!("cannot write `{}`", file.display())))?;
        Ok(Added::Written { file_size })
    }

    /// Dump, compress and check the NAR of `contents`; rename it into `nar/` (durably) only when
    /// it is `meta`'s.
    fn write_nar(
        &self,
        contents: &Path,
        meta: &PathMeta,
        compression: NarCompression,
    ) -> Result<NarFile, CacheWriteError> {
        let mut tmp = self.writing(crate::fsutil::shared_temp_file(&self.nar_dir))?;
        let file = HashingWriter::new(io::BufWriter::with_capacity(256 * 1024, tmp.as_file_mut()));
        let dump = |out: &mut dyn Write| {
            crate::nix::nar::writer::dump(contents, out).map_err(io_error(|| {
                format!("cannot serialise `{}`", contents.display())
            }))
        };
        let (nar_hash, nar_size, file) = match compression {
            NarCompression::Xz => {
                let mut nar = HashingWriter::new(liblzma::write::XzEncoder::new(file, 6));
                dump(&mut nar)?;
                let (nar_hash, nar_size, encoder) = nar.finish();
                (nar_hash, nar_size, self.writing(encoder.finish())?)
            }
            NarCompression::Zstd => {
                let encoder = zstd::stream::write::Encoder::new(file, 3);
                let mut nar = HashingWriter::new(self.writing(encoder)?);
                dump(&mut nar)?;
                let (nar_hash, nar_size, encoder) = nar.finish();
                (nar_hash, nar_size, self.writing(encoder.finish())?)
            }
        };
        let (file_hash, file_size, mut inner) = file.finish();
        self.writing(inner.flush())?;
        drop(inner);
        if nar_hash != meta.nar_hash || nar_size != meta.nar_size {
            // The temp file goes with `tmp`.
            return Err(CacheWriteError::Changed {
                contents: contents.to_path_buf(),
                found: nar_hash,
                found_size: nar_size,
                expected: meta.nar_hash,
                expected_size: meta.nar_size,
            });
        }
        self.writing(tmp.as_file().sync_all())?;
        let ext = compression.narinfo().extension().to_string();
        let file_name = format!("{}.nar{ext}", file_hash.to_nix32());
        self.writing(
            tmp.persist(self.nar_dir.join(&file_name))
                .map_err(|e| e.error),
        )?;
        // The narinfo written next must never point at a NAR a crash could lose.
        self.writing(crate::fsutil::sync_dir(&self.nar_dir))?;
        Ok(NarFile {
            file_name,
            file_hash,
            file_size,
        })
    }
}

impl CacheWriter {
    fn writing<T>(&self, r: io::Result<T>) -> Result<T, CacheWriteError> {
        r.map_err(io_error(|| {
            format!("cannot write a NAR into `{}`", self.nar_dir.display())
        }))
    }
}

/// A compressed NAR in `nar/`.
struct NarFile {
    file_name: String,
    file_hash: Sha256Hash,
    file_size: u64,
}

/// Test helpers shared by the store's tests: a binary cache made from directories.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Add directory `dir` to the cache in `cache` as the store path `nix-store --add` would
    /// give it under `name`, signed with `key` when given; returns the path.
    pub fn add_dir(cache: &Path, dir: &Path, name: &str, key: Option<&SecretKey>) -> StorePath {
        let (nar_hash, nar_size) = crate::nix::nar::writer::dump_hash(dir).unwrap();
        let path = StorePath::make_source(name, &nar_hash, &[], false).unwrap();
        let meta = PathMeta {
            nar_hash,
            nar_size,
            references: Vec::new(),
            deriver: None,
            ca: Some(format!("fixed:r:sha256:{}", nar_hash.to_nix32())),
        };
        let writer = CacheWriter::open(cache).unwrap();
        writer
            .add(&path, dir, &meta, NarCompression::Xz, key)
            .unwrap();
        path
    }

    /// A directory with a file, an executable and a symlink, whose contents depend on `salt`.
    pub fn sample_dir(parent: &Path, salt: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = parent.join(format!("sample-{salt}"));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::write(dir.join("data.txt"), format!("data {salt}\n")).unwrap();
        let tool = dir.join("bin/tool");
        std::fs::write(&tool, format!("#!/bin/sh\necho {salt}\n")).unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("bin/tool", dir.join("link")).unwrap();
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::testing::sample_dir;
    use super::*;
    use crate::nix::signature::TrustedKeys;
    use std::io::Read as _;

    fn meta_of(dir: &Path) -> PathMeta {
        let (nar_hash, nar_size) = crate::nix::nar::writer::dump_hash(dir).unwrap();
        PathMeta {
            nar_hash,
            nar_size,
            references: Vec::new(),
            deriver: None,
            ca: None,
        }
    }

    fn nar_files(cache: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(cache.join("nar"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn writes_a_signed_cache_entry_the_reader_accepts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample_dir(tmp.path(), "a");
        let cache = tmp.path().join("cache");
        let key = SecretKey::generate("writer-test-1");
        let reference =
            StorePath::parse_absolute("/nix/store/0c3gzg8jm1jlp6lpz9rcmmlwisk2ny1z-glibc-2.38")
                .unwrap();
        let path =
            StorePath::parse_absolute("/nix/store/7hiak8prkncd6k6wwqvkv7dbwqqswr71-a").unwrap();
        let meta = PathMeta {
            references: vec![reference.clone()],
            deriver: Some("8yfkzx0bv2jv9g5x9m1bgsx4jl1ba0zp-a.drv".into()),
            ..meta_of(&dir)
        };
        let writer = CacheWriter::open(&cache).unwrap();
        assert!(!writer.has(&path));
        let added = writer
            .add(&path, &dir, &meta, NarCompression::Xz, Some(&key))
            .unwrap();

        assert_eq!(
            std::fs::read_to_string(cache.join("nix-cache-info")).unwrap(),
            "StoreDir: /nix/store\n"
        );
        let files = nar_files(&cache);
        assert_eq!(files.len(), 1, "{files:?}");
        let bytes = std::fs::read(&files[0]).unwrap();
        let file_hash = Sha256Hash::digest(&bytes);
        assert_eq!(
            added,
            Added::Written {
                file_size: bytes.len() as u64
            }
        );
        let file_name = format!("{}.nar.xz", file_hash.to_nix32());
        assert_eq!(files[0].file_name().unwrap().to_str(), Some(&*file_name));

        // The exact text Nix writes for such a path, in Nix's field order.
        let text = std::fs::read_to_string(writer.narinfo_file(&path)).unwrap();
        let info = NarInfo::parse(&text).unwrap();
        let sig = key.sign(&info.fingerprint());
        assert_eq!(
            text,
            format!(
                "StorePath: {path}\nURL: nar/{file_name}\nCompression: xz\nFileHash: {}\n\
                 FileSize: {}\nNarHash: {}\nNarSize: {}\nReferences: {}\n\
                 Deriver: 8yfkzx0bv2jv9g5x9m1bgsx4jl1ba0zp-a.drv\nSig: {sig}\n",
                file_hash.display_nix(),
                bytes.len(),
                meta.nar_hash.display_nix(),
                meta.nar_size,
                reference.base_name(),
            )
        );
        let keys = TrustedKeys::from_strings(&[key.public().to_string()]).unwrap();
        assert!(keys.verify_narinfo(&info));

        // The NAR decompresses to the one the directory dumps to.
        let mut nar = Vec::new();
        liblzma::read::XzDecoder::new(&bytes[..])
            .read_to_end(&mut nar)
            .unwrap();
        assert_eq!(Sha256Hash::digest(&nar), meta.nar_hash);
        assert_eq!(nar.len() as u64, meta.nar_size);

        // A second time, nothing is written.
        let again = CacheWriter::open(&cache)
            .unwrap()
            .add(&path, &dir, &meta, NarCompression::Xz, Some(&key))
            .unwrap();
        assert_eq!(again, Added::Present);
        assert_eq!(nar_files(&cache), files);
        assert_eq!(
            std::fs::read_to_string(writer.narinfo_file(&path)).unwrap(),
            text
        );
    }

    #[test]
    fn zstd_nars_and_unsigned_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample_dir(tmp.path(), "z");
        let cache = tmp.path().join("cache");
        let meta = PathMeta {
            ca: Some("fixed:r:sha256:x".into()),
            ..meta_of(&dir)
        };
        let path = StorePath::make_source("z", &meta.nar_hash, &[], false).unwrap();
        let writer = CacheWriter::open(&cache).unwrap();
        writer
            .add(&path, &dir, &meta, NarCompression::Zstd, None)
            .unwrap();
        let files = nar_files(&cache);
        assert!(
            files[0].to_str().unwrap().ends_with(".nar.zst"),
            "{files:?}"
        );
        let info =
            NarInfo::parse(&std::fs::read_to_string(writer.narinfo_file(&path)).unwrap()).unwrap();
        assert_eq!(info.compression, Compression::Zstd);
        assert!(info.sigs.is_empty());
        assert_eq!(info.ca.as_deref(), Some("fixed:r:sha256:x"));
        assert_eq!(info.references, Vec::new());
        let nar = zstd::decode_all(&std::fs::read(&files[0]).unwrap()[..]).unwrap();
        assert_eq!(Sha256Hash::digest(&nar), meta.nar_hash);
    }

    #[test]
    fn contents_that_changed_are_refused_and_nothing_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = sample_dir(tmp.path(), "c");
        let cache = tmp.path().join("cache");
        let meta = meta_of(&dir);
        let path = StorePath::make_source("c", &meta.nar_hash, &[], false).unwrap();
        std::fs::write(dir.join("data.txt"), "changed\n").unwrap();
        let writer = CacheWriter::open(&cache).unwrap();
        let err = writer
            .add(&path, &dir, &meta, NarCompression::Xz, None)
            .unwrap_err();
        match &err {
            CacheWriteError::Changed {
                contents,
                expected,
                expected_size,
                ..
            } => {
                assert_eq!(contents, &dir);
                assert_eq!(*expected, meta.nar_hash);
                assert_eq!(*expected_size, meta.nar_size);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("hashes to sha256:"), "{err}");
        assert_eq!(nar_files(&cache), Vec::<PathBuf>::new(), "temp files left");
        assert!(!writer.has(&path));
    }

    #[test]
    fn a_directory_that_is_not_a_cache_for_nix_store_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("nix-cache-info"), "StoreDir: /gnu/store\n").unwrap();
        match CacheWriter::open(tmp.path()) {
            Err(CacheWriteError::OtherStore { store_dir, .. }) => {
                assert_eq!(store_dir, "/gnu/store")
            }
            other => panic!("{:?}", other.err()),
        }
        std::fs::write(tmp.path().join("nix-cache-info"), "Priority: high\n").unwrap();
        assert!(matches!(
            CacheWriter::open(tmp.path()),
            Err(CacheWriteError::BadCacheInfo { .. })
        ));
        // An existing valid one is kept as it is.
        std::fs::write(
            tmp.path().join("nix-cache-info"),
            "StoreDir: /nix/store\nPriority: 30\n",
        )
        .unwrap();
        CacheWriter::open(tmp.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("nix-cache-info")).unwrap(),
            "StoreDir: /nix/store\nPriority: 30\n"
        );
    }
}
