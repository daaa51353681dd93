//! What activation changed, recorded compactly so leaving a project restores the shell exactly.
//!
//! direnv stores the full previous and next value of every variable it touched, which grows past
//! the kernel's per-string limit with large environments (E2BIG). The record here stays small:
//! for list variables (`PATH`, `MANPATH`, …) only the entries we added; for other variables the
//! previous value and a short hash of the value we set. Reverting removes one occurrence of each
//! entry we added (so entries the user added inside the project survive) and restores a variable
//! only while it still holds our value (so a value the user changed is left alone). What the
//! environment cannot show, a shell variable the user did not export, the shell keeps itself
//! (see `restore`), for the keys [`handed_back`] names.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Env;

/// The record of one activation, kept in [`super::STATE_DIFF_VAR`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// List variables: the entries we added.
    #[serde(default, rename = "l", skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, ListChange>,
    /// Other variables: their previous value and the hash of ours.
    #[serde(default, rename = "v", skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, VarChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListChange {
    /// Entries we added, each removed once on revert.
    #[serde(rename = "a")]
    pub added: Vec<String>,
    /// The variable did not exist before; unset it when nothing but our entries remain.
    #[serde(rename = "u", default, skip_serializing_if = "std::ops::Not::not")]
    pub was_unset: bool,
    /// How the entries were added, in order: (appended at the end?, how many). With [`Self::ours`]
    /// this undoes an untouched list exactly, even when entries repeat or are empty.
    #[serde(rename = "s", default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<(bool, usize)>,
    /// [`short_hash`] of the list's value after activation.
    #[serde(rename = "h", default, skip_serializing_if = "String::is_empty")]
    pub ours: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VarChange {
    /// The value before activation; `None` = it was unset.
    #[serde(rename = "p")]
    pub prev: Option<String>,
    /// [`short_hash`] of the value we set.
    #[serde(rename = "h")]
    pub ours: String,
}

/// A 64-bit hex digest, enough to tell "still our value" from "changed by the user".
pub fn short_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Applied {
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty() && self.vars.is_empty()
    }

    /// Every variable this activation changed.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.lists
            .keys()
            .chain(self.vars.keys())
            .map(String::as_str)
    }

    /// The compact text form: base64 (URL-safe, unpadded) of JSON.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("serializable");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Parse [`Applied::encode`]'s output; anything else (edited by hand, older format) is `None`.
    pub fn decode(text: &str) -> Option<Applied> {
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// Undo `applied` on `env`: the environment as it would be had the project never been loaded,
/// keeping every change the user made meanwhile.
pub fn revert(env: &Env, applied: &Applied) -> Env {
    revert_noting(env, applied).0
}

/// The keys whose state from before activation [`revert`] gives back on `env`: variables that
/// still hold our value, and list variables that were unset and hold nothing but our entries.
/// Only for these may the shell put back its own copy of the old state; any other key now holds
/// something the user chose.
pub fn handed_back(env: &Env, applied: &Applied) -> BTreeSet<String> {
    revert_noting(env, applied).1
}

/// [`revert`], also returning the keys it handed back.
fn revert_noting(env: &Env, applied: &Applied) -> (Env, BTreeSet<String>) {
    let mut out = env.clone();
    let mut back = BTreeSet::new();
    for (key, change) in &applied.lists {
        let Some(current) = out.get(key) else {
            continue; // the user unset it: nothing of ours is left
        };
        match list_without_ours(current, change) {
            Some(rest) => {
                out.insert(key.clone(), rest);
            }
            None => {
                out.remove(key);
                back.insert(key.clone());
            }
        }
    }
    for (key, change) in &applied.vars {
        // After the lists: a variable extended as a list and then set whole holds our value again
        // once our entries are gone.
        if !still_ours(&out, key, change) {
            continue;
        }
        match &change.prev {
            Some(prev) => out.insert(key.clone(), prev.clone()),
            None => out.remove(key),
        };
        back.insert(key.clone());
    }
    (out, back)
}

/// Whether `key` still holds the value activation gave it.
fn still_ours(env: &Env, key: &str, change: &VarChange) -> bool {
    env.get(key).is_some_and(|v| short_hash(v) == change.ours)
}

/// List value `current` with one occurrence of each entry we added removed; `None` when the
/// variable was unset before and nothing but our entries is left, so it is unset again.
fn list_without_ours(current: &str, change: &ListChange) -> Option<String> {
    let mut parts: Vec<&str> = current.split(':').collect();
    let counted: usize = change.steps.iter().map(|(_, n)| n).sum();
    if !change.ours.is_empty() && short_hash(current) == change.ours && counted <= parts.len() {
        // Untouched since activation: undo each addition where it was made, which is exact even
        // when entries repeat or are empty.
        for (appended, n) in change.steps.iter().rev() {
            if *appended {
                parts.truncate(parts.len() - n);
            } else {
                parts.drain(..*n);
            }
        }
    } else {
        for entry in &change.added {
            if let Some(i) = parts.iter().position(|p| p == entry) {
                parts.remove(i);
            }
        }
    }
    if change.was_unset && parts.iter().all(|p| p.is_empty()) {
        None
    } else {
        Some(parts.join(":"))
    }
}

/// Builds the target environment of an activation on top of a pristine environment, recording
/// what it changed.
#[derive(Debug, Clone)]
pub struct Builder {
    base: Env,
    env: Env,
    applied: Applied,
}

impl Builder {
    pub fn new(pristine: Env) -> Builder {
        Builder {
            env: pristine.clone(),
            base: pristine,
            applied: Applied::default(),
        }
    }

    /// The current value of `key` in the environment being built (for `$VAR` expansion).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// Put `entries` in front of list variable `key`. When the variable is unset, `unset_tail`
    /// follows them so the program's default search path is kept (`MANPATH` needs an empty
    /// element, `XDG_DATA_DIRS` the spec's default directories).
    pub fn prepend(&mut self, key: &str, entries: &[String], unset_tail: &[&str]) {
        if entries.is_empty() {
            return;
        }
        // An entry holding `:` is several entries to every program reading the list.
        let entries: Vec<String> = entries
            .iter()
            .flat_map(|e| e.split(':'))
            .map(str::to_string)
            .collect();
        let mut added = entries.clone();
        let value = match self.env.get(key) {
            Some(cur) if !cur.is_empty() => format!("{}:{cur}", entries.join(":")),
            Some(_) => entries.join(":"),
            None => {
                added.extend(unset_tail.iter().map(|s| s.to_string()));
                added.join(":")
            }
        };
        self.record_list(key, added, false);
        self.env.insert(key.to_string(), value);
    }

    /// Set `key` to `value`. When `value` extends the current value with `:` (`x:$PATH` or
    /// `$PATH:x`), only the new entries are recorded, so they alone are removed on revert.
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some(cur) = self.env.get(key).filter(|c| !c.is_empty()).cloned() {
            let added = if let Some(head) = value
                .strip_suffix(cur.as_str())
                .and_then(|h| h.strip_suffix(':'))
            {
                Some((head, false))
            } else {
                value
                    .strip_prefix(cur.as_str())
                    .and_then(|t| t.strip_prefix(':'))
                    .map(|tail| (tail, true))
            };
            if let Some((added, appended)) = added {
                if !self.applied.vars.contains_key(key) {
                    let entries = added.split(':').map(str::to_string).collect();
                    self.record_list(key, entries, appended);
                    self.env.insert(key.to_string(), value.to_string());
                    return;
                }
            }
        }
        self.applied.lists.remove(key);
        if self.base.get(key).map(String::as_str) == Some(value) {
            self.applied.vars.remove(key);
        } else {
            self.applied.vars.insert(
                key.to_string(),
                VarChange {
                    prev: self.base.get(key).cloned(),
                    ours: short_hash(value),
                },
            );
        }
        self.env.insert(key.to_string(), value.to_string());
    }

    fn record_list(&mut self, key: &str, entries: Vec<String>, appended: bool) {
        let was_unset = !self.base.contains_key(key);
        let change = self
            .applied
            .lists
            .entry(key.to_string())
            .or_insert_with(|| ListChange {
                added: Vec::new(),
                was_unset,
                steps: Vec::new(),
                ours: String::new(),
            });
        change.steps.push((appended, entries.len()));
        change.added.extend(entries);
    }

    /// The target environment and the record of how it differs from the pristine one.
    pub fn finish(mut self) -> (Env, Applied) {
        for (key, change) in self.applied.lists.iter_mut() {
            change.ours = self.env.get(key).map(|v| short_hash(v)).unwrap_or_default();
        }
        (self.env, self.applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn revert_keeps_what_the_user_added_inside_the_project() {
        let base = env(&[("PATH", "/usr/bin:/bin"), ("EDITOR", "vi")]);
        let mut b = Builder::new(base.clone());
        b.prepend("PATH", &["/p/bin".into()], &[]);
        b.set("EDITOR", "nano");
        b.set("FOO", "bar");
        let (mut target, applied) = b.finish();
        assert_eq!(target["PATH"], "/p/bin:/usr/bin:/bin");
        // the user prepends their own entry and changes EDITOR while inside
        target.insert("PATH".into(), "/mine:/p/bin:/usr/bin:/bin".into());
        target.insert("EDITOR".into(), "emacs".into());
        let back = revert(&target, &applied);
        assert_eq!(back["PATH"], "/mine:/usr/bin:/bin");
        assert_eq!(back["EDITOR"], "emacs", "a changed value is left alone");
        assert!(!back.contains_key("FOO"));
    }

    #[test]
    fn extending_a_list_records_only_new_entries() {
        let base = env(&[("PATH", "/usr/bin")]);
        let mut b = Builder::new(base.clone());
        b.prepend("PATH", &["/prof/bin".into()], &[]);
        b.set("PATH", "/root/bin:/prof/bin:/usr/bin");
        b.set("LIST", "x");
        let (target, applied) = b.finish();
        assert_eq!(
            applied.lists["PATH"].added,
            vec!["/prof/bin".to_string(), "/root/bin".to_string()]
        );
        assert_eq!(revert(&target, &applied), base);
    }

    #[test]
    fn unset_lists_get_defaults_and_are_unset_again() {
        let base = env(&[]);
        let mut b = Builder::new(base.clone());
        b.prepend("MANPATH", &["/p/share/man".into()], &[""]);
        b.prepend(
            "XDG_DATA_DIRS",
            &["/p/share".into()],
            &["/usr/local/share", "/usr/share"],
        );
        let (target, applied) = b.finish();
        assert_eq!(target["MANPATH"], "/p/share/man:");
        assert_eq!(
            target["XDG_DATA_DIRS"],
            "/p/share:/usr/local/share:/usr/share"
        );
        assert_eq!(revert(&target, &applied), base);
    }

    #[test]
    fn handed_back_names_what_revert_gives_back() {
        let base = env(&[("EDITOR", "vi")]);
        let mut b = Builder::new(base);
        b.prepend("MANPATH", &["/p/man".into()], &[""]);
        b.set("EDITOR", "nano");
        b.set("FOO", "bar");
        let (mut target, applied) = b.finish();
        assert_eq!(
            handed_back(&target, &applied),
            ["EDITOR", "FOO", "MANPATH"].map(String::from).into()
        );
        target.insert("FOO".into(), "mine".into());
        target.insert("MANPATH".into(), "/mine:/p/man:".into());
        assert_eq!(
            handed_back(&target, &applied),
            ["EDITOR".to_string()].into()
        );
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let mut b = Builder::new(env(&[("A", "1")]));
        b.set("A", "2");
        b.prepend("PATH", &["/x".into()], &[]);
        let (_, applied) = b.finish();
        assert_eq!(Applied::decode(&applied.encode()), Some(applied));
        assert_eq!(Applied::decode("not base64 !"), None);
    }

    #[test]
    fn state_stays_small_for_large_values() {
        let big = "x".repeat(200_000);
        let mut b = Builder::new(env(&[]));
        b.set("BIG", &big);
        let (_, applied) = b.finish();
        assert!(applied.encode().len() < 100, "{}", applied.encode().len());
    }

    proptest! {
        #[test]
        fn revert_of_an_untouched_activation_is_the_pristine_env(
            base in proptest::collection::btree_map("[A-E]", "[a-c/:]{0,6}", 0..5),
            ops in proptest::collection::vec(("[A-G]", "[a-c/:]{0,6}", any::<bool>()), 0..8),
        ) {
            let mut b = Builder::new(base.clone());
            for (k, v, is_prepend) in &ops {
                if *is_prepend {
                    b.prepend(k, &[format!("/{v}")], &[]);
                } else {
                    let cur = b.get(k).unwrap_or("").to_string();
                    // sometimes extend, sometimes replace
                    let value = if v.len() % 2 == 0 { format!("{v}:{cur}") } else { v.clone() };
                    b.set(k, &value);
                }
            }
            let (target, applied) = b.finish();
            let back = revert(&target, &applied);
            prop_assert_eq!(back, base);
        }
    }
}
