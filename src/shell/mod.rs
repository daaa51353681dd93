//! Shells: the activation code devenv prints for bash, zsh and fish, the diff that lets leaving a
//! project restore the shell exactly, and trust (which projects may activate automatically).
//!
//! Everything here is pure text and data: [`diff`] turns an environment plus wanted changes into
//! a target environment and a compact record of what was changed; [`Shell`] renders the difference
//! between two environments as code for one shell, saving and restoring the shell's own copy of
//! each variable it sets (`restore`); [`vars`] says which variables a project may set and how
//! large they may be; the hook scripts in `shell-hooks/` decide with shell builtins alone whether
//! anything changed, so a prompt where nothing did starts no process.

pub mod diff;
pub mod quote;
mod restore;
pub mod trust;
pub mod vars;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::variables;

/// An environment as a sorted map (deterministic output).
pub type Env = BTreeMap<String, String>;

/// Variables the hook keeps its state in. Their values never start with `/`, so zsh does not turn
/// them into named directories (`auto_name_dirs`). Like every variable devenv reads, they are
/// named in the table of `crate::variables`.
pub const STATE_DIR_VAR: &str = variables::STATE_DIR;
pub const STATE_STAMP_VAR: &str = variables::STATE_STAMP;
pub const STATE_ALLOW_VAR: &str = variables::STATE_ALLOW;
pub const STATE_DIFF_VAR: &str = variables::STATE_DIFF;
/// Set inside `devenv shell` to the project root: that project counts as allowed.
pub const SHELL_VAR: &str = variables::SHELL;

/// The shells devenv speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    /// The shell named by a program path such as `/usr/bin/zsh` or `-bash`.
    pub fn from_program(program: &str) -> Option<Shell> {
        let base = program.rsplit('/').next().unwrap_or(program);
        match base.trim_start_matches('-') {
            "bash" | "sh" => Some(Shell::Bash),
            "zsh" => Some(Shell::Zsh),
            "fish" => Some(Shell::Fish),
            _ => None,
        }
    }

    /// The hook installed by `eval "$(devenv hook <shell>)"`, calling `exe` on a change; outside
    /// every project it loads the global environment in `global` (a directory) if it has a
    /// manifest.
    pub fn hook(self, exe: &str, global: &str) -> String {
        let template = match self {
            Shell::Bash => include_str!("../../shell-hooks/bash.sh"),
            Shell::Zsh => include_str!("../../shell-hooks/zsh.zsh"),
            Shell::Fish => include_str!("../../shell-hooks/fish.fish"),
        };
        let quoted = match self {
            Shell::Fish => quote::fish(exe),
            _ => quote::posix(exe),
        };
        let quote = |s: &str| match self {
            Shell::Fish => quote::fish(s),
            _ => quote::posix(s),
        };
        template
            .replace("@DEVENV_EXE@", &quoted)
            .replace("@DEVENV_GLOBAL@", &quote(global))
    }

    /// Code that sets `key` to `value` and exports it.
    pub fn export(self, out: &mut String, key: &str, value: &str) {
        match self {
            Shell::Bash | Shell::Zsh => {
                let _ = writeln!(out, "export {key}={};", quote::posix(value));
            }
            Shell::Fish => {
                // fish keeps PATH-like variables as lists; giving one string would make a single
                // directory named `a:b:c` for its own command lookup.
                if key.ends_with("PATH") {
                    let parts: Vec<String> = value.split(':').map(quote::fish).collect();
                    let _ = writeln!(out, "set -gx {key} {};", parts.join(" "));
                } else {
                    let _ = writeln!(out, "set -gx {key} {};", quote::fish(value));
                }
            }
        }
    }

    /// Code that removes `key` from the environment.
    pub fn unset(self, out: &mut String, key: &str) {
        match self {
            Shell::Bash | Shell::Zsh => {
                let _ = writeln!(out, "unset {key};");
            }
            Shell::Fish => {
                let _ = writeln!(out, "set -e -g {key};");
            }
        }
    }

    /// Code that turns environment `from` into `to` (only the keys that differ). It knows nothing
    /// of the shell's own variables: for the hook, [`Shell::activation`] also restores those.
    pub fn transition(self, from: &Env, to: &Env) -> String {
        self.transition_lines(from, to)
            .into_iter()
            .map(|(_, line)| line)
            .collect()
    }

    /// [`Shell::transition`] as one line per key: unsets first, then exports.
    fn transition_lines(self, from: &Env, to: &Env) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for key in from.keys() {
            if !to.contains_key(key) && vars::is_identifier(key) {
                let mut line = String::new();
                self.unset(&mut line, key);
                lines.push((key.clone(), line));
            }
        }
        for (key, value) in to {
            if from.get(key) != Some(value) && vars::is_identifier(key) {
                let mut line = String::new();
                self.export(&mut line, key, value);
                lines.push((key.clone(), line));
            }
        }
        lines
    }

    /// Code that makes the shell forget where it found commands. bash and zsh remember the path of
    /// every command they ran; switching a profile generation keeps PATH's text (`…/current/bin`)
    /// while a removed tool disappears behind it, so without this the shell would keep finding the
    /// removed tool's old path. fish looks commands up afresh each time.
    pub fn forget_command_paths(self, out: &mut String) {
        match self {
            Shell::Bash | Shell::Zsh => out.push_str("hash -r 2>/dev/null || :;\n"),
            Shell::Fish => {}
        }
    }

    /// Run the manifest's `init_hook` in the user's shell. A failing hook must never end an
    /// interactive shell that runs with `set -e`.
    pub fn init_hook(self, out: &mut String, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        let body = lines.join("\n");
        match self {
            Shell::Bash | Shell::Zsh => {
                let _ = writeln!(out, "{{\n{body}\n}} || :;");
            }
            Shell::Fish => {
                let _ = writeln!(out, "begin\n{body}\nend;");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shells_from_program_paths() {
        assert_eq!(Shell::from_program("/usr/bin/zsh"), Some(Shell::Zsh));
        assert_eq!(Shell::from_program("-bash"), Some(Shell::Bash));
        assert_eq!(Shell::from_program("fish"), Some(Shell::Fish));
        assert_eq!(Shell::from_program("/bin/tcsh"), None);
    }

    #[test]
    fn transition_sets_changed_and_unsets_removed() {
        let from: Env = [("A", "1"), ("B", "2"), ("C", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut to = from.clone();
        to.remove("A");
        to.insert("B".into(), "two words".into());
        to.insert("PATH".into(), "/x:/y".into());
        assert_eq!(
            Shell::Bash.transition(&from, &to),
            "unset A;\nexport B='two words';\nexport PATH='/x:/y';\n"
        );
        assert_eq!(
            Shell::Fish.transition(&from, &to),
            "set -e -g A;\nset -gx B 'two words';\nset -gx PATH '/x' '/y';\n"
        );
    }

    #[test]
    fn names_no_shell_can_assign_are_skipped() {
        let from: Env = [("BASH_FUNC_x%%".to_string(), "() { :; }".to_string())].into();
        assert_eq!(Shell::Bash.transition(&from, &Env::new()), "");
        assert_eq!(Shell::Fish.transition(&Env::new(), &from), "");
    }
}
