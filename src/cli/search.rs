//! `devenv search`: find packages in the index by name or summary.

use std::process::ExitCode;

use anyhow::anyhow;
use console::style;

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::display::escape;

/// Search the index for packages by name or description.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Words to look for in package names and summaries.
    #[arg(required = true, value_name = "QUERY")]
    pub query: Vec<String>,
    /// Show at most this many packages.
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let query = args.query.join(" ");
    if query.trim().is_empty() {
        return Err(anyhow!("the search query is empty"))
            .hint("try `devenv search python`")
            .bad_input();
    }
    let index = crate::app::packages::open_index(ctx)?;
    let hits = index.search(query.trim(), args.limit);
    crate::app::packages::flush_warnings(ctx, index.as_ref());
    let hits = hits?;
    if ctx.printer.json {
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&hits)?));
        return Ok(ExitCode::SUCCESS);
    }
    if hits.is_empty() {
        ctx.printer.info(format!("no packages match `{query}`"));
        return Ok(ExitCode::SUCCESS);
    }
    let width = hits.iter().map(|h| h.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for hit in &hits {
        let pad = " ".repeat(width - hit.name.len());
        // Index data: shown escaped, never obeyed by the terminal.
        // The attribute, when it is not the name: `python  3.11.4 (python311)`.
        let attr = if hit.attr_path.is_empty() || hit.attr_path == hit.name {
            String::new()
        } else {
            format!(" ({})", escape(&hit.attr_path))
        };
        out.push_str(&format!(
            "{}{pad}  {}{attr}  {}\n",
            style(escape(&hit.name)).bold(),
            style(escape(&hit.latest)).green(),
            escape(&hit.summary)
        ));
    }
    super::print_data(&out);
    Ok(ExitCode::SUCCESS)
}
