//! `devenv rm`: remove packages from devenv.json and their entries from devenv.lock.

use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::manifest::PackageSpec;

/// Remove packages from devenv.json and the lock, then update the environment.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Packages to remove, by name (`ansible`; a version suffix is ignored).
    #[arg(required = true, value_name = "PKG")]
    pub packages: Vec<String>,
    /// Only update devenv.json and devenv.lock; do not install.
    #[arg(long)]
    pub no_install: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let project = super::packages::find_project(ctx, true)?;
    let _guard = super::packages::lock_project(ctx, &project)?;
    let manifest_path = project.manifest_path();
    let lock_path = project.lock_path();
    let (loaded, lock) = super::packages::read_files(ctx, &project)?;

    let mut text = loaded.text.clone();
    let mut remaining: Vec<PackageSpec> = loaded.manifest.packages.clone();
    let mut removed = Vec::new();
    for arg in &args.packages {
        let (name, _) = crate::manifest::parse_package_arg(arg)?;
        let edited = crate::manifest::edit::remove_package(&text, &name)
            .with_context(|| format!("cannot edit `{}`", manifest_path.display()))?;
        match edited {
            Some(t) => text = t,
            None => {
                let names: Vec<&str> = remaining.iter().map(|p| p.name.as_str()).collect();
                return Err(anyhow!(
                    "`{name}` is not a package of `{}`",
                    manifest_path.display()
                ))
                .hint(if names.is_empty() {
                    "the manifest has no packages".to_string()
                } else {
                    format!("its packages are: {}", names.join(", "))
                })
                .bad_input();
            }
        }
        remaining.retain(|p| p.name != name);
        removed.push(name);
    }

    crate::manifest::write(&manifest_path, &text)?;
    super::packages::carry_trust(ctx, &project, &loaded.text, &text)?;
    if let Some(mut lock) = lock {
        let keys: Vec<String> = remaining.iter().map(PackageSpec::lock_key).collect();
        lock.packages.retain(|k, _| keys.contains(k));
        crate::lock::write(&lock_path, &lock)?;
    }
    for name in &removed {
        ctx.printer.info(format!("removed {name}"));
    }
    if !args.no_install {
        super::install::install_project(ctx, &project)?;
    }
    Ok(ExitCode::SUCCESS)
}
