//! `devenv init`: create devenv.json in the current directory, or convert a Devbox project.

use std::process::ExitCode;

use anyhow::{anyhow, Context as _, Result};

use super::Ctx;
use crate::diagnostic::ResultExt;

/// Create a devenv.json in the current directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Convert this directory's devbox.json (and devbox.lock, keeping its store paths).
    #[arg(long)]
    pub from_devbox: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    let dir = std::env::current_dir().context("cannot read the current directory")?;
    let manifest_path = dir.join(crate::manifest::FILE_NAME);
    if manifest_path.exists() {
        return Err(anyhow!("`{}` already exists", manifest_path.display()))
            .hint("edit it, or use `devenv add <pkg>` to add packages")
            .bad_input();
    }
    if !args.from_devbox {
        crate::fsutil::write_atomic(&manifest_path, crate::manifest::template().as_bytes())
            .with_context(|| format!("cannot write `{}`", manifest_path.display()))?;
        ctx.printer.info(format!(
            "created {}; add packages with `devenv add <pkg>[@version]`",
            crate::manifest::FILE_NAME
        ));
        return Ok(ExitCode::SUCCESS);
    }

    let devbox_json = dir.join("devbox.json");
    let text = crate::manifest::read_text(&devbox_json)
        .hint("run `devenv init --from-devbox` in a Devbox project's directory")
        .bad_input()?;
    let converted = crate::manifest::devbox::convert(&text)
        .with_context(|| format!("cannot convert `{}`", devbox_json.display()))?;
    for w in &converted.warnings {
        ctx.printer.warn(w);
    }
    // devenv.json has no plugins: say which ones the Devbox project had, once.
    let (parsed, _) = crate::manifest::parse(
        &text,
        crate::manifest::devbox::FILE_NAME,
        crate::manifest::Dialect::Devbox,
    )?;
    let mut plugins =
        crate::plugins::activate(&dir, "devbox.json", &parsed, &Default::default()).plugins;
    plugins.extend(
        (parsed.include.iter())
            .filter(|i| !i.reference.starts_with("plugin:"))
            .map(|i| i.reference.clone()),
    );
    if !plugins.is_empty() {
        ctx.printer.warn(format!(
            "{} has no plugins, so what {} add is left behind (their `env`, `init_hook`, files and packages); copy what the project needs into it",
            crate::manifest::FILE_NAME,
            plugins.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let devbox_lock = dir.join("devbox.lock");
    let lock = crate::lock::read_devbox(&devbox_lock)?.map(|lock| {
        let (lock, unresolved) = crate::lock::devbox::for_devenv(lock);
        for key in unresolved {
            ctx.printer.warn(format!(
                "devbox.lock: Devbox never resolved `{key}`, so {} leaves it out; `devenv install` resolves it",
                crate::lock::FILE_NAME
            ));
        }
        lock
    });
    // Write the lock first: a manifest without its lock is re-resolvable, the reverse is not.
    if let Some(lock) = &lock {
        crate::lock::write(&dir.join(crate::lock::FILE_NAME), lock)?;
    }
    crate::fsutil::write_atomic(&manifest_path, converted.text.as_bytes())
        .with_context(|| format!("cannot write `{}`", manifest_path.display()))?;
    ctx.printer.info(format!(
        "converted devbox.json{} to {}{}",
        if lock.is_some() {
            " and devbox.lock"
        } else {
            ""
        },
        crate::manifest::FILE_NAME,
        if lock.is_some() {
            " and devenv.lock"
        } else {
            ""
        },
    ));
    Ok(ExitCode::SUCCESS)
}
