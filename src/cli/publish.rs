//! `devenv publish`: Turn a local directory into a signed store path and add it to an index.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::index::build::publish::{self, PublishOptions, Step};
use crate::nix::signature::SecretKey;

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
    /// Create the key file with a new key of this name if it does not exist yet (the public key
    /// goes to `<FILE>.pub`), so no Nix installation is needed to start a cache.
    #[arg(long, value_name = "NAME")]
    generate_key: Option<String>,
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

/// Write a new secret key to `path` (owner-only) and its public key to `<path>.pub`.
fn generate_key(ctx: &Ctx, name: &str, path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if name.is_empty() || name.contains([':', ' ', '\n']) {
        return Err(anyhow::anyhow!("`{name}` is not a usable key name"))
            .hint("key names look like my-team-1")
            .bad_input();
    }
    let key = SecretKey::generate(name);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".devenv-tmp-")
        .tempfile_in(&dir)?;
    std::io::Write::write_all(&mut tmp, key.to_key_file().as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    tmp.as_file().sync_all()?;
    // Never replace a key that appeared meanwhile: losing a signing key orphans a cache.
    tmp.persist_noclobber(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    crate::fsutil::write_atomic(
        std::path::Path::new(&public),
        format!("{}\n", key.public()).as_bytes(),
    )?;
    ctx.printer.info(format!(
        "Created signing key {} (public key in {})",
        path.display(),
        std::path::Path::new(&public).display()
    ));
    Ok(())
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.generate_key {
        if !args.key.exists() {
            generate_key(ctx, name, &args.key)?;
        }
    }
    let key = crate::store::push::read_secret_key(&args.key)?;
    let systems = ctx.settings.systems_or_current(args.systems);
    let opts = PublishOptions {
        dir: args.dir,
        name: args.name,
        version: args.version,
        index: publish::index_dir(&ctx.settings.index)?,
        cache: crate::store::push::local_cache_dir(&args.cache)?,
        key,
        systems,
        summary: args.summary,
        homepage: args.homepage,
        license: args.license,
        last_modified: publish::now_rfc3339()?,
    };
    let line = crate::printer::StepLine::new(&ctx.printer);
    let what = format!("{}@{}", opts.name, opts.version);
    let done = publish::publish_with(&opts, &|step| {
        line.step(match step {
            Step::Hashing => format!("publishing {what}: hashing {}", opts.dir.display()),
            Step::Compressing { nar_size } => format!(
                "publishing {what}: compressing and signing {} of NAR",
                crate::printer::human_bytes(nar_size)
            ),
            Step::Indexing => format!("publishing {what}: adding it to the index"),
        })
    })?;
    drop(line);
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
    if ctx.printer.json {
        let data = serde_json::json!({
            "name": opts.name,
            "version": opts.version,
            "store_path": done.store_path,
            "nar_hash": done.nar_hash,
            "nar_size": done.nar_size,
            "rev": done.rev,
            "cache_had_it": done.cache_had_it,
            "index_changed": done.index_changed,
            "public_key": opts.key.public().to_string(),
        });
        super::print_data(&format!("{data}\n"));
    } else {
        super::print_data(&format!("{}\n", done.store_path));
    }
    Ok(ExitCode::SUCCESS)
}
