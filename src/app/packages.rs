//! The package operations behind `add`, `rm` and `update`: resolve against the index, edit the
//! manifest text in place, merge into the lock without churn, and write both, all or nothing.
//!
//! Each operation works on the [`Inputs`] read once under the project's write lock and returns
//! the inputs it wrote, so the caller can install and activate exactly those.

use anyhow::{anyhow, Context as _, Result};

use super::project::{Project, ProjectLock};
use super::{trust, Context, Inputs};
use crate::diagnostic::ResultExt as _;
use crate::index::{resolve, Index, Resolved};
use crate::lock::{Lockfile, MergeOutcome};
use crate::manifest::PackageSpec;
use crate::version::Constraint;

/// What happened to one package: its name, the locked version and how the lock changed.
pub type Update = (String, String, MergeOutcome);

/// What `add` did to one package: the spec added, the locked version and how the lock changed.
pub type Added = (PackageSpec, String, MergeOutcome);

/// Open the configured index.
pub fn open_index(ctx: &Context) -> Result<Box<dyn Index>> {
    crate::index::open(&ctx.settings)
}

/// Print warnings the index gathered (e.g. offline fallbacks).
pub fn flush_warnings(ctx: &Context, index: &dyn Index) {
    for w in index.take_warnings() {
        ctx.printer.warn(w);
    }
}

/// Parse the version part of `name@version`, naming both in the error.
pub fn parse_constraint(name: &str, version: &str) -> Result<Constraint> {
    Constraint::parse(version)
        .with_context(|| format!("invalid version in `{name}@{version}`"))
        .hint("use an exact version (2.16.5), a prefix (2.16), `latest`, or a range (^2.16, >=2.15 <2.17)")
        .bad_input()
}

/// The error for a name the index does not know, with the closest names as a hint.
pub fn unknown_package(index: &dyn Index, name: &str) -> anyhow::Error {
    let similar = index.similar_names(name).unwrap_or_default();
    let hint = if similar.is_empty() {
        "search for it with `devenv search <words>`".to_string()
    } else {
        format!("did you mean {}?", similar.join(", "))
    };
    Err::<(), _>(anyhow!(
        "package `{name}` is not in the index `{}`",
        index.id()
    ))
    .hint(hint)
    .bad_input()
    .unwrap_err()
}

/// Resolve `specs` and merge the answers into `lock` (nothing is merged unless all resolve).
pub fn resolve_into(
    ctx: &Context,
    index: &dyn Index,
    specs: &[&PackageSpec],
    lock: &mut Lockfile,
) -> Result<Vec<Update>> {
    let mut fresh = Vec::new();
    let mut failure = None;
    for spec in specs {
        match resolve_one(index, spec) {
            Ok(r) => fresh.push((*spec, r.to_locked(index.id()))),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    flush_warnings(ctx, index);
    if let Some(e) = failure {
        return Err(e);
    }
    let mut report = Vec::new();
    for (spec, locked) in fresh {
        let key = spec.lock_key();
        let change = lock.merge(&key, locked);
        report.push((
            spec.name.clone(),
            lock.packages[&key].version.clone(),
            change,
        ));
    }
    Ok(report)
}

/// Resolve one spec to a usable answer, or say why not.
fn resolve_one(index: &dyn Index, spec: &PackageSpec) -> Result<Resolved> {
    let constraint = parse_constraint(&spec.name, &spec.version)?;
    let found = resolve::resolve_spec(index, spec, &constraint)?
        .ok_or_else(|| unknown_package(index, &spec.name))?;
    resolve::check_usable(spec, &found)?;
    Ok(found)
}

/// One line per resolved package, as `update` reports them.
pub fn report_updates(ctx: &Context, report: &[Update]) {
    for (name, version, change) in report {
        match change {
            MergeOutcome::Added => ctx.printer.info(format!("locked {name} {version}")),
            MergeOutcome::Unchanged => ctx.printer.info(format!("{name} {version} is up to date")),
            MergeOutcome::SystemsAdded(s) => ctx
                .printer
                .info(format!("{name} {version}: added {}", s.join(", "))),
            MergeOutcome::Updated { from, .. } => ctx
                .printer
                .info(format!("updated {name} {from} -> {version}")),
        }
    }
}

/// Write the manifest and the lock (each atomically, each only if changed), carry the project's
/// allowance over, and return the inputs now on disk. The two writes run side by side so their
/// fsyncs overlap: durable writes are most of the cost of `add`.
pub fn write_inputs(
    ctx: &Context,
    project: &Project,
    _held: &ProjectLock,
    before: &Inputs,
    text: &str,
    lock: Option<&Lockfile>,
) -> Result<Inputs> {
    let manifest_path = project.manifest_path();
    let lock_path = project.lock_path();
    // Checked before either file is touched, so a refused lock leaves both as they were.
    if let Some(lock) = lock {
        crate::lock::check_writable(lock)?;
    }
    let (manifest, written) = std::thread::scope(|s| {
        let manifest = s.spawn(|| crate::manifest::write(&manifest_path, text));
        let written = lock.map(|l| crate::lock::write(&lock_path, l));
        (manifest.join(), written)
    });
    manifest.unwrap_or_else(|_| Err(anyhow!("writing the manifest panicked")))?;
    if let Some(w) = written {
        w?;
    }
    let lock_bytes = match lock {
        Some(l) => Some(crate::lock::render(l).into_bytes()),
        None => before.lock.clone(),
    };
    let after = before.replaced(text.as_bytes().to_vec(), lock_bytes);
    trust::carry(ctx, project, before, &after)?;
    Ok(after)
}

/// `devenv add`: resolve `specs` (all or nothing), add them to the manifest text and the lock,
/// write both. `pick` may offer a replacement for a name the index does not know.
pub fn add(
    ctx: &Context,
    project: &Project,
    held: &ProjectLock,
    inputs: &Inputs,
    specs: &mut [PackageSpec],
    pick: &dyn Fn(&str, &[String]) -> Option<String>,
) -> Result<(Inputs, Vec<Added>)> {
    let loaded = inputs.manifest()?;
    for w in &loaded.warnings {
        ctx.printer.warn(w);
    }
    let mut lock = inputs.lock()?.cloned().unwrap_or_else(Lockfile::new);
    // Resolve everything before touching a file: one failure leaves the project as it was.
    let index = open_index(ctx)?;
    let resolved = resolve_picking(index.as_ref(), specs, pick);
    flush_warnings(ctx, index.as_ref());
    let resolved = resolved?;

    let manifest_path = project.manifest_path();
    let mut text = loaded.text.clone();
    let mut wanted: Vec<PackageSpec> = loaded.manifest.packages.clone();
    for spec in specs.iter() {
        text = crate::manifest::edit::add_package(&text, spec)
            .with_context(|| format!("cannot edit `{}`", manifest_path.display()))?;
        match wanted.iter_mut().find(|p| p.name == spec.name) {
            Some(existing) => *existing = spec.clone(),
            None => wanted.push(spec.clone()),
        }
    }
    let mut report = Vec::new();
    for (spec, fresh) in specs.iter().zip(resolved) {
        let key = spec.lock_key();
        let change = lock.merge(&key, fresh.to_locked(index.id()));
        report.push((spec.clone(), lock.packages[&key].version.clone(), change));
    }
    // A replaced package (`jq@1.6` → `jq@1.7`) leaves its old key behind; drop it.
    let keys: Vec<String> = wanted.iter().map(PackageSpec::lock_key).collect();
    lock.packages.retain(|k, _| keys.contains(k));
    let after = write_inputs(ctx, project, held, inputs, &text, Some(&lock))?;
    Ok((after, report))
}

/// Resolve every spec; an unknown name may be replaced by `pick`'s choice among the closest.
fn resolve_picking(
    index: &dyn Index,
    specs: &mut [PackageSpec],
    pick: &dyn Fn(&str, &[String]) -> Option<String>,
) -> Result<Vec<Resolved>> {
    let mut out = Vec::new();
    for spec in specs.iter_mut() {
        let constraint = parse_constraint(&spec.name, &spec.version)?;
        let mut found = resolve::resolve_spec(index, spec, &constraint)?;
        if found.is_none() {
            let similar = index.similar_names(&spec.name).unwrap_or_default();
            if let Some(choice) = pick(&spec.name, &similar) {
                spec.name = choice;
                found = resolve::resolve_spec(index, spec, &constraint)?;
            }
        }
        let found = found.ok_or_else(|| unknown_package(index, &spec.name))?;
        resolve::check_usable(spec, &found)?;
        out.push(found);
    }
    Ok(out)
}

/// `devenv rm`: remove packages by name from the manifest text and their entries from the lock.
/// Returns the inputs written and the names removed.
pub fn remove(
    ctx: &Context,
    project: &Project,
    held: &ProjectLock,
    inputs: &Inputs,
    names: &[String],
) -> Result<(Inputs, Vec<String>)> {
    let loaded = inputs.manifest()?;
    for w in &loaded.warnings {
        ctx.printer.warn(w);
    }
    let manifest_path = project.manifest_path();
    let mut text = loaded.text.clone();
    let mut remaining: Vec<PackageSpec> = loaded.manifest.packages.clone();
    let mut removed = Vec::new();
    for name in names {
        let edited = crate::manifest::edit::remove_package(&text, name)
            .with_context(|| format!("cannot edit `{}`", manifest_path.display()))?;
        let Some(t) = edited else {
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
        };
        text = t;
        remaining.retain(|p| &p.name != name);
        removed.push(name.clone());
    }
    let lock = inputs.lock()?.cloned().map(|mut lock| {
        let keys: Vec<String> = remaining.iter().map(PackageSpec::lock_key).collect();
        lock.packages.retain(|k, _| keys.contains(k));
        lock
    });
    let after = write_inputs(ctx, project, held, inputs, &text, lock.as_ref())?;
    Ok((after, removed))
}

/// `devenv update`: re-resolve the named packages (all when `names` is empty) and write the lock.
pub fn update(
    ctx: &Context,
    project: &Project,
    _held: &ProjectLock,
    inputs: &Inputs,
    names: &[String],
) -> Result<(Inputs, Vec<Update>)> {
    let loaded = inputs.manifest()?;
    for w in &loaded.warnings {
        ctx.printer.warn(w);
    }
    let all = &loaded.manifest.packages;
    let mut targets: Vec<&PackageSpec> = Vec::new();
    for name in names {
        match all.iter().find(|p| &p.name == name) {
            Some(spec) => targets.push(spec),
            None => {
                return Err(anyhow!(
                    "`{name}` is not a package of `{}`",
                    project.manifest_path().display()
                ))
                .hint("add it first with `devenv add`")
                .bad_input()
            }
        }
    }
    let mut lock = inputs.lock()?.cloned().unwrap_or_else(Lockfile::new);
    let index = open_index(ctx)?;
    if names.is_empty() {
        // An entry pinned to a revision without store paths (old Devbox locks) keeps its version
        // unless named: it gets the index's paths for that revision, or stays as it is.
        targets = Vec::new();
        for spec in all {
            let key = spec.lock_key();
            match lock.packages.get(&key) {
                Some(entry) if super::pinned::is_pinned_without_paths(entry) => {
                    match super::pinned::with_paths(index.as_ref(), &spec.name, entry)? {
                        Some(filled) => {
                            lock.packages.insert(key, filled);
                        }
                        None => ctx.printer.info(format!(
                            "kept `{key}` as locked: the index has no build of its revision (`devenv update {}` locks a version it has)",
                            spec.name
                        )),
                    }
                }
                _ => targets.push(spec),
            }
        }
    }
    let report = resolve_into(ctx, index.as_ref(), &targets, &mut lock)?;
    lock.retain_manifest(&loaded.manifest);
    let wrote = crate::lock::write(&project.lock_path(), &lock)?;
    if !wrote {
        ctx.printer
            .debug(format!("{} unchanged", project.lock_path().display()));
    }
    let after = inputs.replaced(
        inputs.manifest.clone(),
        Some(crate::lock::render(&lock).into_bytes()),
    );
    trust::carry(ctx, project, inputs, &after)?;
    Ok((after, report))
}
