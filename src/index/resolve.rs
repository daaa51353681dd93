//! From manifest packages to index queries: which systems a package is locked for (every lock
//! system its `platforms` / `excluded_platforms` allow) and its resolution against an index.
//! Merging the result into a lock without churn is [`crate::lock::Lockfile::merge`].

use anyhow::{anyhow, Result};

use super::{Index, Resolved};
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

/// Check a resolution can serve the spec: built for at least one wanted system, and every
/// requested output exists. Errors name the package, version and what is missing (bad input).
pub fn check_usable(spec: &PackageSpec, resolved: &Resolved) -> Result<()> {
    use crate::diagnostic::ResultExt;
    if resolved.systems.is_empty() {
        return Err(anyhow!(
            "{} {} has no build in the index for any system it is wanted on ({})",
            spec.name,
            resolved.version,
            lock_systems(spec).join(", ")
        ))
        .hint("choose another version (`devenv info <pkg>` lists them with their systems) or other platforms")
        .bad_input();
    }
    let mut known: Vec<&str> = resolved
        .systems
        .values()
        .flat_map(|s| s.outputs.iter().map(|o| o.name.as_str()))
        .collect();
    known.sort_unstable();
    known.dedup();
    let missing: Vec<&str> = spec
        .outputs
        .iter()
        .map(String::as_str)
        .filter(|o| !known.contains(o))
        .collect();
    if !missing.is_empty() {
        return Err(anyhow!(
            "{} {} has no output named {}",
            spec.name,
            resolved.version,
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .hint(format!("its outputs are: {}", known.join(", ")))
        .bad_input();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
