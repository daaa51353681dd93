//! Version indexes: which versions of a package exist, and from which nixpkgs revision, attribute
//! and store paths each one comes.
//!
//! Backends sit behind one object-safe trait, [`Index`]: the static sparse index ([`sparse`]; a
//! directory or an http(s) URL, whose file format is [`format`]) and a client for the
//! Nixhub-compatible API ([`nixhub`]). [`open`] picks the backend from the configured URL. Resolution
//! turns a name and a [`Constraint`] into a [`Resolved`] version with per-system outputs, which
//! [`Resolved::to_locked`] turns into a lock entry. Every backend checks its answers with the
//! lock's rules ([`validate`]) before returning them, so nothing an index says reaches a lock, a
//! command or the terminal unchecked.

pub mod build;
pub mod format;
pub mod http;
pub mod name_scan;
pub mod names;
pub mod nixhub;
pub mod resolve;
pub mod sparse;
pub mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::diagnostic::ResultExt;
use crate::lock::{LockedPackage, LockedSystem};
use crate::settings::{Settings, DEFAULT_INDEX};
use crate::version::Constraint;
use format::{PackageFile, SystemOutputs, VersionEntry};

/// One exact version chosen for a package, with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub version: String,
    pub summary: String,
    pub attr_path: String,
    /// 40-hex nixpkgs commit.
    pub rev: String,
    /// RFC 3339 commit date.
    pub last_modified: String,
    /// Outputs per system, only for the systems asked for that the index has outputs on.
    pub systems: BTreeMap<String, SystemOutputs>,
}

impl Resolved {
    /// The lock entry for this resolution, recorded as coming from the index `source`.
    pub fn to_locked(&self, source: &str) -> LockedPackage {
        LockedPackage {
            last_modified: self.last_modified.clone(),
            resolved: format!("github:NixOS/nixpkgs/{}#{}", self.rev, self.attr_path),
            source: source.to_string(),
            systems: self
                .systems
                .iter()
                .map(|(s, o)| {
                    let mut outputs = o.outputs.clone();
                    crate::lock::sort_outputs(&mut outputs);
                    (s.clone(), LockedSystem { outputs })
                })
                .collect(),
            version: self.version.clone(),
        }
    }

    /// Build from one version entry of a package file, keeping only `systems` with outputs.
    pub fn from_entry(pkg: &PackageFile, entry: &VersionEntry, systems: &[&str]) -> Resolved {
        Resolved {
            name: pkg.name.clone(),
            version: entry.version.clone(),
            summary: pkg.summary.clone(),
            attr_path: entry.attr_path.clone(),
            rev: entry.rev.clone(),
            last_modified: entry.last_modified.clone(),
            systems: entry
                .systems
                .iter()
                .filter(|(s, o)| systems.contains(&s.as_str()) && !o.outputs.is_empty())
                .map(|(s, o)| (s.clone(), o.clone()))
                .collect(),
        }
    }
}

/// One `search` result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SearchHit {
    pub name: String,
    pub summary: String,
    pub latest: String,
    /// The attribute the latest version comes from, when the index says.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub attr_path: String,
}

/// A version index backend.
pub trait Index: Send + Sync {
    /// What lock entries record as their `source`.
    fn id(&self) -> &str;

    /// Every version of `name` the index knows (`None` = no such package).
    fn package(&self, name: &str) -> Result<Option<PackageFile>>;

    /// The newest version of `name` matching `constraint`, with outputs for `systems`.
    /// `Ok(None)` = no such package; a package without a matching version is an error that lists
    /// the versions there are.
    fn resolve(
        &self,
        name: &str,
        constraint: &Constraint,
        systems: &[&str],
    ) -> Result<Option<Resolved>> {
        let Some(pkg) = self.package(name)? else {
            return Ok(None);
        };
        pick(&pkg, constraint, systems).map(Some)
    }

    /// Packages whose name or summary matches `query`, best first, at most `limit`.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>>;

    /// Names close to `name`, for "did you mean" when a package does not exist.
    fn similar_names(&self, name: &str) -> Result<Vec<String>> {
        let hits = self.search(name, 50)?;
        Ok(closest(name, hits.iter().map(|h| h.name.as_str())))
    }

    /// Warnings gathered while answering (e.g. a cached copy was used because the server was down).
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Choose the entry for `constraint` among a package's versions (the default resolution).
pub fn pick(pkg: &PackageFile, constraint: &Constraint, systems: &[&str]) -> Result<Resolved> {
    let best = constraint.best(pkg.versions.iter().map(|v| v.version.as_str()));
    let Some(best) = best else {
        return Err(no_matching_version(&pkg.name, constraint, pkg));
    };
    // Several revisions may carry the same version: prefer the one built for most of the wanted
    // systems, then the newest commit, so the choice is deterministic.
    let entry = pkg
        .versions
        .iter()
        .filter(|v| v.version == best)
        .max_by(|a, b| {
            let cover = |v: &VersionEntry| {
                v.systems
                    .iter()
                    .filter(|(s, o)| systems.contains(&s.as_str()) && !o.outputs.is_empty())
                    .count()
            };
            cover(a)
                .cmp(&cover(b))
                .then(a.last_modified.cmp(&b.last_modified))
                .then(a.rev.cmp(&b.rev))
        })
        .expect("best came from this list");
    Ok(Resolved::from_entry(pkg, entry, systems))
}

/// The error for a known package without a version matching the constraint.
pub fn no_matching_version(
    name: &str,
    constraint: &Constraint,
    pkg: &PackageFile,
) -> anyhow::Error {
    let mut versions: Vec<&str> = pkg.versions.iter().map(|v| v.version.as_str()).collect();
    versions.sort_by(|a, b| crate::version::compare(b, a));
    versions.dedup();
    let shown: Vec<&str> = versions.iter().take(12).copied().collect();
    let more = if versions.len() > shown.len() {
        format!(" (and {} older)", versions.len() - shown.len())
    } else {
        String::new()
    };
    let hint = if shown.is_empty() {
        format!("the index lists no versions of `{name}`")
    } else {
        format!("available versions: {}{more}", shown.join(", "))
    };
    Err::<(), _>(anyhow!("no version of `{name}` matches `{constraint}`"))
        .hint(hint)
        .bad_input()
        .unwrap_err()
}

/// Up to five names closest to `name` by edit distance, best first.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            let mut score = strsim::jaro_winkler(name, c);
            if c.contains(name) || name.contains(c) {
                score += 0.1;
            }
            (score, c)
        })
        .filter(|(s, _)| *s >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(5)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// Open the index configured in `settings`.
///
/// URL rules: a path or `file://` URL is a static sparse index on disk; `sparse+http(s)://` is a
/// static sparse index over HTTP; `nixhub+http(s)://` is a Nixhub-compatible API; a plain
/// `http(s)://` URL is the Nixhub-compatible API if it is the default service, else a static sparse
/// index if it serves `index.json`, else a Nixhub-compatible API.
pub fn open(settings: &Settings) -> Result<Box<dyn Index>> {
    open_with(settings, http::HttpOptions::from_settings(settings))
}

/// [`open`] with explicit HTTP options (e.g. offline, for shell completion that must never wait).
pub fn open_with(settings: &Settings, options: http::HttpOptions) -> Result<Box<dyn Index>> {
    let url = settings.index.value.trim();
    let cache = settings.dirs.cache.join("index");
    if url.is_empty() {
        return Err(anyhow!("the index URL is empty"))
            .hint("set --index or DEVENV_INDEX to a directory or an http(s) URL")
            .bad_input();
    }
    if let Some(rest) = url.strip_prefix("nixhub+") {
        return Ok(Box::new(nixhub::NixhubIndex::new(rest, &cache, options)));
    }
    if let Some(rest) = url.strip_prefix("sparse+") {
        return Ok(Box::new(sparse::SparseIndex::open_http(
            rest, &cache, options,
        )?));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        if url.trim_end_matches('/') == DEFAULT_INDEX {
            return Ok(Box::new(nixhub::NixhubIndex::new(url, &cache, options)));
        }
        return match sparse::SparseIndex::probe_http(url, &cache, options.clone())? {
            Some(index) => Ok(Box::new(index)),
            None => Ok(Box::new(nixhub::NixhubIndex::new(url, &cache, options))),
        };
    }
    let path = url.strip_prefix("file://").unwrap_or(url);
    if url.contains("://") && !url.starts_with("file://") {
        return Err(anyhow!("unsupported index URL `{url}`"))
            .hint("use a directory, file://, http(s)://, sparse+http(s):// or nixhub+http(s)://")
            .bad_input();
    }
    Ok(Box::new(sparse::SparseIndex::open_dir(Path::new(path))?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Output;

    fn entry(version: &str, rev: char, systems: &[&str]) -> VersionEntry {
        VersionEntry {
            version: version.into(),
            attr_path: "ansible".into(),
            rev: rev.to_string().repeat(40),
            last_modified: "2024-01-01T00:00:00Z".into(),
            systems: systems
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        SystemOutputs {
                            outputs: vec![Output {
                                name: "out".into(),
                                path: format!("/nix/store/{}-ansible-{version}", "a".repeat(32)),
                                default: true,
                            }],
                        },
                    )
                })
                .collect(),
        }
    }

    fn pkg() -> PackageFile {
        PackageFile {
            name: "ansible".into(),
            versions: vec![
                entry("2.15.0", 'a', &["x86_64-linux"]),
                entry("2.16.5", 'b', &["x86_64-linux", "aarch64-darwin"]),
                entry("2.16.10", 'c', &["x86_64-linux"]),
                entry("2.160.0", 'd', &["x86_64-linux"]),
                entry("2.17.1", 'e', &["x86_64-linux"]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn prefix_picks_newest_of_the_series() {
        let c = Constraint::parse("2.16").unwrap();
        let r = pick(&pkg(), &c, &crate::system::LOCK_SYSTEMS).unwrap();
        assert_eq!(r.version, "2.16.10");
        assert_eq!(r.rev, "c".repeat(40));
        let locked = r.to_locked("test");
        assert_eq!(
            locked.resolved,
            format!("github:NixOS/nixpkgs/{}#ansible", "c".repeat(40))
        );
    }

    #[test]
    fn only_requested_systems_with_outputs_are_kept() {
        let c = Constraint::parse("2.16.5").unwrap();
        let r = pick(&pkg(), &c, &["aarch64-darwin"]).unwrap();
        assert_eq!(r.systems.keys().collect::<Vec<_>>(), vec!["aarch64-darwin"]);
    }

    #[test]
    fn unknown_version_lists_available_ones_newest_first() {
        let c = Constraint::parse("9.9").unwrap();
        let err = pick(&pkg(), &c, &["x86_64-linux"]).unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        assert!(report.message.contains("9.9"), "{report:?}");
        assert_eq!(
            report.hints,
            vec!["available versions: 2.160.0, 2.17.1, 2.16.10, 2.16.5, 2.15.0".to_string()]
        );
    }

    fn settings(index: &str, root: &Path) -> Settings {
        let overrides = crate::settings::Overrides {
            index: Some(index.to_string()),
            system: Some("x86_64-linux".into()),
            ..Default::default()
        };
        let dirs = crate::settings::Dirs {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
            state: root.join("state"),
        };
        Settings::resolve(overrides, &|_| None, dirs).unwrap()
    }

    #[test]
    fn urls_choose_the_backend_without_touching_the_network() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("idx");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.json"),
            r#"{"format": 1, "id": "team-index"}"#,
        )
        .unwrap();
        let open_id = |url: &str| open(&settings(url, tmp.path())).map(|i| i.id().to_string());
        assert_eq!(open_id(dir.to_str().unwrap()).unwrap(), "team-index");
        assert_eq!(
            open_id(&format!("file://{}", dir.display())).unwrap(),
            "team-index"
        );
        let anonymous = tmp.path().join("anonymous");
        std::fs::create_dir_all(&anonymous).unwrap();
        std::fs::write(anonymous.join("index.json"), r#"{"format": 1}"#).unwrap();
        assert_eq!(
            open_id(anonymous.to_str().unwrap()).unwrap(),
            sparse::LOCAL_INDEX_ID
        );
        assert_eq!(
            open_id("nixhub+http://127.0.0.1:9/").unwrap(),
            "http://127.0.0.1:9"
        );
        assert_eq!(open_id(DEFAULT_INDEX).unwrap(), DEFAULT_INDEX);
        for bad in ["ftp://example.org/x", "", "  "] {
            let err = open_id(bad).unwrap_err();
            let report = crate::diagnostic::Report::from_error(&err);
            assert_eq!(
                report.exit_code,
                crate::diagnostic::EXIT_BAD_INPUT,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn closest_names_rank_by_similarity() {
        let names = ["ansible", "ansible-lint", "jq", "ansibel-x"];
        let got = closest("ansibl", names);
        assert_eq!(got.first().map(String::as_str), Some("ansible"));
        assert!(!got.contains(&"jq".to_string()));
    }
}
