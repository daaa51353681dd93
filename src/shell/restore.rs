//! Putting back the shell's own state of every variable activation sets, exported or not.
//!
//! `devenv export` runs as a child of the shell, so it sees only exported variables: a shell
//! variable the user did not export looks unset to it, and without help leaving a project would
//! delete it. So before activation sets such a variable, the code it prints copies the shell's own
//! state into a devenv variable that is not exported (`__devenv_saved_<NAME>`), and leaving puts
//! it back exactly: a value that was not exported comes back not exported, and in fish the list
//! and the scope come back as they were. The copy lives only in the shell that made it: a subshell
//! or a new terminal inheriting the environment never had the shell variable, and there leaving
//! goes by the record in `__DEVENV_DIFF` alone. As with the record, the copy is put back only
//! while the variable still holds the value devenv set; once the user changed it, it is dropped.
//! All of it is shell builtins: no process starts, and nothing is added to the environment.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::diff::{handed_back, Applied};
use super::{Env, Shell};

/// The shell variable holding the state `key` had before activation.
fn saved_name(key: &str) -> String {
    format!("__devenv_saved_{key}")
}

impl Shell {
    /// The keys of `applied` this shell keeps a copy of the previous state for: every variable
    /// that was not in the environment (the shell may still have held it, unexported), and in
    /// fish every variable it sets whole, since the environment shows neither the elements of a
    /// fish list nor its scope. List variables devenv only added entries to need no copy: leaving
    /// takes the entries out again.
    fn copied(self, applied: &Applied) -> BTreeSet<String> {
        let lists = applied
            .lists
            .iter()
            .filter(|(_, change)| change.was_unset)
            .map(|(key, _)| key.clone());
        let vars = applied
            .vars
            .iter()
            .filter(|(_, change)| change.prev.is_none() || self == Shell::Fish)
            .map(|(key, _)| key.clone());
        lists.chain(vars).collect()
    }

    /// Code that turns the shell from `current` (the environment `devenv export` sees, on which
    /// activation `old` was applied) into `target` (on which `new` is applied): the same variable
    /// changes as [`Shell::transition`], plus saving each variable's own state before it is first
    /// set and putting it back when it is handed back.
    pub fn activation(self, current: &Env, old: &Applied, target: &Env, new: &Applied) -> String {
        let back = handed_back(current, old);
        let old_copied = self.copied(old);
        let new_copied = self.copied(new);
        let new_keys: BTreeSet<&str> = new.keys().collect();
        // A copy stays while the variable goes from one project to the next still holding a value
        // devenv set: the state before the first activation is still the one to put back.
        let kept: BTreeSet<&String> = old_copied
            .iter()
            .filter(|k| back.contains(*k) && new_copied.contains(*k))
            .collect();
        let restored: BTreeSet<&String> = old_copied
            .iter()
            .filter(|k| back.contains(*k) && !new_keys.contains(k.as_str()))
            .collect();
        let mut out = String::new();
        for key in new_copied.iter().filter(|k| !kept.contains(k)) {
            self.save(&mut out, key);
        }
        for (key, line) in self.transition_lines(current, target) {
            if restored.contains(&key) {
                self.restore(&mut out, &key, &line);
            } else {
                out.push_str(&line);
            }
        }
        for key in &old_copied {
            let handled = kept.contains(key) || restored.contains(key) || new_copied.contains(key);
            if !handled {
                self.drop_copy(&mut out, key);
            }
        }
        out
    }

    /// Copy the shell's state of `key` before activation sets it, replacing any older copy.
    fn save(self, out: &mut String, key: &str) {
        let saved = saved_name(key);
        match self {
            // Called only for variables devenv did not see, so a set one is not exported. It is
            // unset after copying so that exporting creates a plain variable even where the user
            // had an array of that name.
            Shell::Bash | Shell::Zsh => {
                let _ = writeln!(
                    out,
                    "unset {saved}; if [[ -n ${{{key}+x}} ]]; then {saved}=${key}; unset {key}; fi;"
                );
            }
            // The first element says what to put back: `x` a global exported list, `g` a global
            // one that is not exported, `u` no global variable (a universal one shows again).
            Shell::Fish => {
                let _ = writeln!(
                    out,
                    "if set -qgx {key}; set -g {saved} x ${key}; else if set -qg {key}; set -g {saved} g ${key}; else; set -g {saved} u; end;"
                );
            }
        }
    }

    /// Put back the copy of `key` when this shell has one; otherwise run `fallback`, the change
    /// the record in the environment asks for.
    fn restore(self, out: &mut String, key: &str, fallback: &str) {
        let saved = saved_name(key);
        match self {
            Shell::Bash | Shell::Zsh => {
                let unexport = match self {
                    Shell::Bash => format!("export -n {key}"),
                    _ => format!("typeset -g +x {key}"),
                };
                let _ = write!(
                    out,
                    "if [[ -n ${{{saved}+x}} ]]; then {key}=${saved}; {unexport}; unset {saved}; else\n{fallback}fi;\n"
                );
            }
            Shell::Fish => {
                let _ = write!(
                    out,
                    "if set -q {saved}[1]\n\
                     switch ${saved}[1]\n\
                     case x; set -gx {key} ${saved}[2..-1]\n\
                     case g; set -g --unexport {key} ${saved}[2..-1]\n\
                     case '*'; set -e -g {key}\n\
                     end\n\
                     set -e -g {saved}\n\
                     else\n{fallback}end;\n"
                );
            }
        }
    }

    /// Forget the copy of `key`: the user changed the variable, and their value stays.
    fn drop_copy(self, out: &mut String, key: &str) {
        let saved = saved_name(key);
        match self {
            Shell::Bash | Shell::Zsh => {
                let _ = writeln!(out, "unset {saved};");
            }
            Shell::Fish => {
                let _ = writeln!(out, "set -e -g {saved};");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::diff::Builder;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn entering_saves_unseen_variables_and_leaving_puts_them_back() {
        let pristine = env(&[("SEEN", "old")]);
        let mut b = Builder::new(pristine.clone());
        b.set("SEEN", "new");
        b.set("UNSEEN", "v");
        let (target, applied) = b.finish();
        let enter = Shell::Bash.activation(&pristine, &Applied::default(), &target, &applied);
        assert_eq!(
            enter,
            "unset __devenv_saved_UNSEEN; if [[ -n ${UNSEEN+x} ]]; then __devenv_saved_UNSEEN=$UNSEEN; unset UNSEEN; fi;\n\
             export SEEN='new';\nexport UNSEEN='v';\n"
        );
        let leave = Shell::Bash.activation(&target, &applied, &pristine, &Applied::default());
        assert_eq!(
            leave,
            "if [[ -n ${__devenv_saved_UNSEEN+x} ]]; then UNSEEN=$__devenv_saved_UNSEEN; export -n UNSEEN; unset __devenv_saved_UNSEEN; else\n\
             unset UNSEEN;\nfi;\nexport SEEN='old';\n"
        );
        let zsh = Shell::Zsh.activation(&target, &applied, &pristine, &Applied::default());
        assert!(zsh.contains("typeset -g +x UNSEEN;"), "{zsh}");
    }

    #[test]
    fn fish_copies_exported_variables_too() {
        let pristine = env(&[("SEEN", "old")]);
        let mut b = Builder::new(pristine.clone());
        b.set("SEEN", "new");
        let (target, applied) = b.finish();
        let enter = Shell::Fish.activation(&pristine, &Applied::default(), &target, &applied);
        assert!(
            enter.starts_with("if set -qgx SEEN; set -g __devenv_saved_SEEN x $SEEN;"),
            "{enter}"
        );
        let leave = Shell::Fish.activation(&target, &applied, &pristine, &Applied::default());
        assert!(
            leave.contains("else\nset -gx SEEN 'old';\nend;\n"),
            "{leave}"
        );
    }

    #[test]
    fn copies_stay_across_projects_and_are_dropped_when_the_user_changed_the_value() {
        let pristine = env(&[]);
        let mut outer = Builder::new(pristine.clone());
        outer.set("A", "outer");
        outer.set("B", "outer");
        let (outer_env, outer_applied) = outer.finish();
        // From the outer project into an inner one that sets A only.
        let mut inner = Builder::new(pristine.clone());
        inner.set("A", "inner");
        let (inner_env, inner_applied) = inner.finish();
        let code = Shell::Bash.activation(&outer_env, &outer_applied, &inner_env, &inner_applied);
        assert!(
            !code.contains("__devenv_saved_A"),
            "A keeps its copy: {code}"
        );
        assert!(code.contains("B=$__devenv_saved_B; export -n B"), "{code}");
        // The user changed A inside: leaving keeps their value and forgets the copy.
        let mut changed = inner_env.clone();
        changed.insert("A".into(), "mine".into());
        let back = crate::shell::diff::revert(&changed, &inner_applied);
        assert_eq!(back["A"], "mine");
        let code = Shell::Bash.activation(&changed, &inner_applied, &back, &Applied::default());
        assert_eq!(code, "unset __devenv_saved_A;\n");
    }
}
