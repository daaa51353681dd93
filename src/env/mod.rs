//! The environment of a project: variables computed from its profile and manifest, cached per
//! project and keyed by the content hashes of manifest, lock and profile.
