//! `devenv cache`: Write store paths as a signed binary cache.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context as _};

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::nix::store_path::StorePath;
use crate::store::push::PushCompression;

/// Write store paths as a signed binary cache.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Write the closure of store paths (default: the current project's packages) as a binary
    /// cache that Nix and devenv can substitute from.
    Push(PushArgs),
}

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The binary cache to write: a directory or a file:// URL.
    #[arg(long, value_name = "DIR")]
    pub to: String,
    /// Secret key file (`name:base64`, as written by `nix-store --generate-binary-cache-key`).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Compression of the NARs.
    #[arg(long, value_enum, default_value = "xz")]
    pub compression: CompressionArg,
    /// Store paths to push (with their closures).
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CompressionArg {
    Xz,
    Zstd,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CacheCommand::Push(a) => push(ctx, a),
    }
}

fn push(ctx: &Ctx, args: PushArgs) -> anyhow::Result<ExitCode> {
    let to = crate::store::push::local_cache_dir(&args.to)?;
    let key = args
        .key
        .as_deref()
        .map(crate::store::push::read_secret_key)
        .transpose()?;
    let store = crate::app::store::open_local(&ctx.settings)?;
    let paths = if args.paths.is_empty() {
        let project = crate::app::Project::open(&crate::app::activate::logical_cwd()?)
            .hint("pass store paths, or run this inside a project")?;
        let inputs = crate::app::Inputs::read(&project)?;
        let installed = crate::app::install(
            ctx,
            &project,
            inputs,
            crate::app::LockMode::Write(None),
            crate::app::BuildPolicy::Never,
        )?;
        installed
            .packages
            .into_iter()
            .flat_map(|p| p.outputs.into_iter().map(|o| o.logical))
            .collect()
    } else {
        let mut paths = Vec::new();
        for p in &args.paths {
            let path = StorePath::parse_absolute(p)
                .map_err(|e| anyhow!("{e}"))
                .bad_input()?;
            if !store.is_valid_path(p)? {
                return Err(anyhow!(
                    "`{p}` is not a valid path in the store `{}`",
                    store.layout().root.display()
                ))
                .hint("realize it first (e.g. `devenv install`)")
                .bad_input();
            }
            paths.push(path);
        }
        paths
    };
    if key.is_none() {
        ctx.printer.warn("no --key given: the cache is unsigned, so Nix and devenv will refuse it unless told not to check signatures");
    }
    let compression = match args.compression {
        CompressionArg::Xz => PushCompression::Xz,
        CompressionArg::Zstd => PushCompression::Zstd,
    };
    let report = crate::store::push::push(&store, &paths, &to, key.as_ref(), compression)
        .map_err(crate::app::store::explain)
        .with_context(|| format!("cannot write the binary cache `{}`", to.display()))?;
    ctx.printer.info(format!(
        "wrote {} path(s) ({}) to `{}`, {} already there",
        report.written.len(),
        super::install::human_bytes(report.file_bytes),
        to.display(),
        report.skipped.len()
    ));
    Ok(ExitCode::SUCCESS)
}
