//! Nix's formats, bit-compatible with real Nix: nixbase32, hashes, store paths, NAR, narinfo and
//! signatures. Pure: no network and no policy; readers and writers stream over `Read`/`Write`.
//!
//! Each submodule's doc comment is the specification it implements, so a reader can check the
//! code against the rules without leaving the file.

pub mod hash;
pub mod nar;
pub mod narinfo;
pub mod nixbase32;
pub mod signature;
pub mod store_path;
