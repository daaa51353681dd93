//! Lock entries pinned to a nixpkgs revision without store paths: Devbox locks from 2023 and
//! earlier record `resolved` (revision and attribute) and a version, or only `resolved`
//! (`"source": "nixpkg"`), and no `systems`.
//!
//! Such an entry is locked all the same: it is realized from that exact revision and attribute,
//! whose store paths come from the index's record of that revision, never from resolving the name
//! again (which would move `ruby` 3.1.4 to whatever is newest). When the index has no record of
//! the revision, the error says so and how to go on; nothing is evaluated on a `cd`.

use anyhow::{anyhow, Context as _, Result};

use super::Context;
use crate::diagnostic::ResultExt as _;
use crate::index::{Index, Resolved};
use crate::lock::{LockedPackage, LockedSystem, Output};

/// Whether `entry` is pinned to a revision and attribute but records no store paths at all.
pub fn is_pinned_without_paths(entry: &LockedPackage) -> bool {
    entry.systems.is_empty() && entry.rev().is_some() && entry.attr_path().is_some()
}

/// The index's outputs of `name` on `system` for exactly the revision and attribute `entry` is
/// pinned to (and its version, when the lock records one), as lock outputs.
pub fn outputs_from_index(
    index: &dyn Index,
    name: &str,
    entry: &LockedPackage,
    system: &str,
) -> Result<Option<(String, Vec<Output>)>> {
    let (Some(rev), Some(attr)) = (entry.rev(), entry.attr_path()) else {
        return Ok(None);
    };
    // An unversioned entry may be keyed by the attribute itself (`ruby_3_1`); the index files
    // packages by name, and a version records the attribute it came from.
    let mut candidates = vec![name.to_string()];
    if attr != name {
        candidates.push(attr.to_string());
    }
    for candidate in candidates {
        let Some(pkg) = index.package(&candidate)? else {
            continue;
        };
        let found = pkg.versions.iter().find(|v| {
            v.rev == rev
                && v.attr_path == attr
                && (entry.version.is_empty() || v.version == entry.version)
        });
        if let Some(v) = found {
            let r = Resolved::from_entry(&pkg, v, &[system]);
            let outputs = r
                .systems
                .get(system)
                .map(|s| s.outputs.clone())
                .unwrap_or_default();
            return Ok(Some((v.version.clone(), outputs)));
        }
    }
    Ok(None)
}

/// `entry` with the store paths the index records for its exact revision, on every system devenv
/// locks; `None` when the index has no build of that revision.
pub fn with_paths(
    index: &dyn Index,
    name: &str,
    entry: &LockedPackage,
) -> Result<Option<LockedPackage>> {
    let mut filled = entry.clone();
    for system in crate::system::LOCK_SYSTEMS {
        if let Some((version, outputs)) = outputs_from_index(index, name, entry, system)? {
            if !outputs.is_empty() {
                let mut outputs = outputs;
                crate::lock::sort_outputs(&mut outputs);
                filled.version = version;
                filled
                    .systems
                    .insert(system.to_string(), LockedSystem { outputs });
            }
        }
    }
    Ok((!filled.systems.is_empty()).then_some(filled))
}

/// The outputs to install of a pinned entry without store paths, looked up in the index; an
/// error naming the revision, the attribute and the way forward when the index lacks them.
pub fn complete(
    ctx: &Context,
    index: &dyn Index,
    lock_name: &str,
    (key, name): (&str, &str),
    entry: &LockedPackage,
    requested: &[String],
) -> Result<Vec<Output>> {
    let system = &ctx.settings.system;
    let rev = entry.rev().unwrap_or_default();
    let attr = entry.attr_path().unwrap_or_default();
    let version = if entry.version.is_empty() {
        String::new()
    } else {
        format!(" {}", entry.version)
    };
    let found = outputs_from_index(index, name, entry, system)?;
    let Some((_, outputs)) = found.filter(|(_, o)| !o.is_empty()) else {
        return Err(anyhow!(
            "`{lock_name}` pins `{key}`{version} to nixpkgs revision {rev} (attribute `{attr}`) without recording its store paths, and the index `{}` has no build of that revision for {system}",
            index.id()
        ))
        .context(format!("cannot install `{key}` as locked"))
        .hint(format!(
            "use an index built from revision {rev} (`devenv index build`, then --index), or lock a version the index has with `devenv update {name}` (it may change the version; in a Devbox project run `devenv init --from-devbox` first)"
        ));
    };
    let filled = LockedPackage {
        systems: [(system.value.clone(), LockedSystem { outputs })].into(),
        ..entry.clone()
    };
    ctx.printer.debug(format!(
        "`{key}` is pinned to {rev}#{attr} without store paths; the index has them"
    ));
    Ok(filled.outputs_for(system, requested))
}
