//! Quoting a value so that a shell reads back exactly the same bytes.
//!
//! POSIX shells (bash, zsh): single quotes keep every byte literally except `'` itself, which is
//! closed, escaped and reopened. fish: single quotes keep every byte except `\` and `'`, which are
//! backslash-escaped. Environment values cannot contain NUL, so these two rules cover every value.

/// Quote for bash and zsh.
pub fn posix(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote for fish.
pub fn fish(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Every byte 1..=127 plus some multi-byte text, read back by the real shells.
    fn nasty() -> String {
        let mut s: String = (1u8..=127).map(char::from).collect();
        s.push_str("é ü 日本 $(touch /tmp/x) `id` \\' \"");
        s
    }

    fn roundtrip(shell: &str, quoted: &str) -> String {
        let out = Command::new(shell)
            .arg("-c")
            .arg(format!("printf '%s' {quoted}"))
            .output()
            .unwrap_or_else(|e| panic!("{shell} must be installed for this test: {e}"));
        assert!(out.status.success(), "{shell}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn posix_quoting_round_trips_in_bash_and_zsh() {
        let v = nasty();
        for shell in ["bash", "zsh"] {
            assert_eq!(roundtrip(shell, &posix(&v)), v, "{shell}");
        }
    }

    #[test]
    fn fish_quoting_round_trips_in_fish() {
        let v = nasty();
        assert_eq!(roundtrip("fish", &fish(&v)), v);
    }
}
