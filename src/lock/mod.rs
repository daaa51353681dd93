//! `devenv.lock`, written by devenv: exactly which version, nixpkgs revision and store paths each
//! manifest package resolved to, for every system, so colleagues on other machines get the same paths.
//!
//! Owns the types, the canonical writer (sorted keys, 2-space indent, trailing newline, rewritten only
//! when the content changes) and the checks of whether a lock is up to date with a manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The lock file name.
pub const FILE_NAME: &str = "devenv.lock";
/// The format version this build writes and reads.
pub const LOCKFILE_VERSION: &str = "1";

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    pub lockfile_version: String,
    /// Keyed by [`crate::manifest::PackageSpec::lock_key`].
    pub packages: BTreeMap<String, LockedPackage>,
}

/// One resolved package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedPackage {
    /// RFC 3339 commit date of the nixpkgs revision.
    pub last_modified: String,
    /// `github:NixOS/nixpkgs/<rev>#<attr>`.
    pub resolved: String,
    /// Which index resolved it.
    pub source: String,
    /// Per system, the outputs and their store paths.
    pub systems: BTreeMap<String, LockedSystem>,
    /// The concrete version.
    pub version: String,
}

/// The outputs of a package on one system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedSystem {
    pub outputs: Vec<Output>,
}

/// One output of a package: its name and absolute store path.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Output {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

// --- interim reader/writer until the full implementation lands ---

use std::path::Path;

use anyhow::{anyhow, Context as _};

use crate::diagnostic::ResultExt;

pub fn read(path: &Path) -> anyhow::Result<Option<Lockfile>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
        .bad_input()
}

pub fn read_devbox(path: &Path) -> anyhow::Result<Option<Lockfile>> {
    read(path)
}

pub fn render(lock: &Lockfile) -> String {
    serde_json::to_string_pretty(lock).unwrap() + "\n"
}

pub fn write(path: &Path, lock: &Lockfile) -> anyhow::Result<bool> {
    Ok(crate::fsutil::write_if_changed(
        path,
        render(lock).as_bytes(),
    )?)
}
