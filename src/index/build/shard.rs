//! `--shard K/N`: which (revision, system) evaluations one of N build machines does.
//!
//! A pair belongs to shard `1 + (h mod N)`, where `h` is the first 8 bytes (big-endian) of the
//! SHA-256 of `<40-hex rev>/<system>`. A hash of the pair alone, rather than a position in a
//! sorted list, so a pair's shard never depends on how revisions were listed or on which other
//! revisions were asked for: rerunning a shard over a longer range keeps the work it already did,
//! and every machine computes the same split without talking to the others. The price is that a
//! handful of pairs can split unevenly; over the hundreds a history has, shares even out.

use anyhow::anyhow;
use sha2::{Digest, Sha256};

use crate::diagnostic::ResultExt;

/// The key `index.json` of a shard's output carries (`"shard": "K/N"`), so that `index merge`
/// knows which outputs belong together and a plain build never extends one by mistake.
pub const KEY: &str = "shard";

/// Shard `k` of `n` (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl Default for Shard {
    /// 1/1: everything, an ordinary build.
    fn default() -> Self {
        Shard { k: 1, n: 1 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

impl std::str::FromStr for Shard {
    type Err = anyhow::Error;

    /// `K/N` with 1 ≤ K ≤ N.
    fn from_str(text: &str) -> anyhow::Result<Shard> {
        let bad = |why: &str| {
            Err(anyhow!("--shard `{text}` is not a shard: {why}"))
                .hint(
                    "write K/N with 1 <= K <= N, e.g. --shard 2/8 for the second of eight machines",
                )
                .bad_input()
        };
        let Some((k, n)) = text.trim().split_once('/') else {
            return bad("it has no `/`");
        };
        let (Ok(k), Ok(n)) = (k.trim().parse::<u64>(), n.trim().parse::<u64>()) else {
            return bad("K and N must be whole numbers");
        };
        if n == 0 || k == 0 {
            return bad("shards are counted from 1");
        }
        if k > n {
            return bad("K is larger than N");
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// Whether this shard evaluates `rev` (40 hex) for `system`.
    pub fn owns(&self, rev: &str, system: &str) -> bool {
        self.n == 1 || self.of(rev, system) == self.k
    }

    /// The shard (1-based) of `n` that a pair belongs to.
    fn of(&self, rev: &str, system: &str) -> u64 {
        let digest = Sha256::digest(format!("{rev}/{system}").as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        1 + u64::from_be_bytes(first) % self.n
    }

    /// Whether this is a share of a build rather than all of it.
    pub fn is_partial(&self) -> bool {
        self.n > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n_and_refuses_the_rest() {
        assert_eq!("2/8".parse::<Shard>().unwrap(), Shard { k: 2, n: 8 });
        assert_eq!(" 1 / 1 ".parse::<Shard>().unwrap(), Shard::default());
        for bad in ["0/2", "3/2", "1/0", "0/0", "a/b", "2", "", "-1/2", "1/2/3"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(
                format!("{e:#}").contains(&format!("`{bad}`")),
                "{bad}: {e:#}"
            );
        }
    }

    #[test]
    fn every_pair_has_exactly_one_shard_whatever_else_is_asked_for() {
        let revs: Vec<String> = (0..50).map(|i| format!("{i:040x}")).collect();
        for n in 1..6 {
            for rev in &revs {
                for system in ["x86_64-linux", "aarch64-darwin"] {
                    let owners = (1..=n).filter(|&k| Shard { k, n }.owns(rev, system));
                    assert_eq!(owners.count(), 1, "{rev} {system} of {n}");
                }
            }
        }
        // Spread: 100 pairs over 4 shards, none empty.
        for k in 1..=4 {
            let share = Shard { k, n: 4 };
            let count = revs
                .iter()
                .flat_map(|r| ["x86_64-linux", "aarch64-darwin"].map(|s| (r, s)))
                .filter(|(r, s)| share.owns(r, s))
                .count();
            assert!((10..=40).contains(&count), "shard {k}/4 has {count} of 100");
        }
    }

    #[test]
    fn the_rule_is_fixed() {
        // Pinned so that a change of the rule, which would redo every shard's work, is seen.
        let rev = "3092d86575b19fb5961abbefdf43941100c09ec8";
        let shards: Vec<u64> = ["x86_64-linux", "aarch64-linux", "x86_64-darwin"]
            .iter()
            .map(|s| Shard { k: 1, n: 4 }.of(rev, s))
            .collect();
        assert_eq!(shards, PINNED);
    }

    const PINNED: [u64; 3] = [3, 3, 1];
}
