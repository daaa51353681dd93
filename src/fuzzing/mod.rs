//! The properties the `cargo fuzz` targets under `fuzz/` check, one function per target.
//!
//! Each function takes arbitrary bytes and panics when a property does not hold: parsers never
//! panic, what they accept round-trips to the same value and re-serialises canonically, what
//! they refuse is reported as bad input naming the file and position, and the NAR reader never
//! writes outside its target. The fuzz targets are one line each around these functions, and the
//! test suite replays the committed corpus and every input that once failed through the very
//! same functions (`tests/it/fuzz_corpus.rs`), so a property is stated once and a fix stays fixed.
//! Public only for those two users; not part of devenv's interface.

mod files;
mod formats;
mod nar;
mod version;

pub use files::{lock, manifest};
pub use formats::{narinfo, store_path};
pub use nar::nar_reader;
pub use version::version;

/// A property over arbitrary input: panics when it does not hold.
pub type Property = fn(&[u8]);

/// Every fuzz target by name (the binary in `fuzz/fuzz_targets/` and the directory of its corpus
/// under `fuzz/corpus/` and `fuzz/regressions/`) and the property it checks.
pub const TARGETS: &[(&str, Property)] = &[
    ("lock", lock),
    ("manifest", manifest),
    ("nar_reader", nar_reader),
    ("narinfo", narinfo),
    ("store_path", store_path),
    ("version", version),
];

/// Fuzz input as text: invalid UTF-8 becomes U+FFFD, which is text a person could write too.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The 1-based `line:column` right after `file:` at the start of `message`, if there is one.
fn position(message: &str, file: &str) -> Option<(usize, usize)> {
    let rest = message.strip_prefix(file)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    Some((line, column))
}

/// How a file's positions count columns: the manifest parser counts characters; serde_json
/// (locks) counts bytes, and reports the position right after a line break as column 0.
#[derive(Clone, Copy)]
enum Columns {
    Chars,
    Bytes,
}

/// Whether `line:column` lies inside `text` (the column may point just past the line's end,
/// where an unexpected end of input is reported).
fn inside(text: &str, (line, column): (usize, usize), columns: Columns) -> bool {
    let Some(l) = text.split('\n').nth(line.wrapping_sub(1)) else {
        return false;
    };
    match columns {
        Columns::Chars => column >= 1 && column <= l.chars().count() + 1,
        Columns::Bytes => column <= l.len() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_read_and_checked() {
        assert_eq!(position("f.json:2:16: bad", "f.json"), Some((2, 16)));
        assert_eq!(position("f.json: bad", "f.json"), None);
        assert_eq!(position("g.json:2:16: bad", "f.json"), None);
        assert!(inside("ab\ncd", (2, 3), Columns::Chars));
        assert!(!inside("ab\ncd", (2, 4), Columns::Chars));
        assert!(!inside("ab\ncd", (3, 1), Columns::Chars));
        assert!(!inside("ab", (0, 1), Columns::Chars));
        assert!(!inside("ab\n", (2, 0), Columns::Chars));
        assert!(inside("ab\n", (2, 0), Columns::Bytes));
        assert!(!inside("é", (1, 3), Columns::Chars));
        assert!(inside("é", (1, 3), Columns::Bytes));
    }

    #[test]
    fn every_target_accepts_empty_and_junk_input() {
        for (name, check) in TARGETS {
            for data in [&b""[..], b"\0", b"\xff\xfe{", b"nix-archive-1"] {
                let result = std::panic::catch_unwind(|| check(data));
                assert!(result.is_ok(), "{name} on {data:?}");
            }
        }
    }
}
