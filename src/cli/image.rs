//! `devenv image`: the project's environment as an OCI image archive (or a `docker load`
//! archive), written without Docker or any daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Ctx;
use crate::app::supply::ImageRequest;
use crate::app::{Inputs, Project};
use crate::supply::image::ArchiveFormat;

/// Write an OCI image of the environment: one layer per store path, the profile at /env.
///
/// Layers are the runtime closure of the locked packages for the system (--system), one per
/// store path (at most 100 layers: past that the least referenced paths share one), and an
/// environment layer with the profile at /env, /bin pointing at /env/bin, PATH and the
/// manifest's env. The command is a manifest script (--script) or the environment's shell.
/// Two runs give the same bytes. Missing store paths are fetched, never built.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive to write (replaced atomically).
    #[arg(long, short, value_name = "FILE", default_value = "image.tar")]
    pub output: PathBuf,
    /// The image reference, `name[:tag]` (default: the project directory's name, `latest`).
    #[arg(long, value_name = "NAME")]
    pub tag: Option<String>,
    /// `oci`: an OCI image layout archive; `docker`: the same with Docker's manifest.json.
    #[arg(long, value_enum, default_value_t = ImageFormat::Oci)]
    pub format: ImageFormat,
    /// Run this manifest script (with the environment's `sh`) instead of a shell.
    #[arg(long, value_name = "NAME")]
    pub script: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImageFormat {
    Oci,
    Docker,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = Project::open(&cwd)?;
    let inputs = Inputs::read(&project)?;
    let reference = args.tag.map(|t| {
        if t.rsplit_once(':')
            .is_some_and(|(_, tag)| !tag.contains('/'))
        {
            t
        } else {
            format!("{t}:latest")
        }
    });
    let request = ImageRequest {
        output: &args.output,
        reference,
        script: args.script,
        format: match args.format {
            ImageFormat::Oci => ArchiveFormat::Oci,
            ImageFormat::Docker => ArchiveFormat::Docker,
        },
    };
    let built = crate::app::supply::image(ctx, &project, &inputs, &request)?;
    ctx.printer.info(format!(
        "wrote {} ({}, {} store paths in {} layers) to {}",
        built.reference,
        built.written.manifest_digest,
        built.store_paths,
        built.written.layers.len(),
        args.output.display()
    ));
    if ctx.printer.json {
        let doc = serde_json::json!({
            "reference": built.reference,
            "manifest_digest": built.written.manifest_digest,
            "config_digest": built.written.config_digest,
            "layers": built.written.layers.iter().map(|(d, s)| serde_json::json!({"digest": d, "size": s})).collect::<Vec<_>>(),
            "output": args.output.display().to_string(),
        });
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    Ok(ExitCode::SUCCESS)
}
