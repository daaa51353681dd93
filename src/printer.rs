//! Messages for people on stderr, honouring `--quiet`, `-v` and `--json`, and the lines that
//! show what is going on while it goes on (progress bars, "waiting for <url>").
//!
//! The one place outside `cli/` that writes to a terminal: the application layer reports what it
//! does through a [`Printer`] it is handed, and never touches stdout, which carries data only.
//! On a terminal, every live line (progress bars, the waiting line) is drawn in one
//! [`indicatif::MultiProgress`] area, and messages are printed above it, so they never garble
//! each other.
//!
//! Messages quote values from manifests, locks and index answers; control characters in them are
//! shown escaped ([`crate::display::escape_keeping_lines`]), never sent to the terminal.
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use console::style;

use crate::diagnostic::Report;
use crate::display::escape_keeping_lines as clean;

/// Writes human messages to stderr. Data for programs goes to stdout, written by `cli` alone.
#[derive(Debug, Clone)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: u8,
    pub json: bool,
    /// Where live lines are drawn: only on a terminal, and not with `--quiet`.
    area: Option<indicatif::MultiProgress>,
    waiting: Arc<Waiting>,
}

impl Printer {
    pub fn new(quiet: bool, verbose: u8, json: bool) -> Printer {
        let area = (!quiet && std::io::stderr().is_terminal()).then(|| {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
        });
        let mode = match &area {
            Some(area) => Mode::Terminal(area.clone()),
            None if !quiet && verbose > 0 => Mode::Log,
            None => Mode::Off,
        };
        Printer {
            quiet,
            verbose,
            json,
            area,
            waiting: Arc::new(Waiting::new(mode, verbose > 0)),
        }
    }

    /// Whether messages reach a terminal (and `--quiet` is off): lines meant for people
    /// watching, not for logs.
    pub fn on_terminal(&self) -> bool {
        self.area.is_some()
    }

    /// Print above the live lines (if any), so neither garbles the other.
    fn above(&self, f: impl FnOnce()) {
        match &self.area {
            Some(area) => area.suspend(f),
            None => f(),
        }
    }

    /// A progress or status line (suppressed by `--quiet`).
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.quiet {
            self.above(|| eprintln!("{}", clean(message.as_ref())));
        }
    }

    /// Detail shown with `-v`.
    pub fn debug(&self, message: impl AsRef<str>) {
        if self.verbose > 0 {
            self.above(|| eprintln!("{}", style(clean(message.as_ref())).dim()));
        }
    }

    /// A warning; shown even with `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.above(|| {
            eprintln!(
                "{} {}",
                style("warning:").yellow().bold(),
                clean(message.as_ref())
            )
        });
    }

    /// Render an error report.
    pub fn error(&self, report: &Report) {
        self.above(|| {
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
        });
    }

    /// What to tell about HTTP requests so a slow one shows what it waits for: a line on a
    /// terminal, plain lines with `-v` otherwise; `None` when nothing would be shown.
    pub fn http_watch(&self) -> Option<Arc<dyn crate::http::Watch>> {
        match self.waiting.mode {
            Mode::Off => None,
            _ => Some(Arc::new(WaitingLine(self.waiting.clone()))),
        }
    }
}

/// One live line naming the step a long command is at, with the time it has taken: a spinner
/// on a terminal, a plain line per step with `-v`, nothing otherwise. Cleared when dropped.
pub struct StepLine {
    bar: Option<indicatif::ProgressBar>,
    printer: Printer,
}

impl StepLine {
    pub fn new(printer: &Printer) -> StepLine {
        let bar = printer.area.as_ref().map(|area| {
            let bar = area.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(TICK);
            bar
        });
        StepLine {
            bar,
            printer: printer.clone(),
        }
    }

    /// Show `message` as the current step.
    pub fn step(&self, message: impl AsRef<str>) {
        match &self.bar {
            Some(bar) => bar.set_message(clean(message.as_ref()).into_owned()),
            None => self.printer.debug(message),
        }
    }
}

impl Drop for StepLine {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Some(area) = &self.printer.area {
                area.remove(&bar);
            }
        }
    }
}

/// Progress bars on a terminal; nothing otherwise (the caller prints a summary line).
pub struct TerminalProgress {
    bars: Option<(indicatif::ProgressBar, indicatif::ProgressBar)>,
    multi: Option<indicatif::MultiProgress>,
    current: Mutex<Vec<String>>,
}

impl TerminalProgress {
    pub fn new(printer: &Printer) -> TerminalProgress {
        let Some(multi) = printer.area.clone() else {
            return TerminalProgress {
                bars: None,
                multi: None,
                current: Mutex::new(Vec::new()),
            };
        };
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
            multi: Some(multi),
            current: Mutex::new(Vec::new()),
        }
    }

    pub fn finish(&self) {
        if let (Some((p, b)), Some(multi)) = (&self.bars, &self.multi) {
            p.finish_and_clear();
            b.finish_and_clear();
            multi.remove(p);
            multi.remove(b);
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

/// A request is shown once it has waited this long without an answer.
const SHOW_AFTER: Duration = Duration::from_secs(2);
/// Without a terminal, a request still waiting is logged again this often (seconds).
const LOG_EVERY: u64 = 10;
/// How often the waiting line is redrawn.
const TICK: Duration = Duration::from_millis(250);

/// How the waiting line shows.
#[derive(Debug)]
enum Mode {
    Off,
    /// A live line in the terminal area, replaced as it changes and cleared when answered.
    Terminal(indicatif::MultiProgress),
    /// Plain lines on stderr (not a terminal, `-v` given): when a request starts to wait and
    /// every [`LOG_EVERY`] seconds after.
    Log,
}

/// A request the waiting line knows about.
#[derive(Debug, Clone)]
struct Request {
    url: String,
    since: Instant,
    attempt: u32,
    attempts: u32,
    /// Seconds at which it was last logged ([`Mode::Log`]).
    logged: Option<u64>,
}

#[derive(Debug, Default)]
struct WaitState {
    next_id: u64,
    requests: BTreeMap<u64, Request>,
    bar: Option<indicatif::ProgressBar>,
    /// Whether a thread is redrawing (one at most, only while requests are in flight).
    ticking: bool,
}

/// The requests in flight and the line that shows the oldest one waiting.
#[derive(Debug)]
struct Waiting {
    mode: Mode,
    verbose: bool,
    state: Mutex<WaitState>,
    tick: Condvar,
}

/// The [`crate::http::Watch`] the HTTP client is given.
struct WaitingLine(Arc<Waiting>);

impl Waiting {
    fn new(mode: Mode, verbose: bool) -> Waiting {
        Waiting {
            mode,
            verbose,
            state: Mutex::new(WaitState::default()),
            tick: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, WaitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Redraw until no request is in flight, then clear and stop.
    fn run(self: Arc<Self>) {
        let mut state = self.lock();
        loop {
            self.refresh(&mut state, Instant::now());
            if state.requests.is_empty() {
                state.ticking = false;
                return;
            }
            state = self
                .tick
                .wait_timeout(state, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn refresh(&self, state: &mut WaitState, now: Instant) {
        match &self.mode {
            Mode::Off => {}
            Mode::Terminal(area) => match terminal_line(state.requests.values(), now) {
                Some(text) => state
                    .bar
                    .get_or_insert_with(|| {
                        let bar = area.add(indicatif::ProgressBar::new_spinner());
                        bar.set_style(
                            indicatif::ProgressStyle::with_template("{msg}")
                                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                        );
                        bar
                    })
                    .set_message(text),
                None => {
                    if let Some(bar) = state.bar.take() {
                        bar.finish_and_clear();
                        area.remove(&bar);
                    }
                }
            },
            Mode::Log => {
                for request in state.requests.values_mut() {
                    if let Some(secs) = log_due(request, now) {
                        request.logged = Some(secs);
                        eprintln!("{}", describe(request, secs));
                    }
                }
            }
        }
    }
}

impl crate::http::Watch for WaitingLine {
    fn started(&self, url: &str, attempts: u32) -> u64 {
        let mut state = self.0.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.requests.insert(
            id,
            Request {
                // A NAR's URL comes from a server's narinfo: never send its control characters.
                url: clean(url).into_owned(),
                since: Instant::now(),
                attempt: 1,
                attempts,
                logged: None,
            },
        );
        if !state.ticking {
            state.ticking = true;
            let waiting = self.0.clone();
            std::thread::spawn(move || waiting.run());
        }
        id
    }

    fn retrying(&self, id: u64, attempt: u32, reason: &str) {
        let mut state = self.0.lock();
        let Some(request) = state.requests.get_mut(&id) else {
            return;
        };
        request.attempt = attempt;
        if self.0.verbose {
            let line = format!(
                "retrying {} (attempt {attempt} of {}): {reason}",
                request.url, request.attempts
            );
            match &self.0.mode {
                Mode::Terminal(area) => area.suspend(|| eprintln!("{}", style(line).dim())),
                _ => eprintln!("{line}"),
            }
        }
    }

    fn finished(&self, id: u64) {
        let mut state = self.0.lock();
        state.requests.remove(&id);
        // Cleared at once, before whatever the caller prints next.
        self.0.refresh(&mut state, Instant::now());
        self.0.tick.notify_all();
    }
}

/// The terminal line at `now`: the request that has waited longest, if at least
/// [`SHOW_AFTER`], and how many others wait too.
fn terminal_line<'a>(requests: impl Iterator<Item = &'a Request>, now: Instant) -> Option<String> {
    let mut due: Vec<&Request> = requests
        .filter(|r| now.saturating_duration_since(r.since) >= SHOW_AFTER)
        .collect();
    due.sort_by_key(|r| r.since);
    let first = due.first()?;
    let mut line = describe(first, now.saturating_duration_since(first.since).as_secs());
    match due.len() - 1 {
        0 => {}
        1 => line.push_str(" and 1 other request"),
        n => line.push_str(&format!(" and {n} other requests")),
    }
    Some(line)
}

/// When a request is to be logged again at `now` ([`Mode::Log`]): the seconds it has waited.
fn log_due(request: &Request, now: Instant) -> Option<u64> {
    let secs = now.saturating_duration_since(request.since).as_secs();
    if secs < SHOW_AFTER.as_secs() {
        return None;
    }
    match request.logged {
        Some(last) if secs < last + LOG_EVERY => None,
        _ => Some(secs),
    }
}

fn describe(request: &Request, secs: u64) -> String {
    if request.attempt > 1 {
        format!(
            "waiting for {} ({secs} s, attempt {} of {})",
            request.url, request.attempt, request.attempts
        )
    } else {
        format!("waiting for {} ({secs} s)", request.url)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, since: Instant) -> Request {
        Request {
            url: url.to_string(),
            since,
            attempt: 1,
            attempts: 3,
            logged: None,
        }
    }

    #[test]
    fn the_waiting_line_appears_after_two_seconds_and_counts_up() {
        let t0 = Instant::now();
        let r = request("http://127.0.0.1:9/index.json", t0);
        let at = |ms: u64| terminal_line([&r].into_iter(), t0 + Duration::from_millis(ms));
        assert_eq!(at(0), None);
        assert_eq!(at(1999), None);
        assert_eq!(
            at(2000).as_deref(),
            Some("waiting for http://127.0.0.1:9/index.json (2 s)")
        );
        assert_eq!(
            at(5400).as_deref(),
            Some("waiting for http://127.0.0.1:9/index.json (5 s)")
        );
    }

    #[test]
    fn the_waiting_line_shows_the_oldest_request_the_attempt_and_the_others() {
        let t0 = Instant::now();
        let mut old = request("http://a/1", t0);
        old.attempt = 2;
        let newer = request("http://a/2", t0 + Duration::from_secs(1));
        let fresh = request("http://a/3", t0 + Duration::from_secs(9));
        let now = t0 + Duration::from_secs(10);
        assert_eq!(
            terminal_line([&newer, &fresh, &old].into_iter(), now).as_deref(),
            Some("waiting for http://a/1 (10 s, attempt 2 of 3) and 1 other request")
        );
    }

    #[test]
    fn without_a_terminal_a_waiting_request_is_logged_at_two_seconds_then_every_ten() {
        let t0 = Instant::now();
        let mut r = request("http://a/1", t0);
        let mut logged = Vec::new();
        for tenth in 0..=250 {
            if let Some(secs) = log_due(&r, t0 + Duration::from_millis(tenth * 100)) {
                r.logged = Some(secs);
                logged.push(secs);
            }
        }
        assert_eq!(logged, vec![2, 12, 22]);
    }
}
