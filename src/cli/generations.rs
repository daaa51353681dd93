//! `devenv generations`: list the project's environment generations, or delete old ones.

use std::process::ExitCode;

use anyhow::{anyhow, Result};

use super::Ctx;
use crate::diagnostic::ResultExt as _;
use crate::profile::{Profile, Prune};

/// List the project's environment generations, or delete old ones (never the current one).
///
/// Each generation keeps its store paths from `devenv gc` until it is deleted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete generations: the numbers given, or those `--older-than` / `--keep` select.
    #[arg(long, value_name = "N", num_args = 0.., conflicts_with = "keep")]
    pub delete: Option<Vec<u32>>,
    /// With --delete: generations created longer ago than AGE (e.g. `30d`, `12h`, `2w`).
    #[arg(long, value_name = "AGE", requires = "delete")]
    pub older_than: Option<String>,
    /// Delete all but the newest N generations.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
}

impl Args {
    /// What to delete, if anything was asked.
    fn prune(&self) -> Result<Option<Prune>> {
        if let Some(n) = self.keep {
            return Ok(Some(Prune::KeepNewest(n)));
        }
        let Some(numbers) = &self.delete else {
            return Ok(None);
        };
        match (&self.older_than, numbers.is_empty()) {
            (Some(age), true) => Ok(Some(Prune::OlderThan(
                crate::store::gc::parse_age(age)
                    .map_err(|e| anyhow!("{e}"))
                    .bad_input()?,
            ))),
            (None, false) => Ok(Some(Prune::Numbers(numbers.clone()))),
            _ => Err(anyhow!(
                "--delete takes either generation numbers or --older-than AGE"
            ))
            .hint(
                "e.g. `devenv generations --delete 3 4`, `--delete --older-than 30d` or `--keep 5`",
            )
            .bad_input(),
        }
    }
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let project = crate::app::Project::open(&crate::app::activate::logical_cwd()?)?;
    let profile = Profile::for_project(&ctx.settings.dirs.data, &project.root);
    if let Some(which) = args.prune()? {
        let deleted = crate::app::generations::delete(ctx, &project.key(), &profile, &which)?;
        if deleted.is_empty() {
            ctx.printer.info("no generation to delete");
        } else {
            let list: Vec<String> = deleted.iter().map(u32::to_string).collect();
            ctx.printer.info(format!(
                "deleted generation(s) {}; `devenv gc` frees what only they kept",
                list.join(", ")
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let g = profile.load()?;
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
