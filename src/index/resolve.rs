//! From manifest packages to lock entries: resolve each wanted package against an index for every
//! system it is wanted on, and merge fresh resolutions into an existing lock without churn.
//!
//! The merge rule is Devbox's, made strict: when a re-resolved version equals the locked one, the
//! locked entry is kept as it is (same nixpkgs revision, same store paths) and only systems it lacks
//! are added, so `update` on a Linux laptop never rewrites what a macOS colleague locked. A changed
//! version replaces the whole entry, because store paths of different versions must not be mixed.

use anyhow::Result;

use super::{Index, Resolved};
use crate::lock::LockedPackage;
use crate::manifest::PackageSpec;
use crate::system::LOCK_SYSTEMS;
use crate::version::Constraint;

/// The systems a package is locked for: every lock system it is enabled on.
pub fn lock_systems(spec: &PackageSpec) -> Vec<&'static str> {
    LOCK_SYSTEMS
        .iter()
        .copied()
        .filter(|s| spec.enabled_on(s))
        .collect()
}

/// Resolve one manifest package. `Ok(None)` = the index has no package of that name.
pub fn resolve_spec(
    index: &dyn Index,
    spec: &PackageSpec,
    constraint: &Constraint,
) -> Result<Option<Resolved>> {
    index.resolve(&spec.name, constraint, &lock_systems(spec))
}

/// What merging a fresh resolution into an existing lock entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No entry existed.
    Added,
    /// Same version; the entry is untouched.
    Unchanged,
    /// Same version; these systems were missing and were added.
    SystemsAdded(Vec<String>),
    /// A different version replaced the old one.
    Upgraded { from: String },
}

/// Merge `fresh` into `old` following the module's rule.
pub fn merge(old: Option<&LockedPackage>, fresh: LockedPackage) -> (LockedPackage, Change) {
    let Some(old) = old else {
        return (fresh, Change::Added);
    };
    if old.version != fresh.version {
        return (
            fresh,
            Change::Upgraded {
                from: old.version.clone(),
            },
        );
    }
    let mut merged = old.clone();
    let mut added = Vec::new();
    for (system, outputs) in fresh.systems {
        if let std::collections::btree_map::Entry::Vacant(slot) =
            merged.systems.entry(system.clone())
        {
            added.push(system);
            slot.insert(outputs);
        }
    }
    if added.is_empty() {
        (merged, Change::Unchanged)
    } else {
        (merged, Change::SystemsAdded(added))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{LockedSystem, Output};

    fn entry(version: &str, rev: &str, systems: &[&str]) -> LockedPackage {
        LockedPackage {
            version: version.into(),
            resolved: format!("github:NixOS/nixpkgs/{rev}#jq"),
            last_modified: "2024-01-01T00:00:00Z".into(),
            source: "test".into(),
            systems: systems
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        LockedSystem {
                            outputs: vec![Output {
                                name: "out".into(),
                                path: format!("/nix/store/{s}-jq"),
                                default: true,
                            }],
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn same_version_keeps_the_revision_and_only_adds_systems() {
        let old = entry("1.7", "aaa", &["aarch64-darwin"]);
        let fresh = entry("1.7", "bbb", &["aarch64-darwin", "x86_64-linux"]);
        let (merged, change) = merge(Some(&old), fresh);
        assert_eq!(change, Change::SystemsAdded(vec!["x86_64-linux".into()]));
        assert_eq!(merged.resolved, old.resolved);
        assert_eq!(
            merged.systems["aarch64-darwin"],
            old.systems["aarch64-darwin"]
        );
        assert_eq!(merged.systems.len(), 2);
    }

    #[test]
    fn fresh_entry_missing_a_system_never_drops_the_locked_one() {
        let old = entry("1.7", "aaa", &["aarch64-darwin", "x86_64-linux"]);
        let fresh = entry("1.7", "bbb", &["x86_64-linux"]);
        let (merged, change) = merge(Some(&old), fresh);
        assert_eq!(change, Change::Unchanged);
        assert_eq!(merged, old);
    }

    #[test]
    fn new_version_replaces_the_entry() {
        let old = entry("1.6", "aaa", &["x86_64-linux"]);
        let fresh = entry("1.7", "bbb", &["x86_64-linux"]);
        let (merged, change) = merge(Some(&old), fresh.clone());
        assert_eq!(change, Change::Upgraded { from: "1.6".into() });
        assert_eq!(merged, fresh);
    }

    #[test]
    fn platforms_limit_the_locked_systems() {
        let spec = PackageSpec {
            name: "jq".into(),
            version: "latest".into(),
            platforms: vec!["x86_64-linux".into(), "aarch64-linux".into()],
            ..Default::default()
        };
        assert_eq!(lock_systems(&spec), vec!["aarch64-linux", "x86_64-linux"]);
        let spec = PackageSpec {
            excluded_platforms: vec!["x86_64-darwin".into()],
            ..spec
        };
        let spec = PackageSpec {
            platforms: vec![],
            ..spec
        };
        assert_eq!(
            lock_systems(&spec),
            vec!["aarch64-darwin", "aarch64-linux", "x86_64-linux"]
        );
    }
}
