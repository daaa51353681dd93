//! Index answers are checked with the lock's own rules ([`crate::lock::validate`]) before anything
//! else sees them: a package file, a Nixhub answer, a search result.
//!
//! An index is somebody else's server. Whatever it says ends up in `devenv.lock`, in `nix build`
//! arguments and on the terminal, so an entry whose revision is `main; touch x`, whose output path
//! is `/etc/passwd` or whose version carries escape sequences must never get further than here.
//!
//! The policy: one bad version entry among good ones is left out with a warning naming the index,
//! package, version and field (a large real index with one broken entry stays usable, and the
//! broken entry can never be chosen); an answer with nothing usable left, or a single-answer
//! resolution that is bad, is an error naming the same. Either way nothing is written.

use anyhow::{anyhow, Context as _, Result};

use super::format::{PackageFile, VersionEntry};
use super::{Resolved, SearchHit};
use crate::diagnostic::ResultExt as _;
use crate::display::Escaped;
use crate::lock::validate::{self as rules, field, FieldError};

const HINT: &str = "the index is broken or has been tampered with; nothing was written. Ask its maintainer to fix it, or use another index (--index, DEVENV_INDEX)";

/// The fields of one version entry, named as in the index file (`rev`, `systems.<s>.outputs[i].path`).
pub fn entry(e: &VersionEntry) -> Result<(), FieldError> {
    field("version", rules::version(&e.version))?;
    field("attr_path", rules::attr_path(&e.attr_path))?;
    field("rev", rules::revision(&e.rev))?;
    // An index may not know a revision's date; the lock then records none.
    if !e.last_modified.is_empty() {
        field("last_modified", rules::date(&e.last_modified))?;
    }
    for (system, outputs) in &e.systems {
        field(format!("systems.{system}"), rules::system_name(system))?;
        // A system without outputs (not built there) is skipped when resolving.
        if !outputs.outputs.is_empty() {
            rules::outputs(&format!("systems.{system}.outputs"), &outputs.outputs)?;
        }
    }
    Ok(())
}

/// The error for an unusable answer about `name`.
/// `version `1.2`: `rev` is …`, or just the problem when it is the version itself.
fn describe(version: &str, problem: &FieldError) -> String {
    if problem.field == "version" {
        problem.to_string()
    } else {
        format!("version `{}`: {problem}", Escaped(version))
    }
}

fn unusable(index: &str, name: &str, cause: String) -> anyhow::Error {
    Err::<(), _>(anyhow!(cause))
        .with_context(|| {
            format!(
                "the index `{}` gave an unusable answer for `{}`",
                Escaped(index),
                Escaped(name)
            )
        })
        .hint(HINT)
        .unwrap_err()
}

/// Check a package file answered for `requested`. Returns it without the version entries that
/// break a rule, and a warning for each one left out. Errors when the file is for another package
/// or none of its entries is usable.
pub fn package(
    index: &str,
    requested: &str,
    mut pkg: PackageFile,
) -> Result<(PackageFile, Vec<String>)> {
    if pkg.name != requested {
        return Err(unusable(
            index,
            requested,
            format!("it answered with the package `{}`", Escaped(&pkg.name)),
        ));
    }
    let mut warnings = Vec::new();
    let mut first_problem = None;
    let total = pkg.versions.len();
    pkg.versions.retain(|e| match entry(e) {
        Ok(()) => true,
        Err(problem) => {
            let what = describe(&e.version, &problem);
            warnings.push(format!(
                "the index `{}` has an unusable entry for `{requested}` ({what}); it is ignored",
                Escaped(index)
            ));
            first_problem.get_or_insert(what);
            false
        }
    });
    if let (Some(problem), true) = (first_problem, pkg.versions.is_empty()) {
        let cause = if total == 1 {
            problem
        } else {
            format!("none of its {total} versions is usable; the first: {problem}")
        };
        return Err(unusable(index, requested, cause));
    }
    Ok((pkg, warnings))
}

/// Check a resolution answered as a whole (Nixhub's `/v2/resolve`): every field, or an error.
pub fn resolved(index: &str, requested: &str, r: &Resolved) -> Result<()> {
    let check = || -> Result<(), FieldError> {
        if r.name != requested {
            return field(
                "name",
                Err(format!(
                    "is `{}`, not the package asked for",
                    Escaped(&r.name)
                )),
            );
        }
        if r.systems.is_empty() {
            // Built for none of the systems asked for: nothing of it can be locked, and
            // `resolve::check_usable` says so; only the version is shown.
            return field("version", rules::version(&r.version));
        }
        let as_entry = VersionEntry {
            version: r.version.clone(),
            attr_path: r.attr_path.clone(),
            rev: r.rev.clone(),
            last_modified: r.last_modified.clone(),
            systems: r.systems.clone(),
        };
        entry(&as_entry)
    };
    check().map_err(|problem| unusable(index, requested, describe(&r.version, &problem)))
}

/// Search results without the ones whose name could never be added or whose latest version
/// breaks the version rule; one warning says how many were left out.
pub fn hits(index: &str, hits: Vec<SearchHit>) -> (Vec<SearchHit>, Option<String>) {
    let mut dropped = Vec::new();
    let kept = hits
        .into_iter()
        .filter(|h| {
            let ok = crate::manifest::validate_name(&h.name).is_ok()
                && (h.latest.is_empty() || rules::version(&h.latest).is_ok())
                && (h.attr_path.is_empty() || rules::attr_path(&h.attr_path).is_ok());
            if !ok {
                dropped.push(format!("`{}` {}", Escaped(&h.name), Escaped(&h.latest)));
            }
            ok
        })
        .collect();
    let warning = dropped.first().map(|first| {
        format!(
            "the index `{}` lists {} package name(s) or version(s) that are not valid (first: {first}); they are left out",
            Escaped(index),
            dropped.len()
        )
    });
    (kept, warning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::format::SystemOutputs;
    use crate::lock::Output;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";
    const PATH: &str = "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd-10.4.2";

    fn good(version: &str) -> VersionEntry {
        VersionEntry {
            version: version.into(),
            attr_path: "fd".into(),
            rev: REV.into(),
            last_modified: "2024-01-01T00:00:00Z".into(),
            systems: [(
                "x86_64-linux".to_string(),
                SystemOutputs {
                    outputs: vec![Output {
                        name: "out".into(),
                        path: PATH.into(),
                        default: true,
                    }],
                },
            )]
            .into(),
        }
    }

    fn file(versions: Vec<VersionEntry>) -> PackageFile {
        PackageFile {
            name: "fd".into(),
            versions,
            ..Default::default()
        }
    }

    #[test]
    fn a_bad_entry_among_good_ones_is_left_out_with_a_warning() {
        let mut bad = good("9.0");
        bad.rev = "main; touch x".into();
        let (pkg, warnings) = package("idx", "fd", file(vec![good("10.4.2"), bad])).unwrap();
        assert_eq!(pkg.versions.len(), 1);
        assert_eq!(
            warnings,
            vec!["the index `idx` has an unusable entry for `fd` (version `9.0`: `rev` is `main; touch x`, not a 40-character lowercase hexadecimal git revision); it is ignored".to_string()]
        );
    }

    #[test]
    fn nothing_usable_is_an_error_naming_index_package_version_and_field() {
        let mut bad = good("1.0\u{1b}[31m");
        bad.systems.get_mut("x86_64-linux").unwrap().outputs[0].path = "/etc/passwd".into();
        let err = package("idx", "fd", file(vec![bad])).unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(
            report.message,
            "the index `idx` gave an unusable answer for `fd`"
        );
        assert_eq!(
            report.causes,
            vec!["`version` is `1.0\\e[31m`, which contains a control or invisible formatting character".to_string()]
        );
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_FAILURE);
        let mut bad = good("1.0");
        bad.systems.get_mut("x86_64-linux").unwrap().outputs[0].path =
            "/nix/store/../../etc/passwd".into();
        let err = package("idx", "fd", file(vec![bad])).unwrap_err();
        assert!(
            format!("{err:#}")
                .contains("`systems.x86_64-linux.outputs[0].path` is not a store path"),
            "{err:#}"
        );
    }

    #[test]
    fn a_file_for_another_package_is_refused() {
        let err = package("idx", "jq", file(vec![good("1")])).unwrap_err();
        assert!(format!("{err:#}").contains("answered with the package `fd`"));
    }

    #[test]
    fn a_whole_resolution_is_checked() {
        let pkg = file(vec![good("10.4.2")]);
        let mut r = Resolved::from_entry(&pkg, &pkg.versions[0], &["x86_64-linux"]);
        assert!(resolved("idx", "fd", &r).is_ok());
        r.last_modified = "not a date".into();
        let err = resolved("idx", "fd", &r).unwrap_err();
        assert!(
            format!("{err:#}").contains("`last_modified` is not an RFC 3339 date: `not a date`"),
            "{err:#}"
        );
    }

    #[test]
    fn search_hits_with_invalid_names_or_versions_are_left_out() {
        let hit = |name: &str, latest: &str| SearchHit {
            name: name.into(),
            summary: "s".into(),
            latest: latest.into(),
            attr_path: String::new(),
        };
        let (kept, warning) = hits(
            "idx",
            vec![hit("jq", "1.7"), hit("x\u{1b}[2J", "1"), hit("y", "1\n2")],
        );
        assert_eq!(kept, vec![hit("jq", "1.7")]);
        let warning = warning.unwrap();
        assert!(warning.contains("lists 2 package name(s)"), "{warning}");
        assert!(warning.contains("x\\e[2J"), "{warning}");
    }
}
