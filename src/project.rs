//! Finding a project: the directory holding `devenv.json` (or a Devbox project's `devbox.json`), and
//! the paths of its manifest and lock.

use std::path::{Path, PathBuf};

/// Which file format the project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `devenv.json` + `devenv.lock`.
    Devenv,
    /// A Devbox project (`devbox.json` + `devbox.lock`) read as is.
    Devbox,
}

/// A project directory and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub root: PathBuf,
    pub flavor: Flavor,
}

impl Project {
    /// The project whose root is `dir`, if it has a manifest.
    pub fn at(dir: &Path) -> Option<Project> {
        if dir.join(crate::manifest::FILE_NAME).is_file() {
            Some(Project {
                root: dir.to_path_buf(),
                flavor: Flavor::Devenv,
            })
        } else if dir.join("devbox.json").is_file() {
            Some(Project {
                root: dir.to_path_buf(),
                flavor: Flavor::Devbox,
            })
        } else {
            None
        }
    }

    /// The nearest project at or above `start`.
    pub fn find(start: &Path) -> Option<Project> {
        start.ancestors().find_map(Project::at)
    }

    pub fn manifest_path(&self) -> PathBuf {
        match self.flavor {
            Flavor::Devenv => self.root.join(crate::manifest::FILE_NAME),
            Flavor::Devbox => self.root.join("devbox.json"),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        match self.flavor {
            Flavor::Devenv => self.root.join(crate::lock::FILE_NAME),
            Flavor::Devbox => self.root.join("devbox.lock"),
        }
    }
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
        assert_eq!(p.flavor, Flavor::Devbox);
    }
}
