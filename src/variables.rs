//! The tables of what can configure devenv: [`KNOBS`] (every setting, with its flag, variable,
//! config key and default) and [`VARIABLES`] (every environment variable devenv reads, and the
//! ones it sets). docs/configuration.md carries both, rendered by [`knobs_markdown`] and
//! [`variables_markdown`]; a test keeps the page, the code and these tables in step.
//!
//! A leaf module (names and words, no code to run), so that every module that names a
//! variable can take the name from here. Settings variables are read only by
//! [`crate::settings::Settings::resolve`]. The others are read where
//! they mean something, each for a reason the table gives: the shell hook's state and
//! `DEVENV_SHELL` describe the shell devenv runs in (not a preference), `DEVENV_BOOT_ID` stands
//! for the kernel's boot id, and the standard variables (HOME, XDG_*, SHELL, PWD, …) are facts
//! about the machine that `doctor`, `shell` and activation inspect as they are.

/// Setting variables, by the knob they set.
pub const INDEX: &str = "DEVENV_INDEX";
pub const SUBSTITUTERS: &str = "DEVENV_SUBSTITUTERS";
pub const TRUSTED_PUBLIC_KEYS: &str = "DEVENV_TRUSTED_PUBLIC_KEYS";
pub const STORE_ROOT: &str = "DEVENV_STORE_ROOT";
pub const STORE_MODE: &str = "DEVENV_STORE_MODE";
pub const SYSTEM: &str = "DEVENV_SYSTEM";
pub const HTTP_TIMEOUT: &str = "DEVENV_HTTP_TIMEOUT";
pub const HTTP_RETRIES: &str = "DEVENV_HTTP_RETRIES";
pub const JOBS: &str = "DEVENV_JOBS";
pub const OFFLINE: &str = "DEVENV_OFFLINE";
pub const NIXPKGS: &str = "DEVENV_NIXPKGS";
pub const NIX_ENV: &str = "DEVENV_NIX_ENV";

/// Variables devenv sets and reads back (the modules that use them name them after these).
pub const SHELL: &str = "DEVENV_SHELL";
pub const STATE_ALLOW: &str = "__DEVENV_ALLOW";
pub const STATE_DIFF: &str = "__DEVENV_DIFF";
pub const STATE_DIR: &str = "__DEVENV_DIR";
pub const STATE_STAMP: &str = "__DEVENV_STAMP";
pub const PROFILE: &str = "DEVENV_PROFILE";
pub const PROJECT_ROOT: &str = "DEVENV_PROJECT_ROOT";
/// Preferences of the shell hook, read in the shell.
pub const BASH_CD: &str = "DEVENV_BASH_CD";
pub const QUIET: &str = "DEVENV_QUIET";
/// Stands for the kernel's boot id (see `store::durability`).
pub const BOOT_ID: &str = "DEVENV_BOOT_ID";
/// The `tracing` filter for diagnostics (read by `cli` before settings exist).
pub const LOG: &str = "DEVENV_LOG";

/// One setting: how each source names it.
#[derive(Debug, Clone, Copy)]
pub struct Knob {
    /// The config file key, and the name `devenv config` shows.
    pub key: &'static str,
    /// The flag, if the setting has one (`install --jobs` and `index build --nix-env` belong to
    /// their command; the others every command takes).
    pub flag: Option<&'static str>,
    pub variable: &'static str,
    /// What the config file value is.
    pub config_type: &'static str,
    /// The default, in words.
    pub default: &'static str,
    pub description: &'static str,
}

/// Every setting, sorted by key.
pub const KNOBS: &[Knob] = &[
    Knob {
        key: "http_retries",
        flag: None,
        variable: HTTP_RETRIES,
        config_type: "integer, 0 to 10",
        default: "2",
        description: "further attempts after a refused connection, a timeout, a cut-off answer or a 408, 429 or 5xx answer",
    },
    Knob {
        key: "http_timeout",
        flag: None,
        variable: HTTP_TIMEOUT,
        config_type: "number of seconds",
        default: "30",
        description: "how long connecting, waiting for an answer and each read may take, for every request",
    },
    Knob {
        key: "index",
        flag: Some("--index"),
        variable: INDEX,
        config_type: "string",
        default: "`https://search.devbox.sh`",
        description: "where versions come from: a directory, `file://`, `http(s)://`, `sparse+http(s)://` or `nixhub+http(s)://` URL",
    },
    Knob {
        key: "jobs",
        flag: Some("`install --jobs`"),
        variable: JOBS,
        config_type: "integer, 1 to 256",
        default: "8",
        description: "narinfo lookups and downloads at the same time, for every command that installs",
    },
    Knob {
        key: "nix_env",
        flag: Some("`index build --nix-env`"),
        variable: NIX_ENV,
        config_type: "string",
        default: "`nix-env`",
        description: "the evaluator `devenv index build` runs",
    },
    Knob {
        key: "nixpkgs",
        flag: None,
        variable: NIXPKGS,
        config_type: "path",
        default: "none (GitHub)",
        description: "a nixpkgs git checkout `devenv install` builds from when no binary cache has a package",
    },
    Knob {
        key: "offline",
        flag: Some("--offline"),
        variable: OFFLINE,
        config_type: "boolean",
        default: "false",
        description: "answer from the index cache only, never asking the index over the network",
    },
    Knob {
        key: "store_mode",
        flag: None,
        variable: STORE_MODE,
        config_type: "`\"root\"`, `\"namespace\"` or `\"daemon\"`",
        default: "automatic",
        description: "how the store is reached: devenv's store at its root, mounted at `/nix` in a user namespace (no root needed), or a Nix daemon (see store.md)",
    },
    Knob {
        key: "store_root",
        flag: Some("--store-root"),
        variable: STORE_ROOT,
        config_type: "path",
        default: "`/` if `/nix/store` is writable, else a Nix daemon's store",
        description: "physical root of the store (the store is always named `/nix/store`)",
    },
    Knob {
        key: "substituters",
        flag: Some("--substituters"),
        variable: SUBSTITUTERS,
        config_type: "array of strings",
        default: "`https://cache.nixos.org`",
        description: "binary caches in priority order (the variable and flag: space-separated)",
    },
    Knob {
        key: "system",
        flag: Some("--system"),
        variable: SYSTEM,
        config_type: "string",
        default: "this machine's",
        description: "the Nix system to resolve and realize for",
    },
    Knob {
        key: "trusted_public_keys",
        flag: Some("--trusted-public-keys"),
        variable: TRUSTED_PUBLIC_KEYS,
        config_type: "array of strings",
        default: "cache.nixos.org-1 (always trusted)",
        description: "keys (`name:base64`) whose signatures are trusted (the variable and flag: space-separated)",
    },
];

/// Who a variable is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A setting (also a config file key, see [`KNOBS`]).
    Setting,
    /// Set by devenv in shells and environments it makes, and read back.
    Devenv,
    /// A preference of the shell integration, read by the hook or by `export` in the shell.
    Shell,
    /// Diagnostics for whoever debugs devenv.
    Diagnostics,
    /// A test seam: stands for a machine fact so tests can change it.
    Test,
    /// A standard variable devenv (or a library it uses) reads.
    Standard,
}

/// One environment variable.
#[derive(Debug, Clone, Copy)]
pub struct Variable {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
}

const fn entry(name: &'static str, kind: Kind, description: &'static str) -> Variable {
    Variable {
        name,
        kind,
        description,
    }
}

/// Every environment variable devenv reads (and the ones it sets for projects), by kind, then
/// name.
pub const VARIABLES: &[Variable] = &[
    entry(HTTP_RETRIES, Kind::Setting, "further attempts after a transient HTTP failure"),
    entry(HTTP_TIMEOUT, Kind::Setting, "seconds every HTTP request may wait (connect, answer, each read)"),
    entry(INDEX, Kind::Setting, "the version index"),
    entry(JOBS, Kind::Setting, "parallel lookups and downloads"),
    entry(NIX_ENV, Kind::Setting, "the evaluator of `devenv index build`"),
    entry(NIXPKGS, Kind::Setting, "a nixpkgs checkout to build from when no cache has a package"),
    entry(OFFLINE, Kind::Setting, "`1` answers index lookups from the cache only"),
    entry(STORE_MODE, Kind::Setting, "`root`, `namespace`, `daemon` or `auto`: how the store is reached"),
    entry(STORE_ROOT, Kind::Setting, "physical root of the store"),
    entry(SUBSTITUTERS, Kind::Setting, "binary caches, space-separated"),
    entry(SYSTEM, Kind::Setting, "the Nix system to resolve and realize for"),
    entry(TRUSTED_PUBLIC_KEYS, Kind::Setting, "trusted signing keys, space-separated"),
    entry(STATE_ALLOW, Kind::Devenv, "hook state: the allowance the loaded project was checked against"),
    entry(STATE_DIFF, Kind::Devenv, "hook state: what loading changed, to undo it exactly"),
    entry(STATE_DIR, Kind::Devenv, "hook state: the project loaded in this shell"),
    entry(STATE_STAMP, Kind::Devenv, "hook state: the manifest and lock stamps seen at loading"),
    entry(PROFILE, Kind::Devenv, "set in a project's environment: its profile (read only by what runs there)"),
    entry(PROJECT_ROOT, Kind::Devenv, "set in a project's environment: its root (read only by what runs there)"),
    entry(SHELL, Kind::Devenv, "set inside `devenv shell`: its project root; the hook and `export` follow it, `shell` refuses to nest"),
    entry(BASH_CD, Kind::Shell, "`0` before the bash hook: do not wrap `cd`, `pushd` and `popd` (the project then loads at the next prompt)"),
    entry(QUIET, Kind::Shell, "`1`: no `devenv: loaded …` / `unloaded …` line when the hook loads or leaves a project"),
    entry(LOG, Kind::Diagnostics, "comma-separated `tracing` directives, each a level or `target=level` (`debug`, `devenv::store=trace`): diagnostics of the code below the commands, on stderr; a directive that does not parse is ignored with a warning"),
    entry(BOOT_ID, Kind::Test, "replaces the kernel's boot id (tests use it to stand for a restart)"),
    entry("ALL_PROXY", Kind::Standard, "HTTP proxy for every request (also `all_proxy`)"),
    entry("CLICOLOR", Kind::Standard, "`0` turns colours off"),
    entry("CLICOLOR_FORCE", Kind::Standard, "non-`0` turns colours on even when not on a terminal"),
    entry("HOME", Kind::Standard, "the home directory: config, cache and data directories, rc files `doctor` checks"),
    entry("HTTPS_PROXY", Kind::Standard, "HTTP proxy (also `https_proxy`)"),
    entry("HTTP_PROXY", Kind::Standard, "HTTP proxy (also `http_proxy`)"),
    entry("NO_COLOR", Kind::Standard, "set: no colours in messages"),
    entry("NO_PROXY", Kind::Standard, "hosts reached without the proxy"),
    entry("PATH", Kind::Standard, "where `nix`, `nix-store` and the shells are found"),
    entry("PWD", Kind::Standard, "the directory as the shell names it (symlinks kept) when it is the current one"),
    entry("SHELL", Kind::Standard, "the shell `devenv shell` starts, `shellenv` prints for and `doctor` checks"),
    entry("SOURCE_DATE_EPOCH", Kind::Standard, "the time `devenv publish` records, for reproducible indexes"),
    entry("TERM", Kind::Standard, "`dumb` turns colours off"),
    entry("XDG_CACHE_HOME", Kind::Standard, "the cache directory's parent (default `~/.cache`)"),
    entry("XDG_CONFIG_HOME", Kind::Standard, "the config directory's parent (default `~/.config`); also where `doctor` looks for fish's config"),
    entry("XDG_DATA_HOME", Kind::Standard, "the data directory's parent (default `~/.local/share`)"),
    entry("XDG_STATE_HOME", Kind::Standard, "the state directory's parent (default `~/.local/state`)"),
    entry("ZDOTDIR", Kind::Standard, "where zsh reads its rc files (`devenv shell`, `doctor`)"),
];

/// The settings table of docs/configuration.md.
pub fn knobs_markdown() -> String {
    let mut out = String::from(
        "| key | flag | variable | config file value | default | what it sets |\n|---|---|---|---|---|---|\n",
    );
    for k in KNOBS {
        let flag = match k.flag {
            Some(f) if f.starts_with('`') => f.to_string(),
            Some(f) => format!("`{f}`"),
            None => "-".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {flag} | `{}` | {} | {} | {} |\n",
            k.key, k.variable, k.config_type, k.default, k.description
        ));
    }
    out
}

/// The variables table of docs/configuration.md.
pub fn variables_markdown() -> String {
    let mut out = String::from("| variable | kind | what it does |\n|---|---|---|\n");
    for v in VARIABLES {
        let kind = match v.kind {
            Kind::Setting => "setting",
            Kind::Devenv => "devenv's own",
            Kind::Shell => "shell",
            Kind::Diagnostics => "diagnostics",
            Kind::Test => "tests",
            Kind::Standard => "standard",
        };
        out.push_str(&format!("| `{}` | {kind} | {} |\n", v.name, v.description));
    }
    out
}

#[cfg(test)]
mod tests;
