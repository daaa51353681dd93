//! Durability of fetched paths without making installs wait for the disk.
//!
//! A fetched path is registered as soon as it is verified and renamed into place, while its
//! files may still be only in the page cache. That is safe against a killed process (the kernel
//! still writes the files) but not against a power failure or kernel crash, after which the
//! database could list a path whose files never reached the disk. Flushing everything before
//! registering (`syncfs`) closes that gap but costs as long as the disk takes to write the whole
//! closure, which on a small machine is a third of an install.
//!
//! So each such registration also records the kernel's boot id, in the same transaction (the
//! `Unflushed` table). A crash that could lose page-cache data is always followed by a new
//! boot, so the next install that finds rows of another boot re-hashes those paths against
//! their registered NAR hash, and unregisters the damaged ones with everything referring to
//! them; the files stay as leftovers that the fetch replaces. Rows of the current boot are
//! settled once they are older than [`SETTLE_AFTER`]: one `syncfs` (by then the kernel has
//! written them back on its own, so it is quick) and they are dropped. Where the boot id cannot
//! be read, fetched paths are flushed before they are registered instead.

use anyhow::Result;

use super::{db, locks, substitute, LocalStore};

/// Rows of the current boot younger than this are left alone: the kernel writes dirty data
/// back within 30 s by default, so after this an `syncfs` rarely has anything to wait for.
pub const SETTLE_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// Environment variable that replaces the kernel's boot id (empty: unknown). It exists so tests
/// can stand for a restart; nothing else should set it.
pub const BOOT_ID_ENV: &str = crate::variables::BOOT_ID;

/// The id of the running kernel's boot, if it can be known.
pub fn boot_id() -> Option<String> {
    if let Some(v) = std::env::var_os(BOOT_ID_ENV) {
        let v = v.to_string_lossy().trim().to_string();
        return (!v.is_empty()).then_some(v);
    }
    crate::boot_id::kernel_boot_id()
}

/// What [`settle`] did.
#[derive(Debug, Default)]
pub struct Settled {
    /// Paths registered before a restart whose files did not survive it, and the paths
    /// referring to them; no longer valid, so the next fetch replaces them. Sorted.
    pub invalidated: Vec<String>,
}

/// Check or confirm the paths registered without a flush (see the module docs). Cheap when there
/// is nothing to do: one query. Takes the GC lock exclusively while it works, so no install is
/// registering paths meanwhile.
pub fn settle(store: &LocalStore) -> Result<Settled> {
    let current = store.boot_id.as_deref();
    let settle_by = db::now_secs() - SETTLE_AFTER.as_secs() as i64;
    if store.db().unflushed_due(current, settle_by)?.is_empty() {
        return Ok(Settled::default());
    }
    let _gc = locks::exclusive(&store.state_dir.join("gc.lock"))?;
    // Another process may have settled them while this one waited for the lock.
    let rows = store.db().unflushed_due(current, settle_by)?;
    let (this_boot, earlier): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| Some(r.boot_id.as_str()) == current);
    if !this_boot.is_empty() {
        substitute::sync_fs(&store.layout.store_dir())?;
        let paths: Vec<String> = this_boot.into_iter().map(|r| r.path).collect();
        store.db().clear_unflushed(&paths)?;
    }
    let mut intact = Vec::new();
    let mut damaged = Vec::new();
    for row in earlier {
        if survived(store, &row.path)? {
            intact.push(row.path);
        } else {
            damaged.push(row.path);
        }
    }
    store.db().clear_unflushed(&intact)?;
    let invalidated = if damaged.is_empty() {
        Vec::new()
    } else {
        let mut db = store.db();
        let doomed = db.with_referrers(&damaged)?;
        db.unregister(&doomed)?;
        doomed
    };
    Ok(Settled { invalidated })
}

/// Whether `path`'s files on disk still hash to its registered NAR hash and size.
fn survived(store: &LocalStore, path: &str) -> Result<bool> {
    let Some(info) = store.path_info(path)? else {
        return Ok(true);
    };
    let real = store.layout.real_path(path);
    match crate::nix::nar::writer::dump_hash(&real) {
        Ok((hash, size)) => {
            Ok(format!("sha256:{}", hash.to_hex()) == info.nar_hash_hex && size == info.nar_size)
        }
        Err(_) => Ok(false),
    }
}

/// Flush the store's file system and forget the unflushed rows of this boot: for handing paths
/// to a program that cannot check them after a restart (a Nix installation sharing the store).
pub fn flush_all(store: &LocalStore) -> Result<()> {
    let rows = store.db().unflushed()?;
    if rows.is_empty() {
        return Ok(());
    }
    substitute::sync_fs(&store.layout.store_dir())?;
    let current = store.boot_id.as_deref();
    let paths: Vec<String> = rows
        .into_iter()
        .filter(|r| Some(r.boot_id.as_str()) == current)
        .map(|r| r.path)
        .collect();
    store.db().clear_unflushed(&paths)
}
