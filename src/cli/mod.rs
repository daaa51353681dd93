//! The command line: argument parsing, settings resolution, dispatch and error rendering.
//!
//! Each command lives in its own file with its clap `Args` (the doc comment is the help text) and a
//! `run` function that strings domain modules together. This is the only module that prints.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::diagnostic::{Report, EXIT_BAD_INPUT};
use crate::settings::{Overrides, Settings};

mod add;
mod allow;
mod cache;
mod completions;
mod config;
mod doctor;
mod export;
mod gc;
mod generate;
mod generations;
mod global;
mod hook;
mod image;
mod index;
mod info;
mod init;
pub mod install;
mod list;
mod provenance;
mod publish;
mod rm;
mod rollback;
mod run;
mod sbom;
mod search;
mod shell;
mod shellenv;
mod status;
mod update;

pub use crate::printer::Printer;

/// Reproducible per-project tools, pinned to exact nixpkgs versions, without installing Nix.
#[derive(Debug, Parser)]
#[command(
    name = "devenv",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts; each also reads a `DEVENV_*` variable and a user config key.
///
/// The variables are read by `Settings::resolve`, not by clap: a variable clap reads counts as
/// given, which made usage lines show these flags as if they were required.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Version index: a directory, file:// or http(s):// static index, or a Nixhub-compatible API.
    /// [env: DEVENV_INDEX]
    #[arg(long, global = true, value_name = "URL")]
    pub index: Option<String>,
    /// Binary caches to substitute from, space-separated, in priority order.
    /// [env: DEVENV_SUBSTITUTERS]
    #[arg(long, global = true, value_name = "URLS")]
    pub substituters: Option<String>,
    /// Public keys (`name:base64`) whose signatures are trusted, space-separated.
    /// [env: DEVENV_TRUSTED_PUBLIC_KEYS]
    #[arg(long, global = true, value_name = "KEYS")]
    pub trusted_public_keys: Option<String>,
    /// Physical root of the Nix-compatible store (the store itself is always `/nix/store`).
    /// [env: DEVENV_STORE_ROOT]
    #[arg(long, global = true, value_name = "DIR")]
    pub store_root: Option<PathBuf>,
    /// The Nix system to resolve and realize for (default: this machine's). [env: DEVENV_SYSTEM]
    #[arg(long, global = true, value_name = "SYSTEM")]
    pub system: Option<String>,
    /// Answer index lookups from the index cache only, never over the network.
    /// [env: DEVENV_OFFLINE]
    #[arg(long, global = true)]
    pub offline: bool,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Add(add::Args),
    Rm(rm::Args),
    Update(update::Args),
    Install(install::Args),
    Search(search::Args),
    Info(info::Args),
    List(list::Args),
    Shell(shell::Args),
    Run(run::Args),
    Sbom(sbom::Args),
    Shellenv(shellenv::Args),
    Hook(hook::Args),
    Export(export::Args),
    Allow(allow::AllowArgs),
    Deny(allow::DenyArgs),
    Generations(generations::Args),
    Rollback(rollback::Args),
    Global(global::Args),
    Gc(gc::Args),
    Index(index::Args),
    Image(image::Args),
    Cache(cache::Args),
    Publish(publish::Args),
    Provenance(provenance::Args),
    Generate(generate::Args),
    Completions(completions::Args),
    Config(config::Args),
    Doctor(doctor::Args),
    Status(status::Args),
    #[command(name = "__complete", hide = true)]
    Complete(completions::CompleteArgs),
}

/// What every command gets: resolved settings and the printer.
pub use crate::app::Context as Ctx;

/// Parse arguments, run the command, render any error. Returns the process exit code.
pub fn main() -> ExitCode {
    // A launcher, or the namespace entry `run` and `shell` re-execute: before anything else,
    // while the process is still single-threaded.
    if let Some(result) = crate::namespace::dispatch() {
        return match result {
            Ok(code) => code,
            Err(failure) => {
                let report = Report {
                    message: failure.message,
                    causes: Vec::new(),
                    hints: failure.hint.into_iter().collect(),
                    exit_code: failure.exit_code,
                };
                Printer::new(false, 0, false).error(&report);
                ExitCode::from(report.exit_code)
            }
        };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing();
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.json);
    match run(cli, printer.clone()) {
        Ok(code) => code,
        Err(err) => {
            let report = Report::from_error(&err);
            printer.error(&report);
            ExitCode::from(report.exit_code)
        }
    }
}

fn run(cli: Cli, printer: Printer) -> anyhow::Result<ExitCode> {
    // Commands that must work before (or without) settings: the hook is evaluated in rc files.
    match &cli.command {
        Command::Hook(args) => return hook::run(args, &printer),
        Command::Completions(args) => return completions::run(args, &printer),
        _ => {}
    }
    // Settings that belong to one command's flags.
    let (jobs, nix_env) = match &cli.command {
        Command::Install(a) => (a.jobs, None),
        Command::Global(global::Args {
            command: global::Command::Install(a),
        }) => (a.jobs, None),
        Command::Index(a) => (None, a.nix_env()),
        _ => (None, None),
    };
    let overrides = Overrides {
        index: cli.global.index,
        substituters: cli.global.substituters,
        trusted_public_keys: cli.global.trusted_public_keys,
        store_root: cli.global.store_root,
        system: cli.global.system,
        offline: cli.global.offline,
        jobs,
        nix_env,
    };
    let mut settings = Settings::from_process(overrides)?;
    if let Some(watch) = printer.http_watch() {
        settings.watch_http(watch);
    }
    let ctx = Ctx { settings, printer };
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Add(a) => add::run(&ctx, a),
        Command::Rm(a) => rm::run(&ctx, a),
        Command::Update(a) => update::run(&ctx, a),
        Command::Install(a) => install::run(&ctx, a),
        Command::Search(a) => search::run(&ctx, a),
        Command::Info(a) => info::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Shell(a) => shell::run(&ctx, a),
        Command::Run(a) => run::run(&ctx, a),
        Command::Sbom(a) => sbom::run(&ctx, a),
        Command::Shellenv(a) => shellenv::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Allow(a) => allow::run_allow(&ctx, a),
        Command::Deny(a) => allow::run_deny(&ctx, a),
        Command::Generations(a) => generations::run(&ctx, a),
        Command::Rollback(a) => rollback::run(&ctx, a),
        Command::Global(a) => global::run(&ctx, a),
        Command::Gc(a) => gc::run(&ctx, a),
        Command::Index(a) => index::run(&ctx, a),
        Command::Image(a) => image::run(&ctx, a),
        Command::Cache(a) => cache::run(&ctx, a),
        Command::Publish(a) => publish::run(&ctx, a),
        Command::Provenance(a) => provenance::run(&ctx, a),
        Command::Generate(a) => generate::run(&ctx, a),
        Command::Config(a) => config::run(&ctx, a),
        Command::Doctor(a) => doctor::run(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Complete(a) => completions::run_complete(&ctx, a),
        Command::Hook(_) | Command::Completions(_) => unreachable!("handled above"),
    }
}

/// Diagnostics below `cli/` are `tracing` events, shown on stderr only when `DEVENV_LOG` names a
/// level or filter (`DEVENV_LOG=debug`, `DEVENV_LOG=devenv::store=trace`); otherwise nothing is
/// even formatted.
fn init_tracing() {
    // Read before settings are resolved: resolving them may already have something to say.
    let Some(filter) = std::env::var_os(crate::variables::LOG).filter(|v| !v.is_empty()) else {
        return;
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = filter.to_string_lossy();
    // Directive by directive, so one misspelt directive costs only itself, with a word.
    let valid: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| match d.parse::<tracing_subscriber::filter::Targets>() {
            Ok(_) => true,
            Err(e) => {
                eprintln!(
                    "warning: the {} directive `{d}` is not valid ({e}); it is ignored",
                    crate::variables::LOG
                );
                false
            }
        })
        .collect();
    let targets: tracing_subscriber::filter::Targets = valid.join(",").parse().unwrap_or_default();
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(targets)
        .try_init();
}

/// What a command says while another devenv process holds the project's write lock.
const WAITING: &str = "waiting for another devenv command in this project to finish";

/// Write `text` to stdout, ignoring a closed pipe (`devenv list | head`).
pub fn print_data(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Write a command's document to `output` (atomically: a temp file in the same directory,
/// fsynced and renamed) or to stdout, and say where it went.
pub fn write_output(
    ctx: &Ctx,
    output: Option<&std::path::Path>,
    data: &[u8],
    what: &str,
) -> anyhow::Result<()> {
    use crate::diagnostic::ResultExt as _;
    use anyhow::Context as _;
    match output {
        None => print_data(&String::from_utf8_lossy(data)),
        Some(path) => {
            crate::fsutil::write_atomic(path, data)
                .with_context(|| format!("cannot write the {what} to `{}`", path.display()))
                .hint("pass --output a path in a directory that exists and you can write")?;
            ctx.printer
                .info(format!("wrote the {what} to {}", path.display()));
        }
    }
    Ok(())
}
