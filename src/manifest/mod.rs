//! `devenv.json`, the manifest people write: what packages, environment and scripts a project wants.
//!
//! Owns parsing (JSON with comments and trailing commas, errors with line:column) into [`Manifest`],
//! and in-place edits for `add`/`rm` that keep every byte they do not touch.

use std::collections::BTreeMap;

/// The manifest file name.
pub const FILE_NAME: &str = "devenv.json";

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `$schema`, kept so tools can find the schema.
    pub schema: Option<String>,
    /// Packages in file order.
    pub packages: Vec<PackageSpec>,
    /// `env` in file order (later entries may refer to earlier ones).
    pub env: Vec<(String, String)>,
    /// `shell.init_hook`, one command per element.
    pub init_hook: Vec<String>,
    /// `shell.scripts`: name → commands.
    pub scripts: BTreeMap<String, Vec<String>>,
}

/// One wanted package: `"ansible@2.16.5"` in the list form, or a key of the map form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSpec {
    pub name: String,
    /// The version constraint as written (`2.16.5`, `2.16`, `^2.16`, `latest`).
    pub version: String,
    /// Only on these systems (empty = all).
    pub platforms: Vec<String>,
    /// Never on these systems.
    pub excluded_platforms: Vec<String>,
    /// Outputs to install (empty = the index's default outputs).
    pub outputs: Vec<String>,
}

impl PackageSpec {
    /// The key of this package's lock entry: `name@version`.
    pub fn lock_key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Whether the package is wanted on `system`.
    pub fn enabled_on(&self, system: &str) -> bool {
        (self.platforms.is_empty() || self.platforms.iter().any(|p| p == system))
            && !self.excluded_platforms.iter().any(|p| p == system)
    }
}
