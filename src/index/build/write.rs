//! Reading and writing a static sparse index directory as a whole.
//!
//! Files are written in a stable form (struct field order, sorted maps, 2-space JSON, trailing
//! newline) so the same inputs give byte-identical files. Each file is replaced atomically (temp
//! file + rename) and only when its content changes; a new index's `packages/` is built whole in
//! a [`Staging`] directory and renamed into place at once. Package files are not fsynced one by
//! one (an index over nixpkgs has tens of thousands); one `syncfs` makes them all durable before
//! `index.json`, which records the revisions covered, is written last and fsynced. So an
//! interrupted write, even a power loss, leaves an index whose recorded revisions are all merged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::merge::{name_lines, Packages};
use crate::diagnostic::ResultExt;
use crate::fsutil;
use crate::index::format::{IndexMeta, PackageFile, FORMAT};

/// An index directory loaded into memory.
#[derive(Debug, Clone, Default)]
pub struct IndexDir {
    pub revisions: BTreeSet<String>,
    pub systems: BTreeSet<String>,
    /// Keys of `index.json` this build does not manage, kept as they were.
    pub other: std::collections::BTreeMap<String, serde_json::Value>,
    pub packages: Packages,
}

fn index_json(dir: &Path) -> PathBuf {
    dir.join("index.json")
}

/// Hold the index's writer lock (`.build/lock`) until the returned file is dropped, so two
/// builds or publishes never interleave their writes.
pub fn lock(dir: &Path) -> anyhow::Result<std::fs::File> {
    let build_dir = dir.join(".build");
    std::fs::create_dir_all(&build_dir)
        .with_context(|| format!("could not create {}", build_dir.display()))?;
    let file = std::fs::File::create(build_dir.join("lock"))?;
    fs4::fs_std::FileExt::lock_exclusive(&file)
        .with_context(|| format!("could not lock {}", dir.display()))?;
    Ok(file)
}

/// Check that a package name can be a file name in `packages/`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c))
}

/// Load the index at `dir`; a missing directory or `index.json` is an empty index.
pub fn load(dir: &Path) -> anyhow::Result<IndexDir> {
    let meta_path = index_json(dir);
    let text = match std::fs::read_to_string(&meta_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IndexDir::default()),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", meta_path.display())),
    };
    let meta: IndexMeta = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid index.json", meta_path.display()))
        .bad_input()?;
    if meta.format != FORMAT {
        return Err(anyhow::anyhow!(
            "{} has index format {}, this devenv writes format {FORMAT}",
            meta_path.display(),
            meta.format
        ))
        .hint("build into a new directory, or upgrade devenv")
        .bad_input();
    }
    let mut index = IndexDir::default();
    for (key, value) in meta.extra {
        match key.as_str() {
            "revisions" | "systems" => {
                let list: Vec<String> = serde_json::from_value(value)
                    .with_context(|| {
                        format!("{}: `{key}` must be a list of strings", meta_path.display())
                    })
                    .bad_input()?;
                let set = if key == "revisions" {
                    &mut index.revisions
                } else {
                    &mut index.systems
                };
                set.extend(list);
            }
            _ => {
                index.other.insert(key, value);
            }
        }
    }
    let pkg_dir = dir.join("packages");
    if pkg_dir.is_dir() {
        for entry in std::fs::read_dir(&pkg_dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let file: PackageFile = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid package file", path.display()))
                .bad_input()?;
            index.packages.insert(file.name.clone(), file);
        }
    }
    Ok(index)
}

/// Write a file of the index if its content changed, shared as the umask allows (0644 under the
/// usual 022): an index is meant to be served over HTTP or copied to other machines.
/// Without `durable`, the caller syncs the file system before relying on the file.
fn put(path: &Path, bytes: &[u8], durable: bool) -> anyhow::Result<bool> {
    use std::io::Write;
    match std::fs::read(path) {
        Ok(existing) if existing == bytes => return Ok(false),
        _ => {}
    }
    let write = || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = fsutil::shared_temp_file(dir)?;
        tmp.write_all(bytes)?;
        if durable {
            tmp.as_file().sync_all()?;
        }
        tmp.persist(path).map_err(|e| e.error)?;
        if durable {
            fsutil::sync_dir(dir)?;
        }
        Ok(())
    };
    write().with_context(|| format!("could not write {}", path.display()))?;
    Ok(true)
}

/// Flush every file system write under `dir` to disk at once.
fn sync_all_under(dir: &Path) -> anyhow::Result<()> {
    let handle = std::fs::File::open(dir)?;
    crate::fsutil::platform::sync_filesystem(&handle)
        .with_context(|| format!("could not sync {}", dir.display()))
}

fn pretty<T: serde::Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// A `packages/` directory built from nothing, in `.build/.tmp-packages-<pid>` until it is
/// complete and then renamed into place at once. Creating a file (allocating its inode) is most
/// of what writing thousands of small files costs, so each file is created, empty, as soon as its
/// package is known, while evaluations still run, and only filled at the end. The directory is
/// under `.build/`, never served, and removed when a build stops before the rename (when it is
/// dropped, or as a leftover of a killed build on the next run).
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    created: BTreeSet<String>,
    /// Set once the directory has become `packages/`.
    moved: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.moved {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Staging {
    /// A staging directory for `out`, or `None` when `out` already has a `packages/` directory
    /// (its files are then replaced one by one, only where they change).
    pub fn new(out: &Path) -> anyhow::Result<Option<Staging>> {
        if out.join("packages").exists() {
            return Ok(None);
        }
        let dir = out
            .join(".build")
            .join(format!(".tmp-packages-{}", std::process::id()));
        // Created like `packages/` itself would be (the umask decides), since it becomes it.
        std::fs::create_dir(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        Ok(Some(Staging {
            dir,
            created: BTreeSet::new(),
            moved: false,
        }))
    }

    /// Create the (still empty) files of `names` that do not exist yet. Names that cannot be
    /// file names are left for [`store`] to refuse.
    pub fn create(&mut self, names: &[String]) -> anyhow::Result<()> {
        for name in names {
            if !valid_name(name) || self.created.contains(name) {
                continue;
            }
            let path = self.dir.join(format!("{name}.json"));
            open_for_index(&path)
                .with_context(|| format!("could not create {}", path.display()))?;
            self.created.insert(name.clone());
        }
        Ok(())
    }
}

/// Open a file of a staged `packages/`, creating it if needed, shared as the umask allows (the
/// kernel creates it 0666 minus the umask): an index is meant to be served over HTTP or copied
/// to other machines. Not truncated: a staged file is written once, into the empty file created
/// for it (truncating makes ext4 flush the file).
fn open_for_index(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Write the files of `index` whose names are in `changed` (all when `None`), then `names.jsonl`
/// and `index.json`; with `staging`, into it, which then becomes `packages/`. Returns how many
/// files changed on disk.
pub fn store(
    dir: &Path,
    index: &IndexDir,
    changed: Option<&[String]>,
    staging: Option<Staging>,
) -> anyhow::Result<usize> {
    let pkg_dir = dir.join("packages");
    if staging.is_none() {
        std::fs::create_dir_all(&pkg_dir)
            .with_context(|| format!("could not create {}", pkg_dir.display()))?;
    }
    let mut written = 0;
    // A staged directory starts empty, so it gets every file.
    let names: Vec<&String> = match changed {
        Some(list) if staging.is_none() => list.iter().collect(),
        _ => index.packages.keys().collect(),
    };
    let write_one = |name: &String| -> anyhow::Result<bool> {
        let Some(file) = index.packages.get(name) else {
            return Ok(false);
        };
        anyhow::ensure!(
            valid_name(name),
            "package name `{name}` cannot be an index file name"
        );
        let bytes = pretty(file)?;
        match &staging {
            Some(staging) => {
                use std::io::Write;
                let path = staging.dir.join(format!("{name}.json"));
                open_for_index(&path)
                    .and_then(|mut f| f.write_all(&bytes))
                    .with_context(|| format!("could not write {}", path.display()))?;
                Ok(true)
            }
            None => put(&pkg_dir.join(format!("{name}.json")), &bytes, false),
        }
    };
    // Tens of thousands of small files: creating them is the kernel's work more than ours, and
    // it goes faster from a few threads at once (the evaluator is done; the CPUs are free).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let per_thread = names.len().div_ceil(threads).max(1);
    let counts: Vec<anyhow::Result<usize>> = std::thread::scope(|scope| {
        let write_one = &write_one;
        let workers: Vec<_> = names
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || -> anyhow::Result<usize> {
                    let mut n = 0;
                    for name in part {
                        n += usize::from(write_one(name)?);
                    }
                    Ok(n)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("index writer thread"))
            .collect()
    });
    for count in counts {
        written += count?;
    }
    tracing::debug!(files = written, "package files written");
    if let Some(mut staging) = staging {
        // A file created for a name that has no package after all must not be served empty.
        for name in &staging.created {
            if !index.packages.contains_key(name) {
                let _ = std::fs::remove_file(staging.dir.join(format!("{name}.json")));
            }
        }
        std::fs::rename(&staging.dir, &pkg_dir).with_context(|| {
            format!(
                "could not move {} to {}",
                staging.dir.display(),
                pkg_dir.display()
            )
        })?;
        staging.moved = true;
    }
    let mut lines = Vec::new();
    for line in name_lines(&index.packages) {
        lines.extend(serde_json::to_vec(&line)?);
        lines.push(b'\n');
    }
    if put(&dir.join("names.jsonl"), &lines, false)? {
        written += 1;
    }
    if written > 0 {
        sync_all_under(dir)?;
        tracing::debug!("index files synced to the disk");
    }
    let mut extra = index.other.clone();
    extra.insert("revisions".into(), serde_json::to_value(&index.revisions)?);
    extra.insert("systems".into(), serde_json::to_value(&index.systems)?);
    let meta = IndexMeta {
        format: FORMAT,
        extra,
    };
    if put(&index_json(dir), &pretty(&meta)?, true)? {
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::format::VersionEntry;

    fn index() -> IndexDir {
        let mut index = IndexDir::default();
        index.revisions.insert("a".repeat(40));
        for name in ["hello", "ansible"] {
            index.packages.insert(
                name.into(),
                PackageFile {
                    name: name.into(),
                    summary: format!("{name} summary"),
                    versions: vec![VersionEntry {
                        version: "1.0".into(),
                        attr_path: name.into(),
                        rev: "a".repeat(40),
                        last_modified: "2024-06-01T00:00:00Z".into(),
                        systems: Default::default(),
                    }],
                    ..PackageFile::default()
                },
            );
        }
        index
    }

    fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = walkdir::WalkDir::new(dir)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file() && !e.path().starts_with(dir.join(".build")))
            .map(|e| {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                (rel, std::fs::read(e.path()).unwrap())
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn a_staged_packages_directory_gives_the_same_files() {
        let (staged, direct) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir(staged.path().join(".build")).unwrap();
        let index = index();
        let mut staging = Staging::new(staged.path())
            .unwrap()
            .expect("no packages/ yet");
        // Created ahead, as a build does while it evaluates; one name ends up without a package.
        staging
            .create(&["hello".into(), "gone".into(), "../escape".into()])
            .unwrap();
        assert!(!staged.path().join("packages").exists());
        let written = store(staged.path(), &index, Some(&[]), Some(staging)).unwrap();
        store(direct.path(), &index, None, None).unwrap();
        assert_eq!(written, 4, "two packages, names.jsonl, index.json");
        assert_eq!(contents(staged.path()), contents(direct.path()));
        assert_eq!(
            std::fs::read_dir(staged.path().join(".build"))
                .unwrap()
                .count(),
            0
        );
        // Once `packages/` exists, files are replaced one by one instead.
        assert!(Staging::new(staged.path()).unwrap().is_none());
    }

    #[test]
    fn a_staging_directory_dropped_before_the_end_is_removed() {
        let out = tempfile::tempdir().unwrap();
        std::fs::create_dir(out.path().join(".build")).unwrap();
        let mut staging = Staging::new(out.path()).unwrap().unwrap();
        staging.create(&["hello".into()]).unwrap();
        drop(staging);
        assert_eq!(
            std::fs::read_dir(out.path().join(".build"))
                .unwrap()
                .count(),
            0
        );
        assert!(!out.path().join("packages").exists());
    }
}
