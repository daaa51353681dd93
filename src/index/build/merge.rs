//! Folding evaluation results (and published tools) into package files, without I/O.
//!
//! A package file is a **name as users type it**: every attribute path the evaluator listed
//! (`git`, `nodejs_16`, `python3Packages.requests`), and every name a derivation calls itself
//! ([`names`](crate::index::names::names): its `pname`, that name without a Python prefix or a `-wrapper` suffix, and without
//! a trailing version number such as `python3` → `python` for 3.x). So `nodejs@16` finds
//! `nodejs_16` and `ansible` finds whichever attribute carried ansible. Per version one attribute
//! is kept, by [`attr_rank`](crate::index::names::attr_rank).
//!
//! The rule: per name, one entry per version, taken from the newest revision that has it (by
//! commit date, then by revision hash so equal dates still decide the same way), with that
//! revision's outputs for every system it was evaluated on. A package's summary, homepage and
//! license come from its newest entry's attribute. Every choice is a maximum or a minimum, so
//! merging revisions one run at a time gives the same files as merging them all at once, in any
//! order.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::eval::{EvalPackage, EvalResult};
use crate::index::format::{NameLine, PackageFile, SystemOutputs, VersionEntry};
use crate::index::names::{attr_rank, names, AttrRank};
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

/// Every name `p` is looked up under: its attribute path and [`names`] (for a nested attribute,
/// only those its `pname` starts with); only names that can be index file names.
fn keys(p: &EvalPackage) -> Vec<String> {
    let mut keys = if p.attr_path.contains('.') {
        // Inside a package set a Python prefix is what tells the library apart from the
        // program (`python27Packages.redis`, named `python2.7-redis`, is not `redis`).
        names(&p.name, &p.version)
            .into_iter()
            .filter(|n| p.name.starts_with(n.as_str()))
            .collect()
    } else {
        names(&p.name, &p.version)
    };
    keys.push(p.attr_path.clone());
    keys.retain(|k| super::write::valid_name(k));
    keys.sort();
    keys.dedup();
    keys
}

/// Merge one evaluation into `packages`; returns the names whose files changed, sorted. The
/// outcome does not depend on the order evaluations are merged in, so a build merges each one as
/// it finishes.
pub fn merge_result(packages: &mut Packages, result: &EvalResult) -> Vec<String> {
    // Within one revision several attributes carry the same name and version (`git`,
    // `gitFull`; `python3`, `python311`): keep the preferred one.
    let mut chosen: BTreeMap<(String, &str), &EvalPackage> = BTreeMap::new();
    for p in &result.packages {
        for key in keys(p) {
            let rank = attr_rank(&p.attr_path, &key, &p.version);
            match chosen.get(&(key.clone(), p.version.as_str())) {
                Some(current) if attr_rank(&current.attr_path, &key, &p.version) <= rank => {}
                _ => {
                    chosen.insert((key, p.version.as_str()), p);
                }
            }
        }
    }
    let mut touched = Vec::new();
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
        let file = packages.entry(name.clone()).or_insert_with(|| PackageFile {
            name: name.clone(),
            ..PackageFile::default()
        });
        if merge_entry(file, entry, &meta) {
            touched.push(name);
        }
    }
    touched.dedup();
    touched
}

/// Merge one candidate entry into a package file; returns whether the file changed.
///
/// Every choice is a maximum or minimum over what has been merged (the newest entry per version,
/// the preferred attribute, the smallest metadata among equally new entries), so merging the
/// same candidates in any order gives the same file.
pub fn merge_entry(file: &mut PackageFile, candidate: VersionEntry, meta: &Meta) -> bool {
    let cand = recency(&candidate);
    let is_newest = file.versions.iter().all(|v| recency(v) <= cand);
    // The newest revision's highest version, and its best attribute: each entry holds its
    // version's best, so this is the best over every newest candidate merged so far.
    let best_newest = file
        .versions
        .iter()
        .filter(|v| recency(v) == cand)
        .map(|v| meta_rank(v, &file.name))
        .min();
    let mut changed = false;
    // Metadata first, while `candidate` is whole: from the newest entry's best attribute; among
    // equals (two systems of one revision), the smaller, whatever came first.
    if is_newest {
        let current = (&file.summary, &file.homepage, &file.license);
        let offered = (&meta.summary, &meta.homepage, &meta.license);
        let rank = meta_rank(&candidate, &file.name);
        let better = match &best_newest {
            None => true,
            Some(best) => (rank, offered) < (*best, current),
        };
        if offered != current && better {
            file.summary = meta.summary.clone();
            file.homepage = meta.homepage.clone();
            file.license = meta.license.clone();
            changed = true;
        }
    }
    match file
        .versions
        .iter_mut()
        .find(|v| v.version == candidate.version)
    {
        None => {
            file.versions.push(candidate);
            file.versions.sort_by(|a, b| {
                compare_versions(&b.version, &a.version).then_with(|| a.version.cmp(&b.version))
            });
            changed = true;
        }
        Some(existing) => match recency(&candidate).cmp(&recency(existing)) {
            Ordering::Greater => {
                *existing = candidate;
                changed = true;
            }
            Ordering::Less => {}
            Ordering::Equal => {
                if attr_rank(&candidate.attr_path, &file.name, &candidate.version)
                    < attr_rank(&existing.attr_path, &file.name, &existing.version)
                {
                    existing.attr_path = candidate.attr_path;
                    changed = true;
                }
                for (system, outputs) in candidate.systems {
                    if existing.systems.get(&system) != Some(&outputs) {
                        existing.systems.insert(system, outputs);
                        changed = true;
                    }
                }
            }
        },
    }
    changed
}

/// Whose metadata a package shows among entries of one revision; lower wins: the highest
/// version, then the attribute [`attr_rank`] prefers.
fn meta_rank<'a>(
    v: &'a VersionEntry,
    name: &str,
) -> (std::cmp::Reverse<HighVersion<'a>>, AttrRank<'a>) {
    (
        std::cmp::Reverse(HighVersion(&v.version)),
        attr_rank(&v.attr_path, name, &v.version),
    )
}

/// A version ordered as Nix orders versions, then as text, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HighVersion<'a>(&'a str);

impl Ord for HighVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_versions(self.0, other.0).then_with(|| self.0.cmp(other.0))
    }
}

impl PartialOrd for HighVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn recency(v: &VersionEntry) -> (&str, &str) {
    (v.last_modified.as_str(), v.rev.as_str())
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
            let latest = latest(p)?;
            // The newest entry of that version: what `add <name>` locks.
            let attr_path = p
                .versions
                .iter()
                .filter(|v| v.version == latest)
                .max_by(|a, b| recency(a).cmp(&recency(b)))
                .map(|v| v.attr_path.clone())
                .unwrap_or_default();
            Some(NameLine {
                name: p.name.clone(),
                summary: p.summary.clone(),
                latest: latest.to_owned(),
                attr_path,
            })
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::index::build::eval::EvalPackage;
    use crate::lock::Output;
    use proptest::prelude::*;

    /// Merge several evaluation results; returns the names whose files changed.
    fn merge_results(packages: &mut Packages, results: &[EvalResult]) -> Vec<String> {
        let mut touched = Vec::new();
        for result in results {
            touched.extend(merge_result(packages, result));
        }
        touched.sort();
        touched.dedup();
        touched
    }

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

    /// Evaluations as a build can see them: each (revision, system) at most once, one date per
    /// revision (dates may tie), attributes unique within an evaluation (a plain one, a numbered
    /// and a `Full` variant of the same name, and one named otherwise), and names, versions and
    /// metadata drawn from small sets so that ties of every kind happen.
    pub(in crate::index::build) fn evaluations() -> impl Strategy<Value = Vec<EvalResult>> {
        let package = (
            0..4usize,
            0..2usize,
            0..3usize,
            0..2usize,
            0..2usize,
            0..2usize,
        );
        let one = (
            0..3usize,
            0..2usize,
            proptest::collection::vec(package, 0..5),
        );
        (
            proptest::collection::vec(0..2usize, 3),
            proptest::collection::vec(one, 0..7),
        )
            .prop_map(|(dates, evals)| {
                let mut seen = std::collections::BTreeSet::new();
                let mut out = Vec::new();
                for (rev, system, pkgs) in evals {
                    if !seen.insert((rev, system)) {
                        continue;
                    }
                    let rev_name = ["a", "b", "c"][rev].repeat(40);
                    let system_name = ["x86_64-linux", "aarch64-darwin"][system];
                    let mut attrs = std::collections::BTreeSet::new();
                    let packages = pkgs
                        .into_iter()
                        .filter(|p| attrs.insert(p.0))
                        .map(|(attr, name, version, summary, homepage, license)| {
                            let name = ["p", "q"][name];
                            let attr = [
                                name.to_owned(),
                                format!("{name}1"),
                                format!("{name}Full"),
                                "zz".into(),
                            ][attr]
                                .clone();
                            let version = ["1", "2", "1.0"][version];
                            EvalPackage {
                                outputs: vec![Output {
                                    name: "out".into(),
                                    path: format!("/nix/store/{rev}-{system}-{attr}-{version}"),
                                    default: true,
                                }],
                                attr_path: attr,
                                name: name.into(),
                                version: version.into(),
                                summary: ["s", "t"][summary].into(),
                                homepage: ["h", "i"][homepage].into(),
                                license: vec![["MIT", "GPL"][license].into()],
                            }
                        })
                        .collect();
                    out.push(EvalResult {
                        rev: rev_name,
                        last_modified: format!("202{}-01-01T00:00:00Z", dates[rev]),
                        system: system_name.into(),
                        packages,
                        failed: vec![],
                    });
                }
                out
            })
    }

    /// The evaluations, the same in a random order, and a place to split that order.
    #[allow(clippy::type_complexity)]
    fn shuffled(
        all: Vec<EvalResult>,
    ) -> (
        proptest::strategy::Just<Vec<EvalResult>>,
        proptest::strategy::Shuffle<proptest::strategy::Just<Vec<EvalResult>>>,
        std::ops::RangeInclusive<usize>,
    ) {
        use proptest::prelude::*;
        let n = all.len();
        (Just(all.clone()), Just(all).prop_shuffle(), 0..=n)
    }

    proptest::proptest! {
        #[test]
        fn merging_one_by_one_in_any_order_gives_the_same_files(
            (all, shuffled, split) in evaluations().prop_flat_map(shuffled)
        ) {
            let mut at_once = Packages::new();
            merge_results(&mut at_once, &all);
            let mut one_by_one = Packages::new();
            let (first, second) = shuffled.split_at(split);
            for result in second {
                merge_result(&mut one_by_one, result);
            }
            // The first part as a later run: merged into files loaded back from disk.
            let mut reloaded: Packages = one_by_one
                .iter()
                .map(|(k, v)| {
                    let text = serde_json::to_string(v).unwrap();
                    (k.clone(), serde_json::from_str(&text).unwrap())
                })
                .collect();
            for result in first {
                merge_result(&mut reloaded, result);
            }
            proptest::prop_assert_eq!(&reloaded, &at_once);
            let mut again = at_once.clone();
            proptest::prop_assert!(merge_results(&mut again, &shuffled).is_empty());
        }
    }
}
