//! The rules every field of a locked package follows, in one place: the lock reader applies them
//! to `devenv.lock` and `devbox.lock`, and the index backends apply the same ones to every answer
//! before it can reach a lock or a terminal ([`crate::index::validate`]).
//!
//! A lock and an index answer are data from other people: a revision like `main; touch x`, a path
//! `/nix/store/../../etc/passwd` or a version carrying terminal escape sequences must be refused
//! where it enters, not discovered by whatever later consumes it (a shell, `nix build`, a
//! terminal). Each rule returns a reason that reads after the field's name
//! (`` `rev` is `main`, not a 40-character … ``); values inside reasons are escaped with
//! [`crate::display::escape`], so an error never prints the control characters it complains about.

use std::collections::BTreeSet;
use std::fmt;

use super::{LockedPackage, Lockfile, Output};
use crate::display::{is_unsafe, Escaped};

/// Longest version string (nixpkgs' longest are about 40 characters).
pub const MAX_VERSION_LEN: usize = 128;
/// Longest attribute path.
pub const MAX_ATTR_PATH_LEN: usize = 256;
/// Longest output name.
pub const MAX_OUTPUT_NAME_LEN: usize = 64;
/// Longest `source` (an index id or URL).
pub const MAX_SOURCE_LEN: usize = 512;
/// Longest `last_modified`.
const MAX_DATE_LEN: usize = 64;
/// The nixpkgs every `resolved` reference points into.
pub const RESOLVED_PREFIX: &str = "github:NixOS/nixpkgs/";

/// A field that breaks its rule: ``` `systems.x86_64-linux.outputs[0].path` is not a store path… ```.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the field is, in the file's terms (`rev`, `systems.x86_64-linux.outputs[1].name`).
    pub field: String,
    /// Why it is refused; reads after the field name.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", Escaped(&self.field), self.reason)
    }
}

/// Attach a field name to a rule's result.
pub fn field(name: impl Into<String>, rule: Result<(), String>) -> Result<(), FieldError> {
    rule.map_err(|reason| FieldError {
        field: name.into(),
        reason,
    })
}

/// Text that is safe to show and to match: no control or invisible formatting characters, no
/// whitespace, at most `max` characters.
fn printable(s: &str, max: usize, what: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("is empty; it must be {what}"));
    }
    if let Some(c) = s.chars().find(|&c| is_unsafe(c) || c.is_whitespace()) {
        let kind = if is_unsafe(c) {
            "a control or invisible formatting character"
        } else {
            "whitespace"
        };
        return Err(format!("is `{}`, which contains {kind}", Escaped(s)));
    }
    if s.chars().count() > max {
        return Err(format!(
            "is longer than {max} characters (`{}…`)",
            s.chars().take(40).collect::<String>()
        ));
    }
    Ok(())
}

/// A package version: printable, at most [`MAX_VERSION_LEN`] characters.
pub fn version(v: &str) -> Result<(), String> {
    printable(v, MAX_VERSION_LEN, "a version such as `1.7.1`")
}

/// A nixpkgs git revision: 40 lowercase hexadecimal digits.
pub fn revision(rev: &str) -> Result<(), String> {
    let ok = rev.len() == 40 && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is `{}`, not a 40-character lowercase hexadecimal git revision",
            Escaped(rev)
        ))
    }
}

/// A commit date in RFC 3339 (`2024-06-01T00:00:00Z`).
pub fn date(s: &str) -> Result<(), String> {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    if s.len() <= MAX_DATE_LEN && time::OffsetDateTime::parse(s, rfc3339).is_ok() {
        Ok(())
    } else {
        Err(format!("is not an RFC 3339 date: `{}`", Escaped(s)))
    }
}

/// A nixpkgs attribute path: `.`-separated segments, each of letters, digits, `_`, `'`, `+` and
/// `-` starting with a letter, digit or `_` (`python312Packages.pip`, `gtk+3`, `_1password`), or
/// a double-quoted segment of those characters and `.` (`"python3.11"`). Nothing a shell or Nix
/// would read as more than a name: no spaces, `$`, `;`, `#`, `/` or control characters.
pub fn attr_path(s: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "is `{}`, not a nixpkgs attribute path: {why}",
            Escaped(s)
        ))
    };
    if s.is_empty() {
        return bad("it is empty");
    }
    if s.len() > MAX_ATTR_PATH_LEN {
        return bad(&format!("it is longer than {MAX_ATTR_PATH_LEN} characters"));
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '+' | '-');
    let mut rest = s;
    loop {
        let segment_len = if let Some(quoted) = rest.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                return bad("a quoted segment is not closed");
            };
            let inner = &quoted[..end];
            if inner.is_empty() || !inner.chars().all(|c| name_char(c) || c == '.') {
                return bad("a quoted segment may hold letters, digits and `_ ' + - .`");
            }
            end + 2
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let segment = &rest[..end];
            let starts_ok = segment
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !starts_ok || !segment.chars().all(name_char) {
                return bad(
                    "each segment holds letters, digits and `_ ' + -`, starting with a letter, digit or `_`",
                );
            }
            end
        };
        rest = &rest[segment_len..];
        match rest.strip_prefix('.') {
            Some(next) => rest = next,
            None if rest.is_empty() => return Ok(()),
            None => return bad("segments are separated by `.`"),
        }
    }
}

/// A lock entry's `resolved`: `github:NixOS/nixpkgs/<revision>#<attribute path>`, the only form
/// devenv writes and Devbox locks use for nixpkgs packages.
pub fn resolved(s: &str) -> Result<(), String> {
    let detail = match s
        .strip_prefix(RESOLVED_PREFIX)
        .and_then(|r| r.split_once('#'))
    {
        None => None,
        Some((rev, attr)) => match revision(rev).and_then(|()| attr_path(attr)) {
            Ok(()) => return Ok(()),
            Err(reason) => Some(reason),
        },
    };
    let mut msg = format!(
        "must be `{RESOLVED_PREFIX}<40-hex revision>#<attribute>`, not `{}`",
        Escaped(s)
    );
    if let Some(d) = detail {
        msg.push_str(&format!(" (its part {d})"));
    }
    Err(msg)
}

/// An absolute store path, `/nix/store/<32 nixbase32 characters>-<name>`, by the same parser the
/// store uses; no `..`, no sub-path.
pub fn store_path(p: &str) -> Result<(), String> {
    crate::nix::store_path::StorePath::parse_absolute(p)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "is not a store path: {}",
                crate::display::escape(&e.to_string())
            )
        })
}

/// An output name (`out`, `bin`, `dev`, `man`): letters, digits, `_` and `-`.
pub fn output_name(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= MAX_OUTPUT_NAME_LEN
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is `{}`, not an output name (letters, digits, `_` and `-`, like `out` or `bin`)",
            Escaped(n)
        ))
    }
}

/// A system name devenv knows (`x86_64-linux`, …), as a lock may list.
pub fn system(s: &str) -> Result<(), String> {
    if crate::system::is_known(s) {
        Ok(())
    } else {
        Err(format!(
            "is `{}`, not a known system ({})",
            Escaped(s),
            crate::system::KNOWN_SYSTEMS.join(", ")
        ))
    }
}

/// A well-formed Nix system name (`<arch>-<os>`, lowercase letters, digits and `_`), known or
/// not: an index may list systems this devenv does not install for, which are then ignored.
pub fn system_name(s: &str) -> Result<(), String> {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let ok = s.len() <= 64 && s.split_once('-').is_some_and(|(a, o)| part(a) && part(o));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "is `{}`, not a system name like `x86_64-linux`",
            Escaped(s)
        ))
    }
}

/// Which index resolved an entry (its id or URL): printable, at most [`MAX_SOURCE_LEN`].
pub fn source(s: &str) -> Result<(), String> {
    printable(s, MAX_SOURCE_LEN, "an index id or URL")
}

/// The outputs of one system: at least one, each with a valid and distinct name and a store path.
/// Fields are named `<prefix>[i].name` / `.path`.
pub fn outputs(prefix: &str, outputs: &[Output]) -> Result<(), FieldError> {
    if outputs.is_empty() {
        return field(prefix, Err("lists no outputs".to_string()));
    }
    let mut seen = BTreeSet::new();
    for (i, out) in outputs.iter().enumerate() {
        field(format!("{prefix}[{i}].name"), output_name(&out.name))?;
        field(format!("{prefix}[{i}].path"), store_path(&out.path))?;
        if !seen.insert(out.name.as_str()) {
            return field(
                format!("{prefix}[{i}].name"),
                Err(format!("repeats the output `{}`", out.name)),
            );
        }
    }
    Ok(())
}

/// Every field of one lock entry. Devbox locks hold entries they never resolved (empty
/// `resolved`, `version`, `last_modified`, `source`); such entries are stale (`update` resolves
/// them), not invalid, and are left out when a Devbox lock is converted to a `devenv.lock`
/// ([`super::devbox::for_devenv`]). Only a Devbox lock (`devbox`) may lack `resolved`.
pub fn locked_package(pkg: &LockedPackage, devbox: bool) -> Result<(), FieldError> {
    if !pkg.version.is_empty() {
        field("version", version(&pkg.version))?;
    }
    if !(devbox && pkg.resolved.is_empty()) {
        field("resolved", resolved(&pkg.resolved))?;
    }
    // devenv writes an empty date when the index did not know it.
    if !pkg.last_modified.is_empty() {
        field("last_modified", date(&pkg.last_modified))?;
    }
    if !pkg.source.is_empty() {
        field("source", source(&pkg.source))?;
    }
    for (sys, entry) in &pkg.systems {
        field(format!("systems.{sys}"), system(sys))?;
        outputs(&format!("systems.{sys}.outputs"), &entry.outputs)?;
    }
    Ok(())
}

/// The whole lock: keys are `name@constraint`, and every entry follows [`locked_package`].
pub(super) fn lockfile(lock: &Lockfile, devbox: bool) -> Result<(), String> {
    for (key, pkg) in &lock.packages {
        let shown = Escaped(key);
        let Some((name, constraint)) = key.rsplit_once('@') else {
            return Err(format!("the key `{shown}` is not `name@constraint`"));
        };
        crate::manifest::validate_name(name)
            .and_then(|()| {
                crate::version::Constraint::parse(constraint)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| format!("the key `{shown}`: {}", crate::display::escape(&e)))?;
        locked_package(pkg, devbox).map_err(|e| format!("package `{shown}`: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn versions_are_printable_and_bounded() {
        assert_eq!(version("2.16.5"), Ok(()));
        assert_eq!(version("0-unstable-2024-01-01"), Ok(()));
        assert_eq!(version("1.0+git~rc1"), Ok(()));
        assert_eq!(
            version("1.0\u{1b}[31m").unwrap_err(),
            "is `1.0\\e[31m`, which contains a control or invisible formatting character"
        );
        assert!(version("1.0\nerror: fake")
            .unwrap_err()
            .contains("1.0\\nerror"));
        assert!(version("1.0 beta").unwrap_err().contains("whitespace"));
        assert!(version(&"1".repeat(129)).unwrap_err().contains("128"));
        assert!(version("").is_err());
    }

    #[test]
    fn revisions_are_forty_lowercase_hex_digits() {
        assert_eq!(revision(REV), Ok(()));
        assert!(revision("main; touch x")
            .unwrap_err()
            .contains("`main; touch x`"));
        assert!(revision(&REV.to_uppercase()).is_err());
        assert!(revision(&REV[1..]).is_err());
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(date("2024-06-01T00:00:00Z"), Ok(()));
        assert_eq!(date("2024-06-01T00:00:00+02:00"), Ok(()));
        assert_eq!(
            date("not a date").unwrap_err(),
            "is not an RFC 3339 date: `not a date`"
        );
    }

    #[test]
    fn attribute_paths_are_names_not_code() {
        for ok in [
            "jq",
            "python312Packages.pip",
            "gtk+3",
            "_1password",
            "haskellPackages.ghc'",
            "python3Packages.\"3to2\"",
            "a.\"b.c\".d",
        ] {
            assert_eq!(attr_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a\n$(touch x)",
            "a; rm -rf ~",
            "a b",
            "a..b",
            ".a",
            "a.",
            "-a",
            "a#b",
            "a/b",
            "\"a",
            "\"\"",
            "\"a\"b",
            "\"a$b\"",
        ] {
            assert!(attr_path(bad).is_err(), "{bad:?}");
        }
        assert!(attr_path("a\n$(touch x)")
            .unwrap_err()
            .contains("a\\n$(touch x)"));
    }

    #[test]
    fn resolved_follows_the_flake_reference_grammar() {
        assert_eq!(resolved(&format!("github:NixOS/nixpkgs/{REV}#jq")), Ok(()));
        let err = resolved(&format!("github:NixOS/nixpkgs/{REV}#a\n$(touch x)")).unwrap_err();
        assert!(err.starts_with("must be `github:NixOS/nixpkgs/<40-hex revision>#<attribute>`, not `github:NixOS/nixpkgs/"), "{err}");
        assert!(err.contains("#a\\n$(touch x)`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        for bad in [
            format!("github:NixOS/nixpkgs/{REV}"),
            format!("github:evil/nixpkgs/{REV}#jq"),
            format!("github:NixOS/nixpkgs/{REV}?narHash=x#jq"),
            "github:NixOS/nixpkgs/main#jq".to_string(),
            format!("path:/tmp/x#jq{REV}"),
        ] {
            assert!(resolved(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn store_paths_use_the_store_parser() {
        let good = "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd-10.4.2";
        assert_eq!(store_path(good), Ok(()));
        for bad in [
            "/etc/passwd",
            "/nix/store/../../etc/passwd",
            "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd/../../etc",
            "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x",
            "/nix/store/short-x",
            "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-..",
        ] {
            assert!(store_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outputs_need_names_paths_and_no_repeats() {
        let out = |name: &str, path: &str| Output {
            name: name.into(),
            path: path.into(),
            default: false,
        };
        let p = "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd-10.4.2";
        assert_eq!(outputs("o", &[out("out", p), out("man", p)]), Ok(()));
        let err = outputs("o", &[out("out", p), out("out", p)]).unwrap_err();
        assert_eq!(err.field, "o[1].name");
        let err = outputs("o", &[out("out", "/etc/passwd")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`o[0].path` is not a store path: store path `/etc/passwd` is not inside `/nix/store/`"
        );
        assert!(outputs("o", &[out("o\u{1b}ut", p)]).is_err());
        assert!(outputs("o", &[]).is_err());
    }

    #[test]
    fn system_names_are_known_in_locks_and_well_formed_in_indexes() {
        assert_eq!(system("x86_64-linux"), Ok(()));
        assert!(system("riscv64-linux").is_err());
        assert_eq!(system_name("riscv64-linux"), Ok(()));
        assert!(system_name("x86_64-linux\u{1b}").is_err());
        assert!(system_name("linux").is_err());
    }
}
