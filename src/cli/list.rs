//! `devenv list`: the project's packages with the versions the lock pins them to.

use std::process::ExitCode;

use anyhow::Result;
use console::style;
use serde_json::json;

use super::Ctx;
use crate::app::activate::logical_cwd;
use crate::app::{Inputs, Project};

/// List the project's packages and their locked versions.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    let project = Project::open(&logical_cwd()?)?;
    let inputs = Inputs::read(&project)?;
    let loaded = inputs.manifest()?;
    for w in &loaded.warnings {
        ctx.printer.warn(w);
    }
    let lock = inputs.lock()?;
    let rows: Vec<(String, String, String, Option<String>)> = loaded
        .manifest
        .packages
        .iter()
        .map(|p| {
            let key = p.lock_key();
            let version = lock
                .as_ref()
                .and_then(|l| l.packages.get(&key))
                .map(|e| e.version.clone());
            (p.name.clone(), p.version.clone(), key, version)
        })
        .collect();
    if ctx.printer.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(name, constraint, key, version)| {
                json!({"name": name, "constraint": constraint, "key": key, "version": version})
            })
            .collect();
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&list)?));
        return Ok(ExitCode::SUCCESS);
    }
    // Devbox plugins' services, recorded for a `services` command (not started by devenv).
    let plugins = inputs.plugins()?;
    if !plugins.services.is_empty() {
        let services: Vec<String> = plugins
            .services
            .iter()
            .map(|s| format!("{} (plugin {})", s.name, s.plugin))
            .collect();
        ctx.printer
            .info(format!("services: {}", services.join(", ")));
    }
    if rows.is_empty() {
        ctx.printer
            .info("no packages yet; add one with `devenv add <pkg>`");
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.2.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (_, _, key, version) in &rows {
        let pad = " ".repeat(width - key.len());
        let version = match version {
            Some(v) => style(v.clone()).green().to_string(),
            None => style("not locked (run `devenv update`)")
                .yellow()
                .to_string(),
        };
        out.push_str(&format!("{key}{pad}  {version}\n"));
    }
    super::print_data(&out);
    Ok(ExitCode::SUCCESS)
}
