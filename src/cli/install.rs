//! `devenv install`: realize everything in `devenv.lock` for this system.

use std::path::PathBuf;
use std::process::ExitCode;

use super::Ctx;
use crate::project::Project;

/// Realize everything in devenv.lock for this system.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// One output of an installed package: its name, logical store path and where it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledOutput {
    pub name: String,
    /// `/nix/store/…`.
    pub logical: String,
    /// The same path under the store's physical root.
    pub physical: PathBuf,
}

/// A locked package realized for this system, with the outputs the manifest asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// The lock key (`name@version`).
    pub key: String,
    pub outputs: Vec<InstalledOutput>,
}

/// Realize the project's locked packages for this system (resolving first if the lock is out of
/// date) and return them in manifest order. `add`, `rm`, `update`, `shell`, `run` and `export` call it.
pub fn install_project(_ctx: &Ctx, _project: &Project) -> anyhow::Result<Vec<InstalledPackage>> {
    Err(super::not_yet("install"))
}

pub fn run(_ctx: &Ctx, _args: Args) -> anyhow::Result<ExitCode> {
    Err(super::not_yet("install"))
}
