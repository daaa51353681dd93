//! Settings that every command shares, resolved once from flags, `DEVENV_*` variables, the user
//! config file and defaults (in that order of precedence), plus the directories devenv owns.
//!
//! Passed down as a value; nothing in devenv reads global mutable state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::diagnostic::ResultExt;

/// The public Nixhub-compatible search service Devbox uses; overridable with `--index`.
pub const DEFAULT_INDEX: &str = "https://search.devbox.sh";
/// The default binary cache.
pub const DEFAULT_SUBSTITUTER: &str = "https://cache.nixos.org";
/// The key cache.nixos.org signs with; always trusted.
pub const CACHE_NIXOS_ORG_KEY: &str =
    "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

/// Values given on the command line or in the environment (clap fills both); `None` = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub index: Option<String>,
    pub substituters: Option<String>,
    pub trusted_public_keys: Option<String>,
    pub store_root: Option<PathBuf>,
    pub system: Option<String>,
}

/// The user config file, `<config dir>/config.json`. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub index: Option<String>,
    pub substituters: Option<Vec<String>>,
    pub trusted_public_keys: Option<Vec<String>>,
    pub store_root: Option<PathBuf>,
    pub system: Option<String>,
}

/// Directories devenv reads and writes outside projects (XDG on Linux, the platform's on macOS).
#[derive(Debug, Clone)]
pub struct Dirs {
    /// User config (`config.json`).
    pub config: PathBuf,
    /// Disposable caches (HTTP responses of indexes, narinfo lookups).
    pub cache: PathBuf,
    /// Durable data (trust database, per-project profiles and generations).
    pub data: PathBuf,
    /// State that may be lost without harm (computed environments).
    pub state: PathBuf,
}

impl Dirs {
    /// Directories from the platform conventions (honours `XDG_*_HOME` on Linux).
    pub fn from_environment() -> Result<Dirs> {
        let dirs = directories::ProjectDirs::from("", "", "devenv")
            .context("cannot determine the home directory")
            .hint("set HOME to your home directory")?;
        let state = dirs
            .state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.data_local_dir().join("state"));
        Ok(Dirs {
            config: dirs.config_dir().to_path_buf(),
            cache: dirs.cache_dir().to_path_buf(),
            data: dirs.data_dir().to_path_buf(),
            state,
        })
    }
}

/// Resolved settings for one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Index location: a directory, `file://`, `http(s)://` static sparse index, or a
    /// `nixhub+https://…` / the default Nixhub-compatible API.
    pub index: String,
    /// Binary caches in priority order.
    pub substituters: Vec<String>,
    /// Trusted public keys (`name:base64`), always including cache.nixos.org-1.
    pub trusted_public_keys: Vec<String>,
    /// Physical root of the store; `None` = decide (see `store`).
    pub store_root: Option<PathBuf>,
    /// The system to realize for.
    pub system: String,
    pub dirs: Dirs,
}

impl Settings {
    /// The systems a command was asked for, or this machine's system when none were given.
    pub fn systems_or_current(&self, systems: Vec<String>) -> Vec<String> {
        if systems.is_empty() {
            vec![self.system.clone()]
        } else {
            systems
        }
    }

    /// Merge overrides over the config file over defaults.
    pub fn resolve(overrides: Overrides, dirs: Dirs) -> Result<Settings> {
        let config = ConfigFile::load(&dirs.config.join("config.json"))?;
        let split = |s: &str| -> Vec<String> {
            s.split_whitespace().map(str::to_string).collect::<Vec<_>>()
        };
        let index = overrides
            .index
            .or(config.index)
            .unwrap_or_else(|| DEFAULT_INDEX.to_string());
        let substituters = overrides
            .substituters
            .map(|s| split(&s))
            .or(config.substituters)
            .unwrap_or_else(|| vec![DEFAULT_SUBSTITUTER.to_string()]);
        let mut trusted_public_keys = overrides
            .trusted_public_keys
            .map(|s| split(&s))
            .or(config.trusted_public_keys)
            .unwrap_or_default();
        if !trusted_public_keys.iter().any(|k| k == CACHE_NIXOS_ORG_KEY) {
            trusted_public_keys.push(CACHE_NIXOS_ORG_KEY.to_string());
        }
        let system = overrides
            .system
            .or(config.system)
            .unwrap_or_else(crate::system::current);
        if !crate::system::is_known(&system) {
            return Err(anyhow::anyhow!("unknown system `{system}`"))
                .hint(format!(
                    "use one of: {}",
                    crate::system::KNOWN_SYSTEMS.join(", ")
                ))
                .bad_input();
        }
        Ok(Settings {
            index,
            substituters,
            trusted_public_keys,
            store_root: overrides.store_root.or(config.store_root),
            system,
            dirs,
        })
    }

    /// Settings as shown by `doctor` and `--json` outputs.
    pub fn describe(&self) -> BTreeMap<&'static str, serde_json::Value> {
        let mut m = BTreeMap::new();
        m.insert("index", serde_json::json!(self.index));
        m.insert("substituters", serde_json::json!(self.substituters));
        m.insert(
            "trusted_public_keys",
            serde_json::json!(self.trusted_public_keys),
        );
        m.insert("store_root", serde_json::json!(self.store_root));
        m.insert("system", serde_json::json!(self.system));
        m
    }
}

impl ConfigFile {
    /// Read the config file; a missing file is an empty config. Bounded in size
    /// ([`crate::limits::MAX_CONFIG_BYTES`]) and nesting like every file devenv parses.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let limit = crate::limits::MAX_CONFIG_BYTES;
        let Some(bytes) = crate::fsutil::read_input(path, limit, "the user config file")? else {
            return Ok(ConfigFile::default());
        };
        let invalid = "invalid user config file";
        let text = crate::manifest::utf8(bytes, &path.display().to_string())
            .context(invalid)
            .hint("save the file as UTF-8")
            .bad_input()?;
        crate::limits::check_depth(text.as_bytes(), crate::limits::MAX_DEPTH)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line, e.column))
            .context(invalid)
            .hint("the config file is a flat JSON object such as {\"index\": \"…\"}")
            .bad_input()?;
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
            .context("invalid user config file")
            .hint("keys are: index, substituters, trusted_public_keys, store_root, system")
            .bad_input()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(root: &Path) -> Dirs {
        Dirs {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
            state: root.join("state"),
        }
    }

    #[test]
    fn flags_beat_config_beat_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let d = dirs(tmp.path());
        std::fs::create_dir_all(&d.config).unwrap();
        std::fs::write(
            d.config.join("config.json"),
            r#"{"index": "/from/config", "substituters": ["file:///c"]}"#,
        )
        .unwrap();
        let s = Settings::resolve(
            Overrides {
                index: Some("/from/flag".into()),
                ..Default::default()
            },
            d,
        )
        .unwrap();
        assert_eq!(s.index, "/from/flag");
        assert_eq!(s.substituters, vec!["file:///c".to_string()]);
        assert!(s
            .trusted_public_keys
            .contains(&CACHE_NIXOS_ORG_KEY.to_string()));
    }

    #[test]
    fn bad_config_names_file_line_and_column() {
        let tmp = tempfile::tempdir().unwrap();
        let d = dirs(tmp.path());
        std::fs::create_dir_all(&d.config).unwrap();
        std::fs::write(d.config.join("config.json"), "{\n  \"index\": 3\n}").unwrap();
        let err = Settings::resolve(Overrides::default(), d).unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        assert!(report.causes[0].contains("config.json:2:"), "{report:?}");
    }
}
