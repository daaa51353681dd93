//! The static sparse index format, shared by readers and by `devenv index build` / `publish`:
//!
//! - `index.json` = `{"format": 1, …}` (more keys allowed);
//! - `names.jsonl` = one [`NameLine`] per line, for `search`;
//! - `packages/<name>.json` = one [`PackageFile`] per package name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lock::Output;

/// The format version this build reads and writes.
pub const FORMAT: u64 = 1;

/// `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: u64,
    /// Other keys (systems, revisions covered, …) kept as they are.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A line of `names.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameLine {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    pub latest: String,
    /// The attribute `latest` comes from (absent in indexes written before it was recorded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub attr_path: String,
}

/// `packages/<name>.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFile {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub homepage: String,
    #[serde(default)]
    pub license: Vec<String>,
    pub versions: Vec<VersionEntry>,
}

/// One version of a package and where it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEntry {
    pub version: String,
    pub attr_path: String,
    /// 40-hex nixpkgs commit.
    pub rev: String,
    /// RFC 3339 commit date.
    pub last_modified: String,
    pub systems: BTreeMap<String, SystemOutputs>,
}

/// The outputs of one version on one system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemOutputs {
    pub outputs: Vec<Output>,
}
