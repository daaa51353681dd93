//! `devenv doctor`'s checks, as data: which store root is used and why, whether Nix is present,
//! whether the index and each binary cache answer, whether the trusted keys parse, which shells
//! have the hook, whether the current project may activate, and whether the store paths it
//! installed are still on disk.
//!
//! Every check only looks (files, one short HTTP request, `nix --version`); none changes anything,
//! so doctor is safe to run anywhere. Each problem carries the exact command that fixes it. The
//! machine facts a check depends on (HOME, SHELL, the working directory) come in through
//! [`Probe`], so tests can point them at a throwaway world.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;

use crate::app::{Inputs, Project};
use crate::settings::Settings;
use crate::shell::trust::{Trust, TrustStore};

mod store;

/// Where a running Nix daemon listens.
pub const NIX_DAEMON_SOCKET: &str = "/nix/var/nix/daemon-socket/socket";

/// How a check came out. Only `Fail` makes `devenv doctor` exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth knowing, nothing is broken (e.g. Nix not installed, which devenv does not need).
    Info,
    /// Works, but something the user probably wants is missing (e.g. no shell hook).
    Warn,
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable name for scripts: `store`, `nix`, `index`, `substituter`, `trusted-keys`, `hook`,
    /// `project`, `store-paths`.
    pub name: &'static str,
    pub status: Status,
    /// One sentence saying what was found.
    pub summary: String,
    /// Further facts, one per line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The command that fixes the problem, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, summary: impl Into<String>) -> Check {
        Check {
            name,
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
        }
    }

    fn detail(mut self, line: impl Into<String>) -> Check {
        self.details.push(line.into());
        self
    }

    fn fix(mut self, command: impl Into<String>) -> Check {
        self.fix = Some(command.into());
        self
    }
}

/// The machine facts checks read, passed in rather than read from globals.
#[derive(Debug, Clone)]
pub struct Probe {
    pub home: PathBuf,
    /// `$SHELL`, the user's login shell.
    pub shell: Option<String>,
    /// `$ZDOTDIR`, where zsh reads `.zshrc`.
    pub zdotdir: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`, where fish reads `fish/config.fish`.
    pub xdg_config_home: Option<PathBuf>,
    pub cwd: PathBuf,
    pub daemon_socket: PathBuf,
}

/// Doctor waits at most this long for one answer (`DEVENV_HTTP_TIMEOUT` if shorter): it must
/// answer even when the network does not.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(5);

impl Probe {
    /// Facts from the process environment.
    pub fn from_environment() -> anyhow::Result<Probe> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Ok(Probe {
            home: var("HOME")
                .map(PathBuf::from)
                .ok_or_else(|| anyhow::anyhow!("HOME is not set"))?,
            shell: var("SHELL").map(|s| s.to_string_lossy().into_owned()),
            zdotdir: var("ZDOTDIR").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            cwd: std::env::current_dir()?,
            daemon_socket: PathBuf::from(NIX_DAEMON_SOCKET),
        })
    }
}

/// Run every check, in the order they are shown. The network checks run at the same time, so an
/// unreachable network costs one timeout, not one per URL.
pub fn run(settings: &Settings, probe: &Probe) -> Vec<Check> {
    let mut checks = vec![store::store(settings, probe), nix(probe)];
    let http = settings.http.with_timeout_at_most(MAX_TIMEOUT);
    let network: Vec<Check> = std::thread::scope(|scope| {
        let index = scope.spawn(|| index(settings, &http));
        let caches: Vec<_> = settings
            .substituters
            .iter()
            .map(|url| {
                let http = &http;
                scope.spawn(move || substituter(url, settings, http))
            })
            .collect();
        std::iter::once(index)
            .chain(caches)
            .map(|h| h.join().expect("a doctor check panicked"))
            .collect()
    });
    checks.extend(network);
    checks.push(trusted_keys(settings));
    checks.push(hook(probe));
    checks.push(project(settings, probe));
    checks.extend(project_store_paths(settings, probe));
    checks
}

/// Whether any check failed.
pub fn failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

fn nix(probe: &Probe) -> Check {
    let version = Command::new("nix")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let daemon = if probe.daemon_socket.exists() {
        match std::os::unix::net::UnixStream::connect(&probe.daemon_socket) {
            Ok(_) => format!("daemon: running ({})", probe.daemon_socket.display()),
            Err(e) => format!(
                "daemon: socket {} present but not answering ({e})",
                probe.daemon_socket.display()
            ),
        }
    } else {
        "daemon: not running".to_string()
    };
    match version {
        Some(v) => Check::new("nix", Status::Ok, format!("Nix is installed: {v}")).detail(daemon),
        None => Check::new(
            "nix",
            Status::Info,
            "Nix is not installed; devenv does not need it (packages come from binary caches)",
        )
        .detail("without Nix, a package no binary cache has cannot be built from source"),
    }
}

/// GET `url` with the invocation's client (retries, the waiting line) and doctor's short
/// timeout: the status code and body, or why there was none.
fn http_get(http: &crate::http::Client, url: &str) -> Result<(u16, String), crate::http::Error> {
    let reply = http.get(
        url,
        &[("User-Agent", DOCTOR_USER_AGENT)],
        crate::limits::MAX_INDEX_BYTES,
    )?;
    Ok((
        reply.status.as_u16(),
        String::from_utf8_lossy(&reply.body).into_owned(),
    ))
}

const DOCTOR_USER_AGENT: &str = concat!("devenv/", env!("CARGO_PKG_VERSION"), " doctor");

/// A failed probe as a check: what happened, and the hint that fixes the network problem (a
/// local index and cache) when nothing could be reached at all.
fn unreachable(check: Check, error: &crate::http::Error) -> Check {
    match error {
        crate::http::Error::Unreachable { .. } => check.detail(crate::http::UNREACHABLE_HINT),
        _ => check,
    }
}

fn index(settings: &Settings, http: &crate::http::Client) -> Check {
    let url = settings.index.value.trim();
    let fix = "devenv --index <directory or URL> doctor   # then set DEVENV_INDEX or \"index\" in config.json";
    if let Some(path) = local_path(url) {
        let meta = path.join("index.json");
        let text = crate::fsutil::read_bounded(&meta, crate::limits::MAX_INDEX_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(std::io::Error::other));
        return match text {
            Ok(text) => match crate::index::http::parse_json::<crate::index::format::IndexMeta>(
                text.as_bytes(),
                &meta.display().to_string(),
            ) {
                Ok(m) if m.format == crate::index::format::FORMAT => Check::new(
                    "index",
                    Status::Ok,
                    format!("index {} is a static index on disk", path.display()),
                ),
                Ok(m) => Check::new(
                    "index",
                    Status::Fail,
                    format!(
                        "index {} has format {}, this devenv reads format {}",
                        path.display(),
                        m.format,
                        crate::index::format::FORMAT
                    ),
                )
                .fix("rebuild it with a matching devenv: devenv index build"),
                Err(e) => Check::new(
                    "index",
                    Status::Fail,
                    // `<file>:<line>:<column>: <what is wrong>`
                    e.root_cause().to_string(),
                )
                .fix(fix),
            },
            Err(e) => Check::new(
                "index",
                Status::Fail,
                format!(
                    "index {} cannot be read: {}: {e}",
                    path.display(),
                    meta.display()
                ),
            )
            .fix(fix),
        };
    }
    let base = url
        .strip_prefix("nixhub+")
        .or_else(|| url.strip_prefix("sparse+"))
        .unwrap_or(url)
        .trim_end_matches('/');
    if !base.starts_with("http://") && !base.starts_with("https://") {
        return Check::new(
            "index",
            Status::Fail,
            format!("unsupported index URL `{url}`"),
        )
        .fix(fix);
    }
    let probe_url = if url.starts_with("nixhub+") || url == crate::settings::DEFAULT_INDEX {
        base.to_string()
    } else {
        format!("{base}/index.json")
    };
    match http_get(http, &probe_url) {
        Ok((status, _)) if status < 500 => Check::new(
            "index",
            Status::Ok,
            format!("index {url} is reachable (HTTP {status} for {probe_url})"),
        ),
        Ok((status, _)) => Check::new(
            "index",
            Status::Fail,
            format!("index {url} answers HTTP {status} for {probe_url}"),
        )
        .detail("packages already in the lock still install from the binary caches")
        .fix(fix),
        Err(why) => unreachable(
            Check::new(
                "index",
                Status::Fail,
                format!("index {url} is not reachable: {why}"),
            )
            .detail("packages already in the lock still install from the binary caches"),
            &why,
        )
        .fix(fix),
    }
}

/// A directory path or `file://` URL as a path; `None` for network URLs.
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    (!url.contains("://")).then(|| PathBuf::from(url))
}

fn substituter(url: &str, settings: &Settings, http: &crate::http::Client) -> Check {
    let others: Vec<&str> = settings
        .substituters
        .iter()
        .map(String::as_str)
        .filter(|u| *u != url)
        .collect();
    // Without the broken cache if others remain; else it has to be replaced by one that works.
    let fix = if others.is_empty() {
        "export DEVENV_SUBSTITUTERS=\"<URL or directory of a reachable binary cache>\"".to_string()
    } else {
        format!("export DEVENV_SUBSTITUTERS=\"{}\"", others.join(" "))
    };
    let mut network_error = None;
    let result = match local_path(url) {
        Some(dir) => crate::fsutil::read_bounded(
            &dir.join("nix-cache-info"),
            crate::limits::MAX_NARINFO_BYTES,
        )
        .and_then(|b| String::from_utf8(b).map_err(std::io::Error::other))
        .map_err(|e| format!("{}: {e}", dir.join("nix-cache-info").display())),
        None => match http_get(
            http,
            &format!("{}/nix-cache-info", url.trim_end_matches('/')),
        ) {
            Ok((200, body)) => Ok(body),
            Ok((status, _)) => Err(format!("nix-cache-info answered HTTP {status}")),
            Err(why) => {
                let text = why.to_string();
                network_error = Some(why);
                Err(text)
            }
        },
    };
    match result {
        Ok(info) => {
            let store_dir = info
                .lines()
                .find_map(|l| l.strip_prefix("StoreDir:"))
                .map(str::trim)
                .unwrap_or("");
            if store_dir == crate::store::layout::STORE_DIR {
                Check::new(
                    "substituter",
                    Status::Ok,
                    format!("binary cache {url} answers"),
                )
            } else {
                Check::new(
                    "substituter",
                    Status::Fail,
                    format!(
                        "binary cache {url} serves store `{store_dir}`, not {}",
                        crate::store::layout::STORE_DIR
                    ),
                )
                .fix(fix)
            }
        }
        Err(why) => {
            let check = Check::new(
                "substituter",
                Status::Fail,
                format!("binary cache {url} is not reachable: {why}"),
            );
            match &network_error {
                Some(e) => unreachable(check, e),
                None => check,
            }
            .fix(fix)
        }
    }
}

/// Why `key` is not a usable `name:base64` ed25519 public key, if it is not.
pub fn key_problem(key: &str) -> Option<String> {
    let Some((name, b64)) = key.split_once(':') else {
        return Some("it has no `name:` part".to_string());
    };
    if name.is_empty() {
        return Some("its name is empty".to_string());
    }
    match base64::engine::general_purpose::STANDARD.decode(b64) {
        Err(e) => Some(format!("its key is not base64 ({e})")),
        Ok(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
            Err(_) => Some(format!(
                "its key is {} bytes, an ed25519 public key is 32",
                bytes.len()
            )),
            Ok(arr) => ed25519_dalek::VerifyingKey::from_bytes(&arr)
                .err()
                .map(|e| format!("its key is not a valid ed25519 point ({e})")),
        },
    }
}

fn trusted_keys(settings: &Settings) -> Check {
    let bad: Vec<(String, String)> = settings
        .trusted_public_keys
        .iter()
        .filter_map(|k| key_problem(k).map(|why| (k.clone(), why)))
        .collect();
    let names: Vec<&str> = settings
        .trusted_public_keys
        .iter()
        .map(|k| k.split(':').next().unwrap_or(k))
        .collect();
    if bad.is_empty() {
        return Check::new(
            "trusted-keys",
            Status::Ok,
            format!("{} trusted key(s): {}", names.len(), names.join(", ")),
        );
    }
    let good: Vec<&str> = settings
        .trusted_public_keys
        .iter()
        .filter(|k| key_problem(k).is_none())
        .map(String::as_str)
        .collect();
    let mut check = Check::new(
        "trusted-keys",
        Status::Fail,
        format!("{} trusted key(s) cannot be used", bad.len()),
    );
    for (key, why) in bad {
        check = check.detail(format!("`{key}`: {why}"));
    }
    check.fix(format!(
        "export DEVENV_TRUSTED_PUBLIC_KEYS=\"{}\"",
        good.join(" ")
    ))
}

/// Each shell's rc files, in the order the shell reads them.
fn rc_files(probe: &Probe) -> Vec<(&'static str, PathBuf)> {
    let zdot = probe.zdotdir.clone().unwrap_or_else(|| probe.home.clone());
    let config = probe
        .xdg_config_home
        .clone()
        .unwrap_or_else(|| probe.home.join(".config"));
    let mut files = vec![
        ("bash", probe.home.join(".bashrc")),
        ("bash", probe.home.join(".bash_profile")),
        ("zsh", zdot.join(".zshrc")),
        ("zsh", zdot.join(".zshenv")),
        ("fish", config.join("fish/config.fish")),
    ];
    if let Ok(dir) = std::fs::read_dir(config.join("fish/conf.d")) {
        let mut extra: Vec<PathBuf> = dir.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        extra.sort();
        files.extend(extra.into_iter().map(|p| ("fish", p)));
    }
    files
}

fn hook_line(shell: &str) -> String {
    match shell {
        "fish" => "devenv hook fish | source".to_string(),
        _ => format!("eval \"$(devenv hook {shell})\""),
    }
}

fn hook(probe: &Probe) -> Check {
    let mut hooked: Vec<(&str, PathBuf)> = Vec::new();
    for (shell, file) in rc_files(probe) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let active = text
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("devenv hook"));
        if active && !hooked.iter().any(|(s, _)| *s == shell) {
            hooked.push((shell, file));
        }
    }
    let current = probe
        .shell
        .as_deref()
        .and_then(|s| Path::new(s).file_name())
        .map(|s| s.to_string_lossy().into_owned());
    let mut check = match current.as_deref() {
        Some(sh @ ("bash" | "zsh" | "fish")) if hooked.iter().any(|(s, _)| *s == sh) => Check::new(
            "hook",
            Status::Ok,
            format!("the hook is installed for {sh}, your shell"),
        ),
        Some(sh @ ("bash" | "zsh" | "fish")) => {
            let rc = rc_files(probe)
                .into_iter()
                .find(|(s, _)| *s == sh)
                .map(|(_, p)| p)
                .unwrap_or_default();
            Check::new(
                "hook",
                Status::Warn,
                format!("the hook is not installed for {sh}, your shell: projects do not activate on cd"),
            )
            .fix(format!(
                "echo '{}' >> {}",
                hook_line(sh),
                shell_words::quote(&rc.to_string_lossy())
            ))
        }
        Some(other) => Check::new(
            "hook",
            Status::Warn,
            format!("your shell `{other}` has no devenv hook; bash, zsh and fish are supported"),
        )
        .fix("devenv shell   # or use `devenv shellenv` in its rc file"),
        None => Check::new(
            "hook",
            Status::Info,
            "SHELL is not set; cannot tell which shell you use",
        ),
    };
    for (shell, file) in hooked {
        check = check.detail(format!("{shell}: {}", file.display()));
    }
    check
}

fn project(settings: &Settings, probe: &Probe) -> Check {
    let Some(p) = Project::find(&probe.cwd) else {
        return Check::new(
            "project",
            Status::Info,
            format!("no devenv.json at or above {}", probe.cwd.display()),
        )
        .fix("devenv init");
    };
    let manifest_path = p.manifest_path();
    let root = shell_words::quote(&p.root.to_string_lossy()).into_owned();
    // Trust is bound to the canonical path and the bytes of manifest and lock, exactly as
    // `devenv allow` records it.
    let trust = Inputs::read(&p).and_then(|inputs| {
        let root = p.canonical_root()?;
        Ok(TrustStore::new(&settings.dirs.data).status(&root, &inputs.trust_content()))
    });
    let trust = match trust {
        Ok(Ok(t)) => t,
        Ok(Err(untrusted)) => {
            return Check::new(
                "project",
                Status::Fail,
                format!(
                    "project {} is not allowed: its trust record could have been written by another user",
                    p.root.display()
                ),
            )
            .detail(untrusted.to_string())
            .fix(untrusted.fix())
        }
        Err(e) => {
            return Check::new(
                "project",
                Status::Fail,
                format!("project {}: {e:#}", p.root.display()),
            )
        }
    };
    let summary = |state: &str| format!("project {} is {state}", p.root.display());
    match trust {
        Trust::Allowed => Check::new(
            "project",
            Status::Ok,
            summary("allowed: it activates when you cd into it"),
        ),
        Trust::NotAllowed => Check::new(
            "project",
            Status::Warn,
            summary("not allowed (new, or its manifest or lock changed since `devenv allow`)"),
        )
        .detail(format!(
            "read {} before allowing it: its init_hook runs in your shell",
            manifest_path.display()
        ))
        .fix(format!("devenv allow {root}")),
        Trust::Denied => Check::new(
            "project",
            Status::Warn,
            summary("denied: it never activates automatically"),
        )
        .fix(format!("devenv allow {root}")),
    }
}

/// Whether the store paths the current project installed are still on disk (anything can delete
/// a directory under the store; the database would still list it). Read-only: the database is
/// opened without writing. None when there is no project, nothing it wants on this system, or no
/// local store.
fn project_store_paths(settings: &Settings, probe: &Probe) -> Option<Check> {
    let project = Project::find(&probe.cwd)?;
    let inputs = Inputs::read(&project).ok()?;
    let manifest = &inputs.manifest().ok()?.manifest;
    let lock = inputs.lock().ok()??;
    let system = &settings.system;
    let wanted: Vec<String> = manifest
        .packages_for(system)
        .filter_map(|spec| lock.packages.get(&spec.lock_key()).map(|e| (spec, e)))
        .flat_map(|(spec, entry)| entry.outputs_for(system, &spec.outputs))
        .map(|o| o.path)
        .collect();
    if wanted.is_empty() {
        return None;
    }
    let root = match &settings.store_root.value {
        Some(root) => root.clone(),
        None => PathBuf::from("/"),
    };
    let layout = crate::store::layout::StoreLayout::new(&root);
    let db_path = layout.real_path("/nix/var/devenv/db.sqlite");
    if !db_path.exists() {
        return None;
    }
    let fix = "devenv install   # fetches what is missing";
    let db = match crate::store::db::Db::open_read_only(&db_path) {
        Ok(db) => db,
        Err(e) => {
            return Some(Check::new(
                "store-paths",
                Status::Fail,
                format!("the store database cannot be read: {e:#}"),
            ))
        }
    };
    let closure = db.closure_of(&wanted).unwrap_or_default();
    let gone: Vec<&String> = closure
        .iter()
        .filter(|p| {
            std::fs::symlink_metadata(layout.real_path(p))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        })
        .collect();
    let not_installed = wanted
        .iter()
        .filter(|p| !db.is_valid(p).unwrap_or(false))
        .count();
    let check = if !gone.is_empty() {
        let mut check = Check::new(
            "store-paths",
            Status::Fail,
            format!(
                "{} store path(s) of project {} are registered but their directories are gone \
                 (deleted outside devenv)",
                gone.len(),
                project.root.display()
            ),
        );
        for p in gone {
            check = check.detail(layout.real_path(p).display().to_string());
        }
        check.fix(fix)
    } else if not_installed > 0 {
        Check::new(
            "store-paths",
            Status::Warn,
            format!(
                "{not_installed} of the {} store path(s) project {} uses are not installed",
                wanted.len(),
                project.root.display()
            ),
        )
        .fix(fix)
    } else {
        Check::new(
            "store-paths",
            Status::Ok,
            format!(
                "the {} store path(s) of project {} and their closure ({} paths) are on disk",
                wanted.len(),
                project.root.display(),
                closure.len()
            ),
        )
    };
    Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_for_name_base64_and_length() {
        assert_eq!(key_problem(crate::settings::CACHE_NIXOS_ORG_KEY), None);
        assert!(key_problem("no-colon").unwrap().contains("name"));
        assert!(key_problem(":AAAA").unwrap().contains("name is empty"));
        assert!(key_problem("k:!!!").unwrap().contains("base64"));
        assert!(key_problem("k:AAAA").unwrap().contains("3 bytes"));
    }

    #[test]
    fn local_paths_and_urls_are_told_apart() {
        assert_eq!(local_path("/srv/idx"), Some(PathBuf::from("/srv/idx")));
        assert_eq!(
            local_path("file:///srv/idx"),
            Some(PathBuf::from("/srv/idx"))
        );
        assert_eq!(local_path("https://example.org"), None);
    }
}
