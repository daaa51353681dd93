//! Garbage collection: delete the valid paths that no GC root reaches.
//!
//! Roots are the `GcRoots` rows (project locks, profile generations); a root tied to a file (a
//! project's `devenv.lock`) dies with that file. Everything reachable from a live root through
//! references stays. Runs under the exclusive `gc.lock`, so it never races an install, which
//! holds the lock shared from the first download until its root is recorded. Paths are
//! unregistered first and deleted second: a crash in between leaves only unregistered files,
//! which the next substitution of that path replaces.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Result;

use super::{db, locks, substitute, LocalStore};

/// What a collection did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Deleted paths, sorted.
    pub deleted: Vec<String>,
    /// Sum of their NAR sizes (what they occupy, before file system overhead).
    pub bytes_freed: u64,
    /// Roots dropped because the file they were tied to is gone.
    pub dead_roots: Vec<String>,
    /// Valid paths kept.
    pub kept: usize,
    /// Unreachable paths also valid in a Nix database sharing the root: dropped from ours, their
    /// files left for Nix's own garbage collector (deleting them would corrupt Nix's view).
    pub left_to_nix: Vec<String>,
}

/// Collect garbage. With `older_than`, only paths registered at least that long ago are deleted
/// (and everything they reference is kept), so a fresh download is never collected by accident.
pub fn collect(
    store: &LocalStore,
    older_than: Option<Duration>,
    dry_run: bool,
) -> Result<GcReport> {
    let _gc = locks::exclusive(&store.state_dir().join("gc.lock"))?;
    let mut db = store.db();
    let mut report = GcReport::default();
    let mut live_roots: BTreeSet<String> = BTreeSet::new();
    for root in db.roots()? {
        match &root.link {
            Some(link) if std::fs::symlink_metadata(link).is_err() => {
                report.dead_roots.push(root.name.clone());
            }
            _ => live_roots.extend(root.paths),
        }
    }
    let brief = db.all_brief()?;
    let cutoff = older_than.map(|d| db::now_secs() - d.as_secs() as i64);
    if let Some(cutoff) = cutoff {
        for (path, time, _) in &brief {
            if *time > cutoff {
                live_roots.insert(path.clone());
            }
        }
    }
    let edges: BTreeMap<String, BTreeSet<String>> = db.all_edges()?;
    let mut live: BTreeSet<String> = BTreeSet::new();
    let mut stack: Vec<String> = live_roots.into_iter().collect();
    while let Some(p) = stack.pop() {
        if live.insert(p.clone()) {
            if let Some(refs) = edges.get(&p) {
                stack.extend(refs.iter().filter(|r| !live.contains(*r)).cloned());
            }
        }
    }
    let nix_shares_root = super::nix::shared_nix_db(&store.layout().root).is_some();
    for (path, _, size) in &brief {
        if live.contains(path) {
            report.kept += 1;
        } else if nix_shares_root
            && super::nix::nix_valid_info(&store.layout().root, path).is_some()
        {
            report.left_to_nix.push(path.clone());
        } else {
            report.deleted.push(path.clone());
            report.bytes_freed += size;
        }
    }
    if dry_run {
        return Ok(report);
    }
    for name in &report.dead_roots {
        db.remove_root(name)?;
    }
    let mut unregister = report.deleted.clone();
    unregister.extend(report.left_to_nix.iter().cloned());
    db.unregister(&unregister)?;
    drop(db);
    super::nix::sync_nix_roots(store)?;
    for path in &report.deleted {
        substitute::remove_tree(&store.layout().real_path(path))?;
    }
    crate::fsutil::sync_dir(&store.layout().store_dir())?;
    Ok(report)
}

/// Parse `30d`, `12h`, `2w`, `90m`, `45s` (or anything `humantime` reads).
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Some(n) = t.strip_suffix('d').and_then(|n| n.parse::<u64>().ok()) {
        return Ok(Duration::from_secs(n * 86400));
    }
    if let Some(n) = t.strip_suffix('w').and_then(|n| n.parse::<u64>().ok()) {
        return Ok(Duration::from_secs(n * 7 * 86400));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("invalid age `{text}` ({e}); use e.g. `30d`, `12h` or `2w`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ages() {
        assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86400));
        assert_eq!(parse_age("2w").unwrap(), Duration::from_secs(14 * 86400));
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert!(parse_age("soon").unwrap_err().contains("`soon`"));
    }
}
