//! Markers that shape how an error is shown to a person: hints and the usage exit code.
//!
//! Domain modules return ordinary errors (thiserror enums or anyhow chains). Where they know how
//! the user can fix the problem, they attach a [`Hint`] as context; where the problem is in what the
//! user typed or wrote, they attach [`BadInput`] so the process exits with code 2 instead of 1.
//! `cli` walks the chain, prints `error:` / `caused by:` lines, then each hint as `hint:`.

use std::fmt;

/// Exit code for an operation that failed (network, store, I/O, …).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad input: a usage error, an invalid manifest, lock or argument.
pub const EXIT_BAD_INPUT: u8 = 2;

/// A suggestion shown after the error as `hint: …`. Attach it with [`ResultExt::hint`].
#[derive(Debug, Clone)]
pub struct Hint(pub String);

/// Marks an error as caused by the user's input, so the process exits with [`EXIT_BAD_INPUT`].
#[derive(Debug, Clone, Copy)]
pub struct BadInput;

/// An error layer that carries a marker instead of a message. It is a concrete type (not an anyhow
/// context) so the renderer can find it at any depth of the chain with `downcast_ref`.
#[derive(Debug)]
struct Marked {
    marker: Marker,
    source: anyhow::Error,
}

#[derive(Debug)]
enum Marker {
    Hint(Hint),
    BadInput(BadInput),
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.marker {
            Marker::Hint(h) => f.write_str(&h.0),
            Marker::BadInput(_) => f.write_str("bad input"),
        }
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

fn mark(source: anyhow::Error, marker: Marker) -> anyhow::Error {
    anyhow::Error::new(Marked { marker, source })
}

/// Adds hints and the bad-input marker to any result whose error converts into `anyhow::Error`.
pub trait ResultExt<T> {
    /// Attach a `hint:` line.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
    /// Attach a `hint:` line computed only on error.
    fn with_hint<F: FnOnce() -> String>(self, hint: F) -> anyhow::Result<T>;
    /// Mark the error as bad input (exit code 2).
    fn bad_input(self) -> anyhow::Result<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| mark(e.into(), Marker::Hint(Hint(hint.into()))))
    }

    fn with_hint<F: FnOnce() -> String>(self, hint: F) -> anyhow::Result<T> {
        self.map_err(|e| mark(e.into(), Marker::Hint(Hint(hint()))))
    }

    fn bad_input(self) -> anyhow::Result<T> {
        self.map_err(|e| mark(e.into(), Marker::BadInput(BadInput)))
    }
}

/// The first message of `err`'s chain, skipping markers: what the error says, for an error type
/// that wraps a whole chain and shows its headline (the rest stays reachable as its source).
pub fn headline(err: &anyhow::Error) -> String {
    err.chain()
        .find(|cause| cause.downcast_ref::<Marked>().is_none())
        .map_or_else(|| "unknown error".to_string(), |cause| cause.to_string())
}

/// An error split into what `cli` prints: the message, its causes, hints, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub message: String,
    pub causes: Vec<String>,
    pub hints: Vec<String>,
    pub exit_code: u8,
}

impl Report {
    /// Walk an error chain, separating markers from messages.
    pub fn from_error(err: &anyhow::Error) -> Report {
        let mut messages = Vec::new();
        let mut hints = Vec::new();
        let mut exit_code = EXIT_FAILURE;
        for cause in err.chain() {
            if let Some(marked) = cause.downcast_ref::<Marked>() {
                match &marked.marker {
                    Marker::Hint(h) => hints.push(h.0.clone()),
                    Marker::BadInput(_) => exit_code = EXIT_BAD_INPUT,
                }
            } else {
                let text = cause.to_string();
                // anyhow repeats a source's text when a context wraps an error with the same words.
                if messages.last() != Some(&text) {
                    messages.push(text);
                }
            }
        }
        let message = if messages.is_empty() {
            "unknown error".to_string()
        } else {
            messages.remove(0)
        };
        Report {
            message,
            causes: messages,
            hints,
            exit_code,
        }
    }

    /// The text `cli` writes to stderr (without colours).
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.message);
        for cause in &self.causes {
            out.push_str(&format!("  caused by: {cause}\n"));
        }
        for hint in &self.hints {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn report_separates_hints_and_exit_code() {
        let err: anyhow::Result<()> = Err(anyhow::anyhow!("unexpected token at 3:7"));
        let err = err
            .context("failed to read `devenv.json`")
            .hint("fix the file and run the command again")
            .bad_input()
            .unwrap_err();
        let report = Report::from_error(&err);
        assert_eq!(report.message, "failed to read `devenv.json`");
        assert_eq!(report.causes, vec!["unexpected token at 3:7".to_string()]);
        assert_eq!(
            report.hints,
            vec!["fix the file and run the command again".to_string()]
        );
        assert_eq!(report.exit_code, EXIT_BAD_INPUT);
        assert_eq!(
            report.render(),
            "error: failed to read `devenv.json`\n  caused by: unexpected token at 3:7\nhint: fix the file and run the command again\n"
        );
    }
}
