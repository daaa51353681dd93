//! `devenv info`: the versions of a package, newest first, with the nixpkgs revision and date each
//! comes from.

use std::process::ExitCode;

use console::style;
use serde_json::json;

use super::Ctx;
use crate::display::escape;
use crate::index::format::VersionEntry;

/// Show a package's versions (newest first) with their nixpkgs revision and date.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `name` or `name@version` (a version, prefix or range filters the list).
    #[arg(value_name = "PKG[@VERSION]")]
    pub package: String,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let (name, version) = crate::manifest::parse_package_arg(&args.package)?;
    let constraint = crate::app::packages::parse_constraint(&name, &version)?;
    let index = crate::app::packages::open_index(ctx)?;
    let found = index.package(&name);
    let found = match found {
        Ok(Some(pkg)) => Ok(pkg),
        Ok(None) => Err(crate::app::packages::unknown_package(index.as_ref(), &name)),
        Err(e) => Err(e),
    };
    crate::app::packages::flush_warnings(ctx, index.as_ref());
    let pkg = found?;
    let mut versions: Vec<&VersionEntry> = pkg
        .versions
        .iter()
        .filter(|v| constraint.matches(&v.version))
        .collect();
    if versions.is_empty() {
        return Err(crate::index::no_matching_version(&name, &constraint, &pkg));
    }
    versions.sort_by(|a, b| {
        crate::version::compare(&b.version, &a.version)
            .then(b.last_modified.cmp(&a.last_modified))
            .then(a.rev.cmp(&b.rev))
    });
    if ctx.printer.json {
        let list: Vec<_> = versions
            .iter()
            .map(|v| {
                json!({
                    "version": v.version,
                    "attr_path": v.attr_path,
                    "rev": v.rev,
                    "last_modified": v.last_modified,
                    "systems": v.systems.keys().collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = json!({
            "name": pkg.name,
            "summary": pkg.summary,
            "homepage": pkg.homepage,
            "license": pkg.license,
            "versions": list,
            "devbox_plugin": crate::plugins::builtin_for_package(&pkg.name)
                .map(|(name, service)| json!({"name": name, "service": service})),
        });
        super::print_data(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(ExitCode::SUCCESS);
    }
    // Every string here comes from the index: shown escaped, never obeyed by the terminal.
    let mut out = format!("{}", style(escape(&pkg.name)).bold());
    if !pkg.summary.is_empty() {
        out.push_str(&format!(": {}", escape(&pkg.summary)));
    }
    out.push('\n');
    if !pkg.homepage.is_empty() {
        out.push_str(&format!("homepage: {}\n", escape(&pkg.homepage)));
    }
    if !pkg.license.is_empty() {
        out.push_str(&format!("license:  {}\n", escape(&pkg.license.join(", "))));
    }
    out.push('\n');
    let width = versions.iter().map(|v| v.version.len()).max().unwrap_or(0);
    for v in &versions {
        let pad = " ".repeat(width - v.version.len());
        // Versions the index has no date for print `-`, not an invented one.
        let date = match v.last_modified.get(..10) {
            Some(day) => day,
            None if v.last_modified.is_empty() => "-",
            None => &v.last_modified,
        };
        let rev = v.rev.get(..12).unwrap_or(&v.rev);
        let systems: Vec<&str> = v.systems.keys().map(String::as_str).collect();
        out.push_str(&format!(
            "{}{pad}  {}  {}  {}  {}\n",
            style(escape(&v.version)).green(),
            escape(date),
            style(escape(rev)).dim(),
            escape(&v.attr_path),
            escape(&systems.join(" "))
        ));
    }
    // In a Devbox project this package brings a built-in plugin (and maybe a service).
    if let Some((plugin, service)) = crate::plugins::builtin_for_package(&pkg.name) {
        out.push_str(&format!("\nDevbox plugin: {plugin}"));
        if let Some(service) = service {
            out.push_str(&format!(" (service `{service}`)"));
        }
        out.push('\n');
    }
    super::print_data(&out);
    Ok(ExitCode::SUCCESS)
}
