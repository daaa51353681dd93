//! `devenv status`: which project this shell has loaded, its trust and lock state, and what the
//! next prompt will do (`--json` for programs).

use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::app::activate::{current_env, logical_cwd};
use crate::app::status::{self, NextPrompt, Status, TrustState};

/// Show which project and generation this shell has loaded, whether the project is allowed,
/// whether its lock matches the manifest, and what the next prompt will do.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    let status = status::status(ctx, &logical_cwd()?, &current_env())?;
    if ctx.printer.json {
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&status)?));
    } else {
        super::print_data(&render(&status));
    }
    Ok(ExitCode::SUCCESS)
}

fn generation(n: Option<u32>) -> String {
    n.map_or("none yet".to_string(), |n| n.to_string())
}

fn render(s: &Status) -> String {
    let mut out = String::new();
    let mut row = |key: &str, value: String| out.push_str(&format!("{key:<12} {value}\n"));
    match &s.project {
        Some(p) => {
            row("project", p.root.display().to_string());
            row("manifest", p.manifest.display().to_string());
            let trust = match p.trust {
                TrustState::Allowed => "allowed".to_string(),
                TrustState::NotAllowed => {
                    "not allowed (`devenv allow` trusts its current content)".to_string()
                }
                TrustState::Denied => "denied (`devenv allow` lifts it)".to_string(),
                TrustState::UntrustedRecord => {
                    "not allowed: its allowance could have been written by another user (`devenv doctor` says how to fix it)".to_string()
                }
            };
            let consent = if p.shell_consent {
                "; inside its `devenv shell`, which counts as consent"
            } else {
                ""
            };
            row("trust", format!("{trust}{consent}"));
            let lock = match (&p.lock.exists, p.lock.stale.as_slice()) {
                (false, []) => "none needed (no packages)".to_string(),
                (false, _) => "missing (`devenv install` writes it)".to_string(),
                (true, []) => "matches the manifest".to_string(),
                (true, stale) => format!(
                    "does not pin {} (`devenv install` resolves it)",
                    stale.join(", ")
                ),
            };
            row("lock", lock);
            row("generation", generation(p.generation));
        }
        None => row("project", "none here".to_string()),
    }
    match &s.active {
        Some(a) => row(
            "this shell",
            format!(
                "{} {} (generation {})",
                if a.loaded {
                    "loaded"
                } else {
                    "recorded, not loaded:"
                },
                a.root.display(),
                generation(a.generation)
            ),
        ),
        None => row("this shell", "no project loaded".to_string()),
    }
    let action = match s.next_prompt {
        NextPrompt::Nothing => "nothing",
        NextPrompt::Load => "load",
        NextPrompt::Reload => "reload",
        NextPrompt::Unload => "unload",
        NextPrompt::Switch => "switch",
    };
    row("next prompt", format!("{action}: {}", s.reason));
    out
}
