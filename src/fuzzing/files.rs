//! The files people and devenv write: manifests (JSONC, devenv and Devbox dialects) with their
//! in-place edits, and locks (devenv's and Devbox's). A refused file is bad input naming the
//! file and a position inside it; an accepted one survives every edit with its meaning intact,
//! and a lock renders canonically to text that reads back to the same lock.

use super::Columns;
use crate::diagnostic::{Report, EXIT_BAD_INPUT};
use crate::lock;
use crate::manifest::{self, edit, Dialect, Manifest, PackageSpec};

const MANIFEST: &str = "devenv.json";
const DEVBOX_MANIFEST: &str = "devbox.json";
const LOCK: &str = "devenv.lock";
const DEVBOX_LOCK: &str = "devbox.lock";

/// A name no seed uses, for the package the edits add.
const ADDED: &str = "fuzz-added";

/// Parse `data` as a manifest in both dialects; edit what devenv accepts, convert what it
/// accepts from Devbox.
pub fn manifest(data: &[u8]) {
    let text = super::text(data);
    for (dialect, file) in [
        (Dialect::Devenv, MANIFEST),
        (Dialect::Devbox, DEVBOX_MANIFEST),
    ] {
        match manifest::parse(&text, file, dialect) {
            Ok((m, warnings)) => {
                for w in &warnings {
                    let at = super::position(w, file).unwrap_or_else(|| panic!("{w}"));
                    assert!(super::inside(&text, at, Columns::Chars), "{w} in {text:?}");
                }
                match dialect {
                    Dialect::Devenv => edits(&text, &m),
                    Dialect::Devbox => converts(&text, &m),
                }
            }
            Err(e) => {
                let report = bad_input(&e);
                let cause = report.causes.first().expect("a cause");
                let at = super::position(cause, file).unwrap_or_else(|| panic!("{cause}"));
                assert!(
                    super::inside(&text, at, Columns::Chars),
                    "{cause} in {text:?}"
                );
                assert!(!report.hints.is_empty(), "{}", report.render());
            }
        }
    }
}

fn reparse(text: &str, what: &str) -> Manifest {
    manifest::parse(text, MANIFEST, Dialect::Devenv)
        .unwrap_or_else(|e| panic!("{what} does not parse: {e:#}\n{text}"))
        .0
}

/// Everything but the packages.
fn same_settings(a: &Manifest, b: &Manifest) -> bool {
    a.schema == b.schema && a.env == b.env && a.init_hook == b.init_hook && a.scripts == b.scripts
}

/// `add` and `rm` on a manifest devenv accepts: each changes the packages as asked and nothing
/// else, and removing what was added gives back the file byte for byte.
fn edits(text: &str, m: &Manifest) {
    if m.package(ADDED).is_none() {
        let spec = PackageSpec::new(ADDED, "1.2");
        let added = edit::add_package(text, &spec)
            .unwrap_or_else(|e| panic!("add failed on a valid manifest: {e:#}"));
        let after = reparse(&added, "the manifest after add");
        let mut expected = m.packages.clone();
        expected.push(spec.clone());
        assert_eq!(after.packages, expected);
        assert!(
            same_settings(&after, m),
            "add changed more than the packages"
        );
        let removed = edit::remove_package(&added, ADDED)
            .unwrap_or_else(|e| panic!("rm failed on an edited manifest: {e:#}"))
            .expect("the added package is found");
        let back = reparse(&removed, "the manifest after add and rm");
        assert_eq!(&back, m);
        if has_packages(text) {
            assert_eq!(removed, text, "add then rm did not restore the file");
        }

        // Options turn a list into the map form, keeping every entry.
        let mut with_options = spec;
        with_options.platforms = vec!["x86_64-linux".to_string()];
        let added = edit::add_package(text, &with_options)
            .unwrap_or_else(|e| panic!("add with options failed on a valid manifest: {e:#}"));
        let after = reparse(&added, "the manifest after add with options");
        let mut expected = m.packages.clone();
        expected.push(with_options);
        assert_eq!(after.packages, expected);
        assert!(
            same_settings(&after, m),
            "add changed more than the packages"
        );
    }
    if let Some(first) = m.packages.first() {
        let removed = edit::remove_package(text, &first.name)
            .unwrap_or_else(|e| panic!("rm failed on a valid manifest: {e:#}"))
            .expect("a listed package is found");
        let after = reparse(&removed, "the manifest after rm");
        assert_eq!(after.packages, m.packages[1..]);
        assert!(
            same_settings(&after, m),
            "rm changed more than the packages"
        );

        let mut newer = first.clone();
        newer.version = "9.9".to_string();
        let replaced = edit::add_package(text, &newer)
            .unwrap_or_else(|e| panic!("add failed on a valid manifest: {e:#}"));
        let after = reparse(&replaced, "the manifest after replacing a version");
        let mut expected = m.packages.clone();
        expected[0] = newer;
        assert_eq!(after.packages, expected);
        assert!(
            same_settings(&after, m),
            "add changed more than the packages"
        );
    }
    assert_eq!(edit::remove_package(text, ADDED).ok(), Some(None));
}

/// Whether the manifest has a `packages` entry (a list or an object), so an added entry goes
/// into it rather than creating it.
fn has_packages(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: true,
    };
    let Ok(Some(jsonc_parser::JsonValue::Object(root))) =
        jsonc_parser::parse_to_value(text, &options)
    else {
        return false;
    };
    matches!(
        root.get("packages"),
        Some(jsonc_parser::JsonValue::Array(_) | jsonc_parser::JsonValue::Object(_))
    )
}

/// `init --from-devbox` on a Devbox manifest devenv accepts: the result is a devenv manifest
/// with the same meaning, or an error naming the Devbox file.
fn converts(text: &str, m: &Manifest) {
    match manifest::devbox::convert(text) {
        Ok(converted) => {
            let (got, warnings) = manifest::parse(&converted.text, MANIFEST, Dialect::Devenv)
                .unwrap_or_else(|e| panic!("the converted manifest does not parse: {e:#}"));
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(got.packages, m.packages);
            assert!(
                got.env == m.env && got.init_hook == m.init_hook && got.scripts == m.scripts,
                "conversion changed the settings"
            );
        }
        Err(e) => panic!("a Devbox manifest devenv reads does not convert: {e:#}"),
    }
}

/// Parse `data` as `devenv.lock` and as `devbox.lock`.
pub fn lock(data: &[u8]) {
    let text = super::text(data);
    match lock::parse_bytes(data, LOCK, Dialect::Devenv) {
        Ok(l) => {
            let rendered = lock::render(&l);
            let again = lock::parse(&rendered, LOCK)
                .unwrap_or_else(|e| panic!("a rendered lock does not parse: {e:#}\n{rendered}"));
            assert_eq!(
                again,
                canonical(l),
                "the render round trip changed the lock"
            );
            assert_eq!(lock::render(&again), rendered, "rendering is not canonical");
        }
        Err(e) => refused_lock(&e, LOCK, &text),
    }
    match lock::parse_bytes(data, DEVBOX_LOCK, Dialect::Devbox) {
        Ok(l) => {
            // `init --from-devbox` writes the converted lock as devenv's.
            let (converted, unresolved) = lock::devbox::for_devenv(l.clone());
            for key in &unresolved {
                assert!(l.packages[key].resolved.is_empty(), "{key} was left out");
            }
            assert_eq!(
                converted.packages.len() + unresolved.len(),
                l.packages.len()
            );
            let rendered = lock::render(&converted);
            let again = lock::parse(&rendered, LOCK).unwrap_or_else(|e| {
                panic!("a converted Devbox lock does not read back: {e:#}\n{rendered}")
            });
            assert_eq!(
                again,
                canonical(converted),
                "the converted lock changed when read back"
            );
        }
        Err(e) => refused_lock(&e, DEVBOX_LOCK, &text),
    }
}

/// The lock as rendering writes it: outputs in canonical order (a lock written by hand may
/// list them in another; reading keeps that order, writing does not).
fn canonical(mut l: lock::Lockfile) -> lock::Lockfile {
    for pkg in l.packages.values_mut() {
        for sys in pkg.systems.values_mut() {
            lock::sort_outputs(&mut sys.outputs);
        }
    }
    l
}

fn refused_lock(e: &anyhow::Error, file: &str, text: &str) {
    let report = bad_input(e);
    let cause = report.causes.first().expect("a cause");
    assert!(cause.starts_with(file), "{}", report.render());
    if let Some(at) = super::position(cause, file) {
        assert!(
            super::inside(text, at, Columns::Bytes),
            "{cause} in {text:?}"
        );
    }
}

fn bad_input(e: &anyhow::Error) -> Report {
    let report = Report::from_error(e);
    assert_eq!(
        report.exit_code,
        EXIT_BAD_INPUT,
        "not reported as bad input: {}",
        report.render()
    );
    report
}
