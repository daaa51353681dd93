//! Reading Devbox's `devbox.lock` into a [`Lockfile`], keeping the locked store paths.
//!
//! Devbox keys entries by the raw manifest string (`go@latest`, or a bare `poetry` for an
//! unversioned package, which devenv keys as `poetry@latest`), may give a system only the legacy
//! `store_path` (read as one default output, named as the path names it: `curl-8.2.1-bin` is
//! `bin`), records `plugin_version` and a stdenv entry
//! (`github:NixOS/nixpkgs/…`) devenv has no use for, and old unversioned entries carry no
//! version or systems (they show up as stale in [`super::check`], so `update` re-resolves them).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context};
use serde::Deserialize;

use super::{sort_outputs, LockedPackage, LockedSystem, Lockfile, Output, LOCKFILE_VERSION};
use crate::diagnostic::ResultExt;

/// Devbox's lock file name.
pub const FILE_NAME: &str = "devbox.lock";

#[derive(Deserialize)]
struct DevboxLock {
    lockfile_version: String,
    #[serde(default)]
    packages: BTreeMap<String, DevboxPackage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DevboxPackage {
    last_modified: String,
    resolved: String,
    source: String,
    version: String,
    systems: BTreeMap<String, DevboxSystem>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DevboxSystem {
    outputs: Vec<DevboxOutput>,
    store_path: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DevboxOutput {
    name: String,
    path: String,
    default: bool,
}

/// Read a `devbox.lock`; `Ok(None)` when it does not exist.
pub fn read_devbox(path: &Path) -> anyhow::Result<Option<Lockfile>> {
    let Some(text) = super::read_text(path)? else {
        return Ok(None);
    };
    parse_devbox(&text, &path.display().to_string()).map(Some)
}

/// Whether a Devbox lock key is a package devenv can represent (not a flake or the stdenv entry).
fn is_package_key(key: &str) -> bool {
    !key.contains(':') && !key.contains('#') && !key.starts_with('/') && !key.starts_with('.')
}

/// The lock `init --from-devbox` writes as `devenv.lock`: the Devbox lock without the entries
/// Devbox never resolved (no `resolved`), which devenv's own lock cannot hold. Their keys are
/// returned; left out of the lock, they are resolved again like any package it does not list.
pub fn for_devenv(mut lock: Lockfile) -> (Lockfile, Vec<String>) {
    let mut unresolved = Vec::new();
    lock.packages.retain(|key, pkg| {
        if pkg.resolved.is_empty() {
            unresolved.push(key.clone());
        }
        !pkg.resolved.is_empty()
    });
    (lock, unresolved)
}

/// The output a store path belongs to, from its name: Nix names every output but `out`
/// `<pname>-<version>-<output>` (`/nix/store/…-curl-8.2.1-bin` is `bin`). A last part that
/// follows no version (`discord-bin`) is part of the package's name, so the path is `out`.
pub fn output_name_of(store_path: &str) -> &str {
    let name = store_path.rsplit('/').next().unwrap_or_default();
    // Past the 32-character hash and its dash.
    let name = name.get(33..).unwrap_or_default();
    let Some((rest, last)) = name.rsplit_once('-') else {
        return "out";
    };
    let after_version = rest
        .rsplit_once('-')
        .is_some_and(|(_, v)| v.starts_with(|c: char| c.is_ascii_digit()));
    let output_like = last.starts_with(|c: char| c.is_ascii_lowercase())
        && last.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if after_version && output_like {
        last
    } else {
        "out"
    }
}

/// Convert Devbox lock text to a [`Lockfile`].
pub fn parse_devbox(text: &str, file: &str) -> anyhow::Result<Lockfile> {
    let invalid = || format!("`{file}` is not a valid Devbox lock file");
    if let Some(line) = super::conflict_marker_line(text) {
        return Err(anyhow!(
            "{file}:{line}:1: the lock contains git merge-conflict markers"
        ))
        .with_context(invalid)
        .hint(format!(
            "resolve the conflict in `{file}` and run the command again"
        ))
        .bad_input();
    }
    super::check_depth(text, file)
        .with_context(invalid)
        .bad_input()?;
    let lock: DevboxLock = serde_json::from_str(text)
        .map_err(|e| {
            anyhow!(
                "{file}:{}:{}: {}",
                e.line(),
                e.column(),
                super::json_reason(&e)
            )
        })
        .with_context(invalid)
        .hint(format!(
            "fix `{file}` or delete it; `devenv update` resolves the packages again"
        ))
        .bad_input()?;
    if lock.lockfile_version != LOCKFILE_VERSION {
        return Err(anyhow!(
            "{file}: Devbox lock format version \"{}\" is not supported (devenv reads \"{LOCKFILE_VERSION}\")",
            lock.lockfile_version
        ))
        .with_context(invalid)
        .bad_input();
    }
    let mut out = Lockfile::new();
    for (key, pkg) in lock.packages {
        if !is_package_key(&key) {
            continue;
        }
        let key = if key.contains('@') {
            key
        } else {
            format!("{key}@latest")
        };
        let mut systems = BTreeMap::new();
        for (system, sys) in pkg.systems {
            let mut outputs: Vec<Output> = sys
                .outputs
                .into_iter()
                .filter(|o| !o.path.is_empty())
                .map(|o| Output {
                    name: if o.name.is_empty() {
                        "out".to_string()
                    } else {
                        o.name
                    },
                    path: o.path,
                    default: o.default,
                })
                .collect();
            if outputs.is_empty() && !sys.store_path.is_empty() {
                outputs.push(Output {
                    name: output_name_of(&sys.store_path).to_string(),
                    path: sys.store_path,
                    default: true,
                });
            }
            if !outputs.is_empty() {
                sort_outputs(&mut outputs);
                systems.insert(system, LockedSystem { outputs });
            }
        }
        out.packages.insert(
            key,
            LockedPackage {
                last_modified: pkg.last_modified,
                resolved: pkg.resolved,
                source: pkg.source,
                systems,
                version: pkg.version,
            },
        );
    }
    super::validate::lockfile(&out, true)
        .map_err(|msg| anyhow!("{file}: {msg}"))
        .with_context(invalid)
        .bad_input()?;
    Ok(out)
}
