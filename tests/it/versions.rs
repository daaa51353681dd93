//! Version ordering: properties (proptest) and agreement with the real Nix evaluator's
//! `builtins.compareVersions` on many generated pairs.

use std::cmp::Ordering;
use std::process::Command;

use devenv::version::{compare, Constraint};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};

/// Versions shaped like nixpkgs versions: digit runs, letter runs (often `pre`, `rc`, `alpha`),
/// separators `.` and `-`, dates, and big numbers that overflow Nix's 32-bit components.
fn version() -> impl Strategy<Value = String> {
    let component = prop_oneof![
        4 => (0u32..30).prop_map(|n| n.to_string()),
        1 => (0u64..5_000_000_000).prop_map(|n| n.to_string()),
        1 => Just("0".to_string()),
        1 => Just("pre".to_string()),
        1 => prop::sample::select(vec!["rc", "alpha", "beta", "a", "b", "p", "unstable", "git"]).prop_map(String::from),
    ];
    let sep = prop::sample::select(vec!["", ".", ".", ".", "-", "..", "_"]);
    prop::collection::vec((sep, component), 0..6).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(s, c)| format!("{s}{c}"))
            .collect::<String>()
    })
}

fn semver_release() -> impl Strategy<Value = (u64, u64, u64)> {
    (0u64..50, 0u64..50, 0u64..50)
}

proptest! {
    #[test]
    fn reflexive_and_antisymmetric(a in version(), b in version()) {
        prop_assert_eq!(compare(&a, &a), Ordering::Equal);
        prop_assert_eq!(compare(&a, &b), compare(&b, &a).reverse());
    }

    #[test]
    fn transitive(a in version(), b in version(), c in version()) {
        let mut v = [a, b, c];
        v.sort_by(|x, y| compare(x, y));
        prop_assert_ne!(compare(&v[0], &v[1]), Ordering::Greater);
        prop_assert_ne!(compare(&v[1], &v[2]), Ordering::Greater);
        prop_assert_ne!(compare(&v[0], &v[2]), Ordering::Greater, "{:?}", v);
    }

    #[test]
    fn agrees_with_semver_on_releases(a in semver_release(), b in semver_release()) {
        let (sa, sb) = (format!("{}.{}.{}", a.0, a.1, a.2), format!("{}.{}.{}", b.0, b.1, b.2));
        let expected = semver::Version::parse(&sa).unwrap().cmp(&semver::Version::parse(&sb).unwrap());
        prop_assert_eq!(compare(&sa, &sb), expected);
    }

    #[test]
    fn best_is_the_newest_match(versions in prop::collection::vec(version(), 0..12), constraint in prop::sample::select(vec!["latest", "1", "1.2", "^1.2", "~1.2.3", ">=2 <10", "<3", "=1.2", "2-pre"])) {
        let c = Constraint::parse(constraint).unwrap();
        match c.best(versions.iter().map(String::as_str)) {
            None => prop_assert!(versions.iter().all(|v| !c.matches(v))),
            Some(best) => {
                prop_assert!(c.matches(best));
                for v in versions.iter().filter(|v| c.matches(v)) {
                    prop_assert_ne!(compare(v, best), Ordering::Greater, "{} beats {}", v, best);
                }
            }
        }
    }

    #[test]
    fn prefix_never_leaves_its_series(major in 0u32..40, minor in 0u32..40, patch in 0u32..40, digit in 0u32..10) {
        let prefix = format!("{major}.{minor}");
        let c = Constraint::parse(&prefix).unwrap();
        let in_series = format!("{major}.{minor}.{patch}");
        let longer = format!("{major}.{minor}{digit}");
        let next = format!("{major}.{}", minor + 1);
        prop_assert!(c.matches(&prefix));
        prop_assert!(c.matches(&in_series));
        prop_assert!(!c.matches(&longer));
        prop_assert!(!c.matches(&next));
        prop_assert_eq!(c.best([in_series.as_str(), longer.as_str(), next.as_str()]), Some(in_series.as_str()));
    }

    #[test]
    fn ranges_agree_with_semver(v in semver_release(), lo in semver_release(), hi in semver_release()) {
        let s = format!("{}.{}.{}", v.0, v.1, v.2);
        let req_text = format!(">={}.{}.{} <{}.{}.{}", lo.0, lo.1, lo.2, hi.0, hi.1, hi.2);
        let req = semver::VersionReq::parse(&req_text.replace(' ', ", ")).unwrap();
        let c = Constraint::parse(&req_text).unwrap();
        prop_assert_eq!(c.matches(&s), req.matches(&semver::Version::parse(&s).unwrap()));
        // The same range over non-semver spellings follows Nix ordering.
        let four = format!("{s}.1");
        prop_assert_eq!(
            c.matches(&four),
            compare(&four, &format!("{}.{}.{}", lo.0, lo.1, lo.2)) != Ordering::Less
                && compare(&four, &format!("{}.{}.{}", hi.0, hi.1, hi.2)) == Ordering::Less
        );
    }
}

fn nix_string(s: &str) -> String {
    // Generated versions contain no `"`, `\` or `$`.
    format!("\"{s}\"")
}

/// Compare our ordering with `builtins.compareVersions` of the real Nix evaluator on a few
/// thousand pairs, evaluated in one `nix-instantiate` call with a throwaway store and state dir.
#[test]
fn agrees_with_real_nix_compare_versions() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let alphabet = [
        "0",
        "1",
        "2",
        "9",
        "10",
        "01",
        "2147483647",
        "2147483648",
        "4294967297",
        "pre",
        "rc",
        "a",
        "b",
        "alpha",
        "p",
        ".",
        ".",
        "-",
        "-",
        "_",
        "+",
    ];
    let mut versions: Vec<String> = vec![
        "".into(),
        "1.0".into(),
        "2.3pre1".into(),
        "2.3a".into(),
        "2024-01-01".into(),
        "1.2.3pre4".into(),
    ];
    for _ in 0..250 {
        let len = rng.random_range(1..7);
        versions.push(
            (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect(),
        );
    }
    let pairs: Vec<(usize, usize)> = (0..4000)
        .map(|_| {
            (
                rng.random_range(0..versions.len()),
                rng.random_range(0..versions.len()),
            )
        })
        .collect();
    let list = pairs
        .iter()
        .map(|&(a, b)| {
            format!(
                "[{} {}]",
                nix_string(&versions[a]),
                nix_string(&versions[b])
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let expr = format!(
        "map (p: builtins.compareVersions (builtins.elemAt p 0) (builtins.elemAt p 1)) [{list}]"
    );
    let tmp = tempfile::tempdir().unwrap();
    let output = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--expr", &expr])
        .env("NIX_STORE_DIR", tmp.path().join("store"))
        .env("NIX_STATE_DIR", tmp.path().join("state"))
        .env("NIX_LOG_DIR", tmp.path().join("log"))
        .env("NIX_CONF_DIR", tmp.path())
        .env("HOME", tmp.path())
        .output()
        .expect("nix-instantiate (Debian nix-bin) must be installed; the README's test command installs it");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let results: Vec<i32> = stdout
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(results.len(), pairs.len());
    let mut disagreements = Vec::new();
    for (&(a, b), nix) in pairs.iter().zip(results) {
        let ours = match compare(&versions[a], &versions[b]) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        };
        if ours != nix {
            disagreements.push(format!(
                "{:?} vs {:?}: nix {nix}, ours {ours}",
                versions[a], versions[b]
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
