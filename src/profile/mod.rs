//! Profiles: a project's packages as one directory tree (a symlink farm of their outputs), one
//! generation per change, so the environment can point at a single `bin` and roll back.
//!
//! Layout under `<data dir>/projects/<project key>/`: `generations/<N>/` (the farms),
//! `current` (a symlink to the active generation, switched atomically by renaming a new link over
//! it), and `generations.json` (per generation: time, inputs hash, packages; plus which inputs the
//! current generation stands for, so a rollback holds until the manifest or lock changes).
//! A new generation is made only when the set of packages and outputs changes.
//!
//! A profile goes on PATH, so it is private (0700 directories, 0600 files, whatever the umask)
//! and refused, with the command that fixes it, when its directories up to the data dir could be
//! changed by another user ([`Profile::verify`]).

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
    /// devenv's data dir: the outermost directory whose owner and mode are checked.
    data: PathBuf,
    pub dir: PathBuf,
}

impl Profile {
    pub fn for_project(data_dir: &Path, root: &Path) -> Profile {
        Profile {
            data: data_dir.to_path_buf(),
            dir: data_dir.join("projects").join(project_key(root)),
        }
    }

    /// Every project profile under `data_dir`, with its project key (for `gc`, which prunes
    /// generations of all projects).
    pub fn all(data_dir: &Path) -> Result<Vec<(String, Profile)>> {
        let dir = data_dir.join("projects");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", dir.display())),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            let key = entry.file_name().to_string_lossy().to_string();
            if entry.file_type()?.is_dir() && !key.starts_with('.') {
                out.push((
                    key,
                    Profile {
                        data: data_dir.to_path_buf(),
                        dir: entry.path(),
                    },
                ));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Refuse a profile another user could have changed: the directories from the data dir down
    /// to the current generation must belong to the user and be writable by nobody else.
    pub fn verify(&self) -> Result<()> {
        let deepest = self
            .current_target()
            .filter(|t| t.parent() == Some(Path::new("generations")))
            .map(|t| self.dir.join(t))
            .unwrap_or_else(|| self.dir.join("generations"));
        crate::fsutil::owner::check_within(&self.data, &deepest)
            .map_err(crate::fsutil::owner::Untrusted::into_error)
            .with_context(|| format!("cannot use the profile `{}`", self.dir.display()))
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
        crate::fsutil::write_private(&self.meta_path(), text.as_bytes())
            .with_context(|| format!("cannot write `{}`", self.meta_path().display()))
    }

    /// Hold the profile's lock while `f` runs, so concurrent devenv processes do not interleave.
    fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let generations = self.dir.join("generations");
        crate::fsutil::create_private_dir_all(&generations)
            .with_context(|| format!("cannot create `{}`", generations.display()))?;
        self.verify()?;
        let file = crate::fsutil::open_private(&self.dir.join("lock"))
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

    /// Delete the generations `which` selects, never the current one (as
    /// `nix-env --delete-generations` does). Returns the numbers deleted, ascending.
    pub fn delete(&self, which: &Prune) -> Result<Vec<u32>> {
        self.locked(|| {
            let mut g = self.load()?;
            let doomed = which.select(&g, time::OffsetDateTime::now_utc())?;
            if doomed.is_empty() {
                return Ok(doomed);
            }
            g.generations.retain(|x| !doomed.contains(&x.number));
            // The record goes first: a crash in between leaves only directories nothing lists.
            self.save(&g)?;
            for n in &doomed {
                let dir = self.generation_dir(*n);
                if let Err(e) = fs::remove_dir_all(&dir) {
                    if e.kind() != io::ErrorKind::NotFound {
                        return Err(e)
                            .with_context(|| format!("cannot delete `{}`", dir.display()));
                    }
                }
            }
            Ok(doomed)
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

/// Which generations to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prune {
    /// These numbers.
    Numbers(Vec<u32>),
    /// Those created longer ago than this.
    OlderThan(std::time::Duration),
    /// All but the newest N (the current one always stays).
    KeepNewest(usize),
}

impl Prune {
    /// The numbers to delete from `g` at time `now`: never the current generation. Naming a
    /// generation that does not exist, or the current one, is bad input.
    fn select(&self, g: &Generations, now: time::OffsetDateTime) -> Result<Vec<u32>> {
        let mut numbers: Vec<u32> = g.generations.iter().map(|x| x.number).collect();
        numbers.sort_unstable();
        let mut out = match self {
            Prune::Numbers(wanted) => {
                for n in wanted {
                    if !numbers.contains(n) {
                        let known: Vec<String> = numbers.iter().map(u32::to_string).collect();
                        return Err(anyhow::anyhow!("there is no generation {n}"))
                            .hint(format!("existing generations: {}", known.join(", ")))
                            .bad_input();
                    }
                    if g.current == Some(*n) {
                        return Err(anyhow::anyhow!("generation {n} is the current one"))
                            .hint("switch to another with `devenv rollback` first")
                            .bad_input();
                    }
                }
                wanted.clone()
            }
            Prune::OlderThan(age) => {
                let cutoff = now - *age;
                g.generations
                    .iter()
                    .filter(|x| {
                        time::OffsetDateTime::parse(
                            &x.created,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .is_ok_and(|t| t < cutoff)
                    })
                    .map(|x| x.number)
                    .collect()
            }
            Prune::KeepNewest(keep) => {
                let cut = numbers.len().saturating_sub(*keep);
                numbers[..cut].to_vec()
            }
        };
        out.retain(|n| g.current != Some(*n));
        out.sort_unstable();
        out.dedup();
        Ok(out)
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
    fn delete_keeps_the_current_generation_whatever_is_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = Profile::for_project(&tmp.path().join("data"), tmp.path());
        let a = package(tmp.path(), "a");
        let b = package(tmp.path(), "b");
        let c = package(tmp.path(), "c");
        profile.switch(std::slice::from_ref(&a), "1").unwrap();
        profile.switch(std::slice::from_ref(&b), "2").unwrap();
        profile.switch(std::slice::from_ref(&c), "3").unwrap();
        profile.rollback(Some(2), "2").unwrap();
        assert_eq!(profile.delete(&Prune::KeepNewest(1)).unwrap(), vec![1]);
        assert!(!profile.generation_dir(1).exists());
        assert!(profile.current_link().join("bin/b").exists());
        let err = profile.delete(&Prune::Numbers(vec![2])).unwrap_err();
        assert!(format!("{err:#}").contains("current"), "{err:#}");
        let err = profile.delete(&Prune::Numbers(vec![7])).unwrap_err();
        assert!(format!("{err:#}").contains("no generation 7"), "{err:#}");
        let young = Prune::OlderThan(std::time::Duration::from_secs(3600));
        assert_eq!(profile.delete(&young).unwrap(), Vec::<u32>::new());
        let all = Prune::OlderThan(std::time::Duration::ZERO);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(profile.delete(&all).unwrap(), vec![3]);
        let g = profile.load().unwrap();
        assert_eq!(g.generations.len(), 1);
        assert_eq!(g.current, Some(2));
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
