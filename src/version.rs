//! Version ordering and constraints.
//!
//! Ordering is Nix's `builtins.compareVersions`, so non-semver versions (`2024-01-01`, `1.2.3pre4`)
//! sort the way nixpkgs users expect. A version splits into components: runs of digits, runs of
//! other characters, with `.` and `-` as separators that are skipped. Components compare pairwise,
//! a missing component counting as the empty string: two numbers compare numerically (a digit run
//! too large for a 32-bit signed integer is a string, as in Nix), `pre` is lower than anything else,
//! the empty string is lower than a number or another string, any string is lower than a number,
//! and strings compare bytewise.
//!
//! Constraints are what people write after `@`:
//! - `latest` (also `*` or empty): the newest version;
//! - a plain version `2.16` or `2.16.5`: a series — that version, or one that continues it after
//!   a component boundary (`2.16.3`, `2.16rc1`; never `2.160` or `2.17`); the newest match wins;
//! - `=2.16.5`: exactly that version;
//! - ranges: `^2.16`, `~2.16.1`, `>=2.15 <2.17`, `<3`, `>2.1, <=2.4`, comparators separated by
//!   spaces or commas. Versions that parse as semver (short ones padded: `2.16` → `2.16.0`) are
//!   matched with the `semver` crate; others with Nix ordering and the same caret/tilde rules.

use std::cmp::Ordering;
use std::fmt;

/// Compare two versions exactly like Nix's `builtins.compareVersions`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut pa, mut pb) = (a.as_bytes(), b.as_bytes());
    while !pa.is_empty() || !pb.is_empty() {
        let ca = next_component(&mut pa);
        let cb = next_component(&mut pb);
        if component_lt(ca, cb) {
            return Ordering::Less;
        }
        if component_lt(cb, ca) {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

/// The components of a version, as Nix splits them (`1.2.3pre4` → `1`, `2`, `3`, `pre`, `4`).
pub fn components(v: &str) -> Vec<&str> {
    let mut rest = v.as_bytes();
    let mut out = Vec::new();
    loop {
        let c = next_component(&mut rest);
        if c.is_empty() {
            return out;
        }
        // Components are runs of ASCII digits or of non-separator bytes, so they are valid UTF-8
        // slices of the original string whenever the split points are ASCII, which they are.
        out.push(std::str::from_utf8(c).unwrap_or(""));
    }
}

fn is_sep(c: u8) -> bool {
    c == b'.' || c == b'-'
}

fn next_component<'a>(p: &mut &'a [u8]) -> &'a [u8] {
    while let Some((&c, rest)) = p.split_first() {
        if !is_sep(c) {
            break;
        }
        *p = rest;
    }
    let Some(&first) = p.first() else {
        return &[];
    };
    let len = if first.is_ascii_digit() {
        p.iter().take_while(|c| c.is_ascii_digit()).count()
    } else {
        p.iter()
            .take_while(|&&c| !c.is_ascii_digit() && !is_sep(c))
            .count()
    };
    let (component, rest) = p.split_at(len);
    *p = rest;
    component
}

/// Nix parses components with `string2Int<int>`: only digit runs that fit a 32-bit int are numbers.
fn as_number(c: &[u8]) -> Option<i32> {
    if c.is_empty() || !c.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(c).ok()?.parse::<i32>().ok()
}

fn component_lt(c1: &[u8], c2: &[u8]) -> bool {
    let n1 = as_number(c1);
    let n2 = as_number(c2);
    match (n1, n2) {
        (Some(a), Some(b)) => a < b,
        _ if c1.is_empty() && n2.is_some() => true,
        _ if c1 == b"pre" && c2 != b"pre" => true,
        _ if c2 == b"pre" => false,
        (_, Some(_)) => true,
        (Some(_), _) => false,
        _ => c1 < c2,
    }
}

/// A version constraint as written after `@`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    written: String,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Latest,
    Prefix(String),
    Exact(String),
    Range {
        semver: Option<semver::VersionReq>,
        comparators: Vec<Comparator>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    Caret,
    Tilde,
}

/// Why a constraint could not be parsed; names the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("the version constraint is empty")]
    Empty,
    #[error("`{value}` is not a valid version constraint: {reason}")]
    Invalid { value: String, reason: String },
}

fn invalid(value: &str, reason: impl Into<String>) -> ConstraintError {
    ConstraintError::Invalid {
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Characters nixpkgs versions are made of.
fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')
}

fn check_version(written: &str, v: &str) -> Result<(), ConstraintError> {
    if v.is_empty() {
        return Err(invalid(written, "an operator needs a version after it"));
    }
    if let Some(bad) = v.chars().find(|&c| !is_version_char(c)) {
        return Err(invalid(
            written,
            format!("`{bad}` cannot appear in a version (use letters, digits, `.`, `-`, `_`, `+`)"),
        ));
    }
    if !v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            written,
            format!("the version `{v}` must start with a letter or digit"),
        ));
    }
    Ok(())
}

impl Constraint {
    /// Parse what the user wrote after `@`.
    pub fn parse(s: &str) -> Result<Constraint, ConstraintError> {
        let written = s.to_string();
        let t = s.trim();
        if s.is_empty() {
            return Ok(Constraint {
                written,
                kind: Kind::Latest,
            });
        }
        if t.is_empty() {
            return Err(ConstraintError::Empty);
        }
        if t == "latest" || t == "*" {
            return Ok(Constraint {
                written,
                kind: Kind::Latest,
            });
        }
        let has_operator =
            t.contains(['<', '>', '=', '^', '~', ',']) || t.contains(char::is_whitespace);
        if !has_operator {
            check_version(s, t)?;
            return Ok(Constraint {
                written,
                kind: Kind::Prefix(t.to_string()),
            });
        }
        let comparators = parse_comparators(s, t)?;
        if let [Comparator {
            op: Op::Eq,
            version,
        }] = comparators.as_slice()
        {
            return Ok(Constraint {
                written,
                kind: Kind::Exact(version.clone()),
            });
        }
        let semver = semver_req(&comparators);
        Ok(Constraint {
            written,
            kind: Kind::Range {
                semver,
                comparators,
            },
        })
    }

    /// Whether this is `latest` (any version, newest wins).
    pub fn is_latest(&self) -> bool {
        self.kind == Kind::Latest
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &str) -> bool {
        match &self.kind {
            Kind::Latest => true,
            Kind::Exact(v) => compare(version, v) == Ordering::Equal,
            Kind::Prefix(p) => in_series(version, p),
            Kind::Range {
                semver,
                comparators,
            } => match (semver, to_semver(version)) {
                (Some(req), Some(v)) => req.matches(&v),
                _ => comparators.iter().all(|c| c.matches(version)),
            },
        }
    }

    /// The newest of `versions` that satisfies the constraint (by Nix ordering; among versions that
    /// compare equal, the first one).
    pub fn best<'a>(&self, versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        let mut best: Option<&'a str> = None;
        for v in versions {
            let newer = match best {
                None => true,
                Some(b) => compare(v, b) == Ordering::Greater,
            };
            if self.matches(v) && newer {
                best = Some(v);
            }
        }
        best
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

impl std::str::FromStr for Constraint {
    type Err = ConstraintError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraint::parse(s)
    }
}

/// `version` is `prefix` itself or continues it after a component boundary: `2.16` matches
/// `2.16`, `2.16.3`, `2.16-rc1`, `2.16rc1`, never `2.160` or `2.17`.
fn in_series(version: &str, prefix: &str) -> bool {
    let Some(rest) = version.strip_prefix(prefix) else {
        return false;
    };
    let Some(next) = rest.chars().next() else {
        return true;
    };
    let last = prefix.chars().last().unwrap_or('.');
    if next == '.' || next == '-' {
        return true;
    }
    // A change between digits and other characters is a component boundary too (`2.16rc1`).
    last != '.' && last != '-' && last.is_ascii_digit() != next.is_ascii_digit()
}

fn parse_comparators(written: &str, t: &str) -> Result<Vec<Comparator>, ConstraintError> {
    let mut out = Vec::new();
    // Split on commas and whitespace, but keep an operator followed by a space with its version
    // (`>= 2.15`).
    let mut pending: Option<Op> = None;
    for token in t.split(|c: char| c == ',' || c.is_whitespace()) {
        if token.is_empty() {
            continue;
        }
        let (op, version) = split_op(token);
        match (pending.take(), op) {
            (Some(p), None) => {
                check_version(written, version)?;
                out.push(Comparator {
                    op: p,
                    version: version.to_string(),
                });
            }
            (Some(_), Some(_)) => {
                return Err(invalid(written, "an operator needs a version after it"))
            }
            (None, op) if version.is_empty() => {
                pending = Some(op.unwrap_or(Op::Eq));
            }
            (None, op) => {
                check_version(written, version)?;
                out.push(Comparator {
                    op: op.unwrap_or(Op::Eq),
                    version: version.to_string(),
                });
            }
        }
    }
    if pending.is_some() {
        return Err(invalid(written, "an operator needs a version after it"));
    }
    if out.is_empty() {
        // Only separators (`,`): name what was written, which is not empty.
        return Err(invalid(written, "it names no version"));
    }
    Ok(out)
}

fn split_op(token: &str) -> (Option<Op>, &str) {
    for (prefix, op) in [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
        ("^", Op::Caret),
        ("~", Op::Tilde),
    ] {
        if let Some(rest) = token.strip_prefix(prefix) {
            return (Some(op), rest);
        }
    }
    (None, token)
}

/// The semver requirement equivalent to the comparators, when every version in them is numeric
/// (`2`, `2.16`, `2.16.1`).
fn semver_req(comparators: &[Comparator]) -> Option<semver::VersionReq> {
    let parts: Option<Vec<String>> = comparators
        .iter()
        .map(|c| {
            let numeric = c.version.split('.').count() <= 3
                && c.version
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            numeric.then(|| {
                let op = match c.op {
                    Op::Eq => "=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Caret => "^",
                    Op::Tilde => "~",
                };
                format!("{op}{}", c.version)
            })
        })
        .collect();
    semver::VersionReq::parse(&parts?.join(", ")).ok()
}

/// `version` as semver, padding `2` → `2.0.0` and `2.16` → `2.16.0`.
fn to_semver(version: &str) -> Option<semver::Version> {
    let core_end = version.find(['-', '+']).unwrap_or(version.len());
    let dots = version[..core_end].matches('.').count();
    let padded = match dots {
        0 => format!("{}.0.0{}", &version[..core_end], &version[core_end..]),
        1 => format!("{}.0{}", &version[..core_end], &version[core_end..]),
        _ => version.to_string(),
    };
    semver::Version::parse(&padded).ok()
}

impl Comparator {
    fn matches(&self, version: &str) -> bool {
        let ord = compare(version, &self.version);
        match self.op {
            Op::Eq => ord == Ordering::Equal || in_series(version, &self.version),
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Caret => {
                ord != Ordering::Less && compare(version, &caret_upper(&self.version)).is_lt()
            }
            Op::Tilde => {
                ord != Ordering::Less && compare(version, &tilde_upper(&self.version)).is_lt()
            }
        }
    }
}

/// Leading numeric components of a version (`2.16rc1` → [2, 16]).
fn numeric_prefix(v: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in v.split(['.', '-']) {
        match part.parse::<u64>() {
            Ok(n) => out.push(n),
            Err(_) => {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(n) = digits.parse::<u64>() {
                    out.push(n);
                }
                break;
            }
        }
    }
    out
}

/// Upper bound (exclusive) of `^v`: bump the first non-zero component (`^0.2` → `<0.3`).
fn caret_upper(v: &str) -> String {
    let mut nums = numeric_prefix(v);
    if nums.is_empty() {
        return format!("{v}.{}", i32::MAX);
    }
    let i = nums.iter().position(|&n| n != 0).unwrap_or(nums.len() - 1);
    nums.truncate(i + 1);
    nums[i] += 1;
    join(&nums)
}

/// Upper bound (exclusive) of `~v`: bump the minor component, or the major if there is none.
fn tilde_upper(v: &str) -> String {
    let mut nums = numeric_prefix(v);
    if nums.is_empty() {
        return format!("{v}.{}", i32::MAX);
    }
    let i = if nums.len() >= 2 { 1 } else { 0 };
    nums.truncate(i + 1);
    nums[i] += 1;
    join(&nums)
}

fn join(nums: &[u64]) -> String {
    nums.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// The vectors of Nix's own test suite (`tests/lang/eval-okay-versions.nix`), then edge cases
    /// (separators, padding, numbers too large for Nix's 32-bit components) whose expected
    /// values were taken from Nix 2.8's `builtins.compareVersions`.
    #[test]
    fn nix_vectors() {
        let less = [
            ("1.0", "2.3"),
            ("2.1", "2.3"),
            ("2.3", "2.5"),
            ("2.3", "3.1"),
            ("2.3", "2.3.1"),
            ("2.3a", "2.3.1"),
            ("2.3pre1", "2.3"),
            ("2.3pre3", "2.3pre12"),
            ("2.3a", "2.3c"),
            ("2.3pre1", "2.3c"),
            ("2.3pre1", "2.3q"),
            ("1.0", "1.0.1"),
            ("0.9", "1.0"),
            ("2.3", "2.3.0"),
            ("2.3.0", "2.3.1"),
            ("1pre", "1"),
            ("99999999999", "abc"),
            ("1.99999999999", "1.5"),
            ("2147483648", "1"),
        ];
        for (a, b) in less {
            assert_eq!(compare(a, b), Less, "{a} < {b}");
            assert_eq!(compare(b, a), Greater, "{b} > {a}");
        }
        for (a, b) in [
            ("2.3", "2.3"),
            ("a-b", "a.b"),
            ("1.", "1"),
            ("1.01", "1.1"),
            ("", ""),
        ] {
            assert_eq!(compare(a, b), Equal, "{a} = {b}");
        }
        assert_eq!(compare("2147483647", "1"), Greater);
    }

    #[test]
    fn documented_chain_holds() {
        // docs/manifest.md: `1.2.3pre4 < 1.2.3 < 1.2.3a < 1.2.3.1`.
        let chain = ["1.2.3pre4", "1.2.3", "1.2.3a", "1.2.3.1"];
        for pair in chain.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Less, "{pair:?}");
        }
        assert_eq!(compare("2024-01-05", "2024-01-10"), Less);
        assert_eq!(compare("2024-02-01", "2024-01-31"), Greater);
    }

    #[test]
    fn components_split_like_nix() {
        assert_eq!(components("1.2.3pre4"), ["1", "2", "3", "pre", "4"]);
        assert_eq!(components("2024-01-01"), ["2024", "01", "01"]);
        assert_eq!(components("..a--b"), ["a", "b"]);
    }

    fn c(s: &str) -> Constraint {
        Constraint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    const VERSIONS: [&str; 10] = [
        "2.15.9",
        "2.16",
        "2.16.0",
        "2.16.5",
        "2.16.10",
        "2.160.1",
        "2.17.0",
        "2.17.0rc1",
        "3.0.1",
        "2.9",
    ];

    #[test]
    fn prefix_stays_in_its_series() {
        assert_eq!(c("2.16").best(VERSIONS), Some("2.16.10"));
        assert!(c("2.16").matches("2.16"));
        assert!(!c("2.16").matches("2.160.1"));
        assert!(!c("2.16").matches("2.17.0"));
        assert!(c("2.16").matches("2.16rc1"));
        assert_eq!(c("2.16.5").best(VERSIONS), Some("2.16.5"));
        assert_eq!(c("2").best(VERSIONS), Some("2.160.1"));
        assert_eq!(c("4").best(VERSIONS), None);
        assert!(c("2024-01").matches("2024-01-05"));
        assert!(!c("2024-01").matches("2024-010"));
    }

    #[test]
    fn latest_exact_and_ranges() {
        assert_eq!(c("latest").best(VERSIONS), Some("3.0.1"));
        assert!(c("latest").is_latest() && c("").is_latest() && c("*").is_latest());
        assert_eq!(c("=2.16").best(VERSIONS), Some("2.16"));
        // Nix orders `2.16` before `2.16.0`, so an exact pin does not match the padded form.
        assert!(!c("=2.16").matches("2.16.0"));
        assert!(c("=2.16.5").matches("2.16.5") && !c("=2.16.5").matches("2.16.5.1"));
        assert_eq!(c("^2.16").best(VERSIONS), Some("2.160.1"));
        assert_eq!(c("~2.16.1").best(VERSIONS), Some("2.16.10"));
        assert_eq!(c(">=2.15 <2.17").best(VERSIONS), Some("2.16.10"));
        assert_eq!(c(">=2.15, <2.16.6").best(VERSIONS), Some("2.16.5"));
        assert_eq!(c("<3").best(VERSIONS), Some("2.160.1"));
        assert_eq!(c(">= 2.17").best(VERSIONS), Some("3.0.1"));
        assert_eq!(c("^0.2").best(["0.2.9", "0.3.0"]), Some("0.2.9"));
        assert_eq!(c("~2").best(["2.9", "3.0"]), Some("2.9"));
    }

    #[test]
    fn ranges_fall_back_to_nix_ordering() {
        // `1.2.3.4` and `2024-01-05` are not semver.
        assert!(c("^1.2").matches("1.2.3.4"));
        assert!(!c("^1.2").matches("2.0.0.1"));
        assert!(c(">=2024-01-01 <2024-02").matches("2024-01-05"));
        assert!(!c(">=2024-01-01 <2024-02").matches("2024-02-05"));
        assert!(c("~1.2.3").matches("1.2.9.1"));
        assert!(!c("~1.2.3").matches("1.3.0.1"));
    }

    #[test]
    fn display_is_what_was_written() {
        for s in [">=2.15 <2.17", "2.16", "latest", "^2.16", "=2.16.5"] {
            assert_eq!(c(s).to_string(), s);
        }
    }

    #[test]
    fn bad_constraints_name_the_value() {
        for bad in [
            ">=", "^", "2.16 >=", "1.0!", ">=<2", "~~1", " ", ".1", ",", ", ,",
        ] {
            let err = Constraint::parse(bad).unwrap_err().to_string();
            assert!(
                err.contains("constraint"),
                "{bad:?} gave an unclear error: {err}"
            );
            if !bad.trim().is_empty() {
                assert!(err.contains(&format!("`{bad}`")), "{bad:?}: {err}");
            }
        }
    }
}
