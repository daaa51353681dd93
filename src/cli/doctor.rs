//! `devenv doctor`: Check the installation and explain each problem with the command that fixes it.

use std::fmt::Write as _;
use std::process::ExitCode;

use crate::doctor::{Check, Probe, Status};

use super::Ctx;

/// Check the installation and explain each problem with the command that fixes it.
///
/// Looks at the store root (which one is used and why, writable or not), Nix (version, daemon),
/// the index and each binary cache (one short request each), the trusted keys, the shell hook and
/// the current project. Changes nothing. Exits 1 when a check fails. `--json` prints the checks
/// as JSON.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    let probe = Probe::from_environment()?;
    let checks = crate::doctor::run(&ctx.settings, &probe);
    let failed = crate::doctor::failed(&checks);
    if ctx.printer.json {
        let doc = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "ok": !failed,
            "settings": ctx.settings.describe(),
            "checks": checks,
        });
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    } else {
        super::print_data(&render(&checks, &ctx.settings.system));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn render(checks: &[Check], system: &str) -> String {
    let mut out = format!("devenv {} ({system})\n", env!("CARGO_PKG_VERSION"));
    let pad = " ".repeat(20);
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        let _ = writeln!(out, "{mark}  {:<12}  {}", c.name, c.summary);
        for d in &c.details {
            let _ = writeln!(out, "{pad}{d}");
        }
        if let Some(fix) = &c.fix {
            if c.status != Status::Ok {
                let _ = writeln!(out, "{pad}fix: {fix}");
            }
        }
    }
    let problems = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
    let _ = match (problems, warnings) {
        (0, 0) => writeln!(out, "\nNo problems found."),
        (0, w) => writeln!(out, "\nNo problems found; {w} warning(s)."),
        (p, _) => writeln!(
            out,
            "\n{p} problem(s) found; run the `fix:` commands above."
        ),
    };
    out
}
