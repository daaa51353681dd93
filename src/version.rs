//! Version ordering and constraints.
//!
//! Ordering is Nix's `builtins.compareVersions`, so non-semver versions (`2024-01-01`, `1.2.3pre4`)
//! sort the way nixpkgs users expect. Constraints are exact (`2.16.5`), prefix (`2.16` = newest
//! 2.16.x, never 2.160 or 2.17), `latest`, and ranges (`^2.16`, `~2.16.1`, `>=2.15 <2.17`, using the
//! `semver` crate where versions parse as semver).
