//! Finding the lines of a local index's `names.jsonl` that can match a `search` query, without
//! parsing the rest.
//!
//! `search` runs at the prompt, and a real nixpkgs revision's name list is megabytes (20,000
//! names, 2.7 MB for one 2017 revision). A line can only match when its text holds the query,
//! ignoring case, so a line that is plain ASCII without escapes and does not hold it is passed
//! over unparsed (and unchecked); every other line is checked and parsed as a whole-file read
//! would. The file is read in pieces into one buffer that is reused, and each piece is
//! lower-cased a block at a time: reading the whole file into fresh memory, then lower-casing a
//! copy of it, was most of the cost of `search`.

use std::io::Read;

use anyhow::{anyhow, Context as _, Result};
use memchr::memmem::Finder;

use super::format::NameLine;
use crate::fsutil::TooLarge;

/// The bytes read from the file at a time.
const PIECE: usize = 256 * 1024;

/// The bytes lower-cased at a time, small enough to stay in the CPU cache.
const BLOCK: usize = 64 * 1024;

/// The name lines of `reader` (at most `limit` bytes, named `origin` in errors) that can match
/// `query`; `None` when the query is not plain ASCII, for which the caller reads every line.
pub fn scan(
    mut reader: impl Read,
    origin: &str,
    query: &str,
    limit: u64,
) -> Result<Option<Vec<NameLine>>> {
    let q = query.to_lowercase();
    if !q.is_ascii() || q.is_empty() {
        return Ok(None);
    }
    let finder = Finder::new(q.as_bytes());
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(2 * PIECE);
    let (mut total, mut lines_before) = (0u64, 0usize);
    loop {
        let filled = buf.len();
        buf.resize(filled + PIECE, 0);
        let n = loop {
            match reader.read(&mut buf[filled..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        }
        .with_context(|| format!("cannot read `{origin}`"))?;
        buf.truncate(filled + n);
        total += n as u64;
        if total > limit {
            return Err(std::io::Error::from(TooLarge { limit }))
                .with_context(|| format!("cannot read `{origin}`"));
        }
        let end_of_file = n == 0;
        // Whole lines only; the rest waits for the next piece.
        let whole = if end_of_file {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf[filled..]) {
                Some(i) => filled + i + 1,
                None => continue,
            }
        };
        matching_lines(&buf[..whole], &finder, lines_before, origin, &mut out)?;
        if end_of_file {
            return Ok(Some(out));
        }
        lines_before += memchr::memchr_iter(b'\n', &buf[..whole]).count();
        buf.drain(..whole);
    }
}

/// Parse the lines of `bytes` (whole lines, after `lines_before` others) that hold the query
/// `finder` looks for (lower case), or that are not plain ASCII, or hold an escape.
fn matching_lines(
    bytes: &[u8],
    finder: &Finder,
    lines_before: usize,
    origin: &str,
    out: &mut Vec<NameLine>,
) -> Result<()> {
    let line_at = |at: usize| {
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        (start, end)
    };
    let overlap = finder.needle().len() - 1;
    // Lines (start, end) to read, in order and each once.
    let mut lines = std::collections::BTreeSet::new();
    let mut lower = Vec::with_capacity(BLOCK + overlap);
    let mut block = 0;
    while block < bytes.len() {
        // Blocks overlap by the query's length less one, so a match across a boundary is seen.
        let end = (block + BLOCK + overlap).min(bytes.len());
        lower.clear();
        lower.extend(bytes[block..end].iter().map(u8::to_ascii_lowercase));
        let mut from = 0;
        while let Some(found) = finder.find(&lower[from..]) {
            let (start, line_end) = line_at(block + from + found);
            lines.insert((start, line_end));
            from = line_end - block;
            if from >= lower.len() {
                break;
            }
        }
        let plain = &bytes[block..(block + BLOCK).min(bytes.len())];
        if !plain.is_ascii() {
            // Narrow down with the word-at-a-time check before looking at single bytes.
            for (n, piece) in plain.chunks(256).enumerate() {
                if piece.is_ascii() {
                    continue;
                }
                for (i, b) in piece.iter().enumerate() {
                    if !b.is_ascii() {
                        lines.insert(line_at(block + n * 256 + i));
                    }
                }
            }
        }
        block += BLOCK;
    }
    for at in memchr::memchr_iter(b'\\', bytes) {
        lines.insert(line_at(at));
    }
    for (start, end) in lines {
        let line = &bytes[start..end];
        if line.trim_ascii().is_empty() {
            continue;
        }
        let number = || lines_before + memchr::memchr_iter(b'\n', &bytes[..start]).count() + 1;
        let line = std::str::from_utf8(line)
            .map_err(|e| anyhow!("{origin}:{}: not UTF-8 ({e})", number()))
            .context("the index's name list is not valid")?;
        crate::limits::check_depth(line.as_bytes(), crate::limits::MAX_DEPTH).map_err(|e| {
            anyhow!("{origin}:{}:{}: {e}", number(), e.column)
                .context(format!("the index file `{origin}` is not valid"))
        })?;
        let entry: NameLine = serde_json::from_str(line).map_err(|e| {
            anyhow!("{origin}:{}:{}: {e}", number(), e.column())
                .context(format!("the index file `{origin}` is not valid"))
        })?;
        out.push(entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::sparse::{parse_names, rank};

    /// What `search` reads of `bytes`: the scan, or every line for a query it cannot scan for.
    fn matching(bytes: &[u8], origin: &str, query: &str) -> Result<Vec<NameLine>> {
        match scan(bytes, origin, query, u64::MAX)? {
            Some(lines) => Ok(lines),
            None => parse_names(bytes, origin),
        }
    }

    #[test]
    fn search_reading_only_lines_that_can_match_ranks_as_reading_all() {
        let text = concat!(
            "{\"name\":\"jq\",\"summary\":\"JSON processor\",\"latest\":\"1.7\"}\n",
            "{\"name\":\"gojq\",\"summary\":\"jq in \\u0047o\",\"latest\":\"0.12\"}\n",
            "{\"name\":\"yq\",\"summary\":\"like JQ, for YAML\",\"latest\":\"4\"}\n",
            "{\"name\":\"kelvin\",\"summary\":\"\u{212a}elvin and \u{e9}t\u{e9}\",\"latest\":\"1\"}\n",
            "{\"name\":\"go\",\"summary\":\"The \\u0047o compiler\",\"latest\":\"1.22\"}\r\n",
            "\n",
        );
        let all = parse_names(text.as_bytes(), "n").unwrap();
        for query in [
            "jq",
            "JQ",
            "go",
            "G",
            "k",
            "\u{e9}t\u{e9}",
            "yaml",
            "nothing",
            "latest",
        ] {
            let some = matching(text.as_bytes(), "n", query).unwrap();
            assert!(some.len() <= all.len());
            assert_eq!(
                rank(query, some, usize::MAX),
                rank(query, all.clone(), usize::MAX),
                "{query}"
            );
        }
        // A broken line that can match is named where it is; one that cannot is not read.
        let broken = "{\"name\":\"a\",\"latest\":\"1\"}\n{\"name\": jq}\n";
        let err = matching(broken.as_bytes(), "idx/names.jsonl", "jq").unwrap_err();
        assert!(format!("{err:#}").contains("idx/names.jsonl:2:"), "{err:#}");
        assert!(matching(broken.as_bytes(), "n", "zz").unwrap().is_empty());
    }

    #[test]
    fn search_finds_matches_across_scan_blocks() {
        // Lines of every length around the block size, so that a match, an escape and a non-ASCII
        // character each fall across a block boundary somewhere.
        let mut text = String::new();
        let mut i = 0;
        while text.len() < 3 * BLOCK {
            let pad = "x".repeat(i % 97);
            let summary = match i % 5 {
                0 => format!("{pad} Needle"),
                1 => format!("{pad} n\\u0065edle"),
                2 => format!("{pad} n\u{e9}edle"),
                _ => pad,
            };
            text.push_str(&format!(
                "{{\"name\":\"p{i}\",\"summary\":\"{summary}\",\"latest\":\"1\"}}\n"
            ));
            i += 1;
        }
        let all = parse_names(text.as_bytes(), "n").unwrap();
        for query in [
            "needle",
            "NEEDLE",
            "edle",
            "p1",
            "e",
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ] {
            let some = matching(text.as_bytes(), "n", query).unwrap();
            assert_eq!(
                rank(query, some, usize::MAX),
                rank(query, all.clone(), usize::MAX),
                "{query}"
            );
        }
        // A straddling match is found: "needle" starting three bytes before the second block.
        let line = "{\"name\":\"b\",\"summary\":\"needle\",\"latest\":\"1\"}\n";
        let at = line.find("needle").unwrap();
        let filler = "{\"name\":\"a\",\"latest\":\"1\"}";
        let pad = BLOCK - 3 - at - filler.len() - 1;
        let text = format!("{filler}{}\n{line}", " ".repeat(pad));
        assert_eq!(text.find("needle"), Some(BLOCK - 3));
        let hits = rank(
            "needle",
            matching(text.as_bytes(), "n", "needle").unwrap(),
            9,
        );
        assert_eq!(hits.len(), 1);
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let text = "{\"name\":\"a\",\"latest\":\"1\"}\n".repeat(100);
        let err = scan(text.as_bytes(), "n", "a", 50).unwrap_err();
        assert!(
            crate::fsutil::too_large(err.downcast_ref().unwrap()).is_some(),
            "{err:#}"
        );
    }

    #[test]
    fn line_numbers_count_lines_of_earlier_pieces() {
        let good = "{\"name\":\"a\",\"latest\":\"1\"}\n";
        let count = 2 * PIECE / good.len() + 7;
        let text = format!("{}{{\"name\": jq}}\n{good}", good.repeat(count));
        let err = scan(text.as_bytes(), "idx/names.jsonl", "jq", u64::MAX).unwrap_err();
        let at = format!("idx/names.jsonl:{}:", count + 1);
        assert!(format!("{err:#}").contains(&at), "{err:#}");
    }
}
