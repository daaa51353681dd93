//! `devenv.json`, the manifest people write: what packages, environment and scripts a project wants.
//!
//! Owns parsing (JSON with comments and trailing commas, errors with line:column) into [`Manifest`],
//! the rules for package arguments (`name@constraint`), the `init` template, and — in [`edit`] —
//! in-place edits for `add`/`rm` that keep every byte they do not touch. [`devbox`] reads and
//! converts Devbox's `devbox.json`, which has the same shape plus keys devenv ignores.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::diagnostic::ResultExt;
use crate::version::Constraint;

pub mod devbox;
pub mod edit;
mod parse;

pub use parse::line_col;

/// The manifest file name.
pub const FILE_NAME: &str = "devenv.json";

/// Where `$schema` in new manifests points.
pub const SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/devenv-rs/devenv/main/schemas/devenv.schema.json";

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
    /// Devbox's `include`: plugins, in file order.
    pub include: Vec<Include>,
    /// Packages whose built-in plugin Devbox's `disable_plugin` turns off.
    pub disabled_plugins: Vec<String>,
}

/// One entry of Devbox's `include` (`plugin:python`, `path:./plugins/x.json`, ...), with the
/// position it was written at so a problem with it can name `devbox.json:line:column`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Include {
    pub reference: String,
    pub line: usize,
    pub column: usize,
}

impl Manifest {
    /// The package named `name`, if the manifest wants it.
    pub fn package(&self, name: &str) -> Option<&PackageSpec> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// The packages wanted on `system` (honouring `platforms` / `excluded_platforms`).
    pub fn packages_for<'a>(&'a self, system: &'a str) -> impl Iterator<Item = &'a PackageSpec> {
        self.packages.iter().filter(move |p| p.enabled_on(system))
    }
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
    /// A package wanted at `version` on every system with its default outputs.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: version.into(),
            ..PackageSpec::default()
        }
    }

    /// The key of this package's lock entry: `name@version`.
    pub fn lock_key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// Whether the package is wanted on `system`.
    pub fn enabled_on(&self, system: &str) -> bool {
        (self.platforms.is_empty() || self.platforms.iter().any(|p| p == system))
            && !self.excluded_platforms.iter().any(|p| p == system)
    }

    /// The parsed version constraint.
    pub fn constraint(&self) -> Result<Constraint, crate::version::ConstraintError> {
        Constraint::parse(&self.version)
    }

    /// Whether the entry needs the map form (`platforms`, `excluded_platforms` or `outputs` set).
    pub fn has_options(&self) -> bool {
        !self.platforms.is_empty()
            || !self.excluded_platforms.is_empty()
            || !self.outputs.is_empty()
    }

    /// Check the name, constraint and platform lists; the message names the offending value.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name)?;
        Constraint::parse(&self.version).map_err(|e| e.to_string())?;
        if !self.platforms.is_empty() && !self.excluded_platforms.is_empty() {
            return Err(format!(
                "`{}` sets both `platforms` and `excluded_platforms`; use one of them",
                self.name
            ));
        }
        for system in self.platforms.iter().chain(&self.excluded_platforms) {
            validate_system(system)?;
        }
        for output in &self.outputs {
            if output.is_empty()
                || !output
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("`{output}` is not a valid output name"));
            }
        }
        Ok(())
    }
}

/// A manifest as loaded from disk: the parsed value, the exact text (for in-place edits) and
/// warnings (unknown or ignored keys) naming file:line:column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    pub text: String,
    pub warnings: Vec<String>,
}

/// Which file a manifest text comes from; Devbox files may hold keys devenv ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Devenv,
    Devbox,
}

/// Read and parse a manifest (`devenv.json`, or `devbox.json` by file name). Invalid JSON and wrong
/// types are bad input naming file:line:column; unknown keys become warnings.
pub fn load(path: &Path) -> anyhow::Result<LoadedManifest> {
    let text = read_text(path)?;
    let dialect = if path.file_name().is_some_and(|n| n == devbox::FILE_NAME) {
        Dialect::Devbox
    } else {
        Dialect::Devenv
    };
    let (manifest, warnings) = parse(&text, &path.display().to_string(), dialect)?;
    Ok(LoadedManifest {
        manifest,
        text,
        warnings,
    })
}

/// The text of a manifest file, read with the [`crate::limits::MAX_MANIFEST_BYTES`] bound (it is
/// read on every `cd`, before anyone allowed it); bad input when it is too large or not UTF-8.
pub fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    crate::fsutil::read_input(path, crate::limits::MAX_MANIFEST_BYTES, "the manifest")?.ok_or_else(
        || {
            anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound))
                .context(format!("could not read the manifest `{}`", path.display()))
        },
    )
}

/// [`read_bytes`] as UTF-8 text.
pub fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = read_bytes(path)?;
    utf8(bytes, &path.display().to_string())
        .with_context(|| format!("`{}` is not a valid manifest", path.display()))
        .hint("save the file as UTF-8")
        .bad_input()
}

/// The text of a file, or an error naming the line and column of the first byte that is not UTF-8.
pub(crate) fn utf8(bytes: Vec<u8>, file: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        // The prefix up to `valid` is UTF-8 by definition.
        let prefix = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let (line, column) = line_col(prefix, valid);
        anyhow::anyhow!("{file}:{line}:{column}: the file is not valid UTF-8")
    })
}

/// Replace the manifest with edited text (atomically, only if it changed); returns whether it
/// wrote.
pub fn write(path: &Path, text: &str) -> anyhow::Result<bool> {
    crate::fsutil::write_if_changed(path, text.as_bytes())
        .with_context(|| format!("could not write the manifest `{}`", path.display()))
}

/// Parse manifest text; `file` names the file in messages.
pub fn parse(text: &str, file: &str, dialect: Dialect) -> anyhow::Result<(Manifest, Vec<String>)> {
    parse::parse(text, dialect)
        .map(|parsed| {
            let warnings = parsed
                .warnings
                .into_iter()
                .map(|w| format!("{file}:{}:{}: {}", w.line, w.column, w.message))
                .collect();
            (parsed.manifest, warnings)
        })
        .map_err(|issue| {
            anyhow::anyhow!("{file}:{}:{}: {}", issue.line, issue.column, issue.message)
        })
        .with_context(|| format!("`{file}` is not a valid manifest"))
        .hint(format!(
            "fix `{file}` at the position shown and run the command again"
        ))
        .bad_input()
}

/// The text `devenv init` writes.
pub fn template() -> String {
    format!(
        "{{\n  \"$schema\": \"{SCHEMA_URL}\",\n  \"packages\": [],\n  \"env\": {{}},\n  \"shell\": {{\n    \"init_hook\": [],\n    \"scripts\": {{}}\n  }}\n}}\n"
    )
}

/// Split a command-line package argument `name[@constraint]` at the last `@`. A bare name means
/// `latest`. Rejects `pkg@`, `@1.0`, empty names and characters nixpkgs attribute names never have,
/// naming the value (bad input).
pub fn parse_package_arg(arg: &str) -> anyhow::Result<(String, String)> {
    split_package(arg)
        .map_err(anyhow::Error::msg)
        .hint("write a package as `name` or `name@version`, e.g. `ansible@2.16.5`, `jq@latest` or `python3@^3.11`")
        .bad_input()
}

fn split_package(arg: &str) -> Result<(String, String), String> {
    if arg.trim().is_empty() {
        return Err("the package argument is empty".to_string());
    }
    let (name, version) = match arg.rsplit_once('@') {
        Some((name, version)) => {
            if name.is_empty() {
                return Err(format!("`{arg}` has no package name before `@`"));
            }
            if version.is_empty() {
                return Err(format!(
                    "`{arg}` has no version after `@` (leave out the `@` or write `{name}@latest` for the newest)"
                ));
            }
            (name, version)
        }
        None => (arg, "latest"),
    };
    if name.contains(':') || name.contains('#') {
        return Err(format!(
            "`{arg}` looks like a flake reference; devenv installs nixpkgs packages by name, like `hello` or `hello@2.12`"
        ));
    }
    validate_name(name).map_err(|e| {
        if name == arg {
            e
        } else {
            format!("in `{arg}`: {e}")
        }
    })?;
    Constraint::parse(version).map_err(|e| format!("in `{arg}`: {e}"))?;
    Ok((name.to_string(), version.to_string()))
}

/// Package names are nixpkgs attribute paths: `ansible`, `python312Packages.pip`, `gtk+3`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the package name is empty".to_string());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '\'' | '+')))
    {
        let what = match c {
            c if c.is_whitespace() => "whitespace".to_string(),
            c => format!("`{c}`"),
        };
        return Err(format!(
            "`{name}` is not a valid package name: it contains {what}, which nixpkgs attribute names never have"
        ));
    }
    let starts_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    if !starts_ok || name.ends_with('.') || name.contains("..") {
        return Err(format!(
            "`{name}` is not a valid package name: each part of an attribute path starts with a letter, digit or `_`"
        ));
    }
    Ok(())
}

/// Platform names must be systems devenv knows.
pub fn validate_system(system: &str) -> Result<(), String> {
    if crate::system::is_known(system) {
        Ok(())
    } else {
        Err(format!(
            "`{system}` is not a known platform (known: {})",
            crate::system::KNOWN_SYSTEMS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests;
