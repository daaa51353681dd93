//! `devenv.lock`, written by devenv: exactly which version, nixpkgs revision and store paths each
//! manifest package resolved to, for every system, so colleagues on other machines get the same paths.
//!
//! Owns the types, reading with precise errors (line:column, merge-conflict markers, newer formats),
//! the canonical writer (sorted keys, 2-space indent, trailing newline, outputs in canonical order,
//! rewritten only when the content changes), the checks of whether a lock is up to date with a
//! manifest ([`check`]), merging fresh resolutions without dropping other systems, and reading
//! Devbox's `devbox.lock` ([`devbox`]). The rules every field follows ([`validate`]) are shared
//! with the index backends, so nothing an index answers can reach a lock that the reader would
//! refuse.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

use crate::diagnostic::ResultExt;

mod check;
pub mod devbox;
pub mod validate;

pub use check::{check, Freshness, LockStatus, MergeOutcome};
pub use devbox::read_devbox;

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

impl Lockfile {
    /// An empty lock of the current format.
    pub fn new() -> Lockfile {
        Lockfile {
            lockfile_version: LOCKFILE_VERSION.to_string(),
            packages: BTreeMap::new(),
        }
    }
}

impl LockedPackage {
    /// The outputs to install on `system`: the ones named in `requested` (in lock order), or the
    /// default outputs when none are requested (`out`, or the first, when none is marked default).
    /// Empty when the lock has nothing for `system`.
    pub fn outputs_for(&self, system: &str, requested: &[String]) -> Vec<Output> {
        let Some(sys) = self.systems.get(system) else {
            return Vec::new();
        };
        if !requested.is_empty() {
            return sys
                .outputs
                .iter()
                .filter(|o| requested.contains(&o.name))
                .cloned()
                .collect();
        }
        let defaults: Vec<Output> = sys.outputs.iter().filter(|o| o.default).cloned().collect();
        if !defaults.is_empty() {
            return defaults;
        }
        sys.outputs
            .iter()
            .find(|o| o.name == "out")
            .or_else(|| sys.outputs.first())
            .cloned()
            .into_iter()
            .collect()
    }

    /// The nixpkgs revision in `resolved` (`github:NixOS/nixpkgs/<rev>#attr` → `<rev>`).
    pub fn rev(&self) -> Option<&str> {
        let (flake, _) = self.resolved.split_once('#')?;
        flake.rsplit('/').next()
    }

    /// The attribute path in `resolved` (after `#`).
    pub fn attr_path(&self) -> Option<&str> {
        self.resolved.split_once('#').map(|(_, attr)| attr)
    }
}

/// Canonical order of outputs: `out` first, then by name.
pub fn sort_outputs(outputs: &mut [Output]) {
    outputs.sort_by(|a, b| {
        (a.name != "out", &a.name, &a.path).cmp(&(b.name != "out", &b.name, &b.path))
    });
}

/// Read a lock file; `Ok(None)` when it does not exist. A file named `devbox.lock` is read as
/// Devbox's lock ([`read_devbox`]), so a Devbox project's lock path works everywhere.
pub fn read(path: &Path) -> anyhow::Result<Option<Lockfile>> {
    if path.file_name().is_some_and(|n| n == devbox::FILE_NAME) {
        return read_devbox(path);
    }
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    parse(&text, &path.display().to_string()).map(Some)
}

/// A lock file's text; `None` when it does not exist; bad input when it is not UTF-8 or larger
/// than [`crate::limits::MAX_LOCK_BYTES`].
fn read_text(path: &Path) -> anyhow::Result<Option<String>> {
    let limit = crate::limits::MAX_LOCK_BYTES;
    let Some(bytes) = crate::fsutil::read_input(path, limit, "the lock")? else {
        return Ok(None);
    };
    crate::manifest::utf8(bytes, &path.display().to_string())
        .with_context(|| format!("`{}` is not a valid lock file", path.display()))
        .hint("restore the lock from version control or delete it and run `devenv update`")
        .bad_input()
        .map(Some)
}

/// Parse lock bytes as read from a project: `devenv.lock`, or Devbox's lock read with
/// [`devbox::parse_devbox`]. `file` names the file in messages.
pub fn parse_bytes(
    bytes: &[u8],
    file: &str,
    dialect: crate::manifest::Dialect,
) -> anyhow::Result<Lockfile> {
    let text = crate::manifest::utf8(bytes.to_vec(), file)
        .with_context(|| format!("`{file}` is not a valid lock file"))
        .hint("restore the lock from version control or delete it and run `devenv update`")
        .bad_input()?;
    match dialect {
        crate::manifest::Dialect::Devenv => parse(&text, file),
        crate::manifest::Dialect::Devbox => devbox::parse_devbox(&text, file),
    }
}

/// Parse lock text; `file` names the file in messages.
pub fn parse(text: &str, file: &str) -> anyhow::Result<Lockfile> {
    if let Some(line) = conflict_marker_line(text) {
        return Err(anyhow!(
            "{file}:{line}:1: the lock contains git merge-conflict markers"
        ))
        .with_context(|| format!("`{file}` is not a valid lock file"))
        .hint(format!(
            "resolve the conflict in `{file}` (or delete it) and run `devenv update` to re-resolve the packages"
        ))
        .bad_input();
    }
    let invalid = || format!("`{file}` is not a valid lock file");
    check_depth(text, file)
        .with_context(invalid)
        .hint(format!(
            "`{file}` is written by devenv; restore it from version control or delete it and run `devenv update`"
        ))
        .bad_input()?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| anyhow!("{file}:{}:{}: {}", e.line(), e.column(), json_reason(&e)))
        .with_context(invalid)
        .hint(format!(
            "`{file}` is written by devenv; restore it from version control or delete it and run `devenv update`"
        ))
        .bad_input()?;
    check_version(&value, file)?;
    let lock: Lockfile = serde_json::from_str(text)
        .map_err(|e| anyhow!("{file}:{}:{}: {}", e.line(), e.column(), json_reason(&e)))
        .with_context(invalid)
        .hint(format!(
            "`{file}` is written by devenv; restore it from version control or delete it and run `devenv update`"
        ))
        .bad_input()?;
    validate::lockfile(&lock, false)
        .map_err(|msg| anyhow!("{file}: {msg}"))
        .with_context(invalid)
        .hint(format!("run `devenv update` to rewrite `{file}`"))
        .bad_input()?;
    Ok(lock)
}

/// Refuse nesting deeper than [`crate::limits::MAX_DEPTH`] before serde_json sees the text.
fn check_depth(text: &str, file: &str) -> anyhow::Result<()> {
    crate::limits::check_depth(text.as_bytes(), crate::limits::MAX_DEPTH)
        .map_err(|e| anyhow!("{file}:{}:{}: {e}", e.line, e.column))
}

fn json_reason(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the position is already in front.
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The 1-based line of the first git conflict marker, if any.
fn conflict_marker_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.starts_with("<<<<<<<")
                || l.starts_with(">>>>>>>")
                || l == "======="
                || l.starts_with("||||||| ")
        })
        .map(|i| i + 1)
}

fn check_version(value: &serde_json::Value, file: &str) -> anyhow::Result<()> {
    let found = value.get("lockfile_version");
    let version = match found {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(_) | None => {
            return Err(anyhow!(
                "{file}: `lockfile_version` is missing or not a string (this devenv writes \"{LOCKFILE_VERSION}\")"
            ))
            .context(format!("`{file}` is not a valid lock file"))
            .hint(format!("run `devenv update` to rewrite `{file}`"))
            .bad_input()
        }
    };
    if version == LOCKFILE_VERSION {
        return Ok(());
    }
    let newer = version
        .parse::<u64>()
        .ok()
        .zip(LOCKFILE_VERSION.parse::<u64>().ok())
        .is_some_and(|(found, ours)| found > ours);
    if newer {
        Err(anyhow!(
            "{file}: the lock has format version \"{version}\", but this devenv reads only version \"{LOCKFILE_VERSION}\""
        ))
        .context(format!("`{file}` was written by a newer devenv"))
        .hint("upgrade devenv to read this lock (its other files were not changed)")
        .bad_input()
    } else {
        Err(anyhow!(
            "{file}: the lock has format version \"{version}\", which this devenv does not know (it reads \"{LOCKFILE_VERSION}\")"
        ))
        .context(format!("`{file}` is not a valid lock file"))
        .hint(format!("run `devenv update` to rewrite `{file}`"))
        .bad_input()
    }
}

/// The canonical text of a lock: sorted keys, 2-space indent, outputs `out` first then by name,
/// trailing newline. Equal locks always render to the same bytes.
pub fn render(lock: &Lockfile) -> String {
    let mut lock = lock.clone();
    for pkg in lock.packages.values_mut() {
        for sys in pkg.systems.values_mut() {
            sort_outputs(&mut sys.outputs);
        }
    }
    let value = serde_json::to_value(&lock).unwrap_or(serde_json::Value::Null);
    let mut out = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    out.push('\n');
    out
}

/// Rebuild objects with sorted keys (serde_json keeps insertion order in this build).
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

/// Refuse a lock the reader would refuse: whatever went wrong upstream, devenv never writes a
/// lock it cannot read back (and then cannot `update` or `rm` without a hand delete).
pub fn check_writable(lock: &Lockfile) -> anyhow::Result<()> {
    validate::lockfile(lock, false)
        .map_err(|msg| anyhow!("{msg}"))
        .context("refusing to write a lock devenv could not read back")
        .hint("the lock was not changed; please report this as a devenv bug")
}

/// Write the lock atomically, only if its canonical text differs from the file; returns whether
/// it wrote. A lock that breaks the rules is not written ([`check_writable`]).
pub fn write(path: &Path, lock: &Lockfile) -> anyhow::Result<bool> {
    check_writable(lock)?;
    crate::fsutil::write_if_changed(path, render(lock).as_bytes())
        .with_context(|| format!("could not write the lock `{}`", path.display()))
}

#[cfg(test)]
mod tests;
