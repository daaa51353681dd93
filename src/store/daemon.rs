//! Handing the store to the machine's Nix daemon. When the daemon owns `/nix/store` and this user
//! cannot write it, devenv has no store of its own: realizing runs `nix-store --realise` with
//! devenv's binary caches and keys passed as extra substituters, and Nix checks and unpacks.
//!
//! GC roots become Nix's own. Without them the daemon's garbage collector (`nix-collect-garbage`)
//! would delete the paths of a project and of its profile generations, which devenv keeps
//! outside the store. Each root is a directory of this user's
//! (`<data dir>/nix-gcroots/<hash of the root's name>/`) holding one symlink per path, made with
//! `nix-store --add-root`, which registers it with the daemon as an indirect root: the daemon
//! keeps a path while a symlink pointing at it exists. Replacing a root adds the new symlinks
//! before removing the old ones, so its paths are never unprotected in between; dropping it
//! removes the directory. A root tied to a file (a project's lock or manifest) records that
//! file, and is removed the next time roots are added once the file is gone, as devenv's own
//! store drops such a root at its next collection.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context as _, Result};
use sha2::{Digest, Sha256};

use super::api::{RootSpec, Store};
use super::{locks, nix, Progress, RealizeReport, StoreError};
use crate::nix::store_path::StorePath;
use crate::settings::Settings;

/// The Nix daemon's store, reached through `nix-store`.
pub struct DaemonStore {
    /// Physical root of the store Nix is asked about: `/` for the daemon's (another root
    /// is a local store Nix opens itself, which is how this is tested without a daemon).
    root: PathBuf,
    substituters: Vec<String>,
    trusted_public_keys: Vec<String>,
    /// This user's GC roots, one directory per root.
    roots_dir: PathBuf,
}

impl DaemonStore {
    /// The daemon's store, with the binary caches, keys and data directory of `settings`.
    pub fn new(settings: &Settings) -> DaemonStore {
        DaemonStore::at(Path::new("/"), settings)
    }

    /// The store Nix keeps under `root` (`nix-store --store <root>` unless it is `/`).
    pub fn at(root: &Path, settings: &Settings) -> DaemonStore {
        DaemonStore {
            root: root.to_path_buf(),
            substituters: settings.substituters.value.clone(),
            trusted_public_keys: settings.trusted_public_keys.value.clone(),
            roots_dir: settings.dirs.data.join("nix-gcroots"),
        }
    }

    /// `nix-store` aimed at this store.
    fn nix_store(&self) -> Result<Command> {
        let program = nix::which("nix-store")
            .ok_or_else(|| anyhow!("`nix-store` is not on PATH although a Nix daemon runs"))?;
        let mut cmd = Command::new(program);
        if self.root != Path::new("/") {
            cmd.arg("--store").arg(&self.root);
        }
        Ok(cmd)
    }

    /// `nix-store --realise paths` with devenv's caches and keys, adding a GC root per path
    /// named after `add_root` (`<add_root>`, `<add_root>-2`, …) when given.
    fn realise(&self, paths: &[StorePath], add_root: Option<&Path>) -> Result<()> {
        let mut cmd = self.nix_store()?;
        cmd.arg("--realise")
            .args(paths.iter().map(StorePath::to_absolute))
            .arg("--option")
            .arg("extra-substituters")
            .arg(self.substituters.join(" "))
            .arg("--option")
            .arg("extra-trusted-public-keys")
            .arg(self.trusted_public_keys.join(" "));
        if let Some(link) = add_root {
            cmd.arg("--add-root").arg(link);
        }
        let out = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("cannot run `nix-store --realise`")?;
        if !out.status.success() {
            return Err(nix::failed("nix-store --realise".into(), &out.stderr));
        }
        Ok(())
    }

    /// The directory of root `name`.
    fn root_dir(&self, name: &str) -> PathBuf {
        let digest = Sha256::digest(name.as_bytes());
        let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        self.roots_dir.join(id)
    }

    /// Make root `root` hold exactly `paths`, realizing them if needed.
    fn set_root(&self, root: RootSpec<'_>, paths: &[StorePath]) -> Result<()> {
        self.sweep_dead_roots()?;
        let dir = self.root_dir(root.name);
        crate::fsutil::create_private_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let _lock = locks::exclusive(&dir.with_extension("lock"))?;
        crate::fsutil::write_private(&dir.join("name"), root.name.as_bytes())
            .with_context(|| format!("cannot write `{}`", dir.join("name").display()))?;
        match root.link {
            Some(link) => {
                crate::fsutil::write_private(&dir.join("link"), link.as_os_str().as_bytes())
                    .with_context(|| format!("cannot write `{}`", dir.join("link").display()))?
            }
            None => remove_if_present(&dir.join("link"))?,
        }
        // New links first, under a name no earlier generation of this root used.
        let prefix = format!("r{:08x}", rand::random::<u32>());
        // (No paths: nothing to realize, the root just holds nothing now.)
        if !paths.is_empty() {
            self.realise(paths, Some(&dir.join(&prefix)))?;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            let ours = name == prefix
                || name
                    .strip_prefix(&format!("{prefix}-"))
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            if entry.file_type()?.is_symlink() && !ours {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }

    /// Remove the roots tied to a file that no longer exists.
    fn sweep_dead_roots(&self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.roots_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read `{}`", self.roots_dir.display()))
            }
        };
        for entry in entries {
            let dir = entry?.path();
            let Ok(link) = std::fs::read(dir.join("link")) else {
                continue;
            };
            let link = Path::new(std::ffi::OsStr::from_bytes(&link));
            let gone = std::fs::symlink_metadata(link)
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
            if gone {
                let _lock = locks::exclusive(&dir.with_extension("lock"))?;
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("cannot remove `{}`", dir.display()))?;
            }
        }
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove `{}`", path.display()))
        }
        _ => Ok(()),
    }
}

impl Store for DaemonStore {
    fn describe(&self) -> String {
        match self.root == Path::new("/") {
            true => "the Nix daemon's store".to_string(),
            false => format!("the Nix store at `{}`", self.root.display()),
        }
    }

    fn realize(
        &self,
        paths: &[StorePath],
        root: Option<RootSpec<'_>>,
        _progress: &dyn Progress,
    ) -> Result<RealizeReport, StoreError> {
        match root {
            // Realized and rooted by one `nix-store` call, which holds the paths meanwhile.
            Some(root) => self.set_root(root, paths)?,
            None if paths.is_empty() => {}
            None => self.realise(paths, None)?,
        }
        Ok(RealizeReport {
            requested: paths.len(),
            ..Default::default()
        })
    }

    fn is_valid(&self, path: &StorePath) -> Result<bool, StoreError> {
        let out = self
            .nix_store()?
            .args(["--check-validity", "--print-invalid"])
            .arg(path.to_absolute())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("cannot run `nix-store --check-validity`")?;
        if !out.status.success() {
            return Err(nix::failed("nix-store --check-validity".into(), &out.stderr).into());
        }
        Ok(out.stdout.trim_ascii().is_empty())
    }

    fn real_path(&self, path: &StorePath) -> PathBuf {
        self.root.join(path.to_absolute().trim_start_matches('/'))
    }

    fn add_gc_root(&self, root: RootSpec<'_>, paths: &[StorePath]) -> Result<(), StoreError> {
        Ok(self.set_root(root, paths)?)
    }

    fn remove_gc_root(&self, name: &str) -> Result<bool, StoreError> {
        let dir = self.root_dir(name);
        let _lock = locks::exclusive(&dir.with_extension("lock"))?;
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(anyhow::Error::from(e)
                .context(format!("cannot remove `{}`", dir.display()))
                .into()),
        }
    }

    fn build_with_nix(
        &self,
        installable: &str,
        wanted: &[StorePath],
    ) -> Result<Vec<String>, StoreError> {
        // Nix builds into the daemon's store: nothing to import.
        let wanted: Vec<String> = wanted.iter().map(StorePath::to_absolute).collect();
        nix::build_checked(installable, &wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::signature::SecretKey;
    use crate::settings::Overrides;
    use crate::store::cache_writer::testing::{add_dir, sample_dir};
    use crate::store::NoProgress;

    /// `nix-store --store <root> args…`, its stdout.
    fn nix_store(root: &Path, args: &[&str]) -> String {
        let out = Command::new("nix-store")
            .arg("--store")
            .arg(root)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// What Nix's garbage collector would delete.
    fn dead(root: &Path) -> String {
        nix_store(root, &["--gc", "--print-dead"])
    }

    /// Real Nix on a store under its own root stands for the daemon: the same `nix-store`
    /// commands, without needing one to run.
    #[test]
    fn realizes_with_nix_and_keeps_its_roots_as_nix_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let key = SecretKey::generate("daemon-test-1");
        let cache = tmp.path().join("bincache");
        let dir = sample_dir(tmp.path(), "d");
        let path = add_dir(&cache, &dir, "d-1.0", Some(&key));
        let other = add_dir(&cache, &sample_dir(tmp.path(), "e"), "e-1.0", Some(&key));
        let settings = Settings::for_tests(
            tmp.path(),
            Overrides {
                substituters: Some(format!("file://{}", cache.display())),
                trusted_public_keys: Some(key.public().to_string()),
                ..Default::default()
            },
        );
        let nix_root = tmp.path().join("nix-root");
        let store = DaemonStore::at(&nix_root, &settings);
        assert!(!store.is_valid(&path).unwrap());

        let lock = tmp.path().join("devenv.lock");
        std::fs::write(&lock, "{}").unwrap();
        let project = RootSpec {
            name: "project:/p",
            link: Some(&lock),
        };
        let report = store
            .realize(&[path.clone(), other.clone()], Some(project), &NoProgress)
            .unwrap();
        assert_eq!(report.requested, 2);
        assert!(store.is_valid(&path).unwrap() && store.is_valid(&other).unwrap());
        let real = store.real_path(&path);
        assert!(real.starts_with(&nix_root));
        assert_eq!(
            std::fs::read(real.join("data.txt")).unwrap(),
            std::fs::read(dir.join("data.txt")).unwrap()
        );
        assert_eq!(dead(&nix_root), "", "rooted paths would be collected");

        // Replacing the root releases what it no longer holds, and only that.
        store
            .add_gc_root(project, std::slice::from_ref(&path))
            .unwrap();
        assert_eq!(dead(&nix_root), format!("{other}\n"));

        // A generation tied to a manifest holds `path` too; the project root goes.
        let manifest = tmp.path().join("devenv.json");
        std::fs::write(&manifest, "{}").unwrap();
        let generation = RootSpec {
            name: "profile-p-1",
            link: Some(&manifest),
        };
        store
            .add_gc_root(generation, std::slice::from_ref(&path))
            .unwrap();
        assert!(store.remove_gc_root("project:/p").unwrap());
        assert!(!store.remove_gc_root("project:/p").unwrap());
        assert!(!dead(&nix_root).contains(&path.to_absolute()));

        // Deleting the manifest kills the generation's root when roots are next added.
        std::fs::remove_file(&manifest).unwrap();
        let unrelated = RootSpec {
            name: "project:/q",
            link: None,
        };
        store.add_gc_root(unrelated, &[]).unwrap();
        assert!(dead(&nix_root).contains(&path.to_absolute()));
    }

    #[test]
    fn a_failed_realisation_says_what_nix_said() {
        let tmp = tempfile::tempdir().unwrap();
        let settings = Settings::for_tests(
            tmp.path(),
            Overrides {
                substituters: Some(String::new()),
                ..Default::default()
            },
        );
        let store = DaemonStore::at(&tmp.path().join("nix-root"), &settings);
        let absent =
            StorePath::parse_absolute("/nix/store/7hiak8prkncd6k6wwqvkv7dbwqqswr71-absent-1.0")
                .unwrap();
        match store.realize(&[absent], None, &NoProgress) {
            Err(StoreError::Nix { command, stderr }) => {
                assert_eq!(command, "nix-store --realise");
                assert!(stderr.contains("absent-1.0"), "{stderr}");
            }
            other => panic!("{other:?}"),
        }
    }
}
