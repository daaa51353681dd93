use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn known() -> BTreeSet<&'static str> {
    VARIABLES.iter().map(|v| v.name).collect()
}

/// Every file under `dir` (recursively) with one of `exts`, sorted.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| exts.contains(&e))
        })
        .collect();
    out.sort();
    out
}

/// Every `DEVENV_X` / `__DEVENV_X` name in `text` (not the `DEVENV_*` prefix as such, nor the
/// hook template's `@DEVENV_EXE@` placeholder).
fn devenv_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("DEVENV_") {
        let mut start = from + at;
        let mut end = start + "DEVENV_".len();
        from = end;
        while start > 0 && bytes[start - 1] == b'_' {
            start -= 1;
        }
        while end < bytes.len()
            && (bytes[end].is_ascii_uppercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        let name = &text[start..end];
        let placeholder = start > 0 && bytes[start - 1] == b'@';
        let word_inside = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
        if !name.ends_with('_') && !placeholder && !word_inside {
            names.insert(name.to_string());
        }
    }
    names
}

/// The literal names of variables read with `var("…")` / `var_os("…")` in `text`.
fn literal_reads(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for call in ["var(\"", "var_os(\""] {
        let mut from = 0;
        while let Some(at) = text[from..].find(call) {
            let start = from + at + call.len();
            let end = start + text[start..].find('"').unwrap_or(0);
            names.insert(text[start..end].to_string());
            from = end;
        }
    }
    names
}

#[test]
fn the_docs_page_carries_both_tables_as_generated() {
    let page = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    for (name, table) in [
        ("knobs", knobs_markdown()),
        ("variables", variables_markdown()),
    ] {
        let begin = format!("<!-- {name}:begin -->\n");
        let end = format!("<!-- {name}:end -->");
        let inside = page
            .split_once(&begin)
            .and_then(|(_, rest)| rest.split_once(&end))
            .map(|(inside, _)| inside)
            .unwrap_or_else(|| panic!("docs/configuration.md has no {begin:?} … {end:?} block"));
        assert_eq!(
            inside, table,
            "docs/configuration.md's {name} table differs from the code; paste this between the markers:\n{table}"
        );
    }
}

#[test]
fn every_setting_variable_is_a_knob_and_every_name_is_listed_once() {
    let settings: BTreeSet<&str> = VARIABLES
        .iter()
        .filter(|v| v.kind == Kind::Setting)
        .map(|v| v.name)
        .collect();
    let knobs: BTreeSet<&str> = KNOBS.iter().map(|k| k.variable).collect();
    assert_eq!(settings, knobs);
    assert_eq!(known().len(), VARIABLES.len(), "a variable is listed twice");
}

#[test]
fn every_variable_the_code_and_the_hooks_name_is_in_the_table() {
    let known = known();
    // This file's examples are not reads.
    let this = repo().join("src/variables/tests.rs");
    let mut sources: Vec<PathBuf> = files(&repo().join("src"), &["rs"])
        .into_iter()
        .filter(|f| *f != this)
        .collect();
    sources.extend(files(&repo().join("shell-hooks"), &["sh", "zsh", "fish"]));
    let mut missing = BTreeSet::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).unwrap();
        let names = devenv_names(&text).into_iter().chain(literal_reads(&text));
        for name in names {
            if !known.contains(name.as_str()) {
                missing.insert(format!("{name} ({})", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add these to VARIABLES (src/variables.rs) and docs/configuration.md: {missing:?}"
    );
}

#[test]
fn settings_variables_are_read_only_by_the_settings_module() {
    let settings_dir = repo().join("src/settings");
    let setting_names: BTreeSet<&str> = KNOBS.iter().map(|k| k.variable).collect();
    for file in files(&repo().join("src"), &["rs"]) {
        if file.starts_with(&settings_dir) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for name in literal_reads(&text) {
            assert!(
                !setting_names.contains(name.as_str()),
                "{} reads {name}: take it from Settings instead",
                file.display()
            );
        }
        assert!(
            !text.contains("env = \"DEVENV_"),
            "{}: clap reads a DEVENV_ variable; Settings::resolve reads them",
            file.display()
        );
    }
}

#[test]
fn every_devenv_variable_the_docs_name_is_in_the_table() {
    // Variables of the test suite itself, not of devenv.
    let test_suite = ["DEVENV_FUZZ_SECONDS", "DEVENV_FUZZ_SEED"];
    let known = known();
    let mut pages = files(&repo().join("docs"), &["md"]);
    pages.push(repo().join("README.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for name in devenv_names(&text) {
            assert!(
                known.contains(name.as_str()) || test_suite.contains(&name.as_str()),
                "{} names {name}, which devenv does not read",
                page.display()
            );
        }
    }
}

#[test]
fn names_are_found_but_prefixes_and_placeholders_are_not() {
    let names = devenv_names("x DEVENV_INDEX, __DEVENV_DIR; DEVENV_* @DEVENV_EXE@ MY_DEVENV_X");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["DEVENV_INDEX", "__DEVENV_DIR"]
    );
    let reads = literal_reads(r#"std::env::var("HOME"); var_os("PWD")"#);
    assert_eq!(reads.into_iter().collect::<Vec<_>>(), ["HOME", "PWD"]);
}
