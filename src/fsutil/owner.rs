//! Whether a file devenv reads back from its private directories can only have been written by
//! the user: it and every directory above it, up to devenv's own directory, must belong to the
//! user (or root) and be writable by nobody else. Otherwise another user could have planted it
//! (an allowance, a cached environment, a profile put on PATH), so it is refused, as ssh's
//! `StrictModes` and direnv refuse such files.
//!
//! Root counts as an owner like the user, because root can write anything anyway. Directories
//! above devenv's own (the home directory, `~/.local`) are the user's business and not checked.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::diagnostic::ResultExt as _;

/// What is wrong with a file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Owned by another user.
    Owner,
    /// Its group may write it.
    GroupWritable,
    /// Everyone may write it.
    WorldWritable,
}

/// A file or directory devenv refuses to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub path: PathBuf,
    pub problem: Problem,
    pub uid: u32,
    /// Permission bits (without the file type).
    pub mode: u32,
    pub is_dir: bool,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.problem {
            Problem::Owner => write!(f, "`{path}` belongs to {}, not to you", user_name(self.uid)),
            Problem::GroupWritable => write!(
                f,
                "`{path}` is writable by its group (mode {:04o})",
                self.mode
            ),
            Problem::WorldWritable => write!(
                f,
                "`{path}` is writable by every user (mode {:04o})",
                self.mode
            ),
        }
    }
}

impl std::error::Error for Untrusted {}

impl Untrusted {
    /// The command that makes it trustworthy again: take away the write bits of others, or
    /// remove what another user created (devenv recreates what it needs).
    pub fn fix(&self) -> String {
        let quoted = shell_words::quote(&self.path.to_string_lossy()).into_owned();
        match (self.problem, self.is_dir) {
            (Problem::Owner, true) => format!("rm -r {quoted}"),
            (Problem::Owner, false) => format!("rm {quoted}"),
            (_, true) => format!("chmod -R go-w {quoted}"),
            (_, false) => format!("chmod go-w {quoted}"),
        }
    }

    /// This refusal as an error for a command to fail with: why devenv refuses, and the fix.
    pub fn into_error(self) -> anyhow::Error {
        let fix = self.fix();
        let refused: anyhow::Result<()> = Err(anyhow::Error::new(self)
            .context("devenv refuses to use files that other users could have written"));
        refused
            .hint(format!(
                "run `{fix}`; someone else may have changed it, so look at what it holds first"
            ))
            .unwrap_err()
    }
}

/// Check `path` alone. A path that does not exist (or cannot be examined, so it cannot be read
/// either) passes: there is nothing to trust.
pub fn check(path: &Path) -> Result<(), Untrusted> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let uid = meta.uid();
    let mode = meta.mode() & 0o7777;
    let problem = if uid != current_uid() && uid != 0 {
        Problem::Owner
    } else if mode & 0o002 != 0 {
        Problem::WorldWritable
    } else if mode & 0o020 != 0 {
        Problem::GroupWritable
    } else {
        return Ok(());
    };
    Err(Untrusted {
        path: path.to_path_buf(),
        problem,
        uid,
        mode,
        is_dir: meta.is_dir(),
    })
}

/// Check `path` and every directory above it up to and including `base` (devenv's own
/// directory), outermost first, so the message names the directory to fix before what is in it.
/// `path` must be inside `base`; components that do not exist pass.
pub fn check_within(base: &Path, path: &Path) -> Result<(), Untrusted> {
    debug_assert!(
        path.starts_with(base),
        "{} is outside {}",
        path.display(),
        base.display()
    );
    let mut chain: Vec<&Path> = path
        .ancestors()
        .take_while(|p| p.starts_with(base))
        .collect();
    chain.reverse();
    chain.into_iter().try_for_each(check)
}

fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// `name (uid N)`, or `uid N` when the user database does not know it.
pub(crate) fn user_name(uid: u32) -> String {
    match crate::sys::user_name(uid) {
        Some(n) => format!("`{n}` (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn writable_by_others_is_refused_outermost_first() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("devenv");
        let file = base.join("trust/allow/rec");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "x").unwrap();
        for d in [&base, &base.join("trust"), &base.join("trust/allow")] {
            chmod(d, 0o700);
        }
        chmod(&file, 0o600);
        assert_eq!(check_within(&base, &file), Ok(()));
        assert_eq!(check_within(&base, &base.join("missing/x")), Ok(()));

        chmod(&file, 0o620);
        let err = check_within(&base, &file).unwrap_err();
        assert_eq!(err.problem, Problem::GroupWritable);
        assert_eq!(err.path, file);
        assert!(err
            .to_string()
            .contains("writable by its group (mode 0620)"));
        assert!(err.fix().starts_with("chmod go-w "), "{}", err.fix());

        chmod(&base.join("trust"), 0o777);
        let err = check_within(&base, &file).unwrap_err();
        assert_eq!(err.problem, Problem::WorldWritable);
        assert_eq!(err.path, base.join("trust"), "the directory is named first");
        assert!(err.fix().starts_with("chmod -R go-w "), "{}", err.fix());
    }

    #[test]
    fn the_sticky_bit_and_directories_above_the_base_do_not_count() {
        let tmp = tempfile::tempdir().unwrap();
        let above = tmp.path().join("shared");
        let base = above.join("devenv");
        fs::create_dir_all(&base).unwrap();
        chmod(&above, 0o1777);
        chmod(&base, 0o1700);
        assert_eq!(check_within(&base, &base.join("f")), Ok(()));
    }
}
