//! Shell completion beyond what clap knows: the scripts clap generates get a wrapper that
//! completes package names for `add` and `info`, and those names come from local files only
//! (a directory index, or index data already cached on disk) so pressing TAB never waits on the
//! network.
//!
//! The generated scripts call back `devenv __complete packages <prefix>`; this module owns both
//! the wrapper text and the name lookup. It returns data; `cli` prints it.

use anyhow::{anyhow, Result};

use crate::index::http::HttpOptions;
use crate::index::Index;
use crate::settings::Settings;

/// The subcommands whose positional arguments are package names.
pub const PACKAGE_COMMANDS: [&str; 2] = ["add", "info"];

/// At most this many names are offered; more would only scroll the terminal.
const MAX_NAMES: usize = 500;

/// Package names starting with `prefix` (sorted, deduplicated) from the index's local data: a
/// directory index, or a remote static index as far as it is already cached on disk (the index
/// module's cache, read with its offline mode). Anything unavailable gives no names: completion
/// must never print errors into a command line.
pub fn package_names(settings: &Settings, prefix: &str) -> Vec<String> {
    let Some(index) = open_offline(settings) else {
        return Vec::new();
    };
    let mut names: Vec<String> = index
        .search(prefix, usize::MAX)
        .unwrap_or_default()
        .into_iter()
        .map(|hit| hit.name)
        .filter(|name| name.starts_with(prefix))
        .collect();
    names.sort();
    names.dedup();
    names.truncate(MAX_NAMES);
    names
}

/// The configured index, opened so that it cannot touch the network: its HTTP layer answers from
/// the on-disk cache only. A Nixhub-compatible API has no cached name list, so it offers nothing.
fn open_offline(settings: &Settings) -> Option<Box<dyn Index>> {
    let offline = HttpOptions {
        client: settings.http.clone(),
        offline: true,
    };
    crate::index::open_with(settings, offline).ok()
}

/// The bash script: clap's, plus a `complete -F` wrapper that answers package names itself.
pub fn bash(clap_script: &str) -> String {
    format!("{clap_script}\n{BASH_WRAPPER}")
}

/// The zsh script: clap's `_devenv` renamed, behind a `_devenv` that answers package names.
/// Works both when sourced and when installed as `_devenv` on `$fpath` (autoloaded).
pub fn zsh(clap_script: &str) -> Result<String> {
    let tail_start = clap_script
        .rfind("if [ \"$funcstack[1]\" = \"_devenv\" ]; then")
        .ok_or_else(|| anyhow!("clap's zsh script changed shape: no autoload tail found"))?;
    let body = clap_script[..tail_start].replacen("_devenv() {", "_devenv_clap() {", 1);
    if !body.contains("_devenv_clap() {") {
        return Err(anyhow!(
            "clap's zsh script changed shape: no `_devenv() {{` found"
        ));
    }
    Ok(format!("{body}{ZSH_WRAPPER}"))
}

/// The fish script: clap's, plus a rule that offers package names after `add` / `info`.
pub fn fish(clap_script: &str) -> String {
    format!(
        "{clap_script}complete -c devenv -n '__fish_seen_subcommand_from {}' -f -a '(devenv __complete packages (commandline -ct) 2>/dev/null)'\n",
        PACKAGE_COMMANDS.join(" ")
    )
}

const BASH_WRAPPER: &str = r#"# Package names for `add` and `info` come from `devenv __complete packages` (local data only).
_devenv_with_packages() {
    local cur="${COMP_WORDS[COMP_CWORD]}" sub="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --index|--substituters|--trusted-public-keys|--store-root|--system) ((i++)) ;;
            -*) ;;
            *) sub="${COMP_WORDS[i]}"; break ;;
        esac
    done
    if [[ ( "$sub" == add || "$sub" == info ) && "$cur" != -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(devenv __complete packages "$cur" 2>/dev/null)" -- "$cur")
        return 0
    fi
    _devenv "$@"
}
complete -F _devenv_with_packages -o bashdefault -o default devenv
"#;

const ZSH_WRAPPER: &str = r#"# Package names for `add` and `info` come from `devenv __complete packages` (local data only).
_devenv() {
    local sub="" i
    for ((i = 2; i < CURRENT; i++)); do
        case "${words[i]}" in
            --index|--substituters|--trusted-public-keys|--store-root|--system) ((i++)) ;;
            -*) ;;
            *) sub="${words[i]}"; break ;;
        esac
    done
    if [[ ( "$sub" == add || "$sub" == info ) && "${words[CURRENT]}" != -* ]]; then
        local -a pkgs
        pkgs=(${(f)"$(devenv __complete packages "${words[CURRENT]}" 2>/dev/null)"})
        compadd -a pkgs
        return
    fi
    _devenv_clap "$@"
}

if [ "$funcstack[1]" = "_devenv" ]; then
    _devenv "$@"
else
    compdef _devenv devenv
fi
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Dirs, Overrides};
    use std::path::Path;

    fn settings(root: &Path, index: &str) -> Settings {
        let dirs = Dirs {
            config: root.join("config"),
            cache: root.join("cache"),
            data: root.join("data"),
            state: root.join("state"),
        };
        Settings::resolve(
            Overrides {
                index: Some(index.to_string()),
                ..Default::default()
            },
            &|_| None,
            dirs,
        )
        .unwrap()
    }

    #[test]
    fn names_come_from_a_directory_index_sorted_and_filtered_by_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let idx = tmp.path().join("idx");
        std::fs::create_dir_all(&idx).unwrap();
        std::fs::write(idx.join("index.json"), "{\"format\": 1}").unwrap();
        std::fs::write(
            idx.join("names.jsonl"),
            "{\"name\":\"jq\",\"latest\":\"1.7\"}\n{\"name\":\"ansible-lint\",\"summary\":\"jq\",\"latest\":\"6\"}\n{\"name\":\"ansible\",\"latest\":\"2.16.5\"}\n",
        )
        .unwrap();
        let s = settings(tmp.path(), idx.to_str().unwrap());
        assert_eq!(package_names(&s, ""), vec!["ansible", "ansible-lint", "jq"]);
        assert_eq!(package_names(&s, "ans"), vec!["ansible", "ansible-lint"]);
        let s = settings(tmp.path(), &format!("file://{}", idx.display()));
        assert_eq!(
            package_names(&s, "j"),
            vec!["jq"],
            "summary matches are not names"
        );
        let s = settings(tmp.path(), tmp.path().join("missing").to_str().unwrap());
        assert!(package_names(&s, "").is_empty());
    }

    #[test]
    fn a_remote_index_without_cache_completes_nothing_and_does_not_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), "http://127.0.0.1:9/");
        assert!(package_names(&s, "a").is_empty());
    }

    #[test]
    fn zsh_wrapper_replaces_the_autoload_tail() {
        let clap = "#compdef devenv\n_devenv() {\n  :\n}\n\nif [ \"$funcstack[1]\" = \"_devenv\" ]; then\n    _devenv \"$@\"\nelse\n    compdef _devenv devenv\nfi\n";
        let out = zsh(clap).unwrap();
        assert!(out.contains("_devenv_clap() {"));
        assert_eq!(out.matches("compdef _devenv devenv").count(), 1);
        assert!(zsh("something else").is_err());
    }
}
