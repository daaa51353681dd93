//! A project's inputs: the manifest and lock bytes, read once per command.
//!
//! Everything a command checks (trust, freshness) and everything it uses (the environment it
//! exports, the hooks it runs, the paths it installs) comes from one [`Inputs`] value, never from
//! a second read of the files: a file changed in between is seen by the next command, not mixed
//! into this one. Reads are bounded, so a huge file is refused before it is held in memory.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use filetime::FileTime;
use sha2::{Digest, Sha256};

use super::project::Project;
use crate::diagnostic::ResultExt as _;
use crate::limits::MAX_LOCK_BYTES;
use crate::lock::Lockfile;
use crate::manifest::{Dialect, LoadedManifest};

/// The manifest and lock of a project as read at one moment.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub dialect: Dialect,
    manifest_name: String,
    lock_name: String,
    pub manifest: Vec<u8>,
    /// `None` when the project has no lock yet.
    pub lock: Option<Vec<u8>>,
    /// The newest mtime of the two files, taken before reading them: a change after the read
    /// makes a file newer than any stamp recorded for these inputs.
    pub mtime: FileTime,
    /// The project directory (plugins' files are relative to it).
    root: PathBuf,
    /// A Devbox project's local plugin files, read with the manifest (see [`crate::plugins`]).
    pub plugin_files: BTreeMap<PathBuf, Vec<u8>>,
    parsed_manifest: OnceCell<LoadedManifest>,
    plugins: OnceCell<crate::plugins::Activation>,
    parsed_lock: OnceCell<Option<Lockfile>>,
}

impl Inputs {
    /// Read the project's manifest and lock (each at most [`MAX_INPUT_BYTES`]).
    pub fn read(project: &Project) -> Result<Inputs> {
        let mpath = project.manifest_path();
        let lpath = project.lock_path();
        let mtime_of = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| FileTime::from_last_modification_time(&m))
                .ok()
        };
        let mtime = [mtime_of(&mpath), mtime_of(&lpath)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_else(FileTime::zero);
        let manifest = crate::manifest::read_bytes(&mpath)?;
        let lock = crate::fsutil::read_input(&lpath, MAX_LOCK_BYTES, "the lock")?;
        let plugin_files = match project.dialect {
            Dialect::Devbox => local_plugins(&project.root, &manifest)?,
            Dialect::Devenv => BTreeMap::new(),
        };
        tracing::debug!(
            manifest = %mpath.display(),
            manifest_bytes = manifest.len(),
            lock_bytes = lock.as_ref().map(Vec::len),
            "read the project's inputs"
        );
        Ok(Inputs {
            dialect: project.dialect,
            manifest_name: mpath.display().to_string(),
            lock_name: lpath.display().to_string(),
            manifest,
            lock,
            mtime,
            root: project.root.clone(),
            plugin_files,
            parsed_manifest: OnceCell::new(),
            plugins: OnceCell::new(),
            parsed_lock: OnceCell::new(),
        })
    }

    /// Inputs a command is about to write: they replace what was read, keeping the names.
    pub fn replaced(&self, manifest: Vec<u8>, lock: Option<Vec<u8>>) -> Inputs {
        Inputs {
            dialect: self.dialect,
            manifest_name: self.manifest_name.clone(),
            lock_name: self.lock_name.clone(),
            manifest,
            lock,
            mtime: self.mtime,
            root: self.root.clone(),
            plugin_files: self.plugin_files.clone(),
            parsed_manifest: OnceCell::new(),
            plugins: OnceCell::new(),
            parsed_lock: OnceCell::new(),
        }
    }

    /// The parsed manifest (parsed once, on first use).
    pub fn manifest(&self) -> Result<&LoadedManifest> {
        if let Some(m) = self.parsed_manifest.get() {
            return Ok(m);
        }
        let text = crate::manifest::utf8(self.manifest.clone(), &self.manifest_name)
            .with_context(|| format!("`{}` is not a valid manifest", self.manifest_name))
            .hint("save the file as UTF-8")
            .bad_input()?;
        let (mut manifest, mut warnings) =
            crate::manifest::parse(&text, &self.manifest_name, self.dialect)?;
        if self.dialect == Dialect::Devbox {
            let activation = crate::plugins::activate(
                &self.root,
                &self.manifest_name,
                &manifest,
                &self.plugin_files,
            );
            warnings.extend(activation.warnings.iter().cloned());
            let lock = self.lock().ok().flatten();
            add_plugins(&mut manifest, &activation, lock);
            let _ = self.plugins.set(activation);
        }
        Ok(self.parsed_manifest.get_or_init(|| LoadedManifest {
            manifest,
            text,
            warnings,
        }))
    }

    /// What the project's plugins add (nothing outside Devbox projects).
    pub fn plugins(&self) -> Result<&crate::plugins::Activation> {
        self.manifest()?;
        Ok(self.plugins.get_or_init(Default::default))
    }

    /// The manifest bytes and the local plugin files: what a computed environment depends on
    /// besides the lock and the profile.
    pub fn keyed_manifest(&self) -> Vec<u8> {
        let mut out = self.manifest.clone();
        for (path, bytes) in &self.plugin_files {
            out.extend_from_slice(b"\0plugin\0");
            out.extend_from_slice(path.as_os_str().as_encoded_bytes());
            out.push(0);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }

    /// The parsed lock, `None` when there is none (parsed once, on first use).
    pub fn lock(&self) -> Result<Option<&Lockfile>> {
        if let Some(l) = self.parsed_lock.get() {
            return Ok(l.as_ref());
        }
        let parsed = match &self.lock {
            None => None,
            Some(bytes) => Some(crate::lock::parse_bytes(
                bytes,
                &self.lock_name,
                self.dialect,
            )?),
        };
        Ok(self.parsed_lock.get_or_init(|| parsed).as_ref())
    }

    /// The path of the manifest, for messages.
    pub fn manifest_name(&self) -> &str {
        &self.manifest_name
    }

    /// The path of the lock, for messages.
    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    /// Short hash of manifest and lock (keys the environment cache and activation stamps).
    pub fn hash(&self) -> String {
        crate::env::inputs_hash(&self.keyed_manifest(), self.lock.as_deref())
    }

    /// What an allowance is bound to: the full SHA-256 of the manifest and of the lock (or of
    /// its absence). A hand edit of either file needs `devenv allow` again.
    pub fn trust_content(&self) -> Vec<u8> {
        let hex = |b: &[u8]| -> String {
            Sha256::digest(b)
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect()
        };
        let lock = self.lock.as_deref().map(hex);
        let mut text = format!(
            "manifest sha256:{}\nlock {}\n",
            hex(&self.manifest),
            lock.map(|h| format!("sha256:{h}"))
                .unwrap_or_else(|| "none".to_string())
        );
        // A local plugin's hook runs like the manifest's: editing it needs `devenv allow` again.
        for (path, bytes) in &self.plugin_files {
            text.push_str(&format!(
                "plugin {} sha256:{}\n",
                path.display(),
                hex(bytes)
            ));
        }
        text.into_bytes()
    }
}

/// A Devbox manifest's local plugin files (none when the manifest does not parse: reading it
/// again reports why).
fn local_plugins(root: &Path, manifest: &[u8]) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let Ok(text) = std::str::from_utf8(manifest) else {
        return Ok(BTreeMap::new());
    };
    let Ok((parsed, _)) = crate::manifest::parse(text, "", Dialect::Devbox) else {
        return Ok(BTreeMap::new());
    };
    let includes: Vec<String> = parsed.include.into_iter().map(|i| i.reference).collect();
    crate::plugins::read_local(root, &includes)
}

/// The plugins' packages (those the manifest does not list, and only when the lock records them:
/// Devbox locked them only with some plugin versions, and devenv does not rewrite `devbox.lock`),
/// `env` and `init_hook` before the manifest's own (which may override them, as in Devbox), and
/// scripts the manifest does not define.
fn add_plugins(
    manifest: &mut crate::manifest::Manifest,
    a: &crate::plugins::Activation,
    lock: Option<&Lockfile>,
) {
    for p in &a.packages {
        let locked = lock.is_some_and(|l| l.packages.contains_key(&p.lock_key()));
        if locked && manifest.package(&p.name).is_none() {
            manifest.packages.push(p.clone());
        }
    }
    let mut env = a.env.clone();
    env.append(&mut manifest.env);
    manifest.env = env;
    let mut hook = a.init_hook.clone();
    hook.append(&mut manifest.init_hook);
    manifest.init_hook = hook;
    for (name, body) in &a.scripts {
        manifest
            .scripts
            .entry(name.clone())
            .or_insert_with(|| body.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &Path) -> Project {
        Project::at(dir).unwrap()
    }

    #[test]
    fn trust_content_binds_manifest_and_lock() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("devenv.json"), "{}").unwrap();
        let a = Inputs::read(&project(tmp.path())).unwrap();
        std::fs::write(tmp.path().join("devenv.lock"), "x").unwrap();
        let b = Inputs::read(&project(tmp.path())).unwrap();
        assert_ne!(a.trust_content(), b.trust_content());
        std::fs::write(tmp.path().join("devenv.lock"), "y").unwrap();
        let c = Inputs::read(&project(tmp.path())).unwrap();
        assert_ne!(b.trust_content(), c.trust_content());
    }

    #[test]
    fn a_huge_manifest_is_refused_before_reading_it_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(tmp.path().join("devenv.json")).unwrap();
        f.set_len(1 << 30).unwrap();
        let err = Inputs::read(&project(tmp.path())).unwrap_err();
        assert!(
            format!("{err:#}").contains("is too large to read"),
            "{err:#}"
        );
    }
}
