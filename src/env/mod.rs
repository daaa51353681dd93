//! The environment of a project: which variables activation sets, computed from its profile and
//! manifest, and cached per project keyed by the content hashes of manifest, lock and profile.
//!
//! The cached [`EnvSpec`] holds what is costly or I/O-bound to find out (which profile directories
//! exist, the parsed manifest's `env`, `init_hook` and scripts); applying it to a concrete
//! environment ([`EnvSpec::apply`]) is pure string work, so `$VAR` references see the shell's
//! current values. Expansion knows `$NAME` and `${NAME}` only: there is never command substitution,
//! so evaluating an environment runs nothing from the project.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::ResultExt as _;
use crate::fsutil::owner;
use crate::manifest::Manifest;
use crate::shell::diff::{Applied, Builder};
use crate::shell::{vars, Env};

/// Set to the project root in every activated environment.
pub const PROJECT_ROOT_VAR: &str = crate::variables::PROJECT_ROOT;
/// Set to the profile (its stable `current` link) when the project has packages.
pub const PROFILE_VAR: &str = crate::variables::PROFILE;

/// The variables Devbox sets in every environment of a project, set by devenv too so a Devbox
/// project's `env`, hooks and scripts (`"$DEVBOX_PROJECT_ROOT/.playbooks"`) work unchanged.
pub mod devbox_vars {
    /// The project root.
    pub const PROJECT_ROOT: &str = "DEVBOX_PROJECT_ROOT";
    /// `<root>/devbox.d`, where plugins keep their configuration files.
    pub const CONFIG_DIR: &str = "DEVBOX_CONFIG_DIR";
    /// The directory holding the project's packages (`bin/`, `lib/`, ...): devenv's profile.
    pub const PACKAGES_DIR: &str = "DEVBOX_PACKAGES_DIR";
    /// The directory the command was run from.
    pub const WD: &str = "DEVBOX_WD";
}

/// List variables filled from profile directories: (variable, subdirectories, default tail used
/// when the variable is unset so programs keep their built-in search path).
const PROFILE_LISTS: &[(&str, &[&str], &[&str])] = &[
    ("PATH", &["bin"], &[]),
    ("MANPATH", &["share/man"], &[""]),
    ("INFOPATH", &["share/info"], &[]),
    (
        "XDG_DATA_DIRS",
        &["share"],
        &["/usr/local/share", "/usr/share"],
    ),
    (
        "PKG_CONFIG_PATH",
        &["lib/pkgconfig", "share/pkgconfig"],
        &[],
    ),
    ("TERMINFO_DIRS", &["share/terminfo"], &[""]),
];

/// A project's environment, independent of the shell it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvSpec {
    /// [`cache_key`] of the inputs it was computed from.
    pub key: String,
    /// The profile's `current` link, when the project has packages on this system.
    pub profile: Option<PathBuf>,
    /// The profile's `current` link whether or not it exists yet (`DEVBOX_PACKAGES_DIR`).
    pub packages_dir: PathBuf,
    /// List variables and the directories to put in front of them.
    pub lists: Vec<(String, Vec<String>)>,
    /// The manifest's `env`, unexpanded, in file order.
    pub env: Vec<(String, String)>,
    pub init_hook: Vec<String>,
    pub scripts: BTreeMap<String, Vec<String>>,
}

/// Changes whenever the rules a cached spec was checked against change, so a spec cached by an
/// older devenv is computed (and its manifest checked) again. 2: `env` names and sizes are checked.
/// 3: `packages_dir`.
const SPEC_VERSION: &[u8] = b"env-spec-3\0";

/// Hash of what an environment depends on: manifest bytes, lock bytes and the profile's target.
pub fn cache_key(manifest: &[u8], lock: Option<&[u8]>, profile_target: Option<&Path>) -> String {
    let mut h = Sha256::new();
    h.update(SPEC_VERSION);
    h.update(inputs_hash(manifest, lock).as_bytes());
    h.update(b"\0");
    if let Some(t) = profile_target {
        h.update(t.as_os_str().as_encoded_bytes());
    }
    hex(&h.finalize()[..16])
}

/// Hash of the manifest and lock bytes (what the user or `git pull` changes).
pub fn inputs_hash(manifest: &[u8], lock: Option<&[u8]>) -> String {
    let mut h = Sha256::new();
    h.update((manifest.len() as u64).to_le_bytes());
    h.update(manifest);
    if let Some(lock) = lock {
        h.update(b"\x01");
        h.update(lock);
    }
    hex(&h.finalize()[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl EnvSpec {
    /// Compute the spec for a manifest and (optionally) a profile link; `packages_dir` is where
    /// that link is or will be.
    pub fn compute(
        key: String,
        manifest: &Manifest,
        profile: Option<&Path>,
        packages_dir: &Path,
    ) -> EnvSpec {
        let mut lists = Vec::new();
        if let Some(profile) = profile {
            for (var, subdirs, _) in PROFILE_LISTS {
                let dirs: Vec<String> = subdirs
                    .iter()
                    .map(|s| profile.join(s))
                    .filter(|d| d.is_dir())
                    .map(|d| d.display().to_string())
                    .collect();
                if !dirs.is_empty() {
                    lists.push((var.to_string(), dirs));
                }
            }
        }
        EnvSpec {
            key,
            profile: profile.map(Path::to_path_buf),
            packages_dir: packages_dir.to_path_buf(),
            lists,
            env: manifest.env.clone(),
            init_hook: manifest.init_hook.clone(),
            scripts: manifest.scripts.clone(),
        }
    }

    /// The environment of project `root` on top of `pristine`, for a command run from `wd`, and
    /// the record to undo it. Fails when a variable, all of them together, or the record would
    /// be too large for programs to start (see [`check_sizes`]).
    pub fn apply(&self, root: &Path, wd: &Path, pristine: Env) -> Result<(Env, Applied)> {
        self.apply_at(Some(root), wd, pristine)
    }

    /// [`EnvSpec::apply`] for an environment that may belong to no project (the global one sets
    /// neither `DEVENV_PROJECT_ROOT` nor Devbox's project variables).
    pub fn apply_at(
        &self,
        root: Option<&Path>,
        wd: &Path,
        pristine: Env,
    ) -> Result<(Env, Applied)> {
        let mut b = Builder::new(pristine);
        if let Some(root) = root {
            let root_text = root.display().to_string();
            b.set(PROJECT_ROOT_VAR, &root_text);
            b.set(devbox_vars::PROJECT_ROOT, &root_text);
            b.set(
                devbox_vars::CONFIG_DIR,
                &root.join("devbox.d").display().to_string(),
            );
            b.set(
                devbox_vars::PACKAGES_DIR,
                &self.packages_dir.display().to_string(),
            );
            b.set(devbox_vars::WD, &wd.display().to_string());
        }
        if let Some(p) = &self.profile {
            b.set(PROFILE_VAR, &p.display().to_string());
        }
        for (var, dirs) in &self.lists {
            let tail = PROFILE_LISTS
                .iter()
                .find(|(v, _, _)| v == var)
                .map(|(_, _, t)| *t)
                .unwrap_or(&[]);
            b.prepend(var, dirs, tail);
        }
        for (key, raw) in &self.env {
            let value = expand(raw, |name| b.get(name).map(str::to_string));
            b.set(key, &value);
        }
        let (env, applied) = b.finish();
        check_sizes(&env, &applied)?;
        Ok((env, applied))
    }
}

/// Refuse an activation whose variables would no longer fit the kernel's limits once `$NAME`
/// references are expanded (each value, and all the variables it sets together), or whose record
/// in `__DEVENV_DIFF` would (it keeps the previous value of every variable the project replaces):
/// beyond them no program starts in the shell, devenv included, so it could not even unload.
fn check_sizes(env: &Env, applied: &Applied) -> Result<()> {
    let mut total = 0;
    let mut largest: Option<(&str, usize)> = None;
    let keys: std::collections::BTreeSet<&str> = applied.keys().collect();
    for key in keys {
        let Some(value) = env.get(key) else { continue };
        if value.len() > vars::MAX_VALUE_BYTES {
            return Err(anyhow::anyhow!(
                "`{key}` would be {} bytes long once `$NAME` references are expanded; a variable devenv sets may have at most {} bytes (32 KiB)",
                value.len(),
                vars::MAX_VALUE_BYTES
            ))
            .hint(format!("shorten `env.{key}` in the manifest, or the variables it refers to"))
            .bad_input();
        }
        total += vars::entry_bytes(key, value);
        if largest.map_or(true, |(_, n)| value.len() > n) {
            largest = Some((key, value.len()));
        }
    }
    if total > vars::MAX_TOTAL_BYTES {
        let (key, n) = largest.expect("a total above the limit has a largest variable");
        return Err(anyhow::anyhow!(
            "the variables the project sets would take {total} bytes once `$NAME` references are expanded; together they may take at most {} bytes (128 KiB)",
            vars::MAX_TOTAL_BYTES
        ))
        .hint(format!("the largest is `{key}` ({n} bytes); shorten it in the manifest's `env`"))
        .bad_input();
    }
    let state = applied.encode().len();
    if state > vars::MAX_STATE_BYTES {
        let (key, prev) = applied
            .vars
            .iter()
            .filter_map(|(k, c)| Some((k.as_str(), c.prev.as_ref()?.len())))
            .max_by_key(|(_, n)| *n)
            .unwrap_or(("", 0));
        return Err(anyhow::anyhow!(
            "to restore the shell on leaving, devenv would have to remember {state} bytes, more than the {} bytes (32 KiB) its state in the environment may take; most of it is the current value of `{key}` ({prev} bytes), which the project replaces",
            vars::MAX_STATE_BYTES
        ))
        .hint(format!("shorten or unset `{key}` in your shell before entering the project, or remove it from the project's `env`"))
        .bad_input();
    }
    Ok(())
}

/// Expand `$NAME` and `${NAME}` with `lookup` (unset = empty). Anything else, including `$(…)`
/// and backquotes, stays literal text.
pub fn expand(raw: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(raw.len());
    let bytes = raw.as_bytes();
    let mut i = 0;
    let is_name = |c: u8| c == b'_' || c.is_ascii_alphanumeric();
    while i < bytes.len() {
        if bytes[i] == b'$' {
            if bytes.get(i + 1) == Some(&b'{') {
                if let Some(end) = raw[i + 2..].find('}') {
                    let name = &raw[i + 2..i + 2 + end];
                    if !name.is_empty() && name.bytes().all(is_name) {
                        out.push_str(&lookup(name).unwrap_or_default());
                        i += end + 3;
                        continue;
                    }
                }
            } else if bytes
                .get(i + 1)
                .is_some_and(|&c| c == b'_' || c.is_ascii_alphabetic())
            {
                let len = bytes[i + 1..].iter().take_while(|&&c| is_name(c)).count();
                out.push_str(&lookup(&raw[i + 1..i + 1 + len]).unwrap_or_default());
                i += 1 + len;
                continue;
            }
        }
        let ch = raw[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Computed environments on disk: `<state dir>/env/<project key>.json`, plus the stamps the hook
/// compares the manifest and lock with (`<project key>.stamps/<inputs hash>`).
///
/// A cached environment is code the shell runs (its `init_hook`), so it is private: 0600 files in
/// 0700 directories whatever the umask. When the state dir or `env/` could be changed by another
/// user, the cache is refused (an error naming the directory and the fix): whatever devenv wrote
/// there could be replaced at any moment. An entry another user could have written, in
/// directories that are fine, is ignored and replaced by a recomputed one. Stamps hold no content
/// (only their mtime tells the hook when to ask devenv again), so they are not checked.
#[derive(Debug, Clone)]
pub struct EnvCache {
    /// devenv's state dir: the outermost directory whose owner and mode are checked.
    state: PathBuf,
    dir: PathBuf,
}

impl EnvCache {
    pub fn new(state_dir: &Path) -> EnvCache {
        EnvCache {
            state: state_dir.to_path_buf(),
            dir: state_dir.join("env"),
        }
    }

    fn spec_path(&self, project_key: &str) -> PathBuf {
        self.dir.join(format!("{project_key}.json"))
    }

    /// An error, naming the directory and the fix, when the state dir or `env/` could be changed
    /// by other users.
    pub fn verify(&self) -> Result<()> {
        owner::check_within(&self.state, &self.dir).map_err(owner::Untrusted::into_error)
    }

    /// Create `env/` privately if missing and check it and the state dir.
    fn prepare_dir(&self) -> Result<()> {
        crate::fsutil::create_private_dir_all(&self.dir)
            .with_context(|| format!("cannot create `{}`", self.dir.display()))?;
        self.verify()
    }

    /// The cached spec when it was computed from inputs with hash `key`. An error when the
    /// cache's directories could be changed by other users.
    pub fn get(&self, project_key: &str, key: &str) -> Result<Option<EnvSpec>> {
        self.verify()?;
        let path = self.spec_path(project_key);
        if owner::check(&path).is_err() {
            return Ok(None);
        }
        let Ok(bytes) = fs::read(&path) else {
            return Ok(None);
        };
        let spec: Option<EnvSpec> = serde_json::from_slice(&bytes).ok();
        Ok(spec.filter(|s| s.key == key))
    }

    pub fn put(&self, project_key: &str, spec: &EnvSpec) -> Result<()> {
        self.prepare_dir()?;
        let path = self.spec_path(project_key);
        let text = serde_json::to_vec(spec).expect("serializable");
        crate::fsutil::write_private(&path, &text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        Ok(())
    }

    /// The stamp for inputs `inputs`: its mtime is the newest mtime the manifest and lock had when
    /// they were read, so the hook's `-nt` test fires exactly when one was written since.
    pub fn stamp(
        &self,
        project_key: &str,
        inputs: &str,
        mtime: filetime::FileTime,
    ) -> Result<PathBuf> {
        self.prepare_dir()?;
        let dir = self.dir.join(format!("{project_key}.stamps"));
        crate::fsutil::create_private_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let path = dir.join(inputs);
        if !path.exists() {
            prune_stamps(&dir, MAX_STAMPS - 1);
            crate::fsutil::open_private(&path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
        }
        filetime::set_file_mtime(&path, mtime)
            .with_context(|| format!("cannot set the time of `{}`", path.display()))?;
        Ok(path)
    }

    /// Drop every stamp of a project, so each shell re-exports at its next prompt (after a
    /// rollback, a new generation or a new allowance).
    pub fn invalidate(&self, project_key: &str) {
        let _ = fs::remove_dir_all(self.dir.join(format!("{project_key}.stamps")));
    }

    /// Drop the stamps of every project: each one's environment includes the global one, which
    /// changed.
    pub fn invalidate_all(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".stamps") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Stamps kept per project; each manifest or lock version makes one. A shell whose stamp was
/// pruned re-exports once at its next prompt, nothing worse.
const MAX_STAMPS: usize = 16;

/// Keep the `keep` stamps with the newest mtimes in `dir`.
fn prune_stamps(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut stamps: Vec<(filetime::FileTime, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((
                filetime::FileTime::from_last_modification_time(&meta),
                e.path(),
            ))
        })
        .collect();
    if stamps.len() <= keep {
        return;
    }
    stamps.sort();
    let excess = stamps.len() - keep;
    for (_, path) in stamps.into_iter().take(excess) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_handles_names_braces_and_never_commands() {
        let lookup = |n: &str| match n {
            "HOME" => Some("/home/u".to_string()),
            "A_1" => Some("x".to_string()),
            _ => None,
        };
        assert_eq!(expand("$HOME/bin", lookup), "/home/u/bin");
        assert_eq!(expand("${HOME}x$A_1-$NOPE.", lookup), "/home/uxx-.");
        assert_eq!(
            expand("$(touch f) `id` $ 5$ ${bad name}", lookup),
            "$(touch f) `id` $ 5$ ${bad name}"
        );
        assert_eq!(expand("é$HOME", lookup), "é/home/u");
    }

    #[test]
    fn apply_sets_root_profile_lists_and_expanded_env() {
        let tmp = tempfile::tempdir().unwrap();
        let profile = tmp.path().join("current");
        fs::create_dir_all(profile.join("bin")).unwrap();
        fs::create_dir_all(profile.join("share/man")).unwrap();
        let manifest = Manifest {
            env: vec![
                ("CFG".into(), "$DEVENV_PROJECT_ROOT/cfg".into()),
                ("PLAYBOOKS".into(), "$DEVBOX_PROJECT_ROOT/.playbooks".into()),
                ("PATH".into(), "$DEVENV_PROJECT_ROOT/scripts:$PATH".into()),
            ],
            ..Default::default()
        };
        let spec = EnvSpec::compute("k".into(), &manifest, Some(&profile), &profile);
        let pristine: Env = [("PATH".to_string(), "/usr/bin".to_string())].into();
        let (env, applied) = spec
            .apply(Path::new("/p"), Path::new("/p/sub"), pristine.clone())
            .unwrap();
        let bin = profile.join("bin").display().to_string();
        assert_eq!(env["PATH"], format!("/p/scripts:{bin}:/usr/bin"));
        assert_eq!(env["CFG"], "/p/cfg");
        assert_eq!(
            env["MANPATH"],
            format!("{}:", profile.join("share/man").display())
        );
        assert_eq!(env[PROJECT_ROOT_VAR], "/p");
        assert_eq!(env["PLAYBOOKS"], "/p/.playbooks");
        assert_eq!(env[devbox_vars::PROJECT_ROOT], "/p");
        assert_eq!(env[devbox_vars::CONFIG_DIR], "/p/devbox.d");
        assert_eq!(
            env[devbox_vars::PACKAGES_DIR],
            profile.display().to_string()
        );
        assert_eq!(env[devbox_vars::WD], "/p/sub");
        assert_eq!(crate::shell::diff::revert(&env, &applied), pristine);
    }

    /// The error of applying `env` on `pristine`, rendered.
    fn refused(env: &[(&str, &str)], pristine: &[(&str, &str)]) -> String {
        let manifest = Manifest {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let spec = EnvSpec::compute("k".into(), &manifest, None, Path::new("/d/current"));
        let pristine: Env = pristine
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = spec
            .apply(Path::new("/p"), Path::new("/p/sub"), pristine)
            .unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        report.render()
    }

    #[test]
    fn apply_refuses_what_would_not_fit_after_expansion() {
        let chunk = "x".repeat(20_000);
        let err = refused(&[("A", &chunk), ("B", "$A$A")], &[]);
        assert!(
            err.contains("`B` would be 40000 bytes long once `$NAME` references are expanded"),
            "{err}"
        );
        let many: Vec<(String, String)> = (0..7).map(|i| (format!("V{i}"), "$A".into())).collect();
        let mut env: Vec<(&str, &str)> = vec![("A", &chunk)];
        env.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let err = refused(&env, &[]);
        assert!(
            err.contains("the variables the project sets would take 160")
                && err.contains("at most 131072 bytes"),
            "{err}"
        );
        // Replacing a large variable of the user's would make the record too large.
        let theirs = "y".repeat(30_000);
        let err = refused(&[("EDITOR", "vi")], &[("EDITOR", &theirs)]);
        assert!(
            err.contains("the current value of `EDITOR` (30000 bytes)") && err.contains("32768"),
            "{err}"
        );
    }

    #[test]
    fn stamps_carry_the_inputs_mtime_and_are_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = EnvCache::new(tmp.path());
        let t = filetime::FileTime::from_unix_time(1_700_000_000, 123);
        let first = cache.stamp("p", "h0", t).unwrap();
        let meta = fs::metadata(&first).unwrap();
        assert_eq!(filetime::FileTime::from_last_modification_time(&meta), t);
        for i in 1..=MAX_STAMPS {
            let t = filetime::FileTime::from_unix_time(1_700_000_000 + i as i64, 0);
            cache.stamp("p", &format!("h{i}"), t).unwrap();
        }
        let left = fs::read_dir(first.parent().unwrap()).unwrap().count();
        assert_eq!(left, MAX_STAMPS);
        assert!(!first.exists(), "the oldest stamp goes first");
        cache.invalidate("p");
        assert!(!first.parent().unwrap().exists());
    }

    #[test]
    fn cache_round_trips_and_misses_on_other_keys() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = EnvCache::new(tmp.path());
        let spec = EnvSpec::compute(
            cache_key(b"{}", None, None),
            &Manifest::default(),
            None,
            Path::new("/d/current"),
        );
        cache.put("p", &spec).unwrap();
        assert_eq!(cache.get("p", &spec.key).unwrap(), Some(spec.clone()));
        assert_eq!(
            cache.get("p", &cache_key(b"{ }", None, None)).unwrap(),
            None
        );
        assert_ne!(
            cache_key(b"{}", Some(b""), None),
            cache_key(b"{}", None, None)
        );
    }

    #[test]
    fn entries_others_could_write_are_ignored_and_writable_dirs_refused() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m));
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let cache = EnvCache::new(&state);
        let spec = EnvSpec::compute(
            cache_key(b"{}", None, None),
            &Manifest::default(),
            None,
            Path::new("/d/current"),
        );
        cache.put("p", &spec).unwrap();
        let entry = state.join("env/p.json");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (mode(&state), mode(&state.join("env")), mode(&entry)),
            (0o700, 0o700, 0o600)
        );
        chmod(&entry, 0o666).unwrap();
        assert_eq!(cache.get("p", &spec.key).unwrap(), None, "ignored");
        cache.put("p", &spec).unwrap();
        assert_eq!(mode(&entry), 0o600, "replaced by a private entry");
        assert_eq!(cache.get("p", &spec.key).unwrap(), Some(spec.clone()));
        chmod(&state, 0o770).unwrap();
        let err = cache.get("p", &spec.key).unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert!(
            report
                .causes
                .iter()
                .any(|c| c.contains("writable by its group")),
            "{report:?}"
        );
        assert!(cache.put("p", &spec).is_err());
        assert!(cache.stamp("p", "h", filetime::FileTime::zero()).is_err());
    }
}
