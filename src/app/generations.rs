//! Deleting profile generations and the GC roots that keep their store paths.
//!
//! Every generation pins its paths (a GC root named after the project and the number) until it
//! is deleted, as with Nix profiles: `devenv generations --delete …` prunes one project, and
//! `devenv gc --delete-older-than AGE` prunes every project before collecting, like
//! `nix-collect-garbage --delete-older-than`. The current generation is never deleted.

use anyhow::{Context as _, Result};

use super::activate::generation_root_name;
use super::Context;
use crate::profile::{Profile, Prune};

/// Delete the generations `which` selects from the profile of the project with `key`, and their
/// GC roots. Returns the numbers deleted.
pub fn delete(ctx: &Context, key: &str, profile: &Profile, which: &Prune) -> Result<Vec<u32>> {
    let deleted = profile.delete(which)?;
    if deleted.is_empty() {
        return Ok(deleted);
    }
    let store = super::store::open(&ctx.settings)?;
    for n in &deleted {
        store
            .remove_gc_root(&generation_root_name(key, *n))
            .map_err(super::store::explain)
            .with_context(|| format!("cannot drop the GC root of generation {n}"))?;
    }
    Ok(deleted)
}

/// [`delete`] in every project's profile; returns (project key, numbers deleted) where any were.
pub fn delete_everywhere(ctx: &Context, which: &Prune) -> Result<Vec<(String, Vec<u32>)>> {
    let mut out = Vec::new();
    for (key, profile) in Profile::all(&ctx.settings.dirs.data)? {
        let deleted = delete(ctx, &key, &profile, which)?;
        if !deleted.is_empty() {
            out.push((key, deleted));
        }
    }
    Ok(out)
}
