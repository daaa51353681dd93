//! `devenv index merge`: combine index directories — the outputs of `index build --shard K/N`,
//! whole indexes, a team's `publish`ed index — into one, as if one build had made it.
//!
//! Package files are combined with the build's own rule ([`merge_entry`]: per version the newest
//! revision, per package the metadata of its newest entry), which is a maximum and so does not
//! depend on the order indexes come in: the shards of a build merge into the bytes that build
//! would have written. `index.json`'s revisions are the union over whole indexes; within the
//! outputs of one sharded build (all `N` shards must be given) a revision counts only when every
//! shard recorded it, since a shard leaves out a revision one of its evaluations failed for.
//! Where two inputs say different things about the same evaluation (one revision, system and
//! version with different store paths), nothing is written and both are named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};

use super::merge::{merge_entry, Meta};
use super::shard::{self, Shard};
use super::write::{self, IndexDir};
use crate::diagnostic::ResultExt;
use crate::index::format::{PackageFile, SystemOutputs};

/// The outcome of a merge.
#[derive(Debug, Clone, Default)]
pub struct MergeSummary {
    /// Index directories read (not counting the one merged into).
    pub inputs: usize,
    pub packages: usize,
    pub revisions: usize,
    pub files_written: usize,
}

/// An index read from disk, with where it came from.
struct Source {
    dir: PathBuf,
    index: IndexDir,
}

/// Merge the indexes in `inputs` into the index at `out` (created if missing; an index already
/// there is one of the inputs).
pub fn merge_dirs(inputs: &[PathBuf], out: &Path) -> anyhow::Result<MergeSummary> {
    let created = !out.exists();
    let result = merge_into(inputs, out);
    // A merge refused before writing leaves no trace, not even an empty --out.
    if result.is_err() && created && !out.join("index.json").exists() {
        let _ = std::fs::remove_dir_all(out);
    }
    result
}

fn merge_into(inputs: &[PathBuf], out: &Path) -> anyhow::Result<MergeSummary> {
    let mut sources: Vec<Source> = Vec::new();
    let mut seen = Vec::new();
    let out_real = std::fs::canonicalize(out).ok();
    for dir in inputs {
        if !dir.join("index.json").is_file() {
            return Err(anyhow!("{} is not an index: it has no index.json", dir.display()))
                .hint("give the --out directories of `devenv index build` (or of `devenv publish`'s --index)")
                .bad_input();
        }
        let real = std::fs::canonicalize(dir)
            .with_context(|| format!("could not read {}", dir.display()))?;
        // The index merged into is an input already; a directory named twice counts once.
        if Some(&real) == out_real.as_ref() || seen.contains(&real) {
            continue;
        }
        seen.push(real);
        let index = write::load(dir)?;
        sources.push(Source {
            dir: dir.clone(),
            index,
        });
    }

    std::fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    let _lock = write::lock(out)?;
    let mut merged = write::load(out)?;
    if let Some(s) = merged.other.get(shard::KEY) {
        return Err(anyhow!(
            "{} is the output of shard {}, which only `index build --shard` extends",
            out.display(),
            s.as_str().unwrap_or("?")
        ))
        .hint("merge into a new directory (or a whole index): devenv index merge SHARD_DIR... --out DIR")
        .bad_input();
    }
    let revisions = revisions(&sources)?;
    merged.revisions.extend(revisions);
    for source in &sources {
        merged.systems.extend(source.index.systems.iter().cloned());
        for (key, value) in &source.index.other {
            if key == shard::KEY {
                continue;
            }
            match merged.other.get(key) {
                Some(v) if v != value => {
                    return Err(anyhow!(
                        "index.json of {} has `{key}` = {value}, but the merged index has {v}",
                        source.dir.display()
                    ))
                    .hint("these indexes were written differently; leave one of them out")
                    .bad_input();
                }
                _ => {
                    merged.other.insert(key.clone(), value.clone());
                }
            }
        }
    }

    let mut changed = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        for (name, file) in &source.index.packages {
            let into = merged
                .packages
                .entry(name.clone())
                .or_insert_with(|| PackageFile {
                    name: name.clone(),
                    ..PackageFile::default()
                });
            match merge_file(into, file) {
                Ok(true) => changed.push(name.clone()),
                Ok(false) => {}
                Err(c) => return Err(conflict(&c, name, &sources[..i], source, out)),
            }
        }
    }
    changed.sort();
    changed.dedup();

    let staging = write::Staging::new(out)?;
    let files_written = write::store(out, &merged, Some(&changed), staging)?;
    Ok(MergeSummary {
        inputs: sources.len(),
        packages: merged.packages.len(),
        revisions: merged.revisions.len(),
        files_written,
    })
}

/// The revisions the inputs cover: those of whole indexes, and of each sharded build those all
/// its shards recorded. Every shard of a build must be there, once.
fn revisions(sources: &[Source]) -> anyhow::Result<Vec<String>> {
    let mut whole = Vec::new();
    let mut builds: BTreeMap<u64, BTreeMap<u64, &Source>> = BTreeMap::new();
    for source in sources {
        let Some(value) = source.index.other.get(shard::KEY) else {
            whole.extend(source.index.revisions.iter().cloned());
            continue;
        };
        let shard: Shard = value
            .as_str()
            .unwrap_or_default()
            .parse()
            .with_context(|| format!("{}: index.json's `shard` is not K/N", source.dir.display()))
            .bad_input()?;
        let shards = builds.entry(shard.n).or_default();
        if let Some(other) = shards.insert(shard.k, source) {
            return Err(anyhow!(
                "{} and {} are both shard {shard}",
                other.dir.display(),
                source.dir.display()
            ))
            .hint("merge the shards of one build at a time, each exactly once")
            .bad_input();
        }
    }
    for (n, shards) in builds {
        if let Some(k) = (1..=n).find(|k| !shards.contains_key(k)) {
            let given: Vec<String> = shards
                .values()
                .map(|s| s.dir.display().to_string())
                .collect();
            return Err(anyhow!(
                "shard {k}/{n} is missing: a revision is complete only when every shard of its build has evaluated it (given: {})",
                given.join(", ")
            ))
            .hint(format!("give all {n} shard directories of the build to one `devenv index merge`"))
            .bad_input();
        }
        let mut all = shards.values();
        let first = all.next().expect("n >= 1");
        let mut common = first.index.revisions.clone();
        for s in all {
            common.retain(|r| s.index.revisions.contains(r));
        }
        whole.extend(common);
    }
    Ok(whole)
}

/// Two inputs disagree about one evaluation.
#[derive(Debug)]
struct Conflict {
    version: String,
    rev: String,
    what: String,
    ours: String,
    theirs: String,
}

/// Merge `other` into `into` by the build's rule; returns whether `into` changed.
fn merge_file(into: &mut PackageFile, other: &PackageFile) -> Result<bool, Conflict> {
    for theirs in &other.versions {
        let Some(ours) = into.versions.iter().find(|v| {
            v.version == theirs.version
                && v.rev == theirs.rev
                && v.last_modified == theirs.last_modified
        }) else {
            // Entries of different recency never mix: the newer one wins whole.
            continue;
        };
        let conflict = |what: String, a: String, b: String| Conflict {
            version: theirs.version.clone(),
            rev: theirs.rev.clone(),
            what,
            ours: a,
            theirs: b,
        };
        for (system, outputs) in &theirs.systems {
            match ours.systems.get(system) {
                Some(mine) if mine != outputs => {
                    return Err(conflict(
                        format!("outputs on {system}"),
                        describe(mine),
                        describe(outputs),
                    ))
                }
                _ => {}
            }
        }
    }
    // Every entry is offered with the file's metadata, which came from the file's newest entries:
    // `merge_entry` keeps metadata only from the newest entries it has seen and picks among equally
    // new ones by a minimum, so the pairing of an older entry with that metadata never decides
    // anything, and the outcome is the one a build merging every evaluation would reach.
    let meta = Meta {
        summary: other.summary.clone(),
        homepage: other.homepage.clone(),
        license: other.license.clone(),
    };
    let mut changed = false;
    for entry in &other.versions {
        changed |= merge_entry(into, entry.clone(), &meta);
    }
    Ok(changed)
}

fn describe(outputs: &SystemOutputs) -> String {
    let paths: Vec<String> = outputs
        .outputs
        .iter()
        .map(|o| format!("{}={}", o.name, o.path))
        .collect();
    paths.join(" ")
}

/// The error for a conflict found while merging `source`: names the earlier input that holds the
/// other side (or the index merged into, when none does).
fn conflict(
    c: &Conflict,
    name: &str,
    earlier: &[Source],
    source: &Source,
    out: &Path,
) -> anyhow::Error {
    let holds = |s: &Source| {
        s.index.packages.get(name).is_some_and(|f| {
            f.versions
                .iter()
                .any(|v| v.version == c.version && v.rev == c.rev)
        })
    };
    let first = earlier
        .iter()
        .find(|s| holds(s))
        .map(|s| s.dir.display().to_string())
        .unwrap_or_else(|| out.display().to_string());
    Err::<(), _>(anyhow!(
        "{name} {} of revision {} has different {}: {} in {first}, {} in {}",
        c.version,
        c.rev,
        c.what,
        c.ours,
        c.theirs,
        source.dir.display()
    ))
    .hint("the two indexes evaluated the same revision differently (another Nix, another nixpkgs configuration, or a changed file); rebuild one of them, or leave one out of the merge — nothing was written")
    .bad_input()
    .expect_err("an error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::build::eval::EvalResult;
    use crate::index::build::merge::tests::evaluations;
    use crate::index::build::merge::{merge_result, Packages};
    use crate::index::format::VersionEntry;
    use crate::lock::Output;

    fn entry(version: &str, rev: &str, date: &str, system: &str, path: &str) -> VersionEntry {
        let mut systems = BTreeMap::new();
        systems.insert(
            system.to_owned(),
            SystemOutputs {
                outputs: vec![Output {
                    name: "out".into(),
                    path: path.into(),
                    default: true,
                }],
            },
        );
        VersionEntry {
            version: version.into(),
            attr_path: "p".into(),
            rev: rev.repeat(40),
            last_modified: date.into(),
            systems,
        }
    }

    fn file(summary: &str, versions: Vec<VersionEntry>) -> PackageFile {
        PackageFile {
            name: "p".into(),
            summary: summary.into(),
            versions,
            ..PackageFile::default()
        }
    }

    #[test]
    fn files_merge_the_same_in_either_order_and_into_themselves_without_change() {
        let a = file(
            "old",
            vec![entry("1", "a", "2020", "x86_64-linux", "/nix/store/a1")],
        );
        let b = file(
            "new",
            vec![
                entry("2", "b", "2021", "x86_64-linux", "/nix/store/b2"),
                entry("1", "b", "2021", "x86_64-linux", "/nix/store/b1"),
            ],
        );
        let c = file(
            "new, other system",
            vec![entry("2", "b", "2021", "aarch64-darwin", "/nix/store/b2d")],
        );
        let mut ab = a.clone();
        for f in [&b, &c] {
            assert!(merge_file(&mut ab, f).unwrap());
        }
        let mut ba = c.clone();
        for f in [&b, &a] {
            merge_file(&mut ba, f).unwrap();
        }
        assert_eq!(ab, ba);
        assert_eq!(ab.summary, "new");
        assert_eq!(ab.versions[0].systems.len(), 2);
        assert_eq!(ab.versions[1].rev, "b".repeat(40));
        let before = ab.clone();
        assert!(!merge_file(&mut ab, &before).unwrap());
        assert_eq!(ab, before);
    }

    fn packages_of(results: &[&EvalResult]) -> Packages {
        let mut packages = Packages::new();
        for r in results {
            merge_result(&mut packages, r);
        }
        packages
    }

    proptest::proptest! {
        /// Any split of the evaluations into two builds, their files merged either way round,
        /// gives the files of one build of them all.
        #[test]
        fn two_builds_merged_file_by_file_equal_one_build(
            all in evaluations(),
            sides in proptest::collection::vec(proptest::bool::ANY, 7),
        ) {
            let one = packages_of(&all.iter().collect::<Vec<_>>());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for (i, r) in all.iter().enumerate() {
                if sides[i] { a.push(r) } else { b.push(r) }
            }
            let (a, b) = (packages_of(&a), packages_of(&b));
            for (first, second) in [(&a, &b), (&b, &a)] {
                let mut merged = first.clone();
                for (name, file) in second {
                    let into = merged.entry(name.clone()).or_insert_with(|| PackageFile {
                        name: name.clone(),
                        ..PackageFile::default()
                    });
                    merge_file(into, file).unwrap();
                }
                proptest::prop_assert_eq!(&merged, &one);
            }
        }
    }

    #[test]
    fn different_paths_for_one_evaluation_are_a_conflict() {
        let mut a = file(
            "s",
            vec![entry("1", "a", "2020", "x86_64-linux", "/nix/store/a1")],
        );
        let b = file(
            "s",
            vec![entry("1", "a", "2020", "x86_64-linux", "/nix/store/zz")],
        );
        let c = merge_file(&mut a, &b).unwrap_err();
        assert_eq!(c.ours, "out=/nix/store/a1");
        assert_eq!(c.theirs, "out=/nix/store/zz");
        assert_eq!(c.what, "outputs on x86_64-linux");
    }
}
