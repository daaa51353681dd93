//! `devenv index`: Build or extend a static version index from a nixpkgs git checkout.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Ctx, Printer};
use crate::diagnostic::ResultExt;
use crate::index::build::{self, BuildOptions, Event, Reporter};

/// Build or extend a static version index from a nixpkgs git checkout.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, clap::Subcommand)]
enum IndexCommand {
    Build(BuildArgs),
}

/// Evaluate nixpkgs revisions with the real Nix evaluator (nix-env) and merge every package
/// version into a static sparse index. Revisions already in the index are skipped; an interrupted
/// build continues where it stopped when run again.
#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// A git checkout of nixpkgs (or of a repository shaped like it).
    #[arg(long, value_name = "DIR")]
    nixpkgs: PathBuf,
    /// Index the commits of a range A..B (after A, up to and including B). Repeatable.
    #[arg(long, value_name = "A..B")]
    revs: Vec<String>,
    /// Index one revision (a hash, tag or branch). Repeatable.
    #[arg(long, value_name = "REV")]
    rev: Vec<String>,
    /// The index directory to create or extend.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Systems to evaluate for, comma-separated (default: this machine's).
    #[arg(long, value_delimiter = ',', value_name = "SYSTEMS")]
    systems: Vec<String>,
    /// Evaluator processes (revisions) to run at the same time. Checking out and bookkeeping run
    /// on threads of their own beside them.
    #[arg(long, short = 'j', default_value_t = 1, value_name = "N")]
    jobs: usize,
    /// The evaluator to run (default: nix-env). [env: DEVENV_NIX_ENV]
    #[arg(long, value_name = "PROGRAM")]
    nix_env: Option<String>,
}

struct Progress<'a> {
    printer: &'a Printer,
    done: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

impl Reporter for Progress<'_> {
    fn event(&self, event: Event) {
        use std::sync::atomic::Ordering::SeqCst;
        match event {
            Event::Planned {
                revisions,
                evaluations,
                already_indexed,
            } => {
                self.total.store(evaluations, SeqCst);
                self.printer.info(format!(
                    "Indexing {revisions} revision(s): {evaluations} evaluation(s), {already_indexed} revision(s) already indexed"
                ));
            }
            Event::Evaluated {
                rev,
                system,
                packages,
                failed,
                resumed,
            } => {
                let n = self.done.fetch_add(1, SeqCst) + 1;
                let how = if resumed { "resumed" } else { "evaluated" };
                let mut line = format!(
                    "[{n}/{}] {how} {} {system}: {packages} package(s)",
                    self.total.load(SeqCst),
                    &rev[..12.min(rev.len())]
                );
                if !failed.is_empty() {
                    line.push_str(&format!(
                        ", {} attribute(s) failed to evaluate ({})",
                        failed.len(),
                        failed.join(", ")
                    ));
                }
                self.printer.info(line);
            }
            Event::MissingFiles { rev, paths } => {
                self.printer.warn(format!(
                    "revision {rev} lacks the git objects of {}: the attributes that read them are left out",
                    paths.join(", ")
                ));
            }
            Event::EvalFailed { rev, system, error } => {
                self.done.fetch_add(1, SeqCst);
                self.printer.warn(format!(
                    "revision {rev} does not evaluate for {system}: {error}"
                ));
            }
        }
    }
}

impl Args {
    /// `--nix-env`, a setting (see `Settings::nix_env`).
    pub fn nix_env(&self) -> Option<String> {
        let IndexCommand::Build(build) = &self.command;
        build.nix_env.clone()
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let IndexCommand::Build(args) = args.command;
    let systems = ctx.settings.systems_or_current(args.systems);
    let opts = BuildOptions {
        nixpkgs: args.nixpkgs,
        ranges: args.revs,
        revs: args.rev,
        out: args.out,
        systems,
        jobs: args.jobs.max(1),
        nix_env: ctx.settings.nix_env.value.clone(),
    };
    let progress = Progress {
        printer: &ctx.printer,
        done: 0.into(),
        total: 0.into(),
    };
    let summary = build::build(&opts, &progress)?;
    ctx.printer.info(format!(
        "Index {}: {} package(s); {} evaluation(s) run, {} resumed, {} revision(s) already indexed, {} attribute(s) skipped, {} file(s) written",
        opts.out.display(),
        summary.packages,
        summary.evaluated - summary.resumed,
        summary.resumed,
        summary.already_indexed,
        summary.failed_attributes,
        summary.files_written
    ));
    if ctx.printer.json {
        let failed: Vec<serde_json::Value> = summary
            .failed_evaluations
            .iter()
            .map(|(rev, system, error)| serde_json::json!({"rev": rev, "system": system, "error": error}))
            .collect();
        let data = serde_json::json!({
            "out": opts.out,
            "packages": summary.packages,
            "evaluated": summary.evaluated - summary.resumed,
            "resumed": summary.resumed,
            "already_indexed": summary.already_indexed,
            "failed_attributes": summary.failed_attributes,
            "failed_evaluations": failed,
            "files_written": summary.files_written,
        });
        super::print_data(&format!("{data}\n"));
    }
    if !summary.failed_evaluations.is_empty() {
        let list: Vec<String> = summary
            .failed_evaluations
            .iter()
            .map(|(rev, system, _)| format!("{rev} ({system})"))
            .collect();
        return Err::<ExitCode, _>(anyhow::anyhow!(
            "{} evaluation(s) failed as a whole: {}",
            list.len(),
            list.join(", ")
        ))
        .hint("the other revisions are in the index; fix the cause above and run the same command again");
    }
    Ok(ExitCode::SUCCESS)
}
