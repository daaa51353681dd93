//! Devbox projects: `devbox.json` has the manifest's shape plus keys devenv ignores (`name`,
//! `include`, `env_from`, plugins' package options …). Loading one is [`super::load`] with the
//! Devbox dialect; [`convert`] writes the equivalent `devenv.json` for `devenv init --from-devbox`.
//!
//! Conversion edits the Devbox file in place, like `add`/`rm` do: it removes what devenv does not
//! use, one entry at a time, and points `$schema` at devenv's schema, so the user's comments,
//! order and layout carry over.

use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::{Range, Ranged};

use super::parse::{parse_ast, BOM};
use super::{edit, parse, Dialect, SCHEMA_URL};

/// Devbox's manifest file name.
pub const FILE_NAME: &str = "devbox.json";

/// A converted manifest and what was left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The new `devenv.json` text.
    pub text: String,
    /// Keys and packages devenv does not support, naming file:line:column.
    pub warnings: Vec<String>,
}

const TOP_KEYS: [&str; 4] = ["$schema", "packages", "env", "shell"];
const PACKAGE_KEYS: [&str; 4] = ["version", "platforms", "excluded_platforms", "outputs"];
const SHELL_KEYS: [&str; 2] = ["init_hook", "scripts"];

/// Devbox allows flake references and `runx:` packages, which devenv cannot resolve.
pub(crate) fn is_foreign(s: &str) -> bool {
    s.contains(':') || s.contains('#') || s.starts_with("./") || s.starts_with('/')
}

/// Convert `devbox.json` text to `devenv.json` text. Warnings name what was dropped.
pub fn convert(devbox_json: &str) -> anyhow::Result<Converted> {
    let (wanted, warnings) = parse(devbox_json, FILE_NAME, Dialect::Devbox)?;
    let (bom, mut text) = match devbox_json.strip_prefix(BOM) {
        Some(rest) => (BOM, rest.to_string()),
        None => ("", devbox_json.to_string()),
    };
    while let Some(next) = remove_one(&text)? {
        text = next;
    }
    text = edit::set_schema(&text, SCHEMA_URL)?;
    // The result must mean what the Devbox file meant, without anything devenv ignores.
    let (got, left) = parse(&text, super::FILE_NAME, Dialect::Devenv)?;
    anyhow::ensure!(
        left.is_empty()
            && got.packages == wanted.packages
            && got.env == wanted.env
            && got.init_hook == wanted.init_hook
            && got.scripts == wanted.scripts,
        "converting `{FILE_NAME}` changed its meaning; this is a bug in devenv"
    );
    Ok(Converted {
        text: format!("{bom}{text}"),
        warnings,
    })
}

/// Remove the first key or package devenv does not use; `None` when nothing is left to remove.
fn remove_one(text: &str) -> anyhow::Result<Option<String>> {
    let root =
        parse_ast(text).map_err(|i| anyhow::anyhow!("{}:{}: {}", i.line, i.column, i.message))?;
    let Value::Object(obj) = &root else {
        return Ok(None);
    };
    if let Some(i) = unknown_key(obj, &TOP_KEYS) {
        return drop_entry(text, obj.range, &prop_ranges(obj), i);
    }
    if let Some(shell) = obj.get_object("shell") {
        if let Some(i) = unknown_key(shell, &SHELL_KEYS) {
            return drop_entry(text, shell.range, &prop_ranges(shell), i);
        }
        // A `null` script has no commands; both dialects leave it out with a warning.
        if let Some(scripts) = shell.get_object("scripts") {
            let null = scripts
                .properties
                .iter()
                .position(|p| matches!(p.value, Value::NullKeyword(_)));
            if let Some(i) = null {
                return drop_entry(text, scripts.range, &prop_ranges(scripts), i);
            }
        }
    }
    match obj.get("packages").map(|p| &p.value) {
        Some(Value::Array(list)) => {
            let foreign = list.elements.iter().position(|e| match e {
                Value::StringLit(s) => is_foreign(s.value.as_ref()),
                other => matches!(other, Value::NullKeyword(_)),
            });
            if let Some(i) = foreign {
                let ranges: Vec<Range> = list.elements.iter().map(|e| e.range()).collect();
                return drop_entry(text, list.range, &ranges, i);
            }
        }
        Some(Value::Object(map)) => {
            if let Some(i) = map
                .properties
                .iter()
                .position(|p| is_foreign(p.name.as_str()))
            {
                return drop_entry(text, map.range, &prop_ranges(map), i);
            }
            for p in &map.properties {
                if let Value::Object(options) = &p.value {
                    if let Some(i) = unknown_key(options, &PACKAGE_KEYS) {
                        return drop_entry(text, options.range, &prop_ranges(options), i);
                    }
                }
            }
        }
        _ => {}
    }
    Ok(None)
}

fn unknown_key(obj: &Object, known: &[&str]) -> Option<usize> {
    obj.properties
        .iter()
        .position(|p| !known.contains(&p.name.as_str()))
}

fn prop_ranges(obj: &Object) -> Vec<Range> {
    obj.properties.iter().map(|p| p.range).collect()
}

fn drop_entry(
    text: &str,
    container: Range,
    items: &[Range],
    index: usize,
) -> anyhow::Result<Option<String>> {
    edit::remove_entry(text, container, items, index).map(Some)
}
