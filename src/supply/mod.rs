//! The supply chain of an environment, from its lock: the runtime closure with each path's NAR
//! hash, references and signatures ([`closure`]), software bills of materials ([`sbom`]), SLSA
//! provenance ([`provenance`]) and OCI images built without a container runtime ([`image`]).
//!
//! Nothing here reads the project or opens the store: `app::supply` hands in the closure (facts
//! from the store database, or from binary caches' signed narinfos when a path is not
//! installed) and where paths are on disk. Every output is deterministic: sorted, timestamps from
//! the lock, fixed file metadata.

pub mod closure;
pub mod image;
pub mod provenance;
pub mod sbom;
pub mod tar;
