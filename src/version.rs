//! Version ordering and constraints.
//!
//! Ordering is Nix's `builtins.compareVersions`, so non-semver versions (`2024-01-01`, `1.2.3pre4`)
//! sort the way nixpkgs users expect. Constraints are exact (`2.16.5`), prefix (`2.16` = newest
//! 2.16.x, never 2.160 or 2.17), `latest`, and ranges (`^2.16`, `~2.16.1`, `>=2.15 <2.17`, using the
//! `semver` crate where versions parse as semver).

use std::cmp::Ordering;
use std::fmt;

/// Nix's `builtins.compareVersions`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        if a.is_empty() && b.is_empty() {
            return Ordering::Equal;
        }
        let (ca, ra) = next_component(a);
        let (cb, rb) = next_component(b);
        if component_lt(ca, cb) {
            return Ordering::Less;
        }
        if component_lt(cb, ca) {
            return Ordering::Greater;
        }
        a = ra;
        b = rb;
    }
}

fn next_component(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(['.', '-']);
    let is_digit = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| {
            if is_digit {
                !c.is_ascii_digit()
            } else {
                c.is_ascii_digit() || c == '.' || c == '-'
            }
        })
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn is_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn num_cmp(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn component_lt(a: &str, b: &str) -> bool {
    if is_num(a) && is_num(b) {
        return num_cmp(a, b) == Ordering::Less;
    }
    // Nix's order of special cases: empty < number, `pre` < anything, number > string.
    if (a.is_empty() && is_num(b)) || (a == "pre" && b != "pre") {
        return true;
    }
    if b == "pre" || is_num(a) {
        return false;
    }
    is_num(b) || a < b
}

/// Compare with semver rules when both parse (missing minor/patch padded with 0), else Nix's.
fn compare_mixed(a: &str, b: &str) -> Ordering {
    match (to_semver(a), to_semver(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => compare(a, b),
    }
}

fn to_semver(v: &str) -> Option<semver::Version> {
    let dots = v.split(['-', '+']).next().unwrap_or(v).matches('.').count();
    let padded = match dots {
        0 => {
            let (core, rest) = v.split_at(v.find(['-', '+']).unwrap_or(v.len()));
            format!("{core}.0.0{rest}")
        }
        1 => {
            let (core, rest) = v.split_at(v.find(['-', '+']).unwrap_or(v.len()));
            format!("{core}.0{rest}")
        }
        _ => v.to_string(),
    };
    semver::Version::parse(&padded).ok()
}

/// What a constraint asks for, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Latest,
    /// Exact version or prefix: `2.16` matches `2.16` and `2.16.x`, never `2.160` or `2.17`.
    Prefix(String),
    /// All comparators must hold.
    Range(Vec<(Op, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

/// A version constraint as written in the manifest or on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    text: String,
    kind: Kind,
}

/// A constraint that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("`{text}` is not a valid version constraint: {reason}")]
pub struct ConstraintError {
    pub text: String,
    pub reason: String,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let err = |reason: &str| ConstraintError {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let t = text.trim();
        if t.is_empty() {
            return Err(err("it is empty"));
        }
        if t == "latest" || t == "*" {
            return Ok(Constraint {
                text: text.to_string(),
                kind: Kind::Latest,
            });
        }
        if !t.starts_with(['^', '~', '>', '<', '=']) && !t.contains([' ', ',']) {
            if !t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
            {
                return Err(err(
                    "versions contain only letters, digits, `.`, `-`, `_` and `+`",
                ));
            }
            return Ok(Constraint {
                text: text.to_string(),
                kind: Kind::Prefix(t.to_string()),
            });
        }
        let mut tokens: Vec<String> = Vec::new();
        let mut pending = String::new();
        for tok in t.split([' ', ',']).filter(|s| !s.is_empty()) {
            if tok
                .chars()
                .all(|c| matches!(c, '^' | '~' | '>' | '<' | '='))
            {
                pending.push_str(tok);
                continue;
            }
            tokens.push(format!("{pending}{tok}"));
            pending.clear();
        }
        if !pending.is_empty() {
            return Err(err("an operator has no version after it"));
        }
        let mut comps = Vec::new();
        for tok in tokens {
            let (op, v) = if let Some(v) = tok.strip_prefix(">=") {
                ("ge", v)
            } else if let Some(v) = tok.strip_prefix("<=") {
                ("le", v)
            } else if let Some(v) = tok.strip_prefix('>') {
                ("gt", v)
            } else if let Some(v) = tok.strip_prefix('<') {
                ("lt", v)
            } else if let Some(v) = tok.strip_prefix('=') {
                ("eq", v)
            } else if let Some(v) = tok.strip_prefix('^') {
                ("caret", v)
            } else if let Some(v) = tok.strip_prefix('~') {
                ("tilde", v)
            } else {
                ("eq", tok.as_str())
            };
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'))
            {
                return Err(err(&format!(
                    "`{tok}` is not an operator followed by a version"
                )));
            }
            match op {
                "ge" => comps.push((Op::Ge, v.to_string())),
                "le" => comps.push((Op::Le, v.to_string())),
                "gt" => comps.push((Op::Gt, v.to_string())),
                "lt" => comps.push((Op::Lt, v.to_string())),
                "eq" => comps.push((Op::Eq, v.to_string())),
                "caret" | "tilde" => {
                    let nums: Vec<u64> = v
                        .split('.')
                        .map(|p| p.parse::<u64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| err(&format!("`{tok}` needs a numeric version")))?;
                    let upper = if op == "tilde" {
                        if nums.len() >= 2 {
                            format!("{}.{}.0", nums[0], nums[1] + 1)
                        } else {
                            format!("{}.0.0", nums[0] + 1)
                        }
                    } else {
                        match nums.iter().position(|n| *n != 0) {
                            Some(0) | None => format!("{}.0.0", nums[0] + 1),
                            Some(1) => format!("0.{}.0", nums[1] + 1),
                            Some(_) => format!("0.0.{}", nums[2] + 1),
                        }
                    };
                    comps.push((Op::Ge, v.to_string()));
                    comps.push((Op::Lt, upper));
                }
                _ => unreachable!(),
            }
        }
        Ok(Constraint {
            text: text.to_string(),
            kind: Kind::Range(comps),
        })
    }

    pub fn is_latest(&self) -> bool {
        self.kind == Kind::Latest
    }

    pub fn matches(&self, version: &str) -> bool {
        match &self.kind {
            Kind::Latest => true,
            Kind::Prefix(p) => {
                version == p
                    || version
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '-']))
            }
            Kind::Range(comps) => comps.iter().all(|(op, v)| {
                let o = compare_mixed(version, v);
                match op {
                    Op::Ge => o != Ordering::Less,
                    Op::Gt => o == Ordering::Greater,
                    Op::Le => o != Ordering::Greater,
                    Op::Lt => o == Ordering::Less,
                    Op::Eq => o == Ordering::Equal,
                }
            }),
        }
    }

    pub fn best<'a>(&self, versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        versions
            .into_iter()
            .filter(|v| self.matches(v))
            .max_by(|a, b| compare_mixed(a, b).then_with(|| compare(a, b)))
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
