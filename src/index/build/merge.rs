//! Folding evaluation results (and published tools) into package files, without I/O.
//!
//! The rule: per package name, one entry per version, taken from the newest revision that has
//! it (by commit date, then by revision hash so equal dates still decide the same way), with that
//! revision's outputs for every system it was evaluated on. A package's summary, homepage and
//! license come from its newest entry. Picking "the newest" is a maximum, so merging revisions one
//! run at a time gives the same files as merging them all at once, in any order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::eval::EvalResult;
use crate::index::format::{NameLine, PackageFile, SystemOutputs, VersionEntry};
use crate::version::compare as compare_versions;

/// Package-level metadata carried by a candidate entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    pub summary: String,
    pub homepage: String,
    pub license: Vec<String>,
}

/// All package files of an index, by name.
pub type Packages = BTreeMap<String, PackageFile>;

/// Merge evaluation results into `packages`; returns the names whose files changed.
pub fn merge_results(packages: &mut Packages, results: &[EvalResult]) -> Vec<String> {
    let mut ordered: Vec<&EvalResult> = results.iter().collect();
    ordered.sort_by(|a, b| (&a.rev, &a.system).cmp(&(&b.rev, &b.system)));
    let mut touched = Vec::new();
    for result in ordered {
        // Within one revision several attributes may carry the same name and version
        // (`python3`, `python311`): keep the preferred one.
        let mut chosen: BTreeMap<(&str, &str), &super::eval::EvalPackage> = BTreeMap::new();
        for p in &result.packages {
            let key = (p.name.as_str(), p.version.as_str());
            match chosen.get(&key) {
                Some(current)
                    if attr_rank(&current.attr_path, &p.name)
                        <= attr_rank(&p.attr_path, &p.name) => {}
                _ => {
                    chosen.insert(key, p);
                }
            }
        }
        for ((name, version), p) in chosen {
            let mut systems = BTreeMap::new();
            systems.insert(
                result.system.clone(),
                SystemOutputs {
                    outputs: p.outputs.clone(),
                },
            );
            let entry = VersionEntry {
                version: version.to_owned(),
                attr_path: p.attr_path.clone(),
                rev: result.rev.clone(),
                last_modified: result.last_modified.clone(),
                systems,
            };
            let meta = Meta {
                summary: p.summary.clone(),
                homepage: p.homepage.clone(),
                license: p.license.clone(),
            };
            let file = packages
                .entry(name.to_owned())
                .or_insert_with(|| PackageFile {
                    name: name.to_owned(),
                    ..PackageFile::default()
                });
            if merge_entry(file, entry, &meta) {
                touched.push(name.to_owned());
            }
        }
    }
    touched.sort();
    touched.dedup();
    touched
}

/// Merge one candidate entry into a package file; returns whether the file changed.
pub fn merge_entry(file: &mut PackageFile, candidate: VersionEntry, meta: &Meta) -> bool {
    let before = file.clone();
    let newest_before = file
        .versions
        .iter()
        .map(recency)
        .max()
        .map(|(d, r)| (d.to_owned(), r.to_owned()));
    let cand_recency = (candidate.last_modified.clone(), candidate.rev.clone());
    match file
        .versions
        .iter_mut()
        .find(|v| v.version == candidate.version)
    {
        None => file.versions.push(candidate),
        Some(existing) => match recency(&candidate).cmp(&recency(existing)) {
            Ordering::Greater => *existing = candidate,
            Ordering::Less => {}
            Ordering::Equal => {
                if attr_rank(&candidate.attr_path, &file.name)
                    < attr_rank(&existing.attr_path, &file.name)
                {
                    existing.attr_path = candidate.attr_path;
                }
                existing.systems.extend(candidate.systems);
            }
        },
    }
    let is_newest = match &newest_before {
        None => true,
        Some(n) => cand_recency >= *n,
    };
    if is_newest
        && (file.summary != meta.summary
            || file.homepage != meta.homepage
            || file.license != meta.license)
    {
        // Equal recency with different metadata (two attributes in one revision): keep the
        // smaller summary so the outcome does not depend on merge order.
        let equal = newest_before.as_ref() == Some(&cand_recency);
        if !equal || meta.summary < file.summary {
            file.summary = meta.summary.clone();
            file.homepage = meta.homepage.clone();
            file.license = meta.license.clone();
        }
    }
    file.versions.sort_by(|a, b| {
        compare_versions(&b.version, &a.version).then_with(|| a.version.cmp(&b.version))
    });
    *file != before
}

fn recency(v: &VersionEntry) -> (&str, &str) {
    (v.last_modified.as_str(), v.rev.as_str())
}

/// Lower is preferred: the attribute named like the package, then shorter, then alphabetical.
fn attr_rank<'a>(attr: &'a str, name: &str) -> (bool, usize, &'a str) {
    (attr != name, attr.len(), attr)
}

/// The newest version of a package by Nix's version order.
pub fn latest(file: &PackageFile) -> Option<&str> {
    file.versions
        .iter()
        .map(|v| v.version.as_str())
        .max_by(|a, b| compare_versions(a, b).then_with(|| b.cmp(a)))
}

/// `names.jsonl` lines for all packages, sorted by name.
pub fn name_lines(packages: &Packages) -> Vec<NameLine> {
    packages
        .values()
        .filter_map(|p| {
            Some(NameLine {
                name: p.name.clone(),
                summary: p.summary.clone(),
                latest: latest(p)?.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::build::eval::EvalPackage;
    use crate::lock::Output;

    fn result(rev: &str, date: &str, system: &str, pkgs: &[(&str, &str, &str)]) -> EvalResult {
        EvalResult {
            rev: rev.repeat(40),
            last_modified: date.into(),
            system: system.into(),
            packages: pkgs
                .iter()
                .map(|(attr, name, version)| EvalPackage {
                    attr_path: (*attr).into(),
                    name: (*name).into(),
                    version: (*version).into(),
                    outputs: vec![Output {
                        name: "out".into(),
                        path: format!("/nix/store/{rev}-{name}-{version}-{system}"),
                        default: true,
                    }],
                    summary: format!("{name} as of {rev}"),
                    homepage: String::new(),
                    license: vec![],
                })
                .collect(),
            failed: vec![],
        }
    }

    fn all_results() -> Vec<EvalResult> {
        vec![
            result(
                "a",
                "2023-01-01T00:00:00Z",
                "x86_64-linux",
                &[("ansible", "ansible", "2.15.0")],
            ),
            result(
                "b",
                "2023-06-01T00:00:00Z",
                "x86_64-linux",
                &[("ansible", "ansible", "2.15.0")],
            ),
            result(
                "b",
                "2023-06-01T00:00:00Z",
                "aarch64-darwin",
                &[("ansible", "ansible", "2.15.0")],
            ),
            result(
                "c",
                "2024-01-01T00:00:00Z",
                "x86_64-linux",
                &[
                    ("ansible_2_16", "ansible", "2.16.5"),
                    ("ansible", "ansible", "2.16.5"),
                ],
            ),
        ]
    }

    #[test]
    fn a_version_keeps_its_newest_revision_with_all_its_systems() {
        let mut pkgs = Packages::new();
        merge_results(&mut pkgs, &all_results());
        let ansible = &pkgs["ansible"];
        let versions: Vec<_> = ansible
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        assert_eq!(versions, vec!["2.16.5", "2.15.0"]);
        let old = &ansible.versions[1];
        assert_eq!(old.rev, "b".repeat(40));
        assert_eq!(
            old.systems.keys().collect::<Vec<_>>(),
            vec!["aarch64-darwin", "x86_64-linux"]
        );
        assert_eq!(ansible.versions[0].attr_path, "ansible");
        assert_eq!(ansible.summary, format!("ansible as of {}", "c"));
        assert_eq!(latest(ansible), Some("2.16.5"));
    }

    #[test]
    fn merging_in_pieces_or_any_order_gives_the_same_files() {
        let all = all_results();
        let mut at_once = Packages::new();
        merge_results(&mut at_once, &all);
        for split in 0..all.len() {
            let mut pieces = Packages::new();
            let (first, second) = all.split_at(split);
            merge_results(&mut pieces, second);
            merge_results(&mut pieces, first);
            assert_eq!(pieces, at_once, "split at {split}");
        }
        let mut again = at_once.clone();
        assert!(merge_results(&mut again, &all).is_empty());
    }
}
