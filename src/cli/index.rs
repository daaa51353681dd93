//! `devenv index`: Build or extend a static version index from a nixpkgs git checkout, or merge
//! index directories (shards of a build, a team's published tools) into one.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Ctx, Printer};
use crate::diagnostic::ResultExt;
use crate::index::build::shard::Shard;
use crate::index::build::{self, BuildOptions, Event, Reporter};

/// Build or extend a static version index from a nixpkgs git checkout, or merge indexes.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, clap::Subcommand)]
enum IndexCommand {
    Build(BuildArgs),
    Merge(MergeArgs),
}

/// Merge index directories — the outputs of `index build --shard K/N` (all N of them), whole
/// indexes, a team's published index — into one, byte-identical to a single build of the same
/// revisions. An index already in --out is kept and merged with them.
#[derive(Debug, clap::Args)]
struct MergeArgs {
    /// Index directories to merge.
    #[arg(value_name = "SHARD_DIR", required = true)]
    dirs: Vec<PathBuf>,
    /// The index directory to create or extend.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
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
    /// Evaluate only shard K of N: the (revision, system) pairs whose hash falls to it. Merge
    /// the N outputs with `devenv index merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
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
                other_shards,
            } => {
                self.total.store(evaluations, SeqCst);
                let mut line = format!(
                    "Indexing {revisions} revision(s): {evaluations} evaluation(s), {already_indexed} revision(s) already indexed"
                );
                if other_shards > 0 {
                    line.push_str(&format!(", {other_shards} left to other shards"));
                }
                self.printer.info(line);
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
        match &self.command {
            IndexCommand::Build(build) => build.nix_env.clone(),
            IndexCommand::Merge(_) => None,
        }
    }
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let args = match args.command {
        IndexCommand::Build(args) => args,
        IndexCommand::Merge(args) => return merge(ctx, args),
    };
    // Parsed here rather than by clap, for the same message, hint and exit status as other bad input.
    let shard: Shard = match &args.shard {
        Some(text) => text.parse()?,
        None => Shard::default(),
    };
    let systems = ctx.settings.systems_or_current(args.systems);
    let opts = BuildOptions {
        nixpkgs: args.nixpkgs,
        ranges: args.revs,
        revs: args.rev,
        out: args.out,
        systems,
        jobs: args.jobs.max(1),
        nix_env: ctx.settings.nix_env.value.clone(),
        shard,
        checkouts: Some(ctx.settings.dirs.cache.join("index-build")),
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

fn merge(ctx: &Ctx, args: MergeArgs) -> anyhow::Result<ExitCode> {
    let summary = build::merge_dirs::merge_dirs(&args.dirs, &args.out)?;
    ctx.printer.info(format!(
        "Index {}: {} package(s), {} revision(s); merged {} index(es), {} file(s) written",
        args.out.display(),
        summary.packages,
        summary.revisions,
        summary.inputs,
        summary.files_written
    ));
    if ctx.printer.json {
        let data = serde_json::json!({
            "out": args.out,
            "packages": summary.packages,
            "revisions": summary.revisions,
            "inputs": summary.inputs,
            "files_written": summary.files_written,
        });
        super::print_data(&format!("{data}\n"));
    }
    Ok(ExitCode::SUCCESS)
}
