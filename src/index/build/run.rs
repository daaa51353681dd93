//! `devenv index build`: evaluate nixpkgs revisions with the real Nix evaluator and merge them into
//! a static sparse index directory.
//!
//! The build is incremental and resumable. `index.json` records the revisions and systems already
//! merged; those are skipped. Each (revision, system) evaluation is kept under `<out>/.build/` as
//! soon as it finishes, so a build interrupted half-way evaluates only what is left when rerun.
//! Revisions are evaluated in parallel (`jobs` evaluator processes). Around them, one thread checks
//! revisions out ahead and one keeps and merges each evaluation as it finishes; merging is
//! deterministic and independent of the order evaluations finish in, so the output is
//! byte-identical for the same inputs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Context;

use super::eval::{EvalResult, Evaluator, WRAPPER};
use super::git::{self, Revision};
use super::merge::{self, Packages};
use super::shard::{self, Shard};
use super::{kept, write};
use crate::diagnostic::ResultExt;
use crate::fsutil;

/// Systems listed by one evaluator run. One run parses the package set's files once for all of
/// them, but holds all their package sets in memory: two keeps that within reason for nixpkgs.
const SYSTEMS_PER_RUN: usize = 2;

/// An evaluation's result, or (rev, system, error) when the package set did not evaluate.
type Outcome = Result<Finished, (String, String, String)>;

/// A finished evaluation on its way to the bookkeeping thread.
struct Finished {
    result: EvalResult,
    /// Evaluated now, so not kept yet (a resumed one is read from where it is kept).
    fresh: bool,
}

/// What the bookkeeping thread made of the outcomes.
#[derive(Default)]
struct Merged {
    /// Names whose package files changed.
    changed: BTreeSet<String>,
    evaluated: usize,
    failed_attributes: usize,
    failed_evaluations: Vec<(String, String, String)>,
    failed_revs: BTreeSet<String>,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// A git checkout of nixpkgs (or a repository shaped like it).
    pub nixpkgs: PathBuf,
    /// `A..B` ranges.
    pub ranges: Vec<String>,
    /// Single revisions.
    pub revs: Vec<String>,
    /// The index directory to create or extend.
    pub out: PathBuf,
    pub systems: Vec<String>,
    /// Evaluations run at the same time (at least 1).
    pub jobs: usize,
    /// The `nix-env` program to run.
    pub nix_env: String,
    /// The share of the (revision, system) evaluations to do (1/1: all of them).
    pub shard: Shard,
    /// Where checkouts of `nixpkgs` are kept for later builds ([`git::KeptSlots`]); `None`:
    /// checked out into the index's scratch directory and deleted at the end.
    pub checkouts: Option<PathBuf>,
}

/// Progress, reported as it happens (from worker threads, hence `Sync`).
#[derive(Debug, Clone)]
pub enum Event {
    Planned {
        revisions: usize,
        evaluations: usize,
        already_indexed: usize,
        /// Revisions whose every evaluation belongs to other shards.
        other_shards: usize,
    },
    Evaluated {
        rev: String,
        system: String,
        packages: usize,
        failed: Vec<String>,
        resumed: bool,
    },
    EvalFailed {
        rev: String,
        system: String,
        error: String,
    },
    /// `.nix` files of the revision the repository lacks: the attributes that read them fail.
    MissingFiles { rev: String, paths: Vec<String> },
}

/// Receives [`Event`]s; the command line prints them.
pub trait Reporter: Sync {
    fn event(&self, event: Event);
}

/// The outcome of a build.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub evaluated: usize,
    pub resumed: usize,
    pub already_indexed: usize,
    /// Attributes that failed to evaluate, summed over all evaluations.
    pub failed_attributes: usize,
    /// (rev, system, error) of evaluations that failed as a whole; their revisions stay unrecorded.
    pub failed_evaluations: Vec<(String, String, String)>,
    pub packages: usize,
    pub files_written: usize,
}

/// Remove exported trees, half-written files and a half-built `packages/` an interrupted build
/// left behind. Safe under the index lock: no other build is running.
fn remove_leftovers(build_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(build_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("export-") || name.starts_with(".tmp-packages-") {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if name.starts_with(".tmp-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Build or extend the index at `opts.out`.
pub fn build(opts: &BuildOptions, reporter: &dyn Reporter) -> anyhow::Result<Summary> {
    git::check_repo(&opts.nixpkgs)?;
    for system in &opts.systems {
        if !system.contains('-') || system.contains(['/', ' ']) {
            return Err(anyhow::anyhow!("`{system}` is not a Nix system"))
                .hint("systems look like x86_64-linux or aarch64-darwin")
                .bad_input();
        }
    }
    let requested = git::resolve(&opts.nixpkgs, &opts.ranges, &opts.revs)?;

    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("could not create {}", opts.out.display()))?;
    let build_dir = opts.out.join(".build");
    std::fs::create_dir_all(&build_dir)?;
    let _lock = write::lock(&opts.out)?;
    remove_leftovers(&build_dir);

    let mut index = write::load(&opts.out)?;
    check_shard(&opts.out, &index, opts.shard)?;
    let mut systems: BTreeSet<String> = index.systems.clone();
    systems.extend(opts.systems.iter().cloned());

    // A system new to this index is evaluated for the revisions it already covers too, so every
    // recorded revision has every recorded system.
    let mut revisions = requested.clone();
    if !systems.is_subset(&index.systems) && !index.revisions.is_empty() {
        let known: Vec<String> = index.revisions.iter().cloned().collect();
        for r in git::resolve(&opts.nixpkgs, &[], &known)? {
            if !revisions.contains(&r) {
                revisions.push(r);
            }
        }
    }
    let done =
        |r: &Revision, s: &String| index.revisions.contains(&r.rev) && index.systems.contains(s);
    let mut work: Vec<(Revision, Vec<String>)> = Vec::new();
    let mut already_indexed = 0;
    // Revisions with nothing for this shard: recorded as covered, as far as this shard goes, so
    // `index merge` can tell a shard that had nothing to do from one that failed.
    let mut not_ours: Vec<String> = Vec::new();
    for r in &revisions {
        let owned = |s: &&String| opts.shard.owns(&r.rev, s);
        if !systems.iter().any(|s| owned(&s)) {
            not_ours.push(r.rev.clone());
            continue;
        }
        let todo: Vec<String> = systems
            .iter()
            .filter(owned)
            .filter(|s| !done(r, s))
            .cloned()
            .collect();
        if todo.is_empty() {
            already_indexed += 1;
        } else {
            work.push((r.clone(), todo));
        }
    }
    let evaluations = work.iter().map(|(_, s)| s.len()).sum();
    reporter.event(Event::Planned {
        revisions: work.len(),
        evaluations,
        already_indexed,
        other_shards: not_ours.len(),
    });

    let wrapper = build_dir.join("eval.nix");
    fsutil::write_if_changed(&wrapper, WRAPPER.as_bytes())?;
    let evaluator = Evaluator {
        nix_env: opts.nix_env.clone(),
        wrapper,
    };
    let scratch = tempfile::Builder::new()
        .prefix("export-")
        .tempdir_in(&build_dir)?;

    let resumed = AtomicUsize::new(0);
    let fatal: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    // One thread checks revisions out in order, a few ahead of the evaluators, so checking out
    // overlaps evaluating instead of adding to it. Each of `jobs + 1` checkout slots is a work
    // tree that moves from revision to revision, rewriting only the files that differ; an
    // evaluator hands its slot back when done, which also caps the trees on disk.
    let jobs = opts.jobs.max(1).min(work.len().max(1));
    // A revision that cannot be checked out (objects missing from the repository) travels as its
    // error: it fails on its own and the others go on.
    let (ready, exported) =
        std::sync::mpsc::sync_channel::<(usize, Result<Option<usize>, String>)>(jobs);
    let exported = Mutex::new(exported);
    let (free_slot, free_slots) = std::sync::mpsc::channel::<usize>();
    // A cache that cannot be used (read-only, full) costs the reuse, not the build.
    let kept_slots = opts.checkouts.as_ref().and_then(|cache| {
        git::KeptSlots::hold(cache, &opts.nixpkgs).unwrap_or_else(|e| {
            tracing::debug!(error = %format!("{e:#}"), "checkouts are not kept");
            None
        })
    });
    let slot_dir = kept_slots
        .as_ref()
        .map_or(scratch.path(), |k| k.dir.as_path());
    let slots: Vec<PathBuf> = (0..=jobs)
        .map(|n| slot_dir.join(format!("slot-{n}")))
        .collect();
    for n in 0..slots.len() {
        free_slot.send(n).expect("slot channel");
    }
    // Evaluators hand what they finish to one bookkeeping thread, which keeps it for a rerun and
    // merges it while the next evaluation runs. `jobs` counts evaluator processes, the expensive
    // part; checking out and bookkeeping are threads of their own whatever `jobs` is. A bounded
    // channel caps the evaluations waiting in memory.
    let (finished, outcomes) = std::sync::mpsc::sync_channel::<Outcome>(jobs);
    let mut packages = std::mem::take(&mut index.packages);
    let mut staging = write::Staging::new(&opts.out)?;
    let merged = std::thread::scope(|scope| {
        let (work, build_dir, scratch, fatal, slots) =
            (&work, &build_dir, scratch.path(), &fatal, &slots);
        let slot_dir = &slot_dir;
        let (exported, evaluator, resumed) = (&exported, &evaluator, &resumed);
        let (packages, staging) = (&mut packages, &mut staging);
        let bookkeeper =
            scope.spawn(move || bookkeep(build_dir, packages, staging, outcomes, fatal));
        let free_slot_back = free_slot.clone();
        scope.spawn(move || {
            for (i, (rev, todo)) in work.iter().enumerate() {
                if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                    break;
                }
                let needs_tree = todo
                    .iter()
                    .any(|s| !kept::path(build_dir, &rev.rev, s).exists());
                let slot = if needs_tree {
                    let Ok(n) = free_slots.recv() else { break };
                    match git::checkout(&opts.nixpkgs, &rev.rev, &slots[n]) {
                        Ok(missing) => {
                            if !missing.is_empty() {
                                reporter.event(Event::MissingFiles {
                                    rev: rev.rev.clone(),
                                    paths: missing,
                                });
                            }
                            Ok(Some(n))
                        }
                        Err(e) => {
                            let _ = free_slot_back.send(n);
                            Err(format!("{e:#}"))
                        }
                    }
                } else {
                    Ok(None)
                };
                let checked_out = matches!(slot, Ok(Some(_)));
                if ready.send((i, slot)).is_err() {
                    break;
                }
                if checked_out {
                    flush_ahead(slot_dir);
                }
            }
        });
        for _ in 0..jobs {
            let (free_slot, finished) = (free_slot.clone(), finished.clone());
            scope.spawn(move || loop {
                let next = exported.lock().expect("channel").recv();
                let Ok((i, slot)) = next else { break };
                let slot = match slot {
                    Ok(slot) => slot,
                    Err(error) => {
                        let (rev, todo) = &work[i];
                        let send = |outcome: Outcome| {
                            let _ = finished.send(outcome);
                        };
                        for system in todo {
                            // A system evaluated before, on a run that could check it out.
                            if resume_kept(build_dir, rev, system, reporter, resumed, &send) {
                                continue;
                            }
                            reporter.event(Event::EvalFailed {
                                rev: rev.rev.clone(),
                                system: system.clone(),
                                error: error.clone(),
                            });
                            let _ = finished.send(Err((
                                rev.rev.clone(),
                                system.clone(),
                                error.clone(),
                            )));
                        }
                        continue;
                    }
                };
                let tree = slot.map(|n| git::checkout_tree(&slots[n]));
                // After a fatal error keep draining (and freeing slots), so the checkout thread
                // never waits forever.
                if !fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                    let (rev, todo) = &work[i];
                    let send = |outcome: Outcome| {
                        // The bookkeeper drains until every evaluator is gone, so this only
                        // fails if it panicked, which the scope reports.
                        let _ = finished.send(outcome);
                    };
                    let result = evaluate_revision(
                        opts, evaluator, build_dir, scratch, rev, todo, tree, reporter, resumed,
                        &send,
                    );
                    if let Err(e) = result {
                        fatal.lock().expect("fatal").get_or_insert(e);
                    }
                }
                if let Some(n) = slot {
                    let _ = free_slot.send(n);
                }
            });
        }
        drop((free_slot, finished));
        bookkeeper.join().expect("bookkeeping thread")
    });
    index.packages = packages;
    if let Some(e) = fatal.into_inner().expect("fatal") {
        return Err(e);
    }

    let mut failed_evaluations = merged.failed_evaluations;
    failed_evaluations.sort();
    let mut summary = Summary {
        already_indexed,
        resumed: resumed.into_inner(),
        evaluated: merged.evaluated,
        failed_attributes: merged.failed_attributes,
        failed_evaluations,
        ..Summary::default()
    };
    // A revision is recorded only when every system evaluated; its partial results still merge,
    // and merging them again on a later run changes nothing.
    for (r, _) in &work {
        if !merged.failed_revs.contains(&r.rev) {
            index.revisions.insert(r.rev.clone());
        }
    }
    index.revisions.extend(not_ours);
    index.systems = systems;
    if opts.shard.is_partial() {
        let key = serde_json::Value::String(opts.shard.to_string());
        index.other.insert(shard::KEY.into(), key);
    }
    let changed: Vec<String> = merged.changed.into_iter().collect();
    summary.files_written = write::store(&opts.out, &index, Some(&changed), staging)?;
    summary.packages = index.packages.len();
    Ok(summary)
}

/// Refuse to mix shards: extending another shard's output, or a whole index with a share of a
/// build (or the reverse), would record revisions only partly evaluated.
fn check_shard(out: &Path, index: &write::IndexDir, shard: Shard) -> anyhow::Result<()> {
    let recorded = index.other.get(shard::KEY);
    let wanted = shard.is_partial().then(|| shard.to_string());
    let fresh = index.revisions.is_empty() && recorded.is_none();
    if fresh || recorded.and_then(|v| v.as_str()) == wanted.as_deref() {
        return Ok(());
    }
    let was = match recorded {
        Some(v) => format!("the output of shard {}", v.as_str().unwrap_or("?")),
        None => "a whole index".to_owned(),
    };
    let now = match &wanted {
        Some(s) => format!("shard {s}"),
        None => "a whole build".to_owned(),
    };
    Err(anyhow::anyhow!(
        "{} is {was}, so it cannot be extended by {now}",
        out.display()
    ))
    .hint("give each shard its own --out directory and combine them with `devenv index merge SHARD_DIR... --out DIR`")
    .bad_input()
}

/// The bookkeeping thread: keep each fresh evaluation under `.build/`, merge every evaluation
/// into `packages` as it arrives (merging does not depend on the order) and create the files of
/// new packages in `staging`. Drains `outcomes` to the end even after an error (recorded in
/// `fatal`), so no evaluator waits on it forever.
fn bookkeep(
    build_dir: &Path,
    packages: &mut Packages,
    staging: &mut Option<write::Staging>,
    outcomes: std::sync::mpsc::Receiver<Outcome>,
    fatal: &Mutex<Option<anyhow::Error>>,
) -> Merged {
    let mut merged = Merged::default();
    for outcome in outcomes {
        match outcome {
            Ok(Finished { result, fresh }) => {
                if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                    continue;
                }
                // Keeping the result (serialised and compressed) and merging it are both work
                // between the evaluator's end and the index's files: side by side.
                let (saved, touched) = std::thread::scope(|scope| {
                    let saved = fresh.then(|| scope.spawn(|| kept::save(build_dir, &result)));
                    let touched = merge::merge_result(packages, &result);
                    let saved = saved.map(|s| {
                        s.join().unwrap_or_else(|_| {
                            Err(anyhow::anyhow!("keeping an evaluation panicked"))
                        })
                    });
                    (saved, touched)
                });
                if let Some(Err(e)) = saved {
                    fatal.lock().expect("fatal").get_or_insert(e);
                    continue;
                }
                tracing::debug!(rev = %result.rev, system = %result.system, "evaluation kept and merged");
                if let Some(staging) = staging.as_mut() {
                    if let Err(e) = staging.create(&touched) {
                        fatal.lock().expect("fatal").get_or_insert(e);
                        continue;
                    }
                }
                merged.changed.extend(touched);
                merged.evaluated += 1;
                merged.failed_attributes += result.failed.len();
            }
            Err((rev, system, error)) => {
                merged.failed_revs.insert(rev.clone());
                merged.failed_evaluations.push((rev, system, error));
            }
        }
    }
    merged
}

/// Write the tree just checked out to the disk while it is being evaluated. Nothing relies on
/// it being there (a checkout can always be made again), but the index's files are made durable
/// at the end with one `syncfs` of this file system, which would otherwise wait for the tens of
/// thousands of checked-out files as well.
fn flush_ahead(slots: &Path) {
    if let Ok(dir) = std::fs::File::open(slots) {
        let _ = crate::fsutil::platform::sync_filesystem(&dir);
    }
}

/// Fail early, with a hint, when the evaluator cannot run at all.
fn check_nix_env(program: &str) -> anyhow::Result<()> {
    let ok = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "could not run the Nix evaluator `{program}`, which index build needs"
        ))
        .hint("install Nix (e.g. the nix-bin package), or point --nix-env at nix-env")
    }
}

/// `send` the evaluation of `rev` for `system` kept by an earlier run, when one is readable, as a
/// resumed result; whether there was one.
fn resume_kept(
    build_dir: &Path,
    rev: &Revision,
    system: &str,
    reporter: &dyn Reporter,
    resumed: &AtomicUsize,
    send: &dyn Fn(Outcome),
) -> bool {
    let Some(result) = kept::read(&kept::path(build_dir, &rev.rev, system), &rev.rev, system)
    else {
        return false;
    };
    resumed.fetch_add(1, Ordering::SeqCst);
    reporter.event(Event::Evaluated {
        rev: rev.rev.clone(),
        system: system.to_string(),
        packages: result.packages.len(),
        failed: result.failed.clone(),
        resumed: true,
    });
    send(Ok(Finished {
        result,
        fresh: false,
    }));
    true
}

/// Evaluate one revision for each system in `todo`, reusing kept evaluations, and `send` each
/// outcome as it is known; `tree` is the revision checked out ahead of time (when it is `None`
/// the revision is exported here, and removed after, because a kept evaluation turned out
/// unreadable).
#[allow(clippy::too_many_arguments)]
fn evaluate_revision(
    opts: &BuildOptions,
    evaluator: &Evaluator,
    build_dir: &Path,
    scratch: &Path,
    rev: &Revision,
    todo: &[String],
    tree: Option<PathBuf>,
    reporter: &dyn Reporter,
    resumed: &AtomicUsize,
    send: &dyn Fn(Outcome),
) -> anyhow::Result<()> {
    let mut exported_here: Option<PathBuf> = None;
    let mut pending = Vec::new();
    for system in todo {
        if !resume_kept(build_dir, rev, system, reporter, resumed, send) {
            pending.push(system.clone());
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let dir = match tree {
        Some(d) => d,
        None => {
            let d = git::export(&opts.nixpkgs, &rev.rev, scratch)?;
            exported_here = Some(d.clone());
            d
        }
    };
    let finished = |result: EvalResult| {
        reporter.event(Event::Evaluated {
            rev: rev.rev.clone(),
            system: result.system.clone(),
            packages: result.packages.len(),
            failed: result.failed.clone(),
            resumed: false,
        });
        send(Ok(Finished {
            result,
            fresh: true,
        }));
    };
    for group in pending.chunks(SYSTEMS_PER_RUN) {
        if group.len() > 1 {
            if let Ok(Some(results)) =
                evaluator.evaluate_many(&dir, &rev.rev, &rev.last_modified, group)
            {
                results.into_iter().for_each(finished);
                continue;
            }
        }
        // One system at a time: the only way for one system, and the fallback when a run over
        // several failed as a whole (an `abort` is then isolated per system).
        for system in group {
            match evaluator.evaluate(&dir, &rev.rev, &rev.last_modified, system) {
                Ok(result) => finished(result),
                Err(e) => {
                    // Checked only now, to spare every build an extra process: when nix-env
                    // cannot run at all, no revision can evaluate, so stop with that as the reason.
                    check_nix_env(&opts.nix_env)?;
                    let error = format!("{e:#}");
                    reporter.event(Event::EvalFailed {
                        rev: rev.rev.clone(),
                        system: system.clone(),
                        error: error.clone(),
                    });
                    send(Err((rev.rev.clone(), system.clone(), error)));
                }
            }
        }
    }
    if let Some(d) = exported_here {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(())
}
