//! From manifest packages to index queries: which systems a package is locked for (every lock
//! system its `platforms` / `excluded_platforms` allow) and its resolution against an index.
//! Merging the result into a lock without churn is [`crate::lock::Lockfile::merge`].

use anyhow::Result;

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
