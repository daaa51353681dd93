//! The application layer: what a command does, between parsing its arguments (`cli`) and the
//! domain modules that each own one job.
//!
//! Every command that touches a project goes the same way:
//! [`Project::open`] → [`Inputs::read`] (manifest and lock, read once) → [`trust`] (may these
//! inputs act without being asked?) → [`lock::ensure`] with a [`LockMode`] (write, frozen, check)
//! → [`realize()`] (the store, opened by [`store::open`]) → [`activate`] (profile generation, GC
//! root, cached environment).
//! Whatever is exported or executed comes from the same [`Inputs`] value whose hashes were
//! checked; nothing here reads the files a second time, prints to stdout, or calls a command.

use crate::printer::Printer;
use crate::settings::Settings;

pub mod activate;
pub mod generations;
pub mod global;
pub mod inputs;
pub mod lock;
pub mod namespace;
pub mod packages;
pub mod pinned;
pub mod project;
pub mod realize;
pub mod status;
pub mod store;
pub mod summary;
pub mod supply;
pub mod trust;

pub use inputs::Inputs;
pub use lock::LockMode;
pub use project::{Project, ProjectLock};
pub use realize::{realize, BuildPolicy, InstalledOutput, InstalledPackage};

/// What every operation gets: the resolved settings and where to report progress and warnings.
pub struct Context {
    pub settings: Settings,
    pub printer: Printer,
}

/// A project locked and realized: the inputs it stands for, its packages and what was fetched.
pub struct Installed {
    pub inputs: Inputs,
    pub packages: Vec<InstalledPackage>,
    pub report: crate::store::RealizeReport,
}

/// Bring the lock up to date (per `mode`) and realize it for this system, with progress bars on
/// a terminal: what `install`, `add`, `rm`, `update` and `cache push` do.
pub fn install(
    ctx: &Context,
    project: &Project,
    inputs: Inputs,
    mode: LockMode,
    policy: BuildPolicy,
) -> anyhow::Result<Installed> {
    let inputs = lock::ensure(ctx, project, &inputs, mode)?.unwrap_or(inputs);
    let progress = crate::printer::TerminalProgress::new(&ctx.printer);
    let result = realize(ctx, project, &inputs, policy, &progress);
    progress.finish();
    let (packages, report) = result?;
    Ok(Installed {
        inputs,
        packages,
        report,
    })
}

/// [`install`] and then make the result the project's current generation (so `generations`
/// and `rollback` see a change at once). Returns the generation's number, if any.
pub fn install_and_activate(
    ctx: &Context,
    project: &Project,
    inputs: Inputs,
    mode: LockMode,
    policy: BuildPolicy,
) -> anyhow::Result<(Installed, Option<u32>)> {
    let installed = install(ctx, project, inputs, mode, policy)?;
    let generation = activate::activate(ctx, project, &installed.packages, &installed.inputs)?;
    Ok((installed, generation))
}

/// After `add`, `rm` or `update` wrote `inputs` under `held`: resolve what is still stale,
/// install without building, and make the result the current generation.
pub fn install_written(
    ctx: &Context,
    project: &Project,
    held: &ProjectLock,
    inputs: Inputs,
) -> anyhow::Result<Option<u32>> {
    let (installed, generation) = install_and_activate(
        ctx,
        project,
        inputs,
        LockMode::Write(Some(held)),
        BuildPolicy::Never,
    )?;
    if let Some(number) = generation {
        ctx.printer.info(installed_line(&installed, number));
    }
    Ok(generation)
}

/// What `add`, `rm` and `update` installed, in one line: the packages now in the profile, the
/// generation they make, and what had to be fetched for them.
fn installed_line(installed: &Installed, generation: u32) -> String {
    if installed.packages.is_empty() {
        return format!("no packages left on this system (generation {generation})");
    }
    let keys: Vec<&str> = installed.packages.iter().map(|p| p.key.as_str()).collect();
    let fetched = match &installed.report {
        r if r.fetched.is_empty() => "nothing to fetch".to_string(),
        r => format!(
            "fetched {} path{}, {}",
            r.fetched.len(),
            if r.fetched.len() == 1 { "" } else { "s" },
            crate::printer::human_bytes(r.nar_bytes)
        ),
    };
    format!(
        "installed {} (generation {generation}; {fetched})",
        keys.join(", ")
    )
}
