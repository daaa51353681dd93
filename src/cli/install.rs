//! `devenv install`: realize everything in `devenv.lock` for this system.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{anyhow, Context as _};

use super::Ctx;
use crate::diagnostic::ResultExt;
use crate::project::Project;
use crate::store::{Backend, Progress, RealizeReport, Store, StoreOptions};

/// Realize everything in devenv.lock for this system.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Fail if devenv.lock is missing or out of date instead of resolving.
    #[arg(long)]
    pub frozen: bool,
    /// How many paths to look up and download at once.
    #[arg(long, short = 'j', env = "DEVENV_JOBS", default_value_t = 8)]
    pub jobs: usize,
}

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
pub fn install_project(ctx: &Ctx, project: &Project) -> anyhow::Result<Vec<InstalledPackage>> {
    install_with(ctx, project, false, StoreOptions::default()).map(|(p, _)| p)
}

/// What to realize: per manifest package (in manifest order) its lock key and chosen outputs.
fn locked_outputs(
    ctx: &Ctx,
    project: &Project,
    frozen: bool,
) -> anyhow::Result<Vec<(String, crate::lock::LockedPackage, Vec<crate::lock::Output>)>> {
    let system = &ctx.settings.system;
    let manifest = crate::manifest::load(&project.manifest_path())?.manifest;
    let lock_path = project.lock_path();
    let mut lock = crate::lock::read_project(project)?;
    let status = lock
        .as_ref()
        .map(|l| crate::lock::check(&manifest, l))
        .unwrap_or_default();
    let stale: Vec<String> = status.to_resolve();
    if lock.is_none() || !stale.is_empty() {
        let what = match &lock {
            None => format!("`{}` does not exist", lock_path.display()),
            Some(_) => format!(
                "`{}` is out of date with the manifest (needs resolving: {})",
                lock_path.display(),
                stale.join(", ")
            ),
        };
        if frozen {
            return Err(anyhow!("{what}"))
                .context("--frozen installs only what the lock already pins")
                .hint("run `devenv update` to lock the manifest, then commit the lock");
        }
        ctx.printer.info(format!("{what}; resolving"));
        let names: Vec<String> = manifest
            .packages
            .iter()
            .filter(|p| lock.is_none() || stale.contains(&p.lock_key()))
            .map(|p| p.name.clone())
            .collect();
        // stdout belongs to this command's own data; update only reports on stderr here.
        let quiet_data = Ctx {
            settings: ctx.settings.clone(),
            printer: super::Printer::new(ctx.printer.quiet, ctx.printer.verbose, false),
        };
        super::update::run(
            &quiet_data,
            super::update::Args {
                packages: names,
                no_install: true,
            },
        )?;
        lock = crate::lock::read_project(project)?;
    }
    let lock = lock.ok_or_else(|| anyhow!("`{}` does not exist", lock_path.display()))?;
    let stale_hint = "run `devenv update` to lock the manifest";
    let mut out = Vec::new();
    for spec in manifest.packages_for(system) {
        let key = spec.lock_key();
        let entry = lock
            .packages
            .get(&key)
            .ok_or_else(|| {
                anyhow!(
                    "`{}` is out of date: it has no entry for `{key}` from the manifest",
                    lock_path.display()
                )
            })
            .hint(stale_hint)?;
        let outputs = entry.outputs_for(system, &spec.outputs);
        if outputs.is_empty() {
            return Err(anyhow!(
                "`{}` has no outputs of `{key}` for system `{system}`",
                lock_path.display()
            ))
            .hint(format!(
                "the package may not exist for {system}; restrict it with `platforms` in the manifest, or run `devenv update`"
            ));
        }
        out.push((key, entry.clone(), outputs));
    }
    Ok(out)
}

/// [`install_project`] with the `install` command's options; also returns what was fetched.
pub fn install_with(
    ctx: &Ctx,
    project: &Project,
    frozen: bool,
    options: StoreOptions,
) -> anyhow::Result<(Vec<InstalledPackage>, Option<RealizeReport>)> {
    let packages = locked_outputs(ctx, project, frozen)?;
    let paths: Vec<String> = packages
        .iter()
        .flat_map(|(_, _, outs)| outs.iter().map(|o| o.path.clone()))
        .collect();
    let store = match Store::open_backend(&ctx.settings, options)? {
        Backend::Local(store) => *store,
        Backend::NixDaemon => {
            ctx.printer
                .debug("delegating realization to the Nix daemon (/nix/store is not writable)");
            crate::store::nix::realize_with_daemon(
                &paths,
                &ctx.settings.substituters,
                &ctx.settings.trusted_public_keys,
            )?;
            let installed = to_installed(&packages, |l| PathBuf::from(l));
            return Ok((installed, None));
        }
    };
    let progress = CliProgress::new(ctx);
    let root_name = format!("project:{}", project.root.display());
    let lock_path = project.lock_path();
    let report = store
        .realize_rooted(&paths, Some((&root_name, Some(&lock_path))), &progress)
        .context("cannot install the project's packages");
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            let Some(missing) = e.downcast_ref::<crate::store::MissingPaths>() else {
                return Err(e);
            };
            if crate::store::nix::which("nix").is_none() {
                return Err(anyhow!("{missing}"))
                    .context("cannot install the project's packages")
                    .hint(
                        "add a binary cache that has them with --substituters / DEVENV_SUBSTITUTERS, \
                         or install Nix so devenv can build them",
                    );
            }
            build_missing(ctx, &store, &packages, missing)?;
            store.realize_rooted(&paths, Some((&root_name, Some(&lock_path))), &progress)?
        }
    };
    if !report.damaged_by_restart.is_empty() {
        ctx.printer.warn(format!(
            "{} store path(s) registered just before the last restart had not fully reached the \
             disk (or refer to one that had not); they were unregistered, and those this project \
             needs were fetched again: {}",
            report.damaged_by_restart.len(),
            report.damaged_by_restart.join(", ")
        ));
    }
    if !report.missing_on_disk.is_empty() {
        ctx.printer.warn(format!(
            "{} store path(s) were registered but their directories had been deleted (or refer \
             to one that had); they were unregistered, and those this project needs were \
             fetched again: {}",
            report.missing_on_disk.len(),
            report.missing_on_disk.join(", ")
        ));
    }
    for fallback in &report.nar_fallbacks {
        ctx.printer.warn(fallback.to_string());
    }
    for u in &report.unreachable_caches {
        ctx.printer.warn(format!(
            "{u}; skipped it, the other binary caches had everything"
        ));
    }
    let installed = to_installed(&packages, |l| store.layout().real_path(l));
    Ok((installed, Some(report)))
}

/// No cache has some paths but Nix is installed: build each package that is not fully present
/// with the real evaluator and import the results.
fn build_missing(
    ctx: &Ctx,
    store: &Store,
    packages: &[(String, crate::lock::LockedPackage, Vec<crate::lock::Output>)],
    missing: &crate::store::MissingPaths,
) -> anyhow::Result<()> {
    // `DEVENV_NIXPKGS`: a nixpkgs git checkout to build from on machines without GitHub.
    let nixpkgs = std::env::var_os("DEVENV_NIXPKGS")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    for (key, locked, outputs) in packages {
        let mut present = true;
        for o in outputs {
            present &= store.is_valid(&o.path)?;
        }
        if present {
            continue;
        }
        let installable = crate::store::nix::installable(locked, nixpkgs.as_deref());
        ctx.printer.info(format!(
            "building {key} with Nix ({installable}): no binary cache has {} of its paths",
            missing.paths.len()
        ));
        let wanted: Vec<String> = outputs.iter().map(|o| o.path.clone()).collect();
        crate::store::nix::build_and_import(store, &installable, &wanted)
            .with_context(|| format!("cannot build `{key}` with Nix either"))
            .with_context(|| format!("{missing}"))?;
    }
    Ok(())
}

fn to_installed(
    packages: &[(String, crate::lock::LockedPackage, Vec<crate::lock::Output>)],
    physical: impl Fn(&str) -> PathBuf,
) -> Vec<InstalledPackage> {
    packages
        .iter()
        .map(|(key, _, outs)| InstalledPackage {
            key: key.clone(),
            outputs: outs
                .iter()
                .map(|o| InstalledOutput {
                    name: o.name.clone(),
                    logical: o.path.clone(),
                    physical: physical(&o.path),
                })
                .collect(),
        })
        .collect()
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let project = Project::find(&cwd)
        .ok_or_else(|| anyhow!("no devenv.json in `{}` or any parent", cwd.display()))
        .hint("run `devenv init` to start a project here")
        .bad_input()?;
    if args.jobs == 0 {
        return Err(anyhow!("--jobs must be at least 1")).bad_input();
    }
    let options = StoreOptions {
        jobs: args.jobs,
        http: crate::store::cache::HttpSettings::from_env()?,
    };
    let (installed, report) = install_with(ctx, &project, args.frozen, options)?;
    let outputs: usize = installed.iter().map(|p| p.outputs.len()).sum();
    match &report {
        Some(r) if !r.fetched.is_empty() => ctx.printer.info(format!(
            "installed {} package(s) ({outputs} output(s)): fetched {} path(s), {}",
            installed.len(),
            r.fetched.len(),
            human_bytes(r.nar_bytes)
        )),
        _ => ctx.printer.info(format!(
            "{} package(s) ({outputs} output(s)) already installed",
            installed.len()
        )),
    }
    if ctx.printer.json {
        let json = serde_json::json!({
            "packages": installed.iter().map(|p| serde_json::json!({
                "key": p.key,
                "outputs": p.outputs.iter().map(|o| serde_json::json!({
                    "name": o.name, "path": o.logical, "physical": o.physical,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "fetched": report.as_ref().map(|r| r.fetched.clone()).unwrap_or_default(),
        });
        super::print_data(&format!("{json:#}\n"));
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress bars on a terminal; nothing otherwise (the caller prints a summary line).
struct CliProgress {
    bars: Option<(indicatif::ProgressBar, indicatif::ProgressBar)>,
    _multi: Option<indicatif::MultiProgress>,
    current: Mutex<Vec<String>>,
}

impl CliProgress {
    fn new(ctx: &Ctx) -> CliProgress {
        if ctx.printer.quiet || !std::io::stderr().is_terminal() {
            return CliProgress {
                bars: None,
                _multi: None,
                current: Mutex::new(Vec::new()),
            };
        }
        let multi = indicatif::MultiProgress::new();
        let paths = multi.add(indicatif::ProgressBar::new(0));
        paths.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} paths {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        paths.set_prefix("fetching");
        let bytes = multi.add(indicatif::ProgressBar::new(0));
        bytes.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bytes.set_prefix("unpacking");
        CliProgress {
            bars: Some((paths, bytes)),
            _multi: Some(multi),
            current: Mutex::new(Vec::new()),
        }
    }

    fn finish(&self) {
        if let Some((p, b)) = &self.bars {
            p.finish_and_clear();
            b.finish_and_clear();
        }
    }
}

impl Progress for CliProgress {
    fn planned(&self, paths: usize, nar_bytes: u64) {
        if let Some((p, b)) = &self.bars {
            p.set_length(paths as u64);
            b.set_length(nar_bytes);
        }
    }
    fn started(&self, path: &str, _nar_size: u64) {
        if let Some((p, _)) = &self.bars {
            let mut cur = self.current.lock().expect("progress lock");
            cur.push(path.to_string());
            p.set_message(short_name(path));
        }
    }
    fn bytes(&self, n: u64) {
        if let Some((_, b)) = &self.bars {
            b.inc(n);
        }
    }
    fn finished(&self, path: &str) {
        if let Some((p, _)) = &self.bars {
            let mut cur = self.current.lock().expect("progress lock");
            cur.retain(|c| c != path);
            p.inc(1);
            p.set_message(cur.last().map(|c| short_name(c)).unwrap_or_default());
        }
    }
}

fn short_name(path: &str) -> String {
    path.rsplit('/')
        .next()
        .and_then(|b| b.split_once('-'))
        .map(|(_, n)| n.to_string())
        .unwrap_or_default()
}

/// `1.5 MiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
