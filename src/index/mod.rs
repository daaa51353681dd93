//! Version indexes: which versions of a package exist, and from which nixpkgs revision, attribute
//! and store paths each one comes.
//!
//! Backends sit behind one trait: the static sparse index (a directory or an http(s) URL; this
//! module's [`format`] is its file format) and a client for the Nixhub-compatible API.

pub mod build;
pub mod builder;
pub mod format;
