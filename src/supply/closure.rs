//! The runtime closure of a project's locked packages for one system, with what is known about
//! each path: NAR hash and size, references, signatures and where that came from.
//!
//! The facts come from a [`PathFacts`] source: the store's database for installed paths, the
//! binary caches' signed narinfos for the rest, so an SBOM or provenance needs no download of a
//! NAR. Everything is kept in sorted maps, so whatever is written from a [`Closure`] is
//! byte-stable.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use crate::nix::hash::Sha256Hash;
use crate::nix::store_path::StorePath;

/// A top-level package output of the environment, as the lock records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The manifest's package name.
    pub name: String,
    /// The lock key (`name@constraint`).
    pub key: String,
    pub version: String,
    pub output: String,
    pub path: StorePath,
    /// `github:NixOS/nixpkgs/<rev>#<attr>`.
    pub resolved: String,
    pub rev: Option<String>,
    pub attr: Option<String>,
    pub last_modified: String,
    /// The index that resolved it.
    pub source: String,
    /// From the index, when it says.
    pub license: Vec<String>,
    pub homepage: Option<String>,
}

/// Where the facts about a path come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    /// Registered valid in the local store.
    Store,
    /// The signed narinfo of this binary cache URL.
    Cache(String),
}

/// What is known about one store path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub nar_hash: Sha256Hash,
    pub nar_size: u64,
    /// Other paths it refers to (never itself), sorted.
    pub references: BTreeSet<String>,
    /// `name:base64` narinfo signatures.
    pub sigs: Vec<String>,
    pub deriver: Option<String>,
    pub origin: Origin,
}

/// Answers what is known about a store path; `None` when nobody knows it.
pub trait PathFacts {
    fn facts(&self, path: &StorePath) -> Result<Option<Facts>>;
}

/// The closure of the roots: every path, with its facts.
#[derive(Debug, Clone)]
pub struct Closure {
    pub system: String,
    /// In lock key order, then output order.
    pub roots: Vec<Root>,
    pub paths: BTreeMap<String, Facts>,
}

/// Paths of the closure nobody knows, sorted, each with a path that refers to it (`None` for a
/// root the lock names).
#[derive(Debug)]
pub struct Unknown(pub Vec<(String, Option<String>)>);

impl Closure {
    /// Walk the references from `roots`. Every path is asked about once; all paths nobody knows
    /// are reported together.
    pub fn compute(
        system: &str,
        roots: Vec<Root>,
        source: &dyn PathFacts,
    ) -> Result<std::result::Result<Closure, Unknown>> {
        let mut paths = BTreeMap::new();
        let mut unknown = Vec::new();
        let mut queued: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<(StorePath, Option<String>)> = Vec::new();
        for r in &roots {
            if queued.insert(r.path.to_absolute()) {
                queue.push((r.path.clone(), None));
            }
        }
        while let Some((path, referrer)) = queue.pop() {
            let abs = path.to_absolute();
            let Some(mut facts) = source.facts(&path)? else {
                unknown.push((abs, referrer));
                continue;
            };
            facts.references.remove(&abs);
            for r in &facts.references {
                if queued.insert(r.clone()) {
                    let parsed = StorePath::parse_absolute(r)
                        .map_err(|e| anyhow::anyhow!("`{abs}` refers to `{r}`: {e}"))?;
                    queue.push((parsed, Some(abs.clone())));
                }
            }
            paths.insert(abs, facts);
        }
        if !unknown.is_empty() {
            unknown.sort();
            return Ok(Err(Unknown(unknown)));
        }
        Ok(Ok(Closure {
            system: system.to_string(),
            roots,
            paths,
        }))
    }

    /// The paths that refer to each path (the inverse of the references), for popularity.
    pub fn referrer_counts(&self) -> BTreeMap<&str, usize> {
        let mut counts: BTreeMap<&str, usize> =
            self.paths.keys().map(|p| (p.as_str(), 0)).collect();
        for facts in self.paths.values() {
            for r in &facts.references {
                if let Some(c) = counts.get_mut(r.as_str()) {
                    *c += 1;
                }
            }
        }
        counts
    }

    /// The newest `last_modified` of the roots: the one timestamp outputs carry, so they never
    /// depend on the clock. The Unix epoch when no root has one.
    pub fn timestamp(&self) -> String {
        self.roots
            .iter()
            .map(|r| r.last_modified.as_str())
            .filter(|t| !t.is_empty())
            .filter_map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .max()
            .map(|t| {
                t.to_offset(time::UtcOffset::UTC)
                    .replace_nanosecond(0)
                    .unwrap_or(t)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
    }
}

/// `name` and `version` of a store path's name, split as Nix's `builtins.parseDrvName` does: the
/// version starts at the first `-` followed by something other than a letter.
pub fn parse_name(store_name: &str) -> (&str, &str) {
    let bytes = store_name.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'-' && bytes.get(i + 1).is_some_and(|c| !c.is_ascii_alphabetic()) {
            return (&store_name[..i], &store_name[i + 1..]);
        }
    }
    (store_name, "")
}

/// The name part of `/nix/store/<hash>-<name>`.
pub fn store_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once('-').map_or(base, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_like_nix() {
        assert_eq!(parse_name("hello-2.12.1"), ("hello", "2.12.1"));
        assert_eq!(
            parse_name("gtk-engine-murrine-0.98"),
            ("gtk-engine-murrine", "0.98")
        );
        assert_eq!(parse_name("glibc-2.38-44-bin"), ("glibc", "2.38-44-bin"));
        assert_eq!(parse_name("source"), ("source", ""));
        assert_eq!(
            store_name("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-jq-1.7"),
            "jq-1.7"
        );
    }

    struct Fake(BTreeMap<String, Vec<String>>);
    impl PathFacts for Fake {
        fn facts(&self, path: &StorePath) -> Result<Option<Facts>> {
            Ok(self.0.get(&path.to_absolute()).map(|refs| Facts {
                nar_hash: Sha256Hash::digest(path.to_absolute()),
                nar_size: 8,
                references: refs.iter().cloned().collect(),
                sigs: Vec::new(),
                deriver: None,
                origin: Origin::Store,
            }))
        }
    }

    fn p(c: char, name: &str) -> String {
        format!("/nix/store/{}-{name}", c.to_string().repeat(32))
    }

    fn root(path: &str) -> Root {
        Root {
            name: "x".into(),
            key: "x@1".into(),
            version: "1".into(),
            output: "out".into(),
            path: StorePath::parse_absolute(path).unwrap(),
            resolved: String::new(),
            rev: None,
            attr: None,
            last_modified: "2024-06-01T10:00:00+02:00".into(),
            source: String::new(),
            license: Vec::new(),
            homepage: None,
        }
    }

    #[test]
    fn walks_references_and_reports_every_unknown_path() {
        let (a, b, c, d) = (p('a', "a"), p('b', "b"), p('c', "c"), p('d', "d"));
        let fake = Fake(BTreeMap::from([
            (a.clone(), vec![a.clone(), b.clone()]),
            (b.clone(), vec![c.clone()]),
            (c.clone(), vec![]),
        ]));
        let closure = Closure::compute("x86_64-linux", vec![root(&a)], &fake)
            .unwrap()
            .unwrap();
        assert_eq!(
            closure.paths.keys().cloned().collect::<Vec<_>>(),
            vec![a.clone(), b.clone(), c.clone()]
        );
        assert!(closure.paths[&a].references.iter().all(|r| *r != a));
        assert_eq!(closure.referrer_counts()[c.as_str()], 1);
        assert_eq!(closure.timestamp(), "2024-06-01T08:00:00Z");
        let broken = Fake(BTreeMap::from([(a.clone(), vec![d.clone()])]));
        let Unknown(missing) = Closure::compute("x86_64-linux", vec![root(&a)], &broken)
            .unwrap()
            .unwrap_err();
        assert_eq!(missing, vec![(d, Some(a))]);
    }
}
