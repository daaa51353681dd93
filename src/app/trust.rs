//! Whether a project's inputs may act without the user asking: the policy over the trust
//! records of [`crate::shell::trust`].
//!
//! An allowance is bound to the project's real path and to the exact bytes of **both** its
//! manifest and its lock ([`Inputs::trust_content`]): the manifest says what runs in the shell,
//! the lock which store paths land on `PATH`, so a hand edit or a `git pull` of either blocks
//! automatic activation until `devenv allow`. Commands the user types that rewrite the files
//! (`add`, `rm`, `update`, `install`) carry an existing allowance over to what they wrote; they
//! never create one.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use super::{Context, Inputs, Project};
use crate::fsutil::owner::Untrusted;
use crate::shell::trust::{Trust, TrustStore};

fn store(ctx: &Context) -> TrustStore {
    TrustStore::new(&ctx.settings.dirs.data)
}

/// The trust state of these inputs of `project`; the inner error is an allowance that does not
/// count because another user could have written it.
pub fn status(
    ctx: &Context,
    project: &Project,
    inputs: &Inputs,
) -> Result<std::result::Result<Trust, Untrusted>> {
    let root = project.canonical_root()?;
    Ok(store(ctx).status(&root, &inputs.trust_content()))
}

/// The record whose existence means these inputs are allowed (the hook watches it).
pub fn allow_file(ctx: &Context, project: &Project, inputs: &Inputs) -> Result<PathBuf> {
    let root = project.canonical_root()?;
    Ok(store(ctx).allow_file(&root, &inputs.trust_content()))
}

/// Allow these inputs of `project` to activate automatically; lifts a denial. Shells in the
/// project ask again at their next prompt, also where the record replaced one that was refused
/// (its file existed all along, so the hook would not notice).
pub fn allow(ctx: &Context, project: &Project, inputs: &Inputs) -> Result<PathBuf> {
    let root = project.canonical_root()?;
    let file = store(ctx)
        .allow(&root, &inputs.trust_content())
        .context("could not record the allowance")?;
    crate::env::EnvCache::new(&ctx.settings.dirs.state).invalidate(&project.key());
    Ok(file)
}

/// Deny `project` whatever its content.
pub fn deny(ctx: &Context, project: &Project) -> Result<()> {
    let root = project.canonical_root()?;
    store(ctx)
        .deny(&root)
        .context("could not record the denial")
}

/// Keep automatic activation for a project the user had allowed across a change the user typed
/// (`add`, `rm`, `update`, or `install` resolving a stale lock): consent to `before` becomes
/// consent to `after`. A project that was not allowed, or was denied, stays as it was.
pub fn carry(ctx: &Context, project: &Project, before: &Inputs, after: &Inputs) -> Result<()> {
    let (old, new) = (before.trust_content(), after.trust_content());
    if old == new {
        return Ok(());
    }
    let Ok(root) = project.canonical_root() else {
        return Ok(());
    };
    let trust = store(ctx);
    if trust.status(&root, &old) == Ok(Trust::Allowed) {
        trust
            .allow(&root, &new)
            .with_context(|| format!("cannot record `{}` as allowed", root.display()))?;
    }
    Ok(())
}
