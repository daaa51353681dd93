//! The user config file, `<config dir>/config.json`: one optional key per knob, checked as it is
//! parsed so a bad value is reported with the file's line and column.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use jsonc_parser::common::Ranged as _;
use serde::Deserialize;

use super::{MAX_HTTP_RETRIES, MAX_HTTP_TIMEOUT_SECS, MAX_JOBS};
use crate::diagnostic::ResultExt;

use crate::variables::KNOBS;

/// The user config file. Every key is optional; unknown keys are refused (a typo must not be
/// silently ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub index: Option<String>,
    pub substituters: Option<Vec<String>>,
    pub trusted_public_keys: Option<Vec<String>>,
    pub store_root: Option<PathBuf>,
    pub store_mode: Option<super::StoreMode>,
    pub system: Option<String>,
    /// Seconds.
    pub http_timeout: Option<f64>,
    pub http_retries: Option<u32>,
    pub jobs: Option<usize>,
    pub offline: Option<bool>,
    pub nixpkgs: Option<PathBuf>,
    pub nix_env: Option<String>,
}

impl ConfigFile {
    /// Read the config file; a missing file is an empty config. Bounded in size
    /// ([`crate::limits::MAX_CONFIG_BYTES`]) and nesting like every file devenv parses.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let limit = crate::limits::MAX_CONFIG_BYTES;
        let Some(bytes) = crate::fsutil::read_input(path, limit, "the user config file")? else {
            return Ok(ConfigFile::default());
        };
        let text = crate::manifest::utf8(bytes, &path.display().to_string())
            .context("invalid user config file")
            .hint("save the file as UTF-8")
            .bad_input()?;
        crate::limits::check_depth(text.as_bytes(), crate::limits::MAX_DEPTH)
            .map_err(|e| anyhow!("{}:{}:{}: {e}", path.display(), e.line, e.column))
            .context("invalid user config file")
            .hint("the config file is a flat JSON object such as {\"index\": \"…\"}")
            .bad_input()?;
        let invalid = |line: usize, column: usize, message: String| {
            Err(anyhow!("{}:{line}:{column}: {message}", path.display()))
                .context("invalid user config file")
                .hint(format!(
                    "keys are: {} (see `devenv config` and docs/configuration.md)",
                    KNOBS.iter().map(|k| k.key).collect::<Vec<_>>().join(", ")
                ))
                .bad_input()
        };
        let config: ConfigFile = match serde_json::from_str(&text) {
            Ok(c) => c,
            Err(e) => return invalid(e.line(), e.column(), e.to_string()),
        };
        if let Some((key, problem)) = config.out_of_range() {
            let (line, column) = value_position(&text, key);
            return invalid(line, column, problem);
        }
        Ok(config)
    }

    /// The first value of the right type but outside its range, and why.
    fn out_of_range(&self) -> Option<(&'static str, String)> {
        if let Some(v) = self.http_timeout {
            if !(v.is_finite() && v > 0.0 && v <= MAX_HTTP_TIMEOUT_SECS) {
                return Some((
                    "http_timeout",
                    format!("http_timeout must be a number of seconds above 0 and at most {MAX_HTTP_TIMEOUT_SECS}, not {v}"),
                ));
            }
        }
        if let Some(v) = self.http_retries.filter(|v| *v > MAX_HTTP_RETRIES) {
            return Some((
                "http_retries",
                format!("http_retries must be at most {MAX_HTTP_RETRIES}, not {v}"),
            ));
        }
        if let Some(v) = self.jobs.filter(|v| !(1..=MAX_JOBS).contains(v)) {
            return Some((
                "jobs",
                format!("jobs must be from 1 to {MAX_JOBS}, not {v}"),
            ));
        }
        None
    }
}

/// 1-based line and column of `key`'s value in the (already valid) JSON `text`.
fn value_position(text: &str, key: &str) -> (usize, usize) {
    let offset = jsonc_parser::parse_to_ast(
        text,
        &jsonc_parser::CollectOptions::default(),
        &jsonc_parser::ParseOptions::default(),
    )
    .ok()
    .and_then(|parsed| {
        let root = parsed.value?;
        let object = root.as_object()?;
        Some(object.get(key)?.value.range().start)
    })
    .unwrap_or(0);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
