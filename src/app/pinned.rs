//! Lock entries pinned to a nixpkgs revision without store paths: Devbox locks from 2023 and
//! earlier record `resolved` (revision and attribute) and a version, or only `resolved`
//! (`"source": "nixpkg"`), and no `systems`.
//!
//! Such an entry is locked all the same: it is realized from that exact revision and attribute,
//! whose store paths come from the index's record of that revision, never from resolving the name
//! again (which would move `ruby` 3.1.4 to whatever is newest). When the index has no record of
//! the revision, `devenv install` typed by the user evaluates the attribute from that revision
//! with the installed Nix (as it may build) and remembers the answer in the cache directory, so
//! later activations install the same paths; a `cd` or `run` never evaluates, and says how to go
//! on.

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

/// The outputs to install of a pinned entry without store paths, looked up in the index, or (with
/// `installable`, only under `devenv install` typed by the user) evaluated by the installed Nix
/// from that revision; an error naming the revision, the attribute and the way forward otherwise.
pub fn complete(
    ctx: &Context,
    index: &dyn Index,
    lock_name: &str,
    (key, name): (&str, &str),
    entry: &LockedPackage,
    requested: &[String],
    installable: Option<&str>,
) -> Result<Vec<Output>> {
    let system = &ctx.settings.system;
    let rev = entry.rev().unwrap_or_default();
    let attr = entry.attr_path().unwrap_or_default();
    let version = if entry.version.is_empty() {
        String::new()
    } else {
        format!(", version {}", entry.version)
    };
    let mut found = outputs_from_index(index, name, entry, system)?.filter(|(_, o)| !o.is_empty());
    let remembered = ctx
        .settings
        .dirs
        .cache
        .join("evaluated")
        .join(format!("{}.json", evaluation_key(rev, attr, system)));
    if found.is_none() {
        found = read_evaluation(&remembered).map(|o| (entry.version.clone(), o));
    }
    if found.is_none() {
        if let Some(installable) = installable {
            ctx.printer.info(format!(
                "evaluating {installable} with Nix: the index has no build of `{key}` from that revision"
            ));
            let evaluated = crate::store::nix::eval_outputs(installable)
                .with_context(|| format!("cannot evaluate `{key}` as locked"))?;
            let outputs = evaluated
                .into_iter()
                .map(|(name, path, default)| Output {
                    name,
                    path,
                    default,
                })
                .collect::<Vec<_>>();
            for o in &outputs {
                crate::lock::validate::field(
                    format!("outputs of {installable}"),
                    crate::lock::validate::store_path(&o.path),
                )
                .map_err(|e| anyhow!("{e}"))?;
            }
            // Remembered, so later activations (which never evaluate) install the same paths.
            if let Some(dir) = remembered.parent() {
                std::fs::create_dir_all(dir)
                    .and_then(|()| {
                        crate::fsutil::write_atomic(
                            &remembered,
                            &serde_json::to_vec(&outputs).unwrap_or_default(),
                        )
                    })
                    .with_context(|| format!("cannot write `{}`", remembered.display()))?;
            }
            found = Some((entry.version.clone(), outputs)).filter(|(_, o)| !o.is_empty());
        }
    }
    let Some((_, outputs)) = found else {
        return Err(anyhow!(
            "`{lock_name}` pins `{key}` to nixpkgs revision {rev} (attribute `{attr}`{version}) without recording its store paths, and the index `{}` has no build of that revision for {system}",
            index.id()
        ))
        .context(format!("cannot install `{key}` as locked"))
        .hint(format!(
            "`devenv install` (typed by you, with Nix installed) evaluates it from that revision; or use an index built from revision {rev} (`devenv index build`, then --index), or lock a version the index has with `devenv update {name}` (it may change the version; in a Devbox project run `devenv init --from-devbox` first)"
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

/// The name of a remembered evaluation: revision, attribute and system, hashed (an attribute may
/// hold quotes).
fn evaluation_key(rev: &str, attr: &str, system: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{rev}#{attr}@{system}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The outputs an earlier `devenv install` evaluated, if it did and they follow the lock's rules.
fn read_evaluation(file: &std::path::Path) -> Option<Vec<Output>> {
    let bytes = crate::fsutil::read_input(file, 1 << 20, "an evaluation").ok()??;
    let outputs: Vec<Output> = serde_json::from_slice(&bytes).ok()?;
    let valid = outputs
        .iter()
        .all(|o| crate::lock::validate::store_path(&o.path).is_ok() && !o.name.is_empty());
    (valid && !outputs.is_empty()).then_some(outputs)
}
