//! Client for the Nixhub-compatible search API (the service Devbox resolves against), which has
//! real data for thousands of nixpkgs revisions.
//!
//! `GET /v2/resolve?name=&version=` answers exact versions, prefixes and `latest` with outputs for
//! every system in one call; `GET /v1/search?q=` lists packages with all their versions. The API
//! has no range operators, so a range (`^2.16`, `>=2.15 <2.17`) is answered by picking the best
//! version from the version list and then resolving that exact version.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use serde::Deserialize;

use super::format::{PackageFile, SystemOutputs, VersionEntry};
use super::http::{encode_query, CachedHttp, Fetched, HttpOptions};
use super::names::best_attr;
use super::{no_matching_version, pick, Index, Resolved, SearchHit};
use crate::lock::Output;
use crate::version::Constraint;

/// A Nixhub-compatible API at a base URL.
pub struct NixhubIndex {
    base: String,
    http: CachedHttp,
    /// Entries left out because they break the lock's rules (see [`super::validate`]).
    warnings: Mutex<Vec<String>>,
}

/// `GET /v2/resolve`.
#[derive(Debug, Deserialize)]
struct ResolveResponse {
    name: String,
    version: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    systems: BTreeMap<String, ResolveSystem>,
}

#[derive(Debug, Deserialize)]
struct ResolveSystem {
    flake_installable: FlakeInstallable,
    #[serde(default)]
    last_updated: String,
    #[serde(default)]
    outputs: Vec<ResolveOutput>,
}

#[derive(Debug, Deserialize)]
struct FlakeInstallable {
    #[serde(rename = "ref")]
    flake_ref: FlakeRef,
    attr_path: String,
}

#[derive(Debug, Deserialize)]
struct FlakeRef {
    #[serde(default)]
    rev: String,
}

#[derive(Debug, Deserialize)]
struct ResolveOutput {
    name: String,
    path: String,
    #[serde(default)]
    default: bool,
}

/// `GET /v1/search`.
#[derive(Debug, Deserialize)]
struct SearchResponse {
    #[serde(default)]
    packages: Vec<SearchPackage>,
}

#[derive(Debug, Deserialize)]
struct SearchPackage {
    name: String,
    #[serde(default)]
    versions: Vec<PackageVersion>,
}

#[derive(Debug, Deserialize)]
struct PackageVersion {
    version: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    commit_hash: String,
    #[serde(default)]
    last_updated: i64,
    #[serde(default)]
    systems: BTreeMap<String, V1System>,
}

#[derive(Debug, Deserialize)]
struct V1System {
    #[serde(default)]
    commit_hash: String,
    #[serde(default)]
    attr_paths: Vec<String>,
    #[serde(default)]
    store_hash: String,
    #[serde(default)]
    store_name: String,
    #[serde(default)]
    store_version: String,
}

impl NixhubIndex {
    pub fn new(base: &str, cache: &Path, options: HttpOptions) -> NixhubIndex {
        let base = base.trim_end_matches('/').to_string();
        let http = CachedHttp::new(cache, &base, options);
        NixhubIndex {
            base,
            http,
            warnings: Mutex::default(),
        }
    }

    fn warn(&self, warnings: impl IntoIterator<Item = String>) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(warnings);
    }

    fn search_raw(&self, query: &str) -> Result<Vec<SearchPackage>> {
        let url = format!("{}/v1/search?q={}", self.base, encode_query(query));
        Ok(match self.http.get_json::<SearchResponse>(&url)? {
            Fetched::Found(r) => r.packages,
            Fetched::NotFound => Vec::new(),
        })
    }

    /// `/v2/resolve` for `name` at `version`, with the wanted systems the answer lists without
    /// `outputs` (the service has no store paths for some, especially older, packages).
    fn resolve_v2(
        &self,
        name: &str,
        version: &str,
        systems: &[&str],
    ) -> Result<Option<(Resolved, Vec<String>)>> {
        let url = format!(
            "{}/v2/resolve?name={}&version={}",
            self.base,
            encode_query(name),
            encode_query(version)
        );
        let r: ResolveResponse = match self.http.get_json(&url)? {
            Fetched::Found(r) => r,
            Fetched::NotFound => return Ok(None),
        };
        // The revision can differ per system; `resolved` names the one for the most common
        // development system, else the first system listed.
        let main = [
            "x86_64-linux",
            "aarch64-darwin",
            "aarch64-linux",
            "x86_64-darwin",
        ]
        .iter()
        .find_map(|s| r.systems.get(*s))
        .or_else(|| r.systems.values().next());
        let (rev, attr_path, last_modified) = match main {
            Some(s) => (
                s.flake_installable.flake_ref.rev.clone(),
                s.flake_installable.attr_path.clone(),
                s.last_updated.clone(),
            ),
            None => (String::new(), r.name.clone(), String::new()),
        };
        let bare: Vec<String> = r
            .systems
            .iter()
            .filter(|(s, o)| systems.contains(&s.as_str()) && o.outputs.is_empty())
            .map(|(s, _)| s.clone())
            .collect();
        let systems = r
            .systems
            .iter()
            .filter(|(s, o)| systems.contains(&s.as_str()) && !o.outputs.is_empty())
            .map(|(s, o)| {
                let outputs = o
                    .outputs
                    .iter()
                    .map(|out| Output {
                        name: out.name.clone(),
                        path: out.path.clone(),
                        default: out.default,
                    })
                    .collect();
                (s.clone(), SystemOutputs { outputs })
            })
            .collect();
        let resolved = Resolved {
            name: r.name,
            version: r.version,
            summary: r.summary,
            attr_path,
            rev,
            last_modified,
            systems,
        };
        super::validate::resolved(&self.base, name, &resolved)?;
        Ok(Some((resolved, bare)))
    }

    /// Complete an answer whose `outputs` are missing on some wanted systems, as Devbox does
    /// with the locked attribute: the search data records the store path of each version's `out`
    /// per system, for the same revision. What cannot be completed is said, with the reason.
    fn complete(&self, name: &str, mut r: Resolved, bare: Vec<String>) -> Result<Resolved> {
        if bare.is_empty() {
            return Ok(r);
        }
        let pkg = self.package(name)?;
        let entry = pkg.as_ref().and_then(|p| {
            p.versions
                .iter()
                .find(|v| v.version == r.version && v.rev == r.rev)
        });
        let mut missing = Vec::new();
        let mut filled = Vec::new();
        for system in bare {
            match entry.and_then(|e| e.systems.get(&system)) {
                Some(outputs) if !outputs.outputs.is_empty() => {
                    r.systems.insert(system.clone(), outputs.clone());
                    filled.push(system);
                }
                _ => missing.push(system),
            }
        }
        if !filled.is_empty() {
            self.warn([format!(
                "{}: the answer for {name} {} has no `outputs` on {}; using the store path its search data records for that revision (output `out` only)",
                self.base,
                r.version,
                filled.join(", ")
            )]);
        }
        if !missing.is_empty() {
            self.warn([format!(
                "{}: {name} {} has no store paths on {} (its answer has no `outputs`, its search data no store path); devenv does not evaluate nixpkgs to find them, so it is not locked there",
                self.base,
                r.version,
                missing.join(", ")
            )]);
        }
        Ok(r)
    }
}

/// Whether the service can answer `constraint` itself: `latest` or a plain version / prefix.
fn service_answers(constraint: &Constraint) -> bool {
    constraint.is_latest()
        || constraint
            .to_string()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

/// The date of a Unix time; empty for a missing one (the service sends 0 or nothing for versions
/// it has no date for, which is not 1970).
fn rfc3339(unix: i64) -> String {
    if unix <= 0 {
        return String::new();
    }
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Index for NixhubIndex {
    fn id(&self) -> &str {
        &self.base
    }

    fn package(&self, name: &str) -> Result<Option<PackageFile>> {
        let Some(pkg) = self.search_raw(name)?.into_iter().find(|p| p.name == name) else {
            return Ok(None);
        };
        let summary = pkg
            .versions
            .first()
            .map(|v| v.summary.clone())
            .unwrap_or_default();
        let versions = pkg
            .versions
            .into_iter()
            .map(|v| {
                // The attribute a static index built from the same revisions would file this
                // version under: one rule for both backends.
                let attr_path = best_attr(
                    name,
                    &v.version,
                    v.systems
                        .values()
                        .flat_map(|s| s.attr_paths.iter().map(String::as_str)),
                )
                .unwrap_or(name)
                .to_string();
                let rev = if v.commit_hash.is_empty() {
                    v.systems
                        .values()
                        .map(|s| s.commit_hash.clone())
                        .next()
                        .unwrap_or_default()
                } else {
                    v.commit_hash.clone()
                };
                let systems = v
                    .systems
                    .into_iter()
                    .filter(|(_, s)| !s.store_hash.is_empty())
                    .map(|(sys, s)| {
                        let mut base = format!("/nix/store/{}-{}", s.store_hash, s.store_name);
                        if !s.store_version.is_empty() {
                            base = format!("{base}-{}", s.store_version);
                        }
                        let out = Output {
                            name: "out".into(),
                            path: base,
                            default: true,
                        };
                        (sys, SystemOutputs { outputs: vec![out] })
                    })
                    .collect();
                VersionEntry {
                    version: v.version,
                    attr_path,
                    rev,
                    last_modified: rfc3339(v.last_updated),
                    systems,
                }
            })
            .collect();
        let file = PackageFile {
            name: pkg.name,
            summary,
            homepage: String::new(),
            license: Vec::new(),
            versions,
        };
        let (file, warnings) = super::validate::package(&self.base, name, file)?;
        self.warn(warnings);
        Ok(Some(file))
    }

    fn resolve(
        &self,
        name: &str,
        constraint: &Constraint,
        systems: &[&str],
    ) -> Result<Option<Resolved>> {
        if service_answers(constraint) {
            let asked = if constraint.is_latest() {
                "latest".to_string()
            } else {
                constraint.to_string()
            };
            if let Some((r, bare)) = self.resolve_v2(name, &asked, systems)? {
                if constraint.matches(&r.version) {
                    return self.complete(name, r, bare).map(Some);
                }
            }
        }
        // A range, a 404 for the version, or an answer our rules reject (e.g. a prefix the
        // service reads differently): decide from the version list, then resolve that version.
        let Some(pkg) = self.package(name)? else {
            return Ok(None);
        };
        let chosen = pick(&pkg, constraint, systems)?;
        // The search data may list a version `/v2/resolve` does not know (a 404): take the next
        // matching one, newest first, and say which were passed over.
        let mut versions: Vec<&str> = pkg
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .filter(|v| {
                constraint.matches(v) && crate::version::compare(v, &chosen.version).is_le()
            })
            .collect();
        versions.sort_by(|a, b| crate::version::compare(b, a));
        versions.dedup();
        let mut unknown: Vec<&str> = Vec::new();
        for version in versions {
            match self.resolve_v2(name, version, systems)? {
                Some((r, bare)) if r.version == version => {
                    if !unknown.is_empty() {
                        self.warn([format!(
                            "{}: {name} {} is listed but cannot be resolved (`/v2/resolve` does not know it); using {version}, the newest matching version it resolves",
                            self.base,
                            unknown.join(", ")
                        )]);
                    }
                    return self.complete(name, r, bare).map(Some);
                }
                _ => unknown.push(version),
            }
        }
        Err(no_matching_version(name, constraint, &pkg)).with_context(|| {
            format!(
                "{}: `/v2/resolve` knows none of the versions of {name} its search lists as matching ({})",
                self.base,
                unknown.join(", ")
            )
        })
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let hits = self
            .search_raw(query)?
            .into_iter()
            .take(limit)
            .map(|p| SearchHit {
                attr_path: p
                    .versions
                    .first()
                    .and_then(|v| {
                        best_attr(
                            &p.name,
                            &v.version,
                            v.systems
                                .values()
                                .flat_map(|s| s.attr_paths.iter().map(String::as_str)),
                        )
                    })
                    .unwrap_or_default()
                    .to_string(),
                summary: p
                    .versions
                    .first()
                    .map(|v| v.summary.clone())
                    .unwrap_or_default(),
                latest: p
                    .versions
                    .first()
                    .map(|v| v.version.clone())
                    .unwrap_or_default(),
                name: p.name,
            })
            .collect();
        let (hits, warning) = super::validate::hits(&self.base, hits);
        self.warn(warning);
        Ok(hits)
    }

    fn take_warnings(&self) -> Vec<String> {
        let mut out = self.http.take_warnings();
        out.append(&mut self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `/v2/resolve` example of the service's API description, verbatim.
    const V2_RESOLVE: &str = r#"{
      "name": "hello",
      "version": "2.12.3",
      "summary": "Program that produces a familiar, friendly greeting",
      "systems": {
        "aarch64-darwin": {
          "flake_installable": {
            "ref": { "type": "github", "owner": "NixOS", "repo": "nixpkgs",
                     "rev": "34ca302a9572963c02e385c056be37c85ff51b77" },
            "attr_path": "hello"
          },
          "last_updated": "2026-09-24T08:34:56Z",
          "outputs": [
            { "name": "out", "path": "/nix/store/mgc3m5ad39b84vkdrca6zd9jan5a28c2-hello-2.12.3",
              "default": true, "nar": "nar/abc.nar.xz" }
          ]
        }
      }
    }"#;

    /// A `/v1/search` answer in the service's shape (one package, one version).
    const V1_SEARCH: &str = r#"{ "num_results": 1, "packages": [ { "name": "hello", "num_versions": 1,
      "versions": [ { "name": "hello", "version": "2.12.3", "summary": "greeting",
        "commit_hash": "c27cdad491a991b11ed731760aa2ef8db0cb0410", "last_updated": 1787814960,
        "systems": { "aarch64-darwin": {
          "id": 0, "system": "aarch64-darwin", "commit_hash": "c27cdad491a991b11ed731760aa2ef8db0cb0410",
          "last_updated": 1787814960, "version": "2.12.3", "attr_paths": ["hello"],
          "store_hash": "85py0qgpd9llilbkgjpcwc4svrx056ld", "store_name": "hello", "store_version": "2.12.3",
          "meta_name": "hello-2.12.3", "meta_version": [""], "summary": "greeting" } } } ] } ] }"#;

    #[test]
    fn the_services_resolve_shape_parses() {
        let r: ResolveResponse = serde_json::from_str(V2_RESOLVE).unwrap();
        let s = &r.systems["aarch64-darwin"];
        assert_eq!(r.version, "2.12.3");
        assert_eq!(
            s.flake_installable.flake_ref.rev,
            "34ca302a9572963c02e385c056be37c85ff51b77"
        );
        assert_eq!(s.flake_installable.attr_path, "hello");
        assert!(s.outputs[0].default);
        assert_eq!(s.last_updated, "2026-09-24T08:34:56Z");
    }

    #[test]
    fn the_services_search_shape_parses() {
        let r: SearchResponse = serde_json::from_str(V1_SEARCH).unwrap();
        let v = &r.packages[0].versions[0];
        assert_eq!(v.last_updated, 1787814960);
        let s = &v.systems["aarch64-darwin"];
        assert_eq!(s.store_hash, "85py0qgpd9llilbkgjpcwc4svrx056ld");
        assert_eq!(s.attr_paths, vec!["hello".to_string()]);
    }

    #[test]
    fn unix_seconds_become_rfc3339() {
        assert_eq!(rfc3339(1787814960), "2026-08-27T07:16:00Z");
        assert_eq!(rfc3339(0), "", "no date, not 1970");
    }

    #[test]
    fn ranges_are_not_sent_to_the_service() {
        assert!(service_answers(&Constraint::parse("2.16").unwrap()));
        assert!(service_answers(&Constraint::parse("latest").unwrap()));
        assert!(!service_answers(&Constraint::parse("^2.16").unwrap()));
        assert!(!service_answers(
            &Constraint::parse(">=2.15 <2.17").unwrap()
        ));
    }
}
