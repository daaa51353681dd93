//! The one line a shell shows when the hook loads or unloads a project
//! (`devenv: loaded demo (+2 tools, +1 var)`, `devenv: unloaded demo`), like direnv's
//! `loading` line: people see that something happened on `cd`, and what it amounts to.
//!
//! It is for people at a terminal only: it goes to stderr (the hook `eval`s stdout), only when
//! stderr is a terminal, and never with `--quiet` or `DEVENV_QUIET=1`, so scripts and prompts of
//! people who do not want it stay as they were.

use std::path::{Path, PathBuf};

use super::{Context, Inputs};
use crate::printer::Printer;
use crate::variables;

/// A project whose environment was applied: its root and what it brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub root: PathBuf,
    /// Packages installed for this system.
    pub tools: usize,
    /// Entries of the manifest's `env`.
    pub vars: usize,
}

/// What one run of the hook changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    /// The project whose environment was removed, if one had been applied.
    pub unloaded: Option<PathBuf>,
    pub loaded: Option<Loaded>,
}

/// The packages `inputs` install on this system.
pub fn tools(ctx: &Context, inputs: &Inputs) -> anyhow::Result<usize> {
    let system = &ctx.settings.system;
    let manifest = inputs.manifest()?;
    Ok(manifest
        .manifest
        .packages
        .iter()
        .filter(|p| p.enabled_on(system))
        .count())
}

/// Whether the line is wanted: stderr is a terminal, no `--quiet`, no `DEVENV_QUIET=1`.
pub fn wanted(printer: &Printer) -> bool {
    let quiet = std::env::var_os(variables::QUIET).is_some_and(|v| !v.is_empty() && v != "0");
    printer.on_terminal() && !quiet
}

fn name(root: &Path) -> String {
    root.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| root.display().to_string())
}

fn counted(n: usize, one: &str, many: &str) -> String {
    format!("+{n} {}", if n == 1 { one } else { many })
}

fn loaded_part(verb: &str, loaded: &Loaded) -> String {
    let mut parts = Vec::new();
    if loaded.tools > 0 {
        parts.push(counted(loaded.tools, "tool", "tools"));
    }
    if loaded.vars > 0 {
        parts.push(counted(loaded.vars, "var", "vars"));
    }
    let mut out = format!("{verb} {}", name(&loaded.root));
    if !parts.is_empty() {
        out.push_str(&format!(" ({})", parts.join(", ")));
    }
    out
}

/// The line for `change`, or `None` when nothing was loaded or unloaded.
pub fn line(change: &Change) -> Option<String> {
    let text = match (&change.unloaded, &change.loaded) {
        (None, None) => return None,
        (Some(old), None) => format!("unloaded {}", name(old)),
        (None, Some(new)) => loaded_part("loaded", new),
        (Some(old), Some(new)) if *old == new.root => loaded_part("reloaded", new),
        (Some(old), Some(new)) => {
            format!("unloaded {}, {}", name(old), loaded_part("loaded", new))
        }
    };
    Some(format!("devenv: {text}"))
}

/// Print the line for `change` when it is [`wanted`].
pub fn show(printer: &Printer, change: &Change) {
    if let Some(text) = line(change).filter(|_| wanted(printer)) {
        printer.info(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(root: &str, tools: usize, vars: usize) -> Option<Loaded> {
        Some(Loaded {
            root: root.into(),
            tools,
            vars,
        })
    }

    #[test]
    fn lines_for_each_kind_of_change() {
        let line = |unloaded: Option<&str>, loaded| {
            super::line(&Change {
                unloaded: unloaded.map(PathBuf::from),
                loaded,
            })
        };
        assert_eq!(line(None, None), None);
        assert_eq!(
            line(None, loaded("/home/me/demo", 2, 1)).unwrap(),
            "devenv: loaded demo (+2 tools, +1 var)"
        );
        assert_eq!(
            line(None, loaded("/home/me/demo", 1, 0)).unwrap(),
            "devenv: loaded demo (+1 tool)"
        );
        assert_eq!(
            line(None, loaded("/home/me/demo", 0, 0)).unwrap(),
            "devenv: loaded demo"
        );
        assert_eq!(
            line(Some("/home/me/demo"), None).unwrap(),
            "devenv: unloaded demo"
        );
        assert_eq!(
            line(Some("/home/me/demo"), loaded("/home/me/demo", 0, 3)).unwrap(),
            "devenv: reloaded demo (+3 vars)"
        );
        assert_eq!(
            line(Some("/a/outer"), loaded("/a/outer/inner", 1, 0)).unwrap(),
            "devenv: unloaded outer, loaded inner (+1 tool)"
        );
    }
}
