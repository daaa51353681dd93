//! The effective settings as data, for `devenv config` (text and JSON) and `doctor --json`:
//! sorted by key, every value with where it came from, byte-stable for the same inputs.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{Settings, Source};

/// One setting as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: &'static str,
    pub value: Value,
    pub source: Source,
}

impl Settings {
    /// Every setting, in the order of [`super::KNOBS`] (sorted by key).
    pub fn entries(&self) -> Vec<Entry> {
        let e = |key, value, source: &Source| Entry {
            key,
            value,
            source: source.clone(),
        };
        let seconds = self.http_timeout.value.as_secs_f64();
        let seconds = if seconds.fract() == 0.0 && seconds < u64::MAX as f64 {
            json!(seconds as u64)
        } else {
            json!(seconds)
        };
        vec![
            e(
                "http_retries",
                json!(self.http_retries.value),
                &self.http_retries.source,
            ),
            e("http_timeout", seconds, &self.http_timeout.source),
            e("index", json!(self.index.value), &self.index.source),
            e("jobs", json!(self.jobs.value), &self.jobs.source),
            e("nix_env", json!(self.nix_env.value), &self.nix_env.source),
            e("nixpkgs", json!(self.nixpkgs.value), &self.nixpkgs.source),
            e("offline", json!(self.offline.value), &self.offline.source),
            e(
                "store_mode",
                json!(self.store_mode.value.map(|m| m.name()).unwrap_or("auto")),
                &self.store_mode.source,
            ),
            e(
                "store_root",
                json!(self.store_root.value),
                &self.store_root.source,
            ),
            e(
                "substituters",
                json!(self.substituters.value),
                &self.substituters.source,
            ),
            e("system", json!(self.system.value), &self.system.source),
            e(
                "trusted_public_keys",
                json!(self.trusted_public_keys.value),
                &self.trusted_public_keys.source,
            ),
        ]
    }

    /// The values alone, keyed by setting (what `doctor --json` reports).
    pub fn describe(&self) -> serde_json::Map<String, Value> {
        self.entries()
            .into_iter()
            .map(|e| (e.key.to_string(), e.value))
            .collect()
    }

    /// `devenv config --json`: the config file's path and each setting's value and source.
    pub fn report_json(&self) -> Value {
        let settings: serde_json::Map<String, Value> = self
            .entries()
            .into_iter()
            .map(|e| {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), e.value);
                let (kind, detail) = match &e.source {
                    Source::Flag(f) => ("flag", Some(("flag", json!(f)))),
                    Source::Env(v) => ("env", Some(("variable", json!(v)))),
                    Source::ConfigFile(p) => ("config", Some(("file", json!(p)))),
                    Source::Default => ("default", None),
                };
                m.insert("source".into(), json!(kind));
                if let Some((name, value)) = detail {
                    m.insert(name.into(), value);
                }
                (e.key.to_string(), Value::Object(m))
            })
            .collect();
        json!({
            "config_file": self.dirs.config_file(),
            "settings": settings,
        })
    }

    /// `devenv config`: one line per setting, `key  value  (source)`, after the config file.
    pub fn report_text(&self) -> String {
        let path = self.dirs.config_file();
        let state = if path.is_file() { "" } else { " (not present)" };
        let mut out = format!("config file: {}{state}\n\n", path.display());
        let entries = self.entries();
        let width = entries.iter().map(|e| e.key.len()).max().unwrap_or(0);
        for e in entries {
            let _ = writeln!(out, "{:<width$}  {}  ({})", e.key, text(&e.value), e.source);
        }
        out
    }
}

/// A value as words: lists space-separated (as the variables take them), nothing as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}
