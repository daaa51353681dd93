//! The Nix-compatible local store: logical dir `/nix/store` under a configurable physical root,
//! filled by substituting signed NARs from binary caches.

pub mod layout;
