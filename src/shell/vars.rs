//! Which variables a project may set in the user's shell, and how large they may be: the one
//! place these rules live. The manifest parser applies them to `env` (so a mistake names its
//! file, line and column) and activation applies the size rules again after `$NAME` expansion.
//!
//! A name is refused when setting it would run code the user did not write into the shell (prompt
//! strings, start-up files), take away what devenv's hook hangs on (`PROMPT_COMMAND`, zsh's hook
//! arrays), change how the shell itself works (`IFS`, `SHELLOPTS`), or when the shell manages it
//! itself so leaving could not put it back (`PWD`, `RANDOM`, `_`). Sizes are bounded because the
//! kernel refuses to start any program once a single environment string passes 128 KiB or the
//! whole environment its limit (E2BIG): the user's shell, devenv included, could then start
//! nothing, not even the command that unloads the project.

use std::fmt;

/// The most bytes one variable's value may have (as written in `env`, and as activation sets it
/// after expansion): a quarter of the kernel's 128 KiB limit for one environment string.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// The most bytes all of `env` may take (`NAME=value` plus a separator per entry), and all the
/// variables one activation sets together.
pub const MAX_TOTAL_BYTES: usize = 128 * 1024;
/// The most bytes a name may have.
pub const MAX_NAME_BYTES: usize = 256;
/// The most bytes devenv's own state in the environment (`__DEVENV_DIFF`) may take.
pub const MAX_STATE_BYTES: usize = 32 * 1024;

/// A group of names refused for one reason.
struct Reserved {
    names: &'static [&'static str],
    prefixes: &'static [&'static str],
    why: &'static str,
}

const RESERVED: &[Reserved] = &[
    Reserved {
        names: &["PROMPT_COMMAND", "precmd_functions", "chpwd_functions"],
        prefixes: &[],
        why: "devenv's shell hook runs from it, so the project could never be unloaded",
    },
    Reserved {
        names: &[
            "PS0",
            "PS1",
            "PS2",
            "PS3",
            "PS4",
            "PROMPT",
            "PROMPT2",
            "PROMPT3",
            "PROMPT4",
            "prompt",
            "RPROMPT",
            "RPROMPT2",
            "RPS1",
            "RPS2",
            "SPROMPT",
            "PROMPT_EOL_MARK",
            "preexec_functions",
            "periodic_functions",
            "zshaddhistory_functions",
            "zshexit_functions",
            "zsh_directory_name_functions",
            "BASH_ENV",
            "ENV",
            "ZDOTDIR",
            "FPATH",
            "fpath",
            "NULLCMD",
            "READNULLCMD",
        ],
        prefixes: &[],
        why: "the shell runs its value as code (a prompt, a hook or a start-up file), and values from `env` never run as code",
    },
    Reserved {
        names: &[
            "IFS",
            "SHELLOPTS",
            "BASHOPTS",
            "POSIXLY_CORRECT",
            "TMOUT",
            "HISTFILE",
            "HISTFILESIZE",
            "HISTSIZE",
            "SAVEHIST",
            "HISTCONTROL",
            "HISTIGNORE",
            "HISTTIMEFORMAT",
            "histchars",
        ],
        prefixes: &[],
        why: "it changes how the shell itself works (parsing, options, history), including while devenv's hook runs",
    },
    Reserved {
        names: &[
            "_",
            "PWD",
            "OLDPWD",
            "SHLVL",
            "RANDOM",
            "SRANDOM",
            "SECONDS",
            "LINENO",
            "HISTCMD",
            "UID",
            "EUID",
            "GID",
            "EGID",
            "PPID",
            "BASH",
            "BASHPID",
            "GROUPS",
            "FUNCNAME",
            "PIPESTATUS",
            "DIRSTACK",
            "OPTARG",
            "OPTIND",
            "REPLY",
            "EPOCHSECONDS",
            "EPOCHREALTIME",
            "ARGC",
            "ERRNO",
            "TTY",
            "TTYIDLE",
            "USERNAME",
            "COLUMNS",
            "LINES",
            "CMD_DURATION",
            "FISH_VERSION",
            "ZSH_ARGZERO",
            "ZSH_EVAL_CONTEXT",
            "ZSH_EXECUTION_STRING",
            "ZSH_NAME",
            "ZSH_PATCHLEVEL",
            "ZSH_SCRIPT",
            "ZSH_SUBSHELL",
            "ZSH_VERSION",
            "path",
            "cdpath",
            "manpath",
            "mailpath",
            "module_path",
            "psvar",
            "argv",
            "status",
            "pipestatus",
            "signals",
            "watch",
            "history",
            "version",
            "hostname",
            "umask",
            "dirprev",
            "dirnext",
        ],
        prefixes: &["BASH_", "fish_", "__fish"],
        why: "the shell manages it itself, so leaving the project could not restore it",
    },
    Reserved {
        names: &[
            "HOME",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "XDG_STATE_HOME",
            "XDG_CACHE_HOME",
        ],
        prefixes: &["DEVENV_"],
        why: "devenv finds its settings, trusted keys, trust records and state through it",
    },
];

/// Names starting with this (in any case) are devenv's own shell state (`__DEVENV_DIFF`, the
/// hook's local variables, saved values).
const OWN_PREFIX: &str = "__devenv";

/// Why a variable cannot be set, or its value is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not letters, digits and `_` (not starting with a digit): no shell can assign it.
    NotIdentifier,
    TooLongName(usize),
    Reserved(&'static str),
    Nul,
    TooLong(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotIdentifier => f.write_str(
                "is not a valid environment variable name (letters, digits and `_`, not starting with a digit)",
            ),
            Refusal::TooLongName(n) => write!(
                f,
                "is not a usable variable name: it is {n} bytes long, and a name may have at most {MAX_NAME_BYTES}"
            ),
            Refusal::Reserved(why) => write!(f, "cannot be set by a project: {why}"),
            Refusal::Nul => f.write_str(
                "contains a NUL character (`\\u0000`), which no environment variable can hold",
            ),
            Refusal::TooLong(n) => write!(
                f,
                "is {n} bytes long; a value may have at most {MAX_VALUE_BYTES} bytes (32 KiB), so that every program the shell starts still fits the kernel's limit for the environment"
            ),
        }
    }
}

/// Whether every shell can assign `name`: ASCII letters, digits and `_`, not starting with a digit.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Whether a project may set `name` in the user's shell.
pub fn check_name(name: &str) -> Result<(), Refusal> {
    if !is_identifier(name) {
        return Err(Refusal::NotIdentifier);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Refusal::TooLongName(name.len()));
    }
    let own = name
        .get(..OWN_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(OWN_PREFIX));
    if own {
        return Err(Refusal::Reserved(
            "devenv keeps its own state in the shell under names starting with `__devenv`",
        ));
    }
    for group in RESERVED {
        if group.names.contains(&name) || group.prefixes.iter().any(|p| name.starts_with(p)) {
            return Err(Refusal::Reserved(group.why));
        }
    }
    Ok(())
}

/// Every refused name and name prefix (the prefix `__devenv` in any case), for the JSON Schema's
/// test to compare against.
pub fn reserved() -> (Vec<&'static str>, Vec<&'static str>) {
    let names = RESERVED
        .iter()
        .flat_map(|g| g.names.iter().copied())
        .collect();
    let mut prefixes: Vec<&str> = RESERVED
        .iter()
        .flat_map(|g| g.prefixes.iter().copied())
        .collect();
    prefixes.push(OWN_PREFIX);
    (names, prefixes)
}

/// Whether `value` may be given to a variable as written in the manifest.
pub fn check_value(value: &str) -> Result<(), Refusal> {
    if value.contains('\0') {
        return Err(Refusal::Nul);
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Refusal::TooLong(value.len()));
    }
    Ok(())
}

/// The bytes one variable takes in the environment block (`NAME=value` and its terminating NUL).
pub fn entry_bytes(name: &str, value: &str) -> usize {
    name.len() + value.len() + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(is_identifier("_A1"));
        assert!(is_identifier("http_proxy"));
        assert!(!is_identifier("1A"));
        assert!(!is_identifier("BASH_FUNC_x%%"));
        assert!(!is_identifier("A-B"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn names_the_hook_or_shell_depend_on_are_refused() {
        for name in [
            "PROMPT_COMMAND",
            "PS1",
            "PS0",
            "precmd_functions",
            "chpwd_functions",
            "fish_function_path",
            "fish_user_paths",
            "BASH_ENV",
            "ENV",
            "IFS",
            "SHELLOPTS",
            "BASHOPTS",
            "ZDOTDIR",
            "_",
            "PWD",
            "DEVENV_PROJECT_ROOT",
            "DEVENV_TRUSTED_PUBLIC_KEYS",
            "__DEVENV_DIFF",
            "__devenv_saved_FOO",
            "__DeVeNv_x",
            "HOME",
            "XDG_DATA_HOME",
        ] {
            assert!(
                matches!(check_name(name), Err(Refusal::Reserved(_))),
                "{name}"
            );
        }
        for name in [
            "FOO",
            "PATH",
            "MANPATH",
            "http_proxy",
            "XDG_DATA_DIRS",
            "GOPATH",
            "PSQL_HOST",
            "DEVENVX",
            "_DEVENV",
            "LANG",
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
        assert_eq!(check_name("1A"), Err(Refusal::NotIdentifier));
        let long = "A".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(
            check_name(&long),
            Err(Refusal::TooLongName(MAX_NAME_BYTES + 1))
        );
    }

    #[test]
    fn values_with_nul_or_too_long_are_refused() {
        assert_eq!(check_value("a\0b"), Err(Refusal::Nul));
        assert_eq!(check_value(&"x".repeat(MAX_VALUE_BYTES)), Ok(()));
        assert_eq!(
            check_value(&"x".repeat(200_000)),
            Err(Refusal::TooLong(200_000))
        );
        let message = Refusal::TooLong(200_000).to_string();
        assert!(
            message.contains("200000") && message.contains("32768"),
            "{message}"
        );
    }
}
