//! `devenv config`: the effective settings and where each came from.

use std::process::ExitCode;

use super::Ctx;

/// Show the effective settings and where each came from.
///
/// Every setting is resolved from (first wins) its flag, its `DEVENV_*` variable, the user config
/// file and a default. Prints one line per setting with its value and source (the flag, the
/// variable, the config file's path, or `default`); `--json` prints the same as JSON.
/// docs/configuration.md describes each setting.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    if ctx.printer.json {
        let doc = ctx.settings.report_json();
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    } else {
        super::print_data(&ctx.settings.report_text());
    }
    Ok(ExitCode::SUCCESS)
}
