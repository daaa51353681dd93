//! Launchers: how a program of a namespace store runs when typed at a prompt. The hook puts a
//! directory of symlinks on PATH, one per program of the project's profile, each pointing at
//! the devenv binary; started under a program's name, devenv finds the directory (from argv[0],
//! or the first PATH entry holding that name, as the shell did), reads its marker file (the
//! store's `nix` directory and the profile's `bin`), enters the namespace unless it is already
//! inside, and execs the real program with the same argv[0] and arguments (rustup's proxies
//! work the same way). The fast path reads one small file and settles nothing else: no
//! settings, no database.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

use super::Failure;

/// The marker file of a launcher directory: `nix=<dir>` and `bin=<dir>` lines.
pub const MARKER: &str = ".devenv-launcher";

/// Make `dir` the launcher directory for the programs in `bin` (the profile's `bin`, through
/// its `current` link so a new generation or a rollback is followed), run in the namespace of
/// `nix_dir`: one symlink to this binary per program, stale ones removed, the marker written
/// last (atomically).
pub fn write(dir: &Path, nix_dir: &Path, bin: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find devenv's own executable")?;
    let text = format!("nix={}\nbin={}\n", nix_dir.display(), bin.display());
    anyhow::ensure!(
        text.lines().count() == 2,
        "a path with a line break cannot be used for launchers: `{}`",
        dir.display()
    );
    crate::fsutil::create_private_dir_all(dir)
        .with_context(|| format!("cannot create the launcher directory `{}`", dir.display()))?;
    let mut wanted: Vec<OsString> = match std::fs::read_dir(bin) {
        Ok(rd) => rd.flatten().map(|e| e.file_name()).collect(),
        Err(_) => Vec::new(),
    };
    wanted.sort();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        if name != MARKER && wanted.binary_search(&name).is_err() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::read_link(&link).ok().as_deref() == Some(exe.as_path()) {
            continue;
        }
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&exe, &link)
            .with_context(|| format!("cannot create the launcher `{}`", link.display()))?;
    }
    crate::fsutil::write_private(&dir.join(MARKER), text.as_bytes())
        .with_context(|| format!("cannot write `{}`", dir.join(MARKER).display()))?;
    Ok(())
}

/// A launcher's start: `None` when `argv0` does not name a program of a launcher directory
/// (devenv itself was started).
pub(super) fn dispatch(argv0: &OsString, args: &[OsString]) -> Option<Result<ExitCode, Failure>> {
    let path = Path::new(argv0);
    let name = path.file_name()?;
    if name.as_encoded_bytes().starts_with(b"devenv") {
        return None;
    }
    let dir = if argv0.as_encoded_bytes().contains(&b'/') {
        path.parent()?.to_path_buf()
    } else {
        let search = std::env::var_os("PATH")?;
        std::env::split_paths(&search).find(|d| d.join(name).symlink_metadata().is_ok())?
    };
    let (nix_dir, bin) = read_marker(&dir)?;
    // The marker says what to mount and what to run: one another user could have written is
    // not followed (the directory is created private; this only catches tampering).
    if let Some(path) = [dir.join(MARKER), dir.clone()]
        .into_iter()
        .find(|p| !private_to_me(p))
    {
        return Some(Err(Failure {
            message: format!(
                "the launcher `{}` is not used: `{}` could be changed by another user",
                Path::new(argv0).display(),
                path.display()
            ),
            hint: Some(format!(
                "remove `{}`; the next activation of the project writes it again",
                dir.display()
            )),
            exit_code: 1,
        }));
    }
    let real = bin.join(name);
    Some(super::exec_inside(
        &nix_dir,
        &real.into_os_string(),
        argv0,
        args,
    ))
}

/// Whether `path` belongs to this user and no one else may write it.
pub(super) fn private_to_me(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.uid() == rustix::process::getuid().as_raw() && m.mode() & 0o022 == 0)
}

fn read_marker(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    let mut nix = None;
    let mut bin = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("nix=") {
            nix = Some(PathBuf::from(v));
        } else if let Some(v) = line.strip_prefix("bin=") {
            bin = Some(PathBuf::from(v));
        }
    }
    Some((nix?, bin?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launcher_directory_follows_the_profile() {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("a"), "").unwrap();
        std::fs::write(bin.join("b"), "").unwrap();
        let dir = tmp.path().join("launchers");
        write(&dir, Path::new("/s/nix"), &bin).unwrap();
        let exe = std::env::current_exe().unwrap();
        assert_eq!(std::fs::read_link(dir.join("a")).unwrap(), exe);
        assert_eq!(std::fs::read_link(dir.join("b")).unwrap(), exe);
        assert_eq!(
            read_marker(&dir),
            Some((PathBuf::from("/s/nix"), bin.clone()))
        );
        std::fs::remove_file(bin.join("b")).unwrap();
        write(&dir, Path::new("/s/nix"), &bin).unwrap();
        assert!(dir.join("a").symlink_metadata().is_ok());
        assert!(
            dir.join("b").symlink_metadata().is_err(),
            "stale launcher removed"
        );
        assert!(private_to_me(&dir) && private_to_me(&dir.join(MARKER)));
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(
            !private_to_me(&dir),
            "a directory others may write is refused"
        );
    }
}
