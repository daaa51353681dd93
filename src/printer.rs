//! Messages for people on stderr, honouring `--quiet`, `-v` and `--json`.
//!
//! The one place outside `cli/` that writes to a terminal: the application layer reports what it
//! does through a [`Printer`] it is handed, and never touches stdout, which carries data only.
//!
//! Messages quote values from manifests, locks and index answers; control characters in them are
//! shown escaped ([`crate::display::escape_keeping_lines`]), never sent to the terminal.
#![allow(clippy::print_stderr)]

use std::io::IsTerminal as _;
use std::sync::Mutex;

use console::style;

use crate::diagnostic::Report;
use crate::display::escape_keeping_lines as clean;

/// Writes human messages to stderr. Data for programs goes to stdout, written by `cli` alone.
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

/// Progress bars on a terminal; nothing otherwise (the caller prints a summary line).
pub struct TerminalProgress {
    bars: Option<(indicatif::ProgressBar, indicatif::ProgressBar)>,
    _multi: Option<indicatif::MultiProgress>,
    current: Mutex<Vec<String>>,
}

impl TerminalProgress {
    pub fn new(printer: &Printer) -> TerminalProgress {
        if printer.quiet || !std::io::stderr().is_terminal() {
            return TerminalProgress {
                bars: None,
                _multi: None,
                current: Mutex::new(Vec::new()),
            };
        }
        let multi = indicatif::MultiProgress::new();
        let paths = multi.add(indicatif::ProgressBar::new(0));
        paths.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} paths {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        paths.set_prefix("fetching");
        let bytes = multi.add(indicatif::ProgressBar::new(0));
        bytes.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bytes.set_prefix("unpacking");
        TerminalProgress {
            bars: Some((paths, bytes)),
            _multi: Some(multi),
            current: Mutex::new(Vec::new()),
        }
    }

    pub fn finish(&self) {
        if let Some((p, b)) = &self.bars {
            p.finish_and_clear();
            b.finish_and_clear();
        }
    }
}

impl crate::store::Progress for TerminalProgress {
    fn planned(&self, paths: usize, nar_bytes: u64) {
        if let Some((p, b)) = &self.bars {
            p.set_length(paths as u64);
            b.set_length(nar_bytes);
        }
    }
    fn started(&self, path: &str, _nar_size: u64) {
        if let Some((p, _)) = &self.bars {
            let mut cur = self.current.lock().expect("progress lock");
            cur.push(path.to_string());
            p.set_message(short_name(path));
        }
    }
    fn bytes(&self, n: u64) {
        if let Some((_, b)) = &self.bars {
            b.inc(n);
        }
    }
    fn finished(&self, path: &str) {
        if let Some((p, _)) = &self.bars {
            let mut cur = self.current.lock().expect("progress lock");
            cur.retain(|c| c != path);
            p.inc(1);
            p.set_message(cur.last().map(|c| short_name(c)).unwrap_or_default());
        }
    }
}

fn short_name(path: &str) -> String {
    path.rsplit('/')
        .next()
        .and_then(|b| b.split_once('-'))
        .map(|(_, n)| n.to_string())
        .unwrap_or_default()
}

/// `1.5 MiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
