//! The examples in the docs are run, not just read. A fenced block preceded by a marker comment is
//! tested:
//!
//! - `<!-- test: run -->` + a `sh` block: run with bash (`set -euo pipefail`) in a throwaway world
//!   (own HOME, store root, a small local index in `DEVENV_INDEX`, this build's `devenv` on PATH).
//!   Blocks of one page run in order and share the working directory, like a reader's terminal.
//!   getting-started.md is a newcomer's first session instead: no index is set for it, each block
//!   is a new bash that reads `~/.bashrc` (what `install.sh --hook bash` wrote), starting in the
//!   repository checkout, with a stand-in `cargo` that installs this build; and every `sh` block
//!   on it must be tested.
//!   `<!-- test: run fails N -->` expects exit code N instead of success.
//! - `<!-- test: output -->` + a `text` block: every non-empty line must appear in what the
//!   preceding run block printed (stdout and stderr).
//! - `<!-- test: manifest -->` / `<!-- test: lock -->` + a `json` block: parsed by devenv's own
//!   manifest / lock reader, which must accept it without warnings.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::TestContext;

/// The pages this test covers, and how many tested blocks each must have at least (so a marker
/// that stops matching cannot silently turn a page's checks off).
const PAGES: [(&str, usize); 5] = [
    ("docs/getting-started.md", 10),
    ("docs/security.md", 3),
    ("docs/configuration.md", 4),
    ("docs/architecture.md", 0),
    ("docs/README.md", 0),
];

#[derive(Debug)]
enum Kind {
    Run { expect: i32 },
    Output,
    Manifest,
    Lock,
}

#[derive(Debug)]
struct Block {
    kind: Kind,
    /// 1-based line of the opening fence, for messages.
    line: usize,
    text: String,
}

/// The marked blocks of a Markdown page, in order.
fn blocks(page: &str, markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut pending: Option<Kind> = None;
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(marker) = trimmed
            .strip_prefix("<!-- test:")
            .and_then(|m| m.strip_suffix("-->"))
        {
            let words: Vec<&str> = marker.split_whitespace().collect();
            pending = Some(match words.as_slice() {
                ["run"] => Kind::Run { expect: 0 },
                ["run", "fails", code] => Kind::Run {
                    expect: code.parse().unwrap(),
                },
                ["output"] => Kind::Output,
                ["manifest"] => Kind::Manifest,
                ["lock"] => Kind::Lock,
                _ => panic!("{page}:{}: unknown test marker `{trimmed}`", i + 1),
            });
            continue;
        }
        if trimmed.starts_with("```") {
            let mut text = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            if let Some(kind) = pending.take() {
                out.push(Block {
                    kind,
                    line: i + 1,
                    text,
                });
            }
            continue;
        }
        if !trimmed.is_empty() && pending.is_some() {
            panic!(
                "{page}:{}: a test marker must be followed by a fenced block",
                i + 1
            );
        }
    }
    out
}

/// The page run as a newcomer's first session (see the module comment).
const NEWCOMER_PAGE: &str = "docs/getting-started.md";

/// A reader's terminal: a temp world with a local index and devenv on PATH, or for the
/// newcomer's page, a fresh HOME where only `install.sh` puts devenv.
struct Terminal {
    t: TestContext,
    cwd_file: PathBuf,
    bin_dir: PathBuf,
    index: PathBuf,
    newcomer: bool,
}

impl Terminal {
    fn new() -> Terminal {
        let t = TestContext::new();
        let index = t.root().join("index");
        crate::common::index::write_fixture_index(&index);
        let work = t.root().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let cwd_file = t.root().join("cwd");
        std::fs::write(&cwd_file, work.to_str().unwrap()).unwrap();
        let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_devenv"))
            .parent()
            .unwrap()
            .to_path_buf();
        Terminal {
            t,
            cwd_file,
            bin_dir,
            index,
            newcomer: false,
        }
    }

    /// A fresh HOME, the shell in the repository checkout, no devenv on PATH: `cargo` is a
    /// stand-in that puts this build where `cargo install --root <prefix>` would.
    fn newcomer() -> Terminal {
        let mut term = Terminal::new();
        term.newcomer = true;
        std::fs::write(&term.cwd_file, env!("CARGO_MANIFEST_DIR")).unwrap();
        let fakes = term.t.root().join("fakes");
        std::fs::create_dir_all(&fakes).unwrap();
        let cargo = fakes.join("cargo");
        std::fs::write(
            &cargo,
            format!(
                "#!/bin/sh\nroot=\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
                 [ -n \"$root\" ] || exit 1\nmkdir -p \"$root/bin\" && ln -sf '{}' \"$root/bin/devenv\"\n",
                env!("CARGO_BIN_EXE_devenv")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
        term.bin_dir = fakes;
        term
    }

    /// Run one block; returns (exit code, stdout + stderr).
    fn run(&self, script: &str) -> (i32, String) {
        // `builtin`: the block starts where the last one ended, as a new shell opened there.
        let program = format!(
            "builtin cd \"$(cat '{cwd}')\"\n{script}\npwd > '{cwd}'\n",
            cwd = self.cwd_file.display()
        );
        let mut cmd = Command::new("bash");
        self.t.isolate(&mut cmd);
        cmd.args(["--norc", "--noprofile", "-euo", "pipefail", "-c", &program])
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin_dir.display()),
            )
            .env("SHELL", "/bin/bash");
        if self.newcomer {
            // A non-interactive bash reads BASH_ENV: here, the rc file an interactive one reads.
            cmd.env("BASH_ENV", self.t.home.join(".bashrc"));
        } else {
            cmd.env("DEVENV_INDEX", &self.index);
        }
        let out = cmd.output().unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).to_string();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }
}

fn check_page(page: &str, min_blocks: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(page);
    let markdown =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {page}: {e}"));
    let blocks = blocks(page, &markdown);
    assert!(
        blocks.len() >= min_blocks,
        "{page}: expected at least {min_blocks} tested blocks, found {}",
        blocks.len()
    );
    let newcomer = page == NEWCOMER_PAGE;
    if newcomer {
        let runs = blocks
            .iter()
            .filter(|b| matches!(b.kind, Kind::Run { .. }))
            .count();
        let sh = markdown.lines().filter(|l| l.trim() == "```sh").count();
        assert_eq!(
            runs, sh,
            "{page}: every `sh` block must be run by this test"
        );
    }
    let terminal = if newcomer {
        Terminal::newcomer()
    } else {
        Terminal::new()
    };
    let mut last_output: Option<String> = None;
    for b in &blocks {
        let at = format!("{page}:{}", b.line);
        match b.kind {
            Kind::Run { expect } => {
                let (code, output) = terminal.run(&b.text);
                assert_eq!(
                    code, expect,
                    "{at}: the example exited {code}, expected {expect}\n--- script\n{}--- output\n{output}",
                    b.text
                );
                last_output = Some(output);
            }
            Kind::Output => {
                let output = last_output
                    .as_deref()
                    .unwrap_or_else(|| panic!("{at}: an output block needs a run block before it"));
                for want in b.text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    assert!(
                        output.contains(want),
                        "{at}: the example did not print `{want}`; it printed:\n{output}"
                    );
                }
            }
            Kind::Manifest => {
                let (_, warnings) =
                    devenv::manifest::parse(&b.text, &at, devenv::manifest::Dialect::Devenv)
                        .unwrap_or_else(|e| panic!("{at}: not a valid manifest: {e:#}"));
                assert!(warnings.is_empty(), "{at}: {warnings:?}");
            }
            Kind::Lock => {
                devenv::lock::parse(&b.text, &at)
                    .unwrap_or_else(|e| panic!("{at}: not a valid lock: {e:#}"));
            }
        }
    }
}

#[test]
fn getting_started_examples_run() {
    check_page(PAGES[0].0, PAGES[0].1);
}

#[test]
fn security_examples_run() {
    check_page(PAGES[1].0, PAGES[1].1);
}

#[test]
fn configuration_examples_run() {
    check_page(PAGES[2].0, PAGES[2].1);
}

#[test]
fn architecture_and_index_pages_have_no_broken_examples() {
    for (page, min) in &PAGES[3..] {
        check_page(page, *min);
    }
}

#[test]
fn markers_are_parsed_strictly() {
    let md = "<!-- test: run fails 2 -->\n```sh\nfalse\n```\n<!-- test: output -->\n```text\nx\n```\n```sh\nnot tested\n```\n";
    let b = blocks("t.md", md);
    assert_eq!(b.len(), 2);
    assert!(matches!(b[0].kind, Kind::Run { expect: 2 }));
    assert_eq!(b[0].text, "false\n");
    assert!(matches!(b[1].kind, Kind::Output));
    let bad = std::panic::catch_unwind(|| blocks("t.md", "<!-- test: maybe -->\n```sh\n```\n"));
    assert!(bad.is_err(), "unknown markers are errors");
}

/// The pages that link each other must exist once all of the docs are in: every relative `.md`
/// link in these pages points at a file in `docs/` or the repository root, or at a page the docs
/// index lists as belonging to the set.
#[test]
fn the_docs_index_lists_every_page_it_links() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let index = std::fs::read_to_string(root.join("docs/README.md")).unwrap();
    for (page, _) in PAGES {
        let text = std::fs::read_to_string(root.join(page)).unwrap();
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
            .filter(|t| t.ends_with(".md") && !t.contains("://"))
        {
            let name = target.rsplit('/').next().unwrap();
            assert!(
                index.contains(&format!("]({name})")) || name == "README.md",
                "{page} links {target}, which docs/README.md does not list"
            );
        }
    }
}
