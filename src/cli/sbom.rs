//! `devenv sbom`: the software bill of materials of the project's environment for one system,
//! as CycloneDX 1.6 or SPDX 2.3 JSON, from the lock and the store (or the binary caches' narinfos
//! when the paths are not installed).

use std::path::PathBuf;
use std::process::ExitCode;

use super::Ctx;
use crate::app::{Inputs, Project};
use crate::supply::sbom::{self, Format};

/// Print the SBOM of the project's runtime closure (CycloneDX 1.6 or SPDX 2.3 JSON).
///
/// One component per store path with its NAR hash, licence and homepage where the index knows
/// them, and the nixpkgs revision and attribute of each top-level package. The same lock and
/// store give the same bytes. Pick the system with the global --system.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document format.
    #[arg(long, value_enum, default_value_t = SbomFormat::Cyclonedx)]
    pub format: SbomFormat,
    /// Write to this file (replaced atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SbomFormat {
    Cyclonedx,
    Spdx,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(output) = &args.output {
        crate::app::supply::probe_output(output)?;
    }
    let cwd = std::env::current_dir()?;
    let project = Project::open(&cwd)?;
    let inputs = Inputs::read(&project)?;
    let env = crate::app::supply::environment(ctx, &project, &inputs)?;
    let format = match args.format {
        SbomFormat::Cyclonedx => Format::CycloneDx,
        SbomFormat::Spdx => Format::Spdx,
    };
    let text = sbom::render(&env.closure, &env.subject, format);
    super::write_output(ctx, args.output.as_deref(), text.as_bytes(), "SBOM")?;
    Ok(ExitCode::SUCCESS)
}
