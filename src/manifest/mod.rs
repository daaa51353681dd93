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

// --- interim reader/editor (plain JSON, list form) until the full JSONC implementation lands ---

use std::path::Path;

use anyhow::{anyhow, Context as _};

use crate::diagnostic::ResultExt;

/// A manifest as read from disk.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    pub text: String,
    pub warnings: Vec<String>,
}

/// Split `name@version` at the last `@`.
pub fn parse_package_arg(arg: &str) -> anyhow::Result<(String, String)> {
    let (name, version) = match arg.rsplit_once('@') {
        Some((n, v)) => (n, v),
        None => (arg, "latest"),
    };
    let ok = !name.is_empty()
        && !version.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if !ok {
        return Err(anyhow!("`{arg}` is not a valid package"))
            .hint("write `name` or `name@version`, e.g. `ansible@2.16.5`")
            .bad_input();
    }
    Ok((name.to_string(), version.to_string()))
}

pub fn load(path: &Path) -> anyhow::Result<LoadedManifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
        .bad_input()?;
    let mut m = Manifest::default();
    if let Some(list) = v.get("packages").and_then(|p| p.as_array()) {
        for p in list {
            let (name, version) = parse_package_arg(p.as_str().unwrap_or(""))?;
            m.packages.push(PackageSpec {
                name,
                version,
                ..Default::default()
            });
        }
    }
    Ok(LoadedManifest {
        manifest: m,
        text,
        warnings: vec![],
    })
}

/// `devenv init`'s starting manifest.
pub fn template() -> String {
    "{\n  \"packages\": []\n}\n".to_string()
}

pub mod edit {
    use super::PackageSpec;

    pub fn add_package(text: &str, spec: &PackageSpec) -> anyhow::Result<String> {
        let mut v: serde_json::Value = serde_json::from_str(text)?;
        let list = v["packages"].as_array_mut().unwrap();
        list.retain(|p| {
            super::parse_package_arg(p.as_str().unwrap_or(""))
                .map(|(n, _)| n != spec.name)
                .unwrap_or(true)
        });
        list.push(serde_json::json!(spec.lock_key()));
        Ok(serde_json::to_string_pretty(&v)? + "\n")
    }

    pub fn remove_package(text: &str, name: &str) -> anyhow::Result<Option<String>> {
        let mut v: serde_json::Value = serde_json::from_str(text)?;
        let list = v["packages"].as_array_mut().unwrap();
        let before = list.len();
        list.retain(|p| {
            super::parse_package_arg(p.as_str().unwrap_or(""))
                .map(|(n, _)| n != name)
                .unwrap_or(true)
        });
        if list.len() == before {
            return Ok(None);
        }
        Ok(Some(serde_json::to_string_pretty(&v)? + "\n"))
    }
}

pub mod devbox {
    pub fn convert(text: &str) -> anyhow::Result<String> {
        Ok(text.to_string())
    }
}
