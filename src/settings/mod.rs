//! Every knob devenv has, resolved once per invocation from a flag, a `DEVENV_*` variable, the
//! user config file or a default (the first one given wins), each remembering where it came from;
//! plus the directories devenv owns.
//!
//! This is where the environment is read for settings: the [`crate::variables`] table lists every
//! variable devenv reads at all, and the few read elsewhere say why there. The result is passed
//! down as a value (nothing in devenv reads global mutable state), and `devenv config` shows it
//! with each value's [`Source`], so "why does it use that cache?" has an answer.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};

use crate::diagnostic::ResultExt;

mod config_file;
pub mod report;

pub use crate::variables::KNOBS;
pub use config_file::ConfigFile;

use crate::variables;

/// The public Nixhub-compatible search service Devbox uses; overridable with `--index`.
pub const DEFAULT_INDEX: &str = "https://search.devbox.sh";
/// The default binary cache.
pub const DEFAULT_SUBSTITUTER: &str = "https://cache.nixos.org";
/// The key cache.nixos.org signs with; always trusted.
pub const CACHE_NIXOS_ORG_KEY: &str =
    "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";
/// Parallel narinfo lookups and downloads unless configured.
pub const DEFAULT_JOBS: usize = 8;
/// The evaluator `devenv index build` runs unless configured.
pub const DEFAULT_NIX_ENV: &str = "nix-env";
/// Bounds that keep a typo from becoming a day-long wait or a retry storm.
pub const MAX_HTTP_TIMEOUT_SECS: f64 = 3600.0;
pub const MAX_HTTP_RETRIES: u32 = 10;
pub const MAX_JOBS: usize = 256;

/// How the store is reached (`store_mode`): devenv's store at its root, devenv's store mounted
/// at `/nix` inside a user namespace, or the machine's Nix daemon. `None` in [`Settings`] means
/// automatic (see `store::mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreMode {
    Root,
    Namespace,
    Daemon,
}

impl StoreMode {
    pub fn name(self) -> &'static str {
        match self {
            StoreMode::Root => "root",
            StoreMode::Namespace => "namespace",
            StoreMode::Daemon => "daemon",
        }
    }

    fn parse(s: &str) -> Option<Option<StoreMode>> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(None),
            "root" => Some(Some(StoreMode::Root)),
            "namespace" => Some(Some(StoreMode::Namespace)),
            "daemon" => Some(Some(StoreMode::Daemon)),
            _ => None,
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag (its name, e.g. `--index`).
    Flag(&'static str),
    /// An environment variable (its name).
    Env(&'static str),
    /// The user config file (its path).
    ConfigFile(PathBuf),
    /// Nobody set it.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => f.write_str(flag),
            Source::Env(var) => f.write_str(var),
            Source::ConfigFile(path) => write!(f, "{}", path.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A resolved value and where it came from. Derefs to the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub source: Source,
}

impl<T> std::ops::Deref for Setting<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Setting<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// Values given as flags; `None` = not given. (Variables are read by [`Settings::resolve`] itself,
/// so the flags' help shows which variable stands for each without clap treating it as given.)
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub index: Option<String>,
    pub substituters: Option<String>,
    pub trusted_public_keys: Option<String>,
    pub store_root: Option<PathBuf>,
    pub system: Option<String>,
    /// `--offline` (a switch: present means on).
    pub offline: bool,
    /// `install --jobs`.
    pub jobs: Option<usize>,
    /// `index build --nix-env`.
    pub nix_env: Option<String>,
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

    /// The user config file.
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.json")
    }
}

/// Resolved settings for one invocation.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Index location: a directory, `file://`, `http(s)://` static sparse index, or a
    /// `nixhub+https://…` / the default Nixhub-compatible API.
    pub index: Setting<String>,
    /// Binary caches in priority order.
    pub substituters: Setting<Vec<String>>,
    /// Trusted public keys (`name:base64`), always including cache.nixos.org-1.
    pub trusted_public_keys: Setting<Vec<String>>,
    /// Physical root of the store; `None` = decide (see `store`).
    pub store_root: Setting<Option<PathBuf>>,
    /// How the store is reached; `None` = decide (see `store::mode`).
    pub store_mode: Setting<Option<StoreMode>>,
    /// The system to realize for.
    pub system: Setting<String>,
    /// Bounds connecting, waiting for an answer and each read of every HTTP request.
    pub http_timeout: Setting<Duration>,
    /// Further attempts after a transient HTTP failure.
    pub http_retries: Setting<u32>,
    /// Parallel narinfo lookups and downloads.
    pub jobs: Setting<usize>,
    /// Never touch the network for index data: answer from the index cache only.
    pub offline: Setting<bool>,
    /// A nixpkgs git checkout to build from when no binary cache has a package (instead of
    /// fetching the locked revision from GitHub).
    pub nixpkgs: Setting<Option<PathBuf>>,
    /// The evaluator `devenv index build` runs.
    pub nix_env: Setting<String>,
    pub dirs: Dirs,
    /// The one HTTP client of this invocation, built from `http_timeout` and `http_retries`.
    pub http: crate::http::Client,
}

/// Reads a variable of the process (or of a test's made-up environment).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The real process environment.
pub fn process_env(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

impl Settings {
    /// The systems a command was asked for, or this machine's system when none were given.
    pub fn systems_or_current(&self, systems: Vec<String>) -> Vec<String> {
        if systems.is_empty() {
            vec![self.system.value.clone()]
        } else {
            systems
        }
    }

    /// Settings from flags, the process environment, the config file and defaults.
    pub fn from_process(overrides: Overrides) -> Result<Settings> {
        Settings::resolve(overrides, &process_env, Dirs::from_environment()?)
    }

    /// Flags over variables (read with `env`) over the config file in `dirs` over defaults.
    pub fn resolve(overrides: Overrides, env: Env, dirs: Dirs) -> Result<Settings> {
        let config_path = dirs.config_file();
        let config = ConfigFile::load(&config_path)?;
        let r = Resolver {
            env,
            config_path: &config_path,
        };
        let index = r.pick(
            flag(overrides.index, "--index"),
            (variables::INDEX, |s| Some(s.to_string())),
            config.index,
            || DEFAULT_INDEX.to_string(),
        )?;
        let substituters = r.pick(
            flag(overrides.substituters.map(|s| split(&s)), "--substituters"),
            (variables::SUBSTITUTERS, |s| Some(split(s))),
            config.substituters,
            || vec![DEFAULT_SUBSTITUTER.to_string()],
        )?;
        let mut trusted_public_keys = r.pick(
            flag(
                overrides.trusted_public_keys.map(|s| split(&s)),
                "--trusted-public-keys",
            ),
            (variables::TRUSTED_PUBLIC_KEYS, |s| Some(split(s))),
            config.trusted_public_keys,
            Vec::new,
        )?;
        if !trusted_public_keys
            .value
            .iter()
            .any(|k| k == CACHE_NIXOS_ORG_KEY)
        {
            trusted_public_keys
                .value
                .push(CACHE_NIXOS_ORG_KEY.to_string());
        }
        let store_root = r.pick_path(
            flag(overrides.store_root, "--store-root"),
            variables::STORE_ROOT,
            config.store_root,
        )?;
        let store_mode = r.pick(
            None,
            (variables::STORE_MODE, StoreMode::parse),
            config.store_mode.map(Some),
            || None,
        )?;
        let system = r.pick(
            flag(overrides.system, "--system"),
            (variables::SYSTEM, |s| Some(s.to_string())),
            config.system,
            crate::system::current,
        )?;
        if !crate::system::is_known(&system.value) {
            return Err(anyhow!(
                "unknown system `{}` (from {})",
                system.value,
                system.source
            ))
            .hint(format!(
                "use one of: {}",
                crate::system::KNOWN_SYSTEMS.join(", ")
            ))
            .bad_input();
        }
        let http_timeout = r
            .pick(
                None,
                (variables::HTTP_TIMEOUT, parse_seconds),
                config.http_timeout,
                || crate::http::Policy::DEFAULT_TIMEOUT.as_secs_f64(),
            )?
            .map(Duration::from_secs_f64);
        let http_retries = r.pick(
            None,
            (variables::HTTP_RETRIES, |s| {
                s.trim().parse().ok().filter(|n| *n <= MAX_HTTP_RETRIES)
            }),
            config.http_retries,
            || crate::http::Policy::DEFAULT_RETRIES,
        )?;
        if overrides.jobs == Some(0) {
            return Err(anyhow!("--jobs must be at least 1")).bad_input();
        }
        let jobs = r.pick(
            flag(overrides.jobs, "--jobs"),
            (variables::JOBS, |s| {
                s.trim().parse().ok().filter(|n| (1..=MAX_JOBS).contains(n))
            }),
            config.jobs,
            || DEFAULT_JOBS,
        )?;
        let offline = r.pick(
            flag(overrides.offline.then_some(true), "--offline"),
            (variables::OFFLINE, parse_bool),
            config.offline,
            || false,
        )?;
        let nixpkgs = r.pick_path(None, variables::NIXPKGS, config.nixpkgs)?;
        let nix_env = r.pick(
            flag(overrides.nix_env, "--nix-env"),
            (variables::NIX_ENV, |s| Some(s.to_string())),
            config.nix_env,
            || DEFAULT_NIX_ENV.to_string(),
        )?;
        let http = crate::http::Client::new(crate::http::Policy {
            timeout: http_timeout.value,
            retries: http_retries.value,
            ..crate::http::Policy::default()
        });
        Ok(Settings {
            index,
            substituters,
            trusted_public_keys,
            store_root,
            store_mode,
            system,
            http_timeout,
            http_retries,
            jobs,
            offline,
            nixpkgs,
            nix_env,
            dirs,
            http,
        })
    }

    /// Settings for a test world under `root` (devenv's directories there) from flags alone,
    /// with no environment and no config file: what other modules' unit tests start from.
    #[cfg(test)]
    pub fn for_tests(root: &Path, overrides: Overrides) -> Settings {
        let dirs = Dirs {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
            state: root.join("state"),
        };
        Settings::resolve(overrides, &|_| None, dirs).expect("valid test settings")
    }

    /// Let `watch` see this invocation's HTTP requests (the printer's "waiting for" line).
    pub fn watch_http(&mut self, watch: std::sync::Arc<dyn crate::http::Watch>) {
        self.http = self.http.clone().watched_by(watch);
    }
}

impl<T> Setting<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Setting<U> {
        Setting {
            value: f(self.value),
            source: self.source,
        }
    }
}

/// A flag's value with its name.
fn flag<T>(value: Option<T>, name: &'static str) -> Option<(T, &'static str)> {
    value.map(|v| (v, name))
}

fn split(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Seconds, fractions allowed, above 0 and at most [`MAX_HTTP_TIMEOUT_SECS`].
fn parse_seconds(s: &str) -> Option<f64> {
    s.trim()
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0 && *v <= MAX_HTTP_TIMEOUT_SECS)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// What each variable must look like, for the message when it does not.
fn expected(var: &str) -> (&'static str, &'static str) {
    match var {
        variables::HTTP_TIMEOUT => (
            "is not a number of seconds (above 0, at most 3600)",
            "set it to a number of seconds such as 30",
        ),
        variables::HTTP_RETRIES => (
            "is not a number of retries (0 to 10)",
            "set it to a whole number such as 2",
        ),
        variables::JOBS => (
            "is not a number of jobs (1 to 256)",
            "set it to a whole number such as 8",
        ),
        variables::STORE_MODE => (
            "is not a store mode",
            "set it to auto, root, namespace or daemon",
        ),
        variables::OFFLINE => (
            "is not a yes or no",
            "set it to 1 (offline) or 0 (online), or unset it",
        ),
        _ => ("is not valid", "correct or unset it"),
    }
}

/// One resolution: where variables come from and which config file was read.
struct Resolver<'a> {
    env: Env<'a>,
    config_path: &'a Path,
}

impl Resolver<'_> {
    /// A variable's value; empty counts as unset (`DEVENV_INDEX= devenv …` unsets it).
    fn var_os(&self, name: &'static str) -> Option<OsString> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    fn var(&self, name: &'static str) -> Result<Option<String>> {
        self.var_os(name)
            .map(|v| {
                v.into_string()
                    .map_err(|v| anyhow!("{name}=`{}` is not valid UTF-8", v.to_string_lossy()))
                    .hint(format!("correct or unset {name}"))
                    .bad_input()
            })
            .transpose()
    }

    /// The first of flag, variable (parsed with `parse`), config file value and default.
    fn pick<T>(
        &self,
        flag: Option<(T, &'static str)>,
        (var, parse): (&'static str, impl Fn(&str) -> Option<T>),
        config: Option<T>,
        default: impl FnOnce() -> T,
    ) -> Result<Setting<T>> {
        if let Some((value, name)) = flag {
            return Ok(Setting {
                value,
                source: Source::Flag(name),
            });
        }
        if let Some(raw) = self.var(var)? {
            let (what, hint) = expected(var);
            let value = parse(&raw)
                .ok_or_else(|| anyhow!("{var}=`{raw}` {what}"))
                .hint(hint)
                .bad_input()?;
            return Ok(Setting {
                value,
                source: Source::Env(var),
            });
        }
        Ok(self.config_or(config, default))
    }

    /// [`Resolver::pick`] for an optional path (read without requiring UTF-8).
    fn pick_path(
        &self,
        flag: Option<(PathBuf, &'static str)>,
        var: &'static str,
        config: Option<PathBuf>,
    ) -> Result<Setting<Option<PathBuf>>> {
        if let Some((value, name)) = flag {
            return Ok(Setting {
                value: Some(value),
                source: Source::Flag(name),
            });
        }
        if let Some(raw) = self.var_os(var) {
            return Ok(Setting {
                value: Some(PathBuf::from(raw)),
                source: Source::Env(var),
            });
        }
        Ok(self.config_or(config.map(Some), || None))
    }

    fn config_or<T>(&self, config: Option<T>, default: impl FnOnce() -> T) -> Setting<T> {
        match config {
            Some(value) => Setting {
                value,
                source: Source::ConfigFile(self.config_path.to_path_buf()),
            },
            None => Setting {
                value: default(),
                source: Source::Default,
            },
        }
    }
}

#[cfg(test)]
mod tests;
