//! The symlink farm of a profile, with the semantics of Nix's `buildenv` (`builtins/buildenv.cc`):
//! packages are linked in order of `(priority, path)`; a directory present in one package only is
//! linked whole; a directory present in several becomes a real directory whose entries are linked
//! recursively; two files at the same place are a collision unless their priorities differ (the
//! lower number wins). Hidden names and Nix bookkeeping files are skipped.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, DirBuilderExt};
use std::path::{Path, PathBuf};

/// One output to link into the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Which package it belongs to (for collision messages): the lock key.
    pub package: String,
    /// Directory to link from (the output's location on disk).
    pub path: PathBuf,
    /// Lower wins a collision; Nix's default is 5.
    pub priority: i32,
}

/// A problem building the farm.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "packages `{first}` and `{second}` both provide `{file}` with the same priority {priority}"
    )]
    Collision {
        file: String,
        first: String,
        second: String,
        priority: i32,
    },
    #[error("`{file}` is a directory in package `{dir_pkg}` but not in package `{file_pkg}`")]
    DirFileCollision {
        file: String,
        dir_pkg: String,
        file_pkg: String,
    },
    #[error("cannot read package output `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the profile at `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

const SKIPPED_SUFFIXES: &[&str] = &[
    "/propagated-build-inputs",
    "/nix-support",
    "/perllocal.pod",
    "/info/dir",
    "/log",
    "/manifest.nix",
    "/manifest.json",
];

/// What was linked at a relative path, to resolve later collisions.
#[derive(Debug, Clone)]
struct Linked {
    package: String,
    priority: i32,
    /// Source directory when the link is a whole directory (may need splitting).
    dir_source: Option<PathBuf>,
}

/// Build the farm for `elements` in the empty or missing directory `dst`.
pub fn build(dst: &Path, elements: &[Element]) -> Result<(), BuildError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Write { path, source }
    };
    // Private like the profile it becomes part of, whatever the umask.
    crate::fsutil::create_private_dir_all(dst).map_err(write_err(dst))?;
    let mut sorted: Vec<&Element> = elements.iter().collect();
    sorted.sort_by(|a, b| (a.priority, &a.path).cmp(&(b.priority, &b.path)));
    let mut linked: BTreeMap<PathBuf, Linked> = BTreeMap::new();
    for e in sorted {
        link_dir(dst, &e.path, Path::new(""), e, &mut linked)?;
    }
    Ok(())
}

fn link_dir(
    dst_root: &Path,
    src: &Path,
    rel: &Path,
    e: &Element,
    linked: &mut BTreeMap<PathBuf, Linked>,
) -> Result<(), BuildError> {
    let read_err = |source| BuildError::Read {
        path: src.to_path_buf(),
        source,
    };
    let mut names: Vec<_> = fs::read_dir(src)
        .map_err(read_err)?
        .map(|r| r.map(|d| d.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|source| BuildError::Read {
            path: src.to_path_buf(),
            source,
        })?;
    names.sort();
    for name in names {
        if name.as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let src_path = src.join(&name);
        let rel_path = rel.join(&name);
        let rel_str = format!("/{}", rel_path.display());
        if SKIPPED_SUFFIXES.iter().any(|s| rel_str.ends_with(s)) {
            continue;
        }
        // Follows symlinks like Nix does; a dangling link is skipped.
        let Ok(meta) = fs::metadata(&src_path) else {
            continue;
        };
        let dst_path = dst_root.join(&rel_path);
        let write_err = |source| BuildError::Write {
            path: dst_path.clone(),
            source,
        };
        let existing = linked.get(&rel_path).cloned();
        if meta.is_dir() {
            match existing {
                None => {
                    symlink(&src_path, &dst_path).map_err(write_err)?;
                    linked.insert(
                        rel_path,
                        Linked {
                            package: e.package.clone(),
                            priority: e.priority,
                            dir_source: Some(src_path),
                        },
                    );
                }
                Some(prev) => match &prev.dir_source {
                    Some(prev_src) => {
                        if fs::symlink_metadata(&dst_path).is_ok_and(|m| m.file_type().is_symlink())
                        {
                            // Split the whole-directory link into a real directory.
                            fs::remove_file(&dst_path).map_err(write_err)?;
                            fs::DirBuilder::new()
                                .mode(crate::fsutil::PRIVATE_DIR)
                                .create(&dst_path)
                                .map_err(write_err)?;
                            let prev_elem = Element {
                                package: prev.package.clone(),
                                path: prev_src.clone(),
                                priority: prev.priority,
                            };
                            link_dir(dst_root, prev_src, &rel_path, &prev_elem, linked)?;
                            linked.insert(
                                rel_path.clone(),
                                Linked {
                                    dir_source: Some(PathBuf::new()),
                                    ..prev
                                },
                            );
                        }
                        link_dir(dst_root, &src_path, &rel_path, e, linked)?;
                    }
                    None => {
                        return Err(BuildError::DirFileCollision {
                            file: rel_path.display().to_string(),
                            dir_pkg: e.package.clone(),
                            file_pkg: prev.package,
                        })
                    }
                },
            }
        } else {
            match existing {
                None => {
                    symlink(&src_path, &dst_path).map_err(write_err)?;
                    linked.insert(
                        rel_path,
                        Linked {
                            package: e.package.clone(),
                            priority: e.priority,
                            dir_source: None,
                        },
                    );
                }
                Some(prev) if prev.dir_source.is_some() => {
                    return Err(BuildError::DirFileCollision {
                        file: rel_path.display().to_string(),
                        dir_pkg: prev.package,
                        file_pkg: e.package.clone(),
                    })
                }
                Some(prev) if prev.priority == e.priority => {
                    return Err(BuildError::Collision {
                        file: rel_path.display().to_string(),
                        first: prev.package,
                        second: e.package.clone(),
                        priority: e.priority,
                    })
                }
                // Elements come sorted by priority, so the one already linked has the lower
                // number and wins.
                Some(_) => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(root: &Path, name: &str, files: &[&str]) -> PathBuf {
        let dir = root.join(name);
        for f in files {
            let p = dir.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, name).unwrap();
        }
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn elem(name: &str, path: &Path, priority: i32) -> Element {
        Element {
            package: name.to_string(),
            path: path.to_path_buf(),
            priority,
        }
    }

    #[test]
    fn single_package_links_whole_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let a = pkg(tmp.path(), "a", &["bin/a", "share/man/man1/a.1", ".hidden"]);
        let dst = tmp.path().join("farm");
        build(&dst, &[elem("a@1", &a, 5)]).unwrap();
        assert_eq!(fs::read_link(dst.join("bin")).unwrap(), a.join("bin"));
        assert!(!dst.join(".hidden").exists());
        assert_eq!(fs::read_to_string(dst.join("bin/a")).unwrap(), "a");
    }

    #[test]
    fn shared_directories_are_merged_recursively() {
        let tmp = tempfile::tempdir().unwrap();
        let a = pkg(tmp.path(), "a", &["bin/a", "share/man/man1/a.1"]);
        let b = pkg(
            tmp.path(),
            "b",
            &["bin/b", "share/man/man1/b.1", "nix-support/x"],
        );
        let dst = tmp.path().join("farm");
        build(&dst, &[elem("a@1", &a, 5), elem("b@1", &b, 5)]).unwrap();
        assert!(fs::symlink_metadata(dst.join("bin")).unwrap().is_dir());
        assert_eq!(fs::read_link(dst.join("bin/a")).unwrap(), a.join("bin/a"));
        assert_eq!(fs::read_link(dst.join("bin/b")).unwrap(), b.join("bin/b"));
        assert!(dst.join("share/man/man1/a.1").exists());
        assert!(dst.join("share/man/man1/b.1").exists());
        assert!(!dst.join("nix-support").exists());
    }

    #[test]
    fn same_priority_collision_names_both_packages_and_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let a = pkg(tmp.path(), "a", &["bin/tool"]);
        let b = pkg(tmp.path(), "b", &["bin/tool"]);
        let err = build(
            &tmp.path().join("farm"),
            &[elem("a@1", &a, 5), elem("b@2", &b, 5)],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("a@1") && msg.contains("b@2") && msg.contains("bin/tool"),
            "{msg}"
        );
    }

    #[test]
    fn lower_priority_number_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let a = pkg(tmp.path(), "a", &["bin/tool"]);
        let b = pkg(tmp.path(), "b", &["bin/tool"]);
        let dst = tmp.path().join("farm");
        build(&dst, &[elem("a@1", &a, 6), elem("b@2", &b, 4)]).unwrap();
        assert_eq!(fs::read_to_string(dst.join("bin/tool")).unwrap(), "b");
    }

    #[test]
    fn file_against_directory_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let a = pkg(tmp.path(), "a", &["lib"]);
        let b = pkg(tmp.path(), "b", &["lib/x.so"]);
        let err = build(
            &tmp.path().join("farm"),
            &[elem("a@1", &a, 5), elem("b@1", &b, 5)],
        )
        .unwrap_err();
        assert!(matches!(err, BuildError::DirFileCollision { .. }), "{err}");
    }
}
