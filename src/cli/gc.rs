//! `devenv gc`: Delete store paths that no project, generation or lock references.

use std::process::ExitCode;

use anyhow::anyhow;

use super::Ctx;
use crate::diagnostic::ResultExt;

/// Delete store paths that no project, generation or lock references.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only delete paths added at least this long ago (e.g. `30d`, `12h`, `2w`).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// First delete every project's generations created longer ago than AGE (never a current
    /// one), like `nix-collect-garbage --delete-older-than`.
    #[arg(long, value_name = "AGE")]
    pub delete_older_than: Option<String>,
    /// Show what would be deleted without deleting anything.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let age = match &args.older_than {
        None => None,
        Some(text) => Some(
            crate::store::gc::parse_age(text)
                .map_err(|e| anyhow!("{e}"))
                .bad_input()?,
        ),
    };
    if let Some(text) = &args.delete_older_than {
        let age = crate::store::gc::parse_age(text)
            .map_err(|e| anyhow!("{e}"))
            .bad_input()?;
        if args.dry_run {
            return Err(anyhow!(
                "--delete-older-than deletes generations; it cannot be a dry run"
            ))
            .hint("list them with `devenv generations` first")
            .bad_input();
        }
        let which = crate::profile::Prune::OlderThan(age);
        for (key, numbers) in crate::app::generations::delete_everywhere(ctx, &which)? {
            let list: Vec<String> = numbers.iter().map(u32::to_string).collect();
            ctx.printer.info(format!(
                "deleted generation(s) {} of project {key}",
                list.join(", ")
            ));
        }
    }
    let store = crate::app::store::open_local(&ctx.settings)?;
    let report = crate::store::gc::collect(&store, age, args.dry_run)?;
    for name in &report.dead_roots {
        ctx.printer
            .debug(format!("root `{name}` is gone (its file no longer exists)"));
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for p in &report.deleted {
        ctx.printer.debug(format!("{verb} {p}"));
    }
    ctx.printer.info(format!(
        "{verb} {} store path(s), {} freed; {} kept",
        report.deleted.len(),
        super::install::human_bytes(report.bytes_freed),
        report.kept
    ));
    if ctx.printer.json {
        let json = serde_json::json!({
            "dry_run": args.dry_run,
            "deleted": report.deleted,
            "bytes_freed": report.bytes_freed,
            "kept": report.kept,
        });
        super::print_data(&format!("{json:#}\n"));
    }
    Ok(ExitCode::SUCCESS)
}
