//! Whether a lock is up to date with a manifest, and how fresh resolutions merge into a lock.
//!
//! `install --frozen` refuses to run on a stale lock; `add`/`update` re-resolve exactly the stale
//! entries and drop unused ones. Merging never drops another system's outputs: a colleague on
//! macOS who runs `update` against an index that only answers for some systems keeps the Linux
//! entries of an unchanged version.

use std::collections::BTreeSet;

use super::{LockedPackage, Lockfile};
use crate::manifest::Manifest;

/// What differs between a manifest and its lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockStatus {
    /// Lock keys of manifest packages without an entry (new packages, or a changed constraint).
    pub missing: Vec<String>,
    /// Lock keys whose entry no longer satisfies the manifest (a version outside the constraint,
    /// or no revision and attribute at all, as in Devbox entries it never resolved).
    pub stale: Vec<String>,
    /// Lock keys no manifest package uses.
    pub unused: Vec<String>,
}

/// The short answer of [`LockStatus::freshness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Every manifest package has a fitting entry and nothing else is locked.
    UpToDate,
    /// The lock must be updated.
    Outdated,
}

impl LockStatus {
    pub fn freshness(&self) -> Freshness {
        if self.missing.is_empty() && self.stale.is_empty() && self.unused.is_empty() {
            Freshness::UpToDate
        } else {
            Freshness::Outdated
        }
    }

    pub fn is_up_to_date(&self) -> bool {
        self.freshness() == Freshness::UpToDate
    }

    /// Lock keys that need resolving: missing and stale, in that order.
    pub fn to_resolve(&self) -> Vec<String> {
        self.missing.iter().chain(&self.stale).cloned().collect()
    }
}

/// Compare a manifest with its lock.
pub fn check(manifest: &Manifest, lock: &Lockfile) -> LockStatus {
    let mut status = LockStatus::default();
    let mut wanted = BTreeSet::new();
    for spec in &manifest.packages {
        let key = spec.lock_key();
        wanted.insert(key.clone());
        match lock.packages.get(&key) {
            None => status.missing.push(key),
            Some(entry) => {
                // An old Devbox entry may be pinned to a revision without a version (`"source":
                // "nixpkg"`) or store paths: it is still locked, and installed from that revision.
                let fits = spec.constraint().is_ok_and(|c| {
                    c.matches(&entry.version) || (entry.version.is_empty() && c.is_latest())
                });
                if !fits || entry.rev().is_none() || entry.attr_path().is_none() {
                    status.stale.push(key);
                }
            }
        }
    }
    status.unused = lock
        .packages
        .keys()
        .filter(|k| !wanted.contains(*k))
        .cloned()
        .collect();
    status
}

/// What [`Lockfile::merge`] did with an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The key was not locked before.
    Added,
    /// Same entry as before.
    Unchanged,
    /// Same version; these systems were added, the existing ones kept as they were.
    SystemsAdded(Vec<String>),
    /// A different version replaced the old entry (old systems' outputs belonged to the old version).
    Updated { from: String, to: String },
}

impl Lockfile {
    /// Merge a fresh resolution for `key`. For an unchanged version the locked revision and
    /// outputs stay and only systems the lock did not have are added, so a partial answer never
    /// drops another system's entries.
    pub fn merge(&mut self, key: &str, fresh: LockedPackage) -> MergeOutcome {
        let Some(existing) = self.packages.get_mut(key) else {
            self.packages.insert(key.to_string(), fresh);
            return MergeOutcome::Added;
        };
        if existing.version == fresh.version && !existing.resolved.is_empty() {
            let mut added = Vec::new();
            for (system, outputs) in fresh.systems {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    existing.systems.entry(system)
                {
                    added.push(slot.key().clone());
                    slot.insert(outputs);
                }
            }
            return if added.is_empty() {
                MergeOutcome::Unchanged
            } else {
                MergeOutcome::SystemsAdded(added)
            };
        }
        let from = std::mem::replace(existing, fresh);
        MergeOutcome::Updated {
            from: from.version,
            to: existing.version.clone(),
        }
    }

    /// Drop entries no manifest package uses; returns the dropped keys.
    pub fn retain_manifest(&mut self, manifest: &Manifest) -> Vec<String> {
        let wanted: BTreeSet<String> = manifest.packages.iter().map(|p| p.lock_key()).collect();
        let dropped: Vec<String> = self
            .packages
            .keys()
            .filter(|k| !wanted.contains(*k))
            .cloned()
            .collect();
        for k in &dropped {
            self.packages.remove(k);
        }
        dropped
    }
}
