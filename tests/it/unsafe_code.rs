//! `unsafe` code lives in one audited module, `src/sys.rs`, checked on the source: the crate
//! denies `unsafe_code`, only that module is exempt, no other file (library, binary, tests,
//! examples) has an `unsafe` block, function, impl or trait, and only that module reaches the C
//! library directly. Everything else calls the kernel through `rustix`.

use std::path::{Path, PathBuf};

const AUDITED: &str = "src/sys.rs";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every Rust file of the crate but this one (whose strings name what it looks for), as paths
/// relative to the crate root.
fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["src", "tests", "examples"] {
        walk(&root().join(dir), &mut out);
    }
    assert!(out.iter().any(|p| p == Path::new(AUDITED)), "{out:?}");
    out.retain(|p| p != Path::new(file!()));
    out
}

/// The code of `file` without its `//` comments (so prose about the keyword does not count).
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// How `word` is used as a keyword in `code`: the token that follows each use.
fn keyword_uses(code: &str, word: &str) -> Vec<String> {
    let mut uses = Vec::new();
    for (i, _) in code.match_indices(word) {
        let before = code[..i].chars().next_back();
        let after = &code[i + word.len()..];
        if before.is_some_and(is_ident) || after.starts_with(is_ident) {
            continue;
        }
        let next = after.trim_start();
        let token: String = if next.starts_with('{') {
            "{".into()
        } else {
            next.chars().take_while(|&c| is_ident(c)).collect()
        };
        uses.push(token);
    }
    uses
}

#[test]
fn only_the_audited_module_has_unsafe_code() {
    let keyword = "unsafe";
    let mut offenders = Vec::new();
    for file in rust_files() {
        if file == Path::new(AUDITED) {
            continue;
        }
        for token in keyword_uses(&code(&file), keyword) {
            if ["{", "fn", "impl", "trait", "extern"].contains(&token.as_str()) {
                offenders.push(format!("{}: `{keyword} {token}`", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe code outside {AUDITED}: {offenders:#?}"
    );
    assert!(
        keyword_uses(&code(Path::new(AUDITED)), keyword).contains(&"{".to_string()),
        "the audited module is where the unsafe blocks are"
    );
}

#[test]
fn the_crate_denies_unsafe_code_and_exempts_only_the_audited_module() {
    let lib = code(Path::new("src/lib.rs"));
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "src/lib.rs must deny unsafe code"
    );
    let main = code(Path::new("src/main.rs"));
    assert!(
        main.contains("#![forbid(unsafe_code)]"),
        "src/main.rs must forbid unsafe code"
    );

    let lint = "unsafe_code";
    let mut exemptions = Vec::new();
    for file in rust_files() {
        let code = code(&file);
        for (i, _) in code.match_indices(lint) {
            let line_start = code[..i].rfind('\n').map_or(0, |n| n + 1);
            let attribute = code[line_start..].lines().next().unwrap().trim();
            // Only attributes allow code; `mod unsafe_code;` naming this file is not one.
            if !attribute.starts_with('#')
                || attribute.starts_with("#![deny(")
                || attribute.starts_with("#![forbid(")
            {
                continue;
            }
            let next_line = code[line_start..].lines().nth(1).unwrap_or("").trim();
            exemptions.push((file.clone(), attribute.to_string(), next_line.to_string()));
        }
    }
    assert_eq!(
        exemptions,
        vec![(
            PathBuf::from("src/lib.rs"),
            format!("#[allow({lint})]"),
            "mod sys;".to_string()
        )],
        "only `mod sys` may allow unsafe code"
    );
}

#[test]
fn only_the_audited_module_calls_the_c_library() {
    let callers: Vec<PathBuf> = rust_files()
        .into_iter()
        .filter(|f| code(f).contains("libc::"))
        .collect();
    assert_eq!(callers, vec![PathBuf::from(AUDITED)]);
}
