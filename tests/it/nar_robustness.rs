//! The NAR reader against hostile input: a named corpus of malicious NARs and truncation at
//! every offset. Random inputs are the `cargo fuzz` targets' work (`scripts/fuzz.sh`); the
//! suite replays what they found in `tests/it/fuzz_corpus.rs`.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use devenv::nix::nar::{self, reader::Rule, wire, NarError};

/// A NAR as a list of tokens, so broken archives read like the grammar.
enum T<'a> {
    S(&'a [u8]),
    /// A raw 64-bit length followed by nothing (for lying length fields).
    Len(u64),
    Raw(&'a [u8]),
}

fn build(tokens: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            T::S(s) => wire::write_str(&mut out, s).unwrap(),
            T::Len(n) => wire::write_u64(&mut out, *n).unwrap(),
            T::Raw(b) => out.extend_from_slice(b),
        }
    }
    out
}

use T::S;

fn dir_of(entries: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = build(&[S(b"nix-archive-1"), S(b"("), S(b"type"), S(b"directory")]);
    for e in entries {
        out.extend(e);
    }
    out.extend(build(&[S(b")")]));
    out
}

fn entry(name: &[u8], node: Vec<u8>) -> Vec<u8> {
    let mut out = build(&[S(b"entry"), S(b"("), S(b"name"), S(name), S(b"node")]);
    out.extend(node);
    out.extend(build(&[S(b")")]));
    out
}

fn reg(contents: &[u8]) -> Vec<u8> {
    build(&[
        S(b"("),
        S(b"type"),
        S(b"regular"),
        S(b"contents"),
        S(contents),
        S(b")"),
    ])
}

fn link(target: &[u8]) -> Vec<u8> {
    build(&[
        S(b"("),
        S(b"type"),
        S(b"symlink"),
        S(b"target"),
        S(target),
        S(b")"),
    ])
}

fn subdir(entries: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = build(&[S(b"("), S(b"type"), S(b"directory")]);
    for e in entries {
        out.extend(e);
    }
    out.extend(build(&[S(b")")]));
    out
}

/// A sandbox: a target path inside it, and a sibling directory that must stay untouched.
struct Sandbox {
    tmp: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("outside")).unwrap();
        fs::write(tmp.path().join("outside/keep"), b"keep").unwrap();
        Sandbox { tmp }
    }

    fn target(&self) -> PathBuf {
        self.tmp.path().join("work/target")
    }

    /// Everything under the sandbox, with the target subtree left out.
    fn listing(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = walkdir::WalkDir::new(self.tmp.path())
            .into_iter()
            .map(|e| e.unwrap().path().to_owned())
            .filter(|p| !p.starts_with(self.target()))
            .collect();
        v.sort();
        v
    }

    fn prepare(&self) {
        fs::create_dir_all(self.tmp.path().join("work")).unwrap();
    }

    fn clear_target(&self) {
        let t = self.target();
        if let Ok(meta) = fs::symlink_metadata(&t) {
            if meta.is_dir() {
                for e in walkdir::WalkDir::new(&t).into_iter().flatten() {
                    if e.file_type().is_dir() {
                        fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755)).unwrap();
                    }
                }
                fs::remove_dir_all(&t).unwrap();
            } else {
                fs::remove_file(&t).unwrap();
            }
        }
    }
}

fn refused(name: &str, data: &[u8]) -> NarError {
    let sb = Sandbox::new();
    sb.prepare();
    let before = sb.listing();
    let err = match nar::unpack(data, &sb.target()) {
        Ok(_) => panic!("{name}: a malicious NAR was accepted"),
        Err(e) => e,
    };
    assert!(
        fs::symlink_metadata(sb.target()).is_err(),
        "{name}: the failed target was not removed"
    );
    assert_eq!(
        sb.listing(),
        before,
        "{name}: something was written outside the target"
    );
    assert_eq!(
        fs::read(sb.tmp.path().join("outside/keep")).unwrap(),
        b"keep"
    );
    assert!(
        nar::validate(data).is_err(),
        "{name}: validate accepts what unpack refuses"
    );
    err
}

fn expect_rule(name: &str, data: &[u8], check: impl Fn(&Rule) -> bool) {
    let err = refused(name, data);
    let rule = err.rule().unwrap_or_else(|| panic!("{name}: {err}"));
    assert!(check(rule), "{name}: unexpected rule: {err}");
    assert!(
        err.to_string().starts_with("invalid NAR at "),
        "{name}: {err}"
    );
}

#[test]
fn malicious_corpus_is_refused() {
    let bad_name = |r: &Rule| matches!(r, Rule::InvalidName(_));
    for (label, name) in [
        ("dotdot", &b".."[..]),
        ("dot", b"."),
        ("empty name", b""),
        ("slash traversal", b"../escape"),
        ("slash", b"a/b"),
        ("absolute", b"/etc"),
        ("NUL", b"a\0b"),
    ] {
        expect_rule(label, &dir_of(vec![entry(name, reg(b"pwned"))]), bad_name);
    }
    let unsorted = |r: &Rule| matches!(r, Rule::NotSorted { .. });
    expect_rule(
        "unsorted",
        &dir_of(vec![entry(b"b", reg(b"")), entry(b"a", reg(b""))]),
        unsorted,
    );
    expect_rule(
        "duplicate",
        &dir_of(vec![entry(b"a", reg(b"1")), entry(b"a", reg(b"2"))]),
        unsorted,
    );
    // A symlink to the outside, then a directory of the same name with a file "through" it.
    expect_rule(
        "symlink then file through it",
        &dir_of(vec![
            entry(b"a", link(b"../../outside")),
            entry(b"a", subdir(vec![entry(b"keep", reg(b"overwritten"))])),
        ]),
        unsorted,
    );
    expect_rule(
        "symlink then nested path",
        &dir_of(vec![
            entry(b"a", link(b"../../outside")),
            entry(b"a/keep", reg(b"x")),
        ]),
        bad_name,
    );
    let mut padded = dir_of(vec![entry(b"abc", reg(b"x"))]);
    let pos = find(&padded, b"abc") + 3;
    padded[pos] = 1;
    expect_rule("non-zero padding in name", &padded, |r| {
        *r == Rule::NonZeroPadding
    });
    let mut padded = reg_root(b"Hello");
    let pos = find(&padded, b"Hello") + 5;
    padded[pos + 2] = 0xff;
    expect_rule("non-zero padding in contents", &padded, |r| {
        *r == Rule::NonZeroPadding
    });
    let mut trailing = reg_root(b"x");
    trailing.extend_from_slice(&[0; 8]);
    expect_rule("trailing data", &trailing, |r| *r == Rule::TrailingData);
    expect_rule("bad magic", &build(&[S(b"nix-archive-2")]), |r| {
        *r == Rule::BadMagic
    });
    expect_rule("empty input", b"", |r| *r == Rule::BadMagic);
    expect_rule(
        "executable after contents",
        &build(&[
            S(b"nix-archive-1"),
            S(b"("),
            S(b"type"),
            S(b"regular"),
            S(b"contents"),
            S(b"x"),
            S(b"executable"),
            S(b""),
            S(b")"),
        ]),
        |r| matches!(r, Rule::UnexpectedTag { .. }),
    );
    expect_rule(
        "executable with a value",
        &build(&[
            S(b"nix-archive-1"),
            S(b"("),
            S(b"type"),
            S(b"regular"),
            S(b"executable"),
            S(b"yes"),
            S(b"contents"),
            S(b"x"),
            S(b")"),
        ]),
        |r| matches!(r, Rule::UnexpectedTag { .. }),
    );
    expect_rule(
        "unknown type",
        &build(&[
            S(b"nix-archive-1"),
            S(b"("),
            S(b"type"),
            S(b"fifo"),
            S(b")"),
        ]),
        |r| matches!(r, Rule::UnexpectedTag { .. }),
    );
    expect_rule(
        "name after node",
        &dir_of(vec![build(&[S(b"entry"), S(b"("), S(b"node"), S(b"name")])]),
        |r| matches!(r, Rule::UnexpectedTag { .. }),
    );
    expect_rule(
        "empty symlink target",
        &dir_of(vec![entry(b"l", link(b""))]),
        |r| *r == Rule::EmptyTarget,
    );
    expect_rule(
        "NUL in target",
        &dir_of(vec![entry(b"l", link(b"a\0b"))]),
        |r| *r == Rule::TargetHasNul,
    );
    expect_rule(
        "name too long",
        &dir_of(vec![entry(&[b'n'; 256], reg(b""))]),
        |r| matches!(r, Rule::NameTooLong(256)),
    );
    expect_rule(
        "target too long",
        &dir_of(vec![entry(b"l", link(&[b't'; 4096]))]),
        |r| matches!(r, Rule::TargetTooLong(4096)),
    );
    let mut deep = reg(b"bottom");
    for _ in 0..65 {
        deep = subdir(vec![entry(b"d", deep)]);
    }
    let mut too_deep = build(&[S(b"nix-archive-1")]);
    too_deep.extend(deep);
    expect_rule("too deep", &too_deep, |r| *r == Rule::TooDeep);
    // Length fields that lie: huge lengths must fail without allocating or hanging.
    expect_rule(
        "huge contents length",
        &build(&[
            S(b"nix-archive-1"),
            S(b"("),
            S(b"type"),
            S(b"regular"),
            S(b"contents"),
            T::Len(u64::MAX),
            T::Raw(b"short"),
        ]),
        |r| *r == Rule::Truncated,
    );
    expect_rule(
        "huge name length",
        &dir_of(vec![build(&[
            S(b"entry"),
            S(b"("),
            S(b"name"),
            T::Len(u64::MAX),
        ])]),
        |r| matches!(r, Rule::NameTooLong(_)),
    );
    expect_rule(
        "huge tag length",
        &build(&[S(b"nix-archive-1"), S(b"("), T::Len(1 << 40)]),
        |r| matches!(r, Rule::UnexpectedTag { .. }),
    );
}

fn reg_root(contents: &[u8]) -> Vec<u8> {
    let mut out = build(&[S(b"nix-archive-1")]);
    out.extend(reg(contents));
    out
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

/// A valid NAR with every node type, nesting, an executable and padding of several lengths.
fn sample_nar(dir: &Path) -> Vec<u8> {
    let src = dir.join("sample");
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::create_dir_all(src.join("share/doc/empty")).unwrap();
    fs::write(src.join("bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(src.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(src.join("share/doc/README"), b"read me").unwrap();
    fs::write(src.join("share/empty-file"), b"").unwrap();
    symlink("bin/tool", src.join("link")).unwrap();
    symlink("/etc/passwd", src.join("abs")).unwrap();
    let mut v = Vec::new();
    nar::dump(&src, &mut v).unwrap();
    v
}

#[test]
fn every_truncation_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let nar_bytes = sample_nar(tmp.path());
    assert!(nar::validate(&nar_bytes[..]).is_ok());
    let sb = Sandbox::new();
    sb.prepare();
    let before = sb.listing();
    for len in 0..nar_bytes.len() {
        let err = nar::unpack(&nar_bytes[..len], &sb.target()).unwrap_err();
        assert!(
            matches!(err.rule(), Some(Rule::Truncated) | Some(Rule::BadMagic)),
            "cut at {len}: {err}"
        );
        assert!(
            fs::symlink_metadata(sb.target()).is_err(),
            "cut at {len}: target left"
        );
    }
    assert_eq!(sb.listing(), before);
}

#[test]
fn escaping_symlinks_are_created_never_followed() {
    // A valid archive whose symlinks point outside: they are restored as symlinks, and the
    // entries after them are created inside the target, not through them.
    let data = dir_of(vec![
        entry(b"a", link(b"../../outside")),
        entry(b"b", link(b"/etc")),
        entry(b"c", subdir(vec![entry(b"keep", reg(b"inside"))])),
    ]);
    let sb = Sandbox::new();
    sb.prepare();
    let before = sb.listing();
    let stats = nar::unpack(&data[..], &sb.target()).unwrap();
    assert_eq!((stats.symlinks, stats.directories, stats.files), (2, 2, 1));
    let t = sb.target();
    assert_eq!(
        fs::read_link(t.join("a")).unwrap(),
        Path::new("../../outside")
    );
    assert_eq!(fs::read_link(t.join("b")).unwrap(), Path::new("/etc"));
    assert_eq!(fs::read(t.join("c/keep")).unwrap(), b"inside");
    assert_eq!(
        fs::read(sb.tmp.path().join("outside/keep")).unwrap(),
        b"keep"
    );
    sb.clear_target();
    assert_eq!(sb.listing(), before);
}

#[test]
fn unpack_errors_name_the_file_system_path() {
    let sb = Sandbox::new();
    let missing_parent = sb.tmp.path().join("no/such/dir/target");
    let err = nar::unpack(&reg_root(b"x")[..], &missing_parent).unwrap_err();
    assert!(matches!(err, NarError::Write { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir/target"), "{err}");
    let existing = sb.tmp.path().join("outside");
    let err = nar::unpack(&reg_root(b"x")[..], &existing).unwrap_err();
    assert!(matches!(err, NarError::TargetExists(_)), "{err}");
    assert_eq!(fs::read(existing.join("keep")).unwrap(), b"keep");
}
