//! The bounds on everything devenv reads from files and servers it does not control: how many
//! bytes it reads and how deeply a JSON document may nest.
//!
//! A manifest is read on every `cd` into a project, before anyone decided to trust it, and index
//! answers come from the network: without bounds a 1 GiB sparse `devenv.json` costs a gigabyte of
//! memory per prompt, and `[[[[…` 30,000 levels deep overflows the stack of a recursive parser
//! (and aborts the process). Sizes are refused before reading ([`crate::fsutil::read_bounded`]),
//! nesting before parsing ([`check_depth`]), each with an error naming the file and the limit.
//! The limits are far above anything real (a manifest is a few kilobytes and nests four levels
//! deep) and are listed in `docs/security.md`.

use std::fmt;

/// The deepest nesting of arrays and objects accepted in any JSON or JSONC document devenv
/// parses (manifests nest 4 levels, locks 7, index answers 7).
pub const MAX_DEPTH: usize = 64;
/// `devenv.json` and `devbox.json`.
pub const MAX_MANIFEST_BYTES: u64 = 8 << 20;
/// `devenv.lock` and `devbox.lock`.
pub const MAX_LOCK_BYTES: u64 = 8 << 20;
/// The user config file `config.json`.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// One index file or answer: `index.json`, `names.jsonl`, `packages/<name>.json`, a Nixhub
/// answer (the name list of all of nixpkgs is about 15 MiB).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// A `.narinfo` or `nix-cache-info` (real ones are well under 10 KiB).
pub const MAX_NARINFO_BYTES: u64 = 1 << 20;
/// Lines in a `.narinfo` (about 10 fields plus one `Sig:` line per signature).
pub const MAX_NARINFO_LINES: usize = 1024;

/// `n` bytes as people say it: `8 MiB`, `512 KiB`, `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// A document nests deeper than [`MAX_DEPTH`]; the position (1-based, column in characters) is
/// where the first bracket beyond the limit opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
    pub limit: usize,
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the document nests deeper than {} levels of arrays and objects (devenv reads at most {})",
            self.limit, self.limit
        )
    }
}

impl std::error::Error for TooDeep {}

/// Check that the brackets of a JSON or JSONC text nest at most `limit` deep, without parsing it:
/// one pass over the bytes that skips strings (double or single quoted, with escapes) and
/// comments. It does not judge anything else; an unbalanced or otherwise broken text is left to
/// the parser, which now cannot recurse more than `limit` levels.
pub fn check_depth(text: &[u8], limit: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let (mut line, mut line_start) = (1usize, 0usize);
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < text.len() && text[i] != q && text[i] != b'\n' {
                    let escaped = text[i] == b'\\' && text.get(i + 1) != Some(&b'\n');
                    i += if escaped { 2 } else { 1 };
                }
                // A newline ends an unterminated string (the parser will complain about it) and
                // is counted as a line on the next turn.
                if text.get(i) == Some(&q) {
                    i += 1;
                }
                continue;
            }
            b'/' if text.get(i + 1) == Some(&b'/') => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < text.len() && !(text[i] == b'*' && text.get(i + 1) == Some(&b'/')) {
                    if text[i] == b'\n' {
                        line += 1;
                        line_start = i + 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    // Columns count characters: skip UTF-8 continuation bytes.
                    let column = text[line_start..i]
                        .iter()
                        .filter(|b| (**b & 0xC0) != 0x80)
                        .count()
                        + 1;
                    return Err(TooDeep {
                        line,
                        column,
                        limit,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings_and_comments() {
        assert_eq!(check_depth(b"[[[]]]", 3), Ok(()));
        let err = check_depth(b"{\"a\":\n  [[[1]]]}", 3).unwrap_err();
        assert_eq!((err.line, err.column), (2, 5));
        // Brackets in strings, escaped quotes and comments do not count.
        let text = br#"{"s": "[[[[\"[[[[", /* [[[[
           [[[[ */ "t": '[[[[' // [[[[
        }"#;
        assert_eq!(check_depth(text, 1), Ok(()));
        // Columns are characters, not bytes.
        let err = check_depth("[\"é\", [".as_bytes(), 1).unwrap_err();
        assert_eq!((err.line, err.column), (1, 7));
    }

    #[test]
    fn thirty_thousand_levels_are_refused_at_the_first_one_too_many() {
        let text = "[".repeat(30_000) + &"]".repeat(30_000);
        let err = check_depth(text.as_bytes(), MAX_DEPTH).unwrap_err();
        assert_eq!((err.line, err.column), (1, MAX_DEPTH + 1));
        assert!(err.to_string().contains("deeper than 64 levels"), "{err}");
    }

    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(human_bytes(MAX_MANIFEST_BYTES), "8 MiB");
        assert_eq!(human_bytes(1 << 30), "1 GiB");
        assert_eq!(human_bytes(1500), "1500 bytes");
    }
}
