//! Messages for people on stderr, honouring `--quiet`, `-v` and `--json`.
//!
//! Messages quote values from manifests, locks and index answers; control characters in them are
//! shown escaped ([`escape_keeping_lines`]), never sent to the terminal.

use console::style;

use crate::diagnostic::Report;
use crate::display::escape_keeping_lines as clean;

/// Writes human messages to stderr. Data for programs goes to stdout via [`super::print_data`].
#[derive(Debug, Clone)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: u8,
    pub json: bool,
}

impl Printer {
    pub fn new(quiet: bool, verbose: u8, json: bool) -> Printer {
        Printer {
            quiet,
            verbose,
            json,
        }
    }

    /// A progress or status line (suppressed by `--quiet`).
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", clean(message.as_ref()));
        }
    }

    /// Detail shown with `-v`.
    pub fn debug(&self, message: impl AsRef<str>) {
        if self.verbose > 0 {
            eprintln!("{}", style(clean(message.as_ref())).dim());
        }
    }

    /// A warning; shown even with `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!(
            "{} {}",
            style("warning:").yellow().bold(),
            clean(message.as_ref())
        );
    }

    /// Render an error report.
    pub fn error(&self, report: &Report) {
        eprintln!(
            "{} {}",
            style("error:").red().bold(),
            clean(&report.message)
        );
        for cause in &report.causes {
            eprintln!("  {} {}", style("caused by:").red(), clean(cause));
        }
        for hint in &report.hints {
            eprintln!("{} {}", style("hint:").cyan().bold(), clean(hint));
        }
    }
}
