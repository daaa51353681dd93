//! Finding a project and holding it for writing.
//!
//! A project is the directory holding `devenv.json`, or a Devbox project's `devbox.json` read as
//! is. Every command finds it the same way and fails with the same words; commands that rewrite
//! the project's files hold one exclusive lock on its directory for their whole run, taken once
//! per process so nothing inside a command can wait on the command itself.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use crate::diagnostic::ResultExt as _;
use crate::manifest::Dialect;
use crate::shell::SHELL_VAR;

/// A project directory and which files it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub root: PathBuf,
    pub dialect: Dialect,
}

impl Project {
    /// The project whose root is `dir`, if it has a manifest.
    pub fn at(dir: &Path) -> Option<Project> {
        let dialect = if dir.join(crate::manifest::FILE_NAME).is_file() {
            Dialect::Devenv
        } else if dir.join(crate::manifest::devbox::FILE_NAME).is_file() {
            Dialect::Devbox
        } else {
            return None;
        };
        Some(Project {
            root: dir.to_path_buf(),
            dialect,
        })
    }

    /// The nearest project at or above `start`.
    pub fn find(start: &Path) -> Option<Project> {
        start.ancestors().find_map(Project::at)
    }

    /// The nearest project at or above `start`, or the error every command gives.
    pub fn open(start: &Path) -> Result<Project> {
        Project::find(start)
            .ok_or_else(|| {
                anyhow!(
                    "no devenv.json or devbox.json in `{}` or any directory above it",
                    start.display()
                )
            })
            .hint("run `devenv init` to create a project here, or cd into one")
            .bad_input()
    }

    /// The project the user's shell is in: the nearest one above `cwd`, else the project of the
    /// enclosing `devenv shell` (which stays active outside its directory).
    pub fn for_shell(cwd: &Path) -> Option<Project> {
        Project::find(cwd).or_else(|| {
            let root = std::env::var_os(SHELL_VAR).filter(|v| !v.is_empty())?;
            Project::at(Path::new(&root))
        })
    }

    /// Refuse Devbox projects, whose files devenv reads but does not rewrite.
    pub fn writable(self) -> Result<Project> {
        if self.dialect == Dialect::Devbox {
            return Err(anyhow!(
                "`{}` is a Devbox project; devenv reads devbox.json but does not edit it",
                self.root.display()
            ))
            .hint("run `devenv init --from-devbox` to convert it to devenv.json and devenv.lock")
            .bad_input();
        }
        Ok(self)
    }

    pub fn manifest_path(&self) -> PathBuf {
        match self.dialect {
            Dialect::Devenv => self.root.join(crate::manifest::FILE_NAME),
            Dialect::Devbox => self.root.join(crate::manifest::devbox::FILE_NAME),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        match self.dialect {
            Dialect::Devenv => self.root.join(crate::lock::FILE_NAME),
            Dialect::Devbox => self.root.join(crate::lock::devbox::FILE_NAME),
        }
    }

    /// The real path trust records are bound to.
    pub fn canonical_root(&self) -> Result<PathBuf> {
        self.root
            .canonicalize()
            .with_context(|| format!("cannot resolve `{}`", self.root.display()))
    }

    /// Key of this project's profile, caches and GC roots.
    pub fn key(&self) -> String {
        crate::profile::project_key(&self.root)
    }

    /// Take the project's write lock, waiting (and saying so through `waiting`) while another
    /// devenv process holds it. The directory, not a file, is locked: the files are replaced by
    /// rename, which would leave a file lock on an orphaned inode, and no lock file is left in the
    /// project.
    pub fn lock_for_writing(&self, waiting: impl FnOnce()) -> Result<ProjectLock> {
        use fs4::fs_std::FileExt;
        let dir = std::fs::File::open(&self.root)
            .with_context(|| format!("cannot open `{}`", self.root.display()))?;
        if !FileExt::try_lock_exclusive(&dir).unwrap_or(false) {
            waiting();
            FileExt::lock_exclusive(&dir)
                .with_context(|| format!("cannot lock `{}`", self.root.display()))?;
        }
        Ok(ProjectLock { _dir: dir })
    }
}

/// Proof that this process holds a project's write lock; released on drop. Functions that
/// rewrite the project's files take it by reference, so they cannot be called without it and
/// never take it a second time.
#[derive(Debug)]
pub struct ProjectLock {
    _dir: std::fs::File,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nearest_manifest_upwards() {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path();
        let inner = outer.join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(outer.join("devenv.json"), "{}").unwrap();
        assert_eq!(Project::find(&inner).unwrap().root, outer);
        std::fs::write(outer.join("a/devbox.json"), "{}").unwrap();
        let p = Project::find(&inner).unwrap();
        assert_eq!(p.root, outer.join("a"));
        assert_eq!(p.dialect, Dialect::Devbox);
        assert!(p.writable().is_err());
    }

    #[test]
    fn the_write_lock_is_exclusive_between_descriptors() {
        use fs4::fs_std::FileExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("devenv.json"), "{}").unwrap();
        let p = Project::at(tmp.path()).unwrap();
        let held = p
            .lock_for_writing(|| panic!("nobody holds it yet"))
            .unwrap();
        let other = std::fs::File::open(tmp.path()).unwrap();
        assert!(!FileExt::try_lock_exclusive(&other).unwrap_or(false));
        drop(held);
        assert!(FileExt::try_lock_exclusive(&other).unwrap());
    }
}
