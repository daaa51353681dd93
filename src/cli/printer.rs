//! Messages for people on stderr, honouring `--quiet`, `-v` and `--json`.

use console::style;

use crate::diagnostic::Report;

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
            eprintln!("{}", message.as_ref());
        }
    }

    /// Detail shown with `-v`.
    pub fn debug(&self, message: impl AsRef<str>) {
        if self.verbose > 0 {
            eprintln!("{}", style(message.as_ref()).dim());
        }
    }

    /// A warning; shown even with `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!("{} {}", style("warning:").yellow().bold(), message.as_ref());
    }

    /// Render an error report.
    pub fn error(&self, report: &Report) {
        eprintln!("{} {}", style("error:").red().bold(), report.message);
        for cause in &report.causes {
            eprintln!("  {} {}", style("caused by:").red(), cause);
        }
        for hint in &report.hints {
            eprintln!("{} {}", style("hint:").cyan().bold(), hint);
        }
    }
}
