//! `devenv publish`: Turn a local directory into a signed store path and add it to an index.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::index::build::publish::{self, PublishOptions};
use crate::nixfmt::signature::SecretKey;

/// Turn a local directory into a signed store path and add it to an index.
///
/// The directory becomes the store path `nix-store --add` gives a directory named
/// `<name>-<version>`; its NAR goes signed into the binary cache and a version entry into the
/// static index given by the global `--index <dir>` (a directory or file:// URL, created if
/// missing), so `devenv add <name>@<version>` locks it like any nixpkgs package.
#[derive(Debug, clap::Args)]
#[command(disable_version_flag = true)]
pub struct Args {
    /// The directory to publish (for example one with a `bin/` inside).
    dir: PathBuf,
    /// The package name.
    #[arg(long)]
    name: String,
    /// The version.
    #[arg(long)]
    version: String,
    /// The binary cache to write: a directory or file://<dir> (created if missing).
    #[arg(long, value_name = "DIR")]
    cache: String,
    /// Secret key file to sign with (`nix-store --generate-binary-cache-key` format).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Systems to offer it for, comma-separated (default: this machine's).
    #[arg(long, value_delimiter = ',', value_name = "SYSTEMS")]
    systems: Vec<String>,
    /// One-line description shown by search and info.
    #[arg(long, default_value = "")]
    summary: String,
    /// Homepage URL.
    #[arg(long, default_value = "")]
    homepage: String,
    /// License identifiers (SPDX), comma-separated.
    #[arg(long, value_delimiter = ',')]
    license: Vec<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let key_text = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read the secret key file {}", args.key.display()))
        .bad_input()?;
    let key = SecretKey::parse(&key_text)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("{} is not a secret signing key", args.key.display()))
        .hint("create one with `nix-store --generate-binary-cache-key <name> <secret file> <public file>`")
        .bad_input()?;
    let systems = if args.systems.is_empty() {
        vec![ctx.settings.system.clone()]
    } else {
        args.systems
    };
    let opts = PublishOptions {
        dir: args.dir,
        name: args.name,
        version: args.version,
        index: publish::index_dir(&ctx.settings.index)?,
        cache: publish::cache_dir(&args.cache)?,
        key,
        systems,
        summary: args.summary,
        homepage: args.homepage,
        license: args.license,
        last_modified: publish::now_rfc3339()?,
    };
    let done = publish::publish(&opts)?;
    ctx.printer.info(format!(
        "Published {}@{} as {} ({} NAR bytes{}){}",
        opts.name,
        opts.version,
        done.store_path,
        done.nar_size,
        if done.cache_had_it {
            ", already in the cache"
        } else {
            ""
        },
        if done.index_changed {
            ""
        } else {
            "; the index already had it"
        }
    ));
    ctx.printer
        .info(format!("Trust its signatures with: {}", opts.key.public()));
    super::print_data(&format!("{}\n", done.store_path));
    Ok(ExitCode::SUCCESS)
}
