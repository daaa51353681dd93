//! `devenv generations`: list the project's environment generations.

use std::process::ExitCode;

use anyhow::Result;

use super::Ctx;
use crate::profile::Profile;

/// List the project's environment generations.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> Result<ExitCode> {
    let project = crate::app::Project::open(&crate::app::activate::logical_cwd()?)?;
    let g = Profile::for_project(&ctx.settings.dirs.data, &project.root).load()?;
    if ctx.printer.json {
        let list: Vec<serde_json::Value> = g
            .generations
            .iter()
            .map(|x| {
                serde_json::json!({
                    "number": x.number,
                    "created": x.created,
                    "current": g.current == Some(x.number),
                    "packages": x.packages,
                })
            })
            .collect();
        let mut text = serde_json::to_string_pretty(&list).expect("serializable");
        text.push('\n');
        super::print_data(&text);
        return Ok(ExitCode::SUCCESS);
    }
    if g.generations.is_empty() {
        ctx.printer
            .info("no generations yet: this project has not installed packages");
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for x in &g.generations {
        let mark = if g.current == Some(x.number) {
            "*"
        } else {
            " "
        };
        let names: Vec<&str> = x.packages.iter().map(|p| p.key.as_str()).collect();
        text.push_str(&format!(
            "{mark}{:>4}  {}  {}\n",
            x.number,
            x.created,
            names.join(" ")
        ));
    }
    super::print_data(&text);
    Ok(ExitCode::SUCCESS)
}
