//! Version ordering and constraints against arbitrary text: the first line is a constraint (and
//! a package argument), the other lines are versions. The ordering is a total preorder, and a
//! constraint's best match is the newest version it matches.

use std::cmp::Ordering;

use crate::manifest;
use crate::version::{compare, components, Constraint};

/// More lines than this are ignored: the checks are quadratic or cubic in the count.
const MAX_VERSIONS: usize = 12;

pub fn version(data: &[u8]) {
    let text = super::text(data);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let versions: Vec<&str> = lines.take(MAX_VERSIONS).collect();
    ordering(&versions);
    constraint(first, &versions);
    package_argument(first);
}

fn ordering(versions: &[&str]) {
    for a in versions {
        assert_eq!(compare(a, a), Ordering::Equal, "{a:?}");
        for c in components(a) {
            assert!(!c.is_empty() && !c.contains(['.', '-']), "{a:?}: {c:?}");
        }
        for b in versions {
            assert_eq!(compare(a, b), compare(b, a).reverse(), "{a:?} {b:?}");
        }
    }
    // Transitive: after sorting, no pair is out of order.
    let mut sorted = versions.to_vec();
    sorted.sort_by(|a, b| compare(a, b));
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[i + 1..] {
            assert_ne!(compare(a, b), Ordering::Greater, "{sorted:?}");
        }
    }
}

fn constraint(written: &str, versions: &[&str]) {
    let c = match Constraint::parse(written) {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            assert!(
                written.trim().is_empty() || message.contains(written),
                "{message} does not name {written:?}"
            );
            return;
        }
    };
    assert_eq!(c.to_string(), written);
    assert_eq!(Constraint::parse(&c.to_string()).as_ref(), Ok(&c));
    match c.best(versions.iter().copied()) {
        None => assert!(versions.iter().all(|v| !c.matches(v))),
        Some(best) => {
            assert!(c.matches(best));
            let first = versions
                .iter()
                .position(|v| *v == best)
                .expect("one of them");
            for (i, v) in versions.iter().enumerate() {
                if c.matches(v) {
                    let order = compare(v, best);
                    assert_ne!(order, Ordering::Greater, "{v:?} is newer than {best:?}");
                    // Among equal versions the first one wins.
                    assert!(
                        order != Ordering::Equal || i >= first,
                        "{v:?} before {best:?}"
                    );
                }
            }
        }
    }
    if c.is_latest() {
        assert!(versions.iter().all(|v| c.matches(v)));
    }
    // A version is in its own series and equal to itself.
    for v in versions.iter().filter(|v| is_version(v)) {
        let series = Constraint::parse(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert!(series.matches(v), "{v:?} is not in its own series");
        let exact = Constraint::parse(&format!("={v}")).unwrap_or_else(|e| panic!("={v}: {e}"));
        assert!(exact.matches(v), "={v} does not match {v:?}");
    }
}

/// Letters, digits, `.`, `-`, `_` and `+`, starting with a letter or digit: what nixpkgs
/// versions are made of.
fn is_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
}

/// `name@constraint` as typed on the command line: what is accepted prints back the same.
fn package_argument(arg: &str) {
    if let Ok((name, version)) = manifest::parse_package_arg(arg) {
        let again = manifest::parse_package_arg(&format!("{name}@{version}"))
            .unwrap_or_else(|e| panic!("{name}@{version}: {e:#}"));
        assert_eq!(again, (name, version));
    }
}
