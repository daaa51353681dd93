//! Profiles: a project's packages as one directory tree (a symlink farm of their outputs), one
//! generation per change, so the environment can point at a single `bin` and roll back.
//!
//! Layout under `<data dir>/projects/<project key>/`: `generations/<N>/` (the farms),
//! `current` (a symlink to the active generation, switched atomically by renaming a new link over
//! it), and `generations.json` (per generation: time, inputs hash, packages; plus which inputs the
//! current generation stands for, so a rollback holds until the manifest or lock changes).
//! A new generation is made only when the set of packages and outputs changes.

pub mod buildenv;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::ResultExt as _;
pub use buildenv::{BuildError, Element};

/// Nix's default priority.
pub const DEFAULT_PRIORITY: i32 = 5;

/// A stable key for a project: hash of its canonical root.
pub fn project_key(root: &Path) -> String {
    let canonical = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// One package of a generation: its lock key and its outputs' store paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub key: String,
    /// Logical store paths (`/nix/store/…`) of the linked outputs.
    pub outputs: Vec<String>,
}

/// A package to put in a profile: what it is and where its outputs are on disk.
#[derive(Debug, Clone)]
pub struct ProfilePackage {
    pub key: String,
    pub priority: i32,
    /// (logical store path, physical directory).
    pub outputs: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub number: u32,
    /// RFC 3339 creation time.
    pub created: String,
    /// Hash of the manifest and lock it was built for.
    pub inputs: String,
    pub packages: Vec<PackageEntry>,
}

/// The content of `generations.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generations {
    pub current: Option<u32>,
    /// The inputs hash the current generation was chosen for (by a build or a rollback).
    pub current_inputs: Option<String>,
    pub generations: Vec<Generation>,
}

/// The profile directory of one project.
#[derive(Debug, Clone)]
pub struct Profile {
    pub dir: PathBuf,
}

impl Profile {
    pub fn for_project(data_dir: &Path, root: &Path) -> Profile {
        Profile {
            dir: data_dir.join("projects").join(project_key(root)),
        }
    }

    /// The stable path of the active generation (`…/current`); environments point here.
    pub fn current_link(&self) -> PathBuf {
        self.dir.join("current")
    }

    fn meta_path(&self) -> PathBuf {
        self.dir.join("generations.json")
    }

    pub fn generation_dir(&self, n: u32) -> PathBuf {
        self.dir.join("generations").join(n.to_string())
    }

    /// What `current` points at, if there is a current generation.
    pub fn current_target(&self) -> Option<PathBuf> {
        fs::read_link(self.current_link()).ok()
    }

    pub fn load(&self) -> Result<Generations> {
        let path = self.meta_path();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("`{}` is corrupt", path.display()))
                .hint("delete it to start the project's generations afresh"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Generations::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
        }
    }

    fn save(&self, g: &Generations) -> Result<()> {
        let mut text = serde_json::to_string_pretty(g).expect("serializable");
        text.push('\n');
        crate::fsutil::write_atomic(&self.meta_path(), text.as_bytes())
            .with_context(|| format!("cannot write `{}`", self.meta_path().display()))
    }

    /// Hold the profile's lock while `f` runs, so concurrent devenv processes do not interleave.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create `{}`", self.dir.display()))?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))
            .context("cannot open the profile lock")?;
        fs4::fs_std::FileExt::lock_exclusive(&file).context("cannot lock the profile")?;
        let out = f();
        let _ = fs4::fs_std::FileExt::unlock(&file);
        out
    }

    /// Make `packages` the current generation for `inputs`, building a new generation only when
    /// the packages differ from the current one. Returns the current generation number and whether
    /// it is new.
    pub fn switch(&self, packages: &[ProfilePackage], inputs: &str) -> Result<(u32, bool)> {
        self.locked(|| {
            let mut g = self.load()?;
            let entries: Vec<PackageEntry> = packages
                .iter()
                .map(|p| PackageEntry {
                    key: p.key.clone(),
                    outputs: p.outputs.iter().map(|(l, _)| l.clone()).collect(),
                })
                .collect();
            let current = g
                .current
                .and_then(|n| g.generations.iter().find(|x| x.number == n));
            if let Some(cur) = current {
                if cur.packages == entries && self.current_target().is_some() {
                    let n = cur.number;
                    g.current_inputs = Some(inputs.to_string());
                    self.save(&g)?;
                    return Ok((n, false));
                }
            }
            let n = g.generations.iter().map(|x| x.number).max().unwrap_or(0) + 1;
            let final_dir = self.generation_dir(n);
            let tmp = self.dir.join("generations").join(format!(".tmp-{n}"));
            let _ = fs::remove_dir_all(&tmp);
            let _ = fs::remove_dir_all(&final_dir);
            let elements: Vec<Element> = packages
                .iter()
                .flat_map(|p| {
                    p.outputs.iter().map(move |(_, physical)| Element {
                        package: p.key.clone(),
                        path: physical.clone(),
                        priority: p.priority,
                    })
                })
                .collect();
            if let Err(err) = buildenv::build(&tmp, &elements) {
                let _ = fs::remove_dir_all(&tmp);
                let hint = match err {
                    buildenv::BuildError::Collision { .. }
                    | buildenv::BuildError::DirFileCollision { .. } => {
                        "remove one of the two packages from devenv.json, or ask for other outputs"
                    }
                    buildenv::BuildError::Read { .. } => {
                        "if the store path was deleted, `devenv install` fetches it again \
                         (`devenv doctor` lists missing store paths)"
                    }
                    buildenv::BuildError::Write { .. } => {
                        "check that the data directory is writable and its disk has room"
                    }
                };
                return Err(err)
                    .context("cannot build the project's profile")
                    .hint(hint);
            }
            fs::rename(&tmp, &final_dir).context("cannot finish the new generation")?;
            g.generations.push(Generation {
                number: n,
                created: now_rfc3339(),
                inputs: inputs.to_string(),
                packages: entries,
            });
            self.point_current(n)?;
            g.current = Some(n);
            g.current_inputs = Some(inputs.to_string());
            self.save(&g)?;
            Ok((n, true))
        })
    }

    /// Switch `current` to generation `to` (default: the one before the current), pinned to
    /// `inputs` so the environment keeps it until the manifest or lock changes.
    pub fn rollback(&self, to: Option<u32>, inputs: &str) -> Result<u32> {
        self.locked(|| {
            let mut g = self.load()?;
            let Some(cur) = g.current else {
                return Err(anyhow::anyhow!("this project has no generations yet"))
                    .hint("run `devenv install` first")
                    .bad_input();
            };
            let target = match to {
                Some(n) => {
                    if !g.generations.iter().any(|x| x.number == n) {
                        let known: Vec<String> =
                            g.generations.iter().map(|x| x.number.to_string()).collect();
                        return Err(anyhow::anyhow!("there is no generation {n}"))
                            .hint(format!("existing generations: {}", known.join(", ")))
                            .bad_input();
                    }
                    n
                }
                None => g
                    .generations
                    .iter()
                    .map(|x| x.number)
                    .filter(|&n| n < cur)
                    .max()
                    .ok_or_else(|| anyhow::anyhow!("generation {cur} is the oldest"))
                    .hint("`devenv generations` lists them")
                    .bad_input()?,
            };
            self.point_current(target)?;
            g.current = Some(target);
            g.current_inputs = Some(inputs.to_string());
            self.save(&g)?;
            Ok(target)
        })
    }

    /// Atomically point `current` at generation `n` (a new link renamed over the old one).
    fn point_current(&self, n: u32) -> Result<()> {
        let tmp = self.dir.join(".current-tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("generations").join(n.to_string()), &tmp)
            .context("cannot create the profile link")?;
        fs::rename(&tmp, self.current_link()).context("cannot switch the profile link")?;
        crate::fsutil::sync_dir(&self.dir).context("cannot sync the profile directory")
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(root: &Path, name: &str) -> ProfilePackage {
        let out = root.join(format!("store/{name}"));
        fs::create_dir_all(out.join("bin")).unwrap();
        fs::write(out.join("bin").join(name), "#!/bin/sh\n").unwrap();
        ProfilePackage {
            key: format!("{name}@1"),
            priority: DEFAULT_PRIORITY,
            outputs: vec![(format!("/nix/store/x-{name}"), out)],
        }
    }

    #[test]
    fn new_generation_only_on_change_and_rollback() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = Profile::for_project(&tmp.path().join("data"), tmp.path());
        let a = package(tmp.path(), "a");
        let b = package(tmp.path(), "b");
        assert_eq!(
            profile.switch(std::slice::from_ref(&a), "i1").unwrap(),
            (1, true)
        );
        assert_eq!(
            profile.switch(std::slice::from_ref(&a), "i1b").unwrap(),
            (1, false)
        );
        assert_eq!(
            profile.switch(&[a.clone(), b.clone()], "i2").unwrap(),
            (2, true)
        );
        assert!(profile.current_link().join("bin/b").exists());
        assert_eq!(profile.rollback(None, "i2").unwrap(), 1);
        assert!(!profile.current_link().join("bin/b").exists());
        assert!(profile.current_link().join("bin/a").exists());
        let g = profile.load().unwrap();
        assert_eq!(g.current, Some(1));
        assert_eq!(g.current_inputs.as_deref(), Some("i2"));
        assert_eq!(g.generations.len(), 2);
        assert_eq!(profile.rollback(Some(2), "i2").unwrap(), 2);
        let err = profile.rollback(Some(9), "i2").unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(report.exit_code, 2);
        assert!(report.hints[0].contains("1, 2"), "{report:?}");
    }
}
