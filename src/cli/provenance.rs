//! `devenv provenance`: SLSA provenance of the project's environment (and optionally of an image
//! archive) as an in-toto statement, optionally signed as a DSSE envelope.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Ctx;
use crate::app::{Inputs, Project};

/// Print an in-toto statement with SLSA v1 provenance of the environment.
///
/// Subjects are the locked store paths (and --image's archive) with their SHA-256; resolved
/// dependencies are the nixpkgs revisions and every store path of the closure with the binary
/// cache it came from and the keys that signed it. With --sign, the statement is wrapped in a
/// DSSE envelope signed by that ed25519 key (the key file `cache push --key` takes).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to this file (replaced atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also attest this image archive (written by `devenv image`).
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Sign with this secret key file (`name:base64`, from
    /// `nix-store --generate-binary-cache-key`) and print a DSSE envelope.
    #[arg(long, value_name = "KEY_FILE")]
    pub sign: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let key = args
        .sign
        .as_deref()
        .map(crate::store::push::read_secret_key)
        .transpose()?;
    if let Some(output) = &args.output {
        crate::app::supply::probe_output(output)?;
    }
    let cwd = std::env::current_dir()?;
    let project = Project::open(&cwd)?;
    let inputs = Inputs::read(&project)?;
    let text = crate::app::supply::provenance(
        ctx,
        &project,
        &inputs,
        args.image.as_deref(),
        key.as_ref(),
    )?;
    super::write_output(ctx, args.output.as_deref(), &text, "provenance")?;
    Ok(ExitCode::SUCCESS)
}
