//! Showing text that came from files and servers devenv does not control.
//!
//! An index answer, a lock or a manifest can carry control characters: a newline that forges an
//! extra `error:` line, an ANSI escape sequence that recolours or clears the terminal, a bidi
//! override that makes `evil` read as `live`. Every such string is passed through [`escape`]
//! before it is printed, so the terminal shows what the bytes are (`\e[31m`, `\n`, `\u{202e}`)
//! instead of obeying them. The messages printer applies [`escape_keeping_lines`] to whole
//! messages as a last line of defence.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls, DEL, and the invisible
/// formatting characters that reorder or hide text (bidi embeddings, overrides and isolates,
/// zero-width characters, the byte-order mark).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

/// `s` with every [`is_unsafe`] character written as a visible escape: `\e` for ESC, `\n`,
/// `\r`, `\t`, and `\u{…}` for the others. A backslash is left alone: the result is for people,
/// not a format to be parsed back.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_except(s, &[])
}

/// [`escape`], but newlines and tabs pass through: for whole messages whose line breaks are
/// devenv's own (values quoted inside them were escaped where they were quoted).
pub fn escape_keeping_lines(s: &str) -> Cow<'_, str> {
    escape_except(s, &['\n', '\t'])
}

fn escape_except<'a>(s: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep.contains(&c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !is_unsafe(c) || keep.contains(&c) {
            out.push(c);
            continue;
        }
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// Formats a string through [`escape`]: `format!("`{}`", Escaped(value))`.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_formatting_become_visible() {
        assert_eq!(escape("2.0\u{1b}[31mred"), "2.0\\e[31mred");
        assert_eq!(escape("a\nerror: b\r\t"), "a\\nerror: b\\r\\t");
        assert_eq!(escape("\u{0}\u{7f}\u{9b}"), "\\u{0}\\u{7f}\\u{9b}");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(
            Escaped("x\u{1b}]0;title\u{7}").to_string(),
            "x\\e]0;title\\u{7}"
        );
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in ["jq 1.7.1", "Ünïcödé – “quotes” 日本", "a\\b", ""] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s), "{s:?}");
        }
    }

    #[test]
    fn messages_keep_their_line_breaks() {
        assert_eq!(
            escape_keeping_lines("line one\n\tline \u{1b}[2J two"),
            "line one\n\tline \\e[2J two"
        );
    }
}
