//! The fetch scheduler's decisions without a store: [`Sched`] with `()` for what a placed path
//! holds, driven one step at a time the way the worker and committer threads drive it.

use std::time::Duration;

use super::*;
use crate::nix::hash::Sha256Hash;

/// The scheduler with nothing held for a placed path.
type TestSched = Sched<Placements<()>>;

fn store_path(name: &str) -> StorePath {
    let digest = Sha256Hash::digest(name).0;
    StorePath::new(digest[..20].try_into().unwrap(), name).unwrap()
}

fn abs(name: &str) -> String {
    store_path(name).to_absolute()
}

fn found(name: &str, compression: &str) -> Found {
    let text = format!(
        "StorePath: {}\nURL: nar/{name}.nar\nCompression: {compression}\nNarHash: {}\nNarSize: 1\n",
        abs(name),
        Sha256Hash::digest(name).display_nix()
    );
    Found {
        cache: 0,
        info: NarInfo::parse(&text).unwrap(),
    }
}

/// A closure as the planner hands it over: `(name, references not yet valid)` in the order the
/// lookups found them, the `xz` ones xz-compressed, lookups over.
fn planned(closure: &[(&str, &[&str])], xz: &[&str]) -> TestSched {
    let mut s = Sched::default();
    for (rank, (name, refs)) in closure.iter().enumerate() {
        let compression = if xz.contains(name) { "xz" } else { "zstd" };
        s.rank.insert(abs(name), rank);
        s.found.insert(abs(name), found(name, compression));
        s.refs
            .insert(abs(name), refs.iter().map(|r| abs(r)).collect());
        s.queue.push_back(abs(name));
    }
    s.planned = true;
    s
}

fn names(paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.split_once('-').unwrap().1.to_string())
        .collect()
}

/// Which running fetch finishes next.
#[derive(Clone, Copy)]
enum Finish {
    /// The one started first.
    Oldest,
    /// The one started last (referrers tend to finish before their references).
    Newest,
}

/// How a simulated fetch ended.
#[derive(Debug)]
struct Outcome {
    /// Names in registration order.
    registered: Vec<String>,
    /// The committer removed what it could not register.
    abandoned: bool,
}

/// Run the scheduler's decisions as the threads do: up to `workers` fetches at once, the next
/// to finish chosen by `finish`; fetching a `failing` path fails, a `done_elsewhere` path turns
/// out valid (another process fetched it). The committer never has to flush.
fn simulate(
    mut s: TestSched,
    workers: usize,
    finish: Finish,
    failing: &[&str],
    done_elsewhere: &[&str],
) -> Outcome {
    let mut running: Vec<(String, Found)> = Vec::new();
    let mut waiting: Vec<(String, ())> = Vec::new();
    let mut registered = Vec::new();
    let mut seen_valid = 0;
    loop {
        while running.len() < workers {
            match s.worker_step() {
                WorkerStep::Fetch(path, found) => running.push((path, found)),
                WorkerStep::Stop | WorkerStep::Wait => break,
            }
        }
        loop {
            match s.commit_step(!waiting.is_empty(), seen_valid, false, Duration::ZERO) {
                CommitStep::Take => {
                    seen_valid = s.valid.len();
                    waiting.extend(std::mem::take(&mut s.placed));
                    register(&mut s, &mut waiting, &mut registered);
                }
                CommitStep::Abandon => {
                    return Outcome {
                        registered: names(&registered),
                        abandoned: true,
                    }
                }
                CommitStep::Finished => {
                    assert!(waiting.is_empty() && s.placed.is_empty());
                    return Outcome {
                        registered: names(&registered),
                        abandoned: false,
                    };
                }
                CommitStep::Cycle => {
                    let path = waiting[0].0.clone();
                    s.fail(&path, anyhow!("cycle"));
                }
                CommitStep::Wait => break,
                CommitStep::WaitFor(_) => unreachable!("the committer does not flush here"),
            }
        }
        assert!(
            !running.is_empty(),
            "stuck: nothing runs and the committer waits"
        );
        let (path, found) = match finish {
            Finish::Oldest => running.remove(0),
            Finish::Newest => running.pop().unwrap(),
        };
        s.running -= 1;
        if matches!(found.info.compression, Compression::Xz) {
            s.running_xz -= 1;
        }
        let name = &names(std::slice::from_ref(&path))[0];
        if failing.contains(&name.as_str()) {
            s.fail(&path, anyhow!("cannot fetch `{path}`"));
        } else if done_elsewhere.contains(&name.as_str()) {
            s.valid.insert(path);
        } else {
            s.unregistered += 1;
            s.placed.push((path, ()));
        }
    }
}

/// What `register_ready` does, with registration always succeeding.
fn register(s: &mut TestSched, waiting: &mut Vec<(String, ())>, registered: &mut Vec<String>) {
    loop {
        let (ready, rest) = s.split_registrable(std::mem::take(waiting));
        *waiting = rest;
        if ready.is_empty() {
            return;
        }
        for (path, ()) in ready {
            s.unregistered -= 1;
            s.fetched.push(path.clone());
            s.valid.insert(path.clone());
            registered.push(path);
        }
    }
}

/// A closure with shared references three levels deep, found top-down.
const CLOSURE: &[(&str, &[&str])] = &[
    ("app", &["python", "openssl"]),
    ("python", &["openssl", "zlib", "libc"]),
    ("openssl", &["libc"]),
    ("zlib", &["libc"]),
    ("libc", &[]),
];

fn refs_of(name: &str) -> &'static [&'static str] {
    CLOSURE.iter().find(|(n, _)| *n == name).unwrap().1
}

fn assert_references_first(registered: &[String]) {
    for (i, name) in registered.iter().enumerate() {
        for r in refs_of(name) {
            let at = registered.iter().position(|n| n == r);
            assert!(
                at.is_some_and(|at| at < i),
                "{name} registered before its reference {r}: {registered:?}"
            );
        }
    }
}

#[test]
fn references_are_registered_before_referrers() {
    for workers in 1..=MAX_PARALLEL_UNPACKS {
        for finish in [Finish::Oldest, Finish::Newest] {
            let out = simulate(planned(CLOSURE, &[]), workers, finish, &[], &[]);
            assert!(!out.abandoned, "{out:?}");
            assert_eq!(out.registered.len(), CLOSURE.len(), "{out:?}");
            assert_references_first(&out.registered);
        }
    }
    // A reference another process fetched meanwhile lets its referrers be registered.
    let out = simulate(planned(CLOSURE, &[]), 3, Finish::Newest, &[], &["libc"]);
    assert!(!out.abandoned);
    assert_eq!(out.registered.len(), CLOSURE.len() - 1);
    assert!(!out.registered.contains(&"libc".to_string()));
    assert_eq!(out.registered.last().map(String::as_str), Some("app"));
}

#[test]
fn a_path_whose_reference_fails_is_never_registered() {
    for workers in 1..=MAX_PARALLEL_UNPACKS {
        for finish in [Finish::Oldest, Finish::Newest] {
            let out = simulate(planned(CLOSURE, &[]), workers, finish, &["openssl"], &[]);
            assert!(out.abandoned, "{out:?}");
            for name in ["openssl", "python", "app"] {
                assert!(!out.registered.contains(&name.to_string()), "{out:?}");
            }
            assert_references_first(&out.registered);
        }
    }

    // Once a fetch failed, workers stop taking paths, and the committer waits for the ones
    // still running before it removes what is placed.
    let mut s = planned(CLOSURE, &[]);
    let WorkerStep::Fetch(libc, _) = s.worker_step() else {
        panic!("libc is ready")
    };
    let WorkerStep::Fetch(openssl, _) = s.worker_step() else {
        panic!("openssl is ready")
    };
    s.running -= 1;
    s.unregistered += 1;
    s.placed.push((openssl, ()));
    s.fail(&libc, anyhow!("cannot fetch `{libc}`"));
    assert!(matches!(s.worker_step(), WorkerStep::Stop));
    assert_eq!(
        s.commit_step(false, 0, false, Duration::ZERO),
        CommitStep::Wait
    );
    s.running -= 1;
    assert_eq!(
        s.commit_step(false, 0, false, Duration::ZERO),
        CommitStep::Abandon
    );
}

#[test]
fn workers_prefer_paths_whose_references_are_under_way() {
    let mut s = planned(
        &[
            ("app", &["lib"]),
            ("doc", &[]),
            ("lib", &["libc"]),
            ("libc", &[]),
        ],
        &[],
    );
    let mut order = Vec::new();
    while let WorkerStep::Fetch(path, _) = s.worker_step() {
        order.push(path);
    }
    // `lib` comes as soon as `libc` is started (not finished), `app` as soon as `lib` is.
    assert_eq!(names(&order), ["doc", "libc", "lib", "app"]);
    assert_eq!(s.running, 4);
    assert!(matches!(s.worker_step(), WorkerStep::Stop));

    // When nothing is ready (a cycle), the first in queue order goes.
    let mut s = planned(&[("a", &["b"]), ("b", &["a"])], &[]);
    let WorkerStep::Fetch(first, _) = s.worker_step() else {
        panic!("a path is taken")
    };
    assert_eq!(names(&[first]), ["a"]);

    // At most MAX_PARALLEL_XZ xz paths at once: a ready xz path waits for a zstd one that is not.
    let closure: &[(&str, &[&str])] = &[
        ("x1", &[]),
        ("x2", &[]),
        ("x3", &[]),
        ("x4", &[]),
        ("x5", &[]),
        ("z", &["late"]),
        ("late", &[]),
    ];
    let mut s = planned(closure, &["x1", "x2", "x3", "x4", "x5"]);
    let taken: Vec<String> = (0..MAX_PARALLEL_XZ + 2)
        .map_while(|_| match s.worker_step() {
            WorkerStep::Fetch(path, _) => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(names(&taken), ["x1", "x2", "x3", "x4", "late", "z"]);
    assert_eq!(s.running_xz, MAX_PARALLEL_XZ);
    assert!(matches!(s.worker_step(), WorkerStep::Wait));
    s.running_xz -= 1;
    assert!(matches!(s.worker_step(), WorkerStep::Fetch(..)));
}

#[test]
fn workers_wait_while_too_many_paths_are_unregistered() {
    let mut s = planned(&[("a", &[])], &[]);
    s.unregistered = MAX_UNREGISTERED;
    assert!(matches!(s.worker_step(), WorkerStep::Wait));
    s.unregistered = MAX_UNREGISTERED - 1;
    assert!(matches!(s.worker_step(), WorkerStep::Fetch(..)));
}

#[test]
fn the_committer_batches_flushes_until_128_paths_wait() {
    // Paths still arriving (the lookups go on), one placed, the last flush just now.
    let mut s = planned(&[("a", &[]), ("b", &[])], &[]);
    s.planned = false;
    s.placed.push((abs("a"), ()));
    let step = |s: &TestSched, since_ms: u64| {
        s.commit_step(false, 0, true, Duration::from_millis(since_ms))
    };
    s.unregistered = 1;
    assert_eq!(step(&s, 0), CommitStep::WaitFor(SYNC_INTERVAL));
    assert_eq!(
        step(&s, 200),
        CommitStep::WaitFor(SYNC_INTERVAL - Duration::from_millis(200))
    );
    assert_eq!(step(&s, 500), CommitStep::Take);
    // The threshold: half of what workers may leave unregistered.
    assert_eq!(MAX_UNREGISTERED / 2, 128);
    s.unregistered = 127;
    assert_eq!(step(&s, 0), CommitStep::WaitFor(SYNC_INTERVAL));
    s.unregistered = 128;
    assert_eq!(step(&s, 0), CommitStep::Take);
    s.unregistered = 1;
    // Without flushing there is nothing to batch.
    assert_eq!(
        s.commit_step(false, 0, false, Duration::ZERO),
        CommitStep::Take
    );
    // Nothing more arriving: the last batch goes at once.
    s.planned = true;
    s.queue.clear();
    assert_eq!(step(&s, 0), CommitStep::Take);
    // Nothing placed, but a path became valid: waiting referrers are looked at without a flush.
    let mut s = planned(&[("a", &[]), ("b", &[])], &[]);
    s.planned = false;
    s.valid.insert(abs("a"));
    assert_eq!(step(&s, 0), CommitStep::Take);
    assert_eq!(
        s.commit_step(false, 1, true, Duration::ZERO),
        CommitStep::Wait
    );
}

#[test]
fn a_reference_cycle_fails_instead_of_hanging() {
    let out = simulate(
        planned(&[("a", &["b"]), ("b", &["a"])], &[]),
        2,
        Finish::Oldest,
        &[],
        &[],
    );
    assert!(out.abandoned);
    assert!(out.registered.is_empty());
}
