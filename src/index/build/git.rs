//! The nixpkgs checkout as `index build` sees it: revision arguments (`A..B` ranges and single
//! revisions) resolved to full commit hashes with their commit dates, and a commit's tree written
//! to a directory (a reusable checkout slot with its own index file, or a one-off `git archive`),
//! leaving the user's checkout, its index and its worktree list alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::diagnostic::ResultExt;

/// A commit to index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision {
    /// 40 lowercase hex digits.
    pub rev: String,
    /// RFC 3339 UTC commit date, like `2024-06-01T00:00:00Z`.
    pub last_modified: String,
}

fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo);
    cmd
}

fn run_git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = git(repo)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("could not run git")
        .hint("index build needs git on PATH")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed in {}: {}",
            args.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Check that `repo` is a git checkout.
pub fn check_repo(repo: &Path) -> anyhow::Result<()> {
    run_git(repo, &["rev-parse", "--git-dir"])
        .with_context(|| format!("{} is not a git checkout of nixpkgs", repo.display()))
        .hint("pass --nixpkgs <dir of a git clone>")
        .bad_input()
        .map(|_| ())
}

/// Resolve `--revs A..B` ranges (oldest first) and `--rev R` arguments to commits, without
/// duplicates, in the order given.
pub fn resolve(repo: &Path, ranges: &[String], revs: &[String]) -> anyhow::Result<Vec<Revision>> {
    let mut hashes: Vec<String> = Vec::new();
    for range in ranges {
        if !range.contains("..") {
            return Err(anyhow::anyhow!("`{range}` is not a revision range"))
                .hint("write a range as A..B (the commits after A up to B), or use --rev R")
                .bad_input();
        }
        let out = run_git(repo, &["rev-list", "--reverse", range])
            .with_context(|| format!("could not list the revisions in `{range}`"))
            .bad_input()?;
        hashes.extend(out.lines().map(str::to_owned));
    }
    for rev in revs {
        let spec = format!("{rev}^{{commit}}");
        let out = run_git(repo, &["rev-parse", "--verify", "--quiet", &spec])
            .with_context(|| format!("`{rev}` is not a commit in {}", repo.display()))
            .hint("fetch it first, or check the spelling of the revision")
            .bad_input()?;
        hashes.push(out.trim().to_owned());
    }
    let mut seen = std::collections::BTreeSet::new();
    hashes.retain(|h| seen.insert(h.clone()));
    if hashes.is_empty() {
        return Err(anyhow::anyhow!("no revisions to index"))
            .hint("pass --revs A..B or --rev R (a range A..A is empty)")
            .bad_input();
    }
    let mut args = vec!["show", "-s", "--format=%H %ct"];
    args.extend(hashes.iter().map(String::as_str));
    let out = run_git(repo, &args)?;
    out.lines()
        .map(|line| {
            let (rev, secs) = line
                .split_once(' ')
                .context("unexpected `git show` output")?;
            Ok(Revision {
                rev: rev.to_owned(),
                last_modified: rfc3339(secs.parse().context("unexpected commit time")?)?,
            })
        })
        .collect()
}

/// Format Unix seconds as RFC 3339 UTC with a `Z`, the form every index and lock file uses.
pub fn rfc3339(secs: i64) -> anyhow::Result<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs)?;
    Ok(t.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))?)
}

/// The work tree of a checkout slot.
pub fn checkout_tree(slot: &Path) -> PathBuf {
    slot.join("tree")
}

/// Make the work tree of `slot` hold exactly the tree of `rev`, rewriting only files that differ
/// from what the slot held before (its own index file records that). The repository's own index,
/// work tree and worktree list are not touched.
pub fn checkout(repo: &Path, rev: &str, slot: &Path) -> anyhow::Result<PathBuf> {
    let tree = checkout_tree(slot);
    std::fs::create_dir_all(&tree)
        .with_context(|| format!("could not create {}", tree.display()))?;
    let out = git(repo)
        .env("GIT_INDEX_FILE", slot.join("index"))
        .arg("--work-tree")
        .arg(&tree)
        .args(["read-tree", "--reset", "-u", rev])
        .stdin(Stdio::null())
        .output()
        .context("could not run git")?;
    if !out.status.success() {
        bail!(
            "checking out revision {rev} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(tree)
}

/// Export the tree of `rev` into a new directory under `parent` and return its path.
pub fn export(repo: &Path, rev: &str, parent: &Path) -> anyhow::Result<PathBuf> {
    let dest = parent.join(rev);
    std::fs::create_dir_all(&dest)?;
    let mut archive = git(repo)
        .args(["archive", "--format=tar", rev])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not run git archive")?;
    let stdout = archive.stdout.take().context("git archive has no stdout")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&dest)
        .stdin(stdout)
        .output()
        .context("could not run tar")?;
    let archived = archive.wait_with_output()?;
    if !archived.status.success() {
        bail!(
            "git archive {rev} failed: {}",
            String::from_utf8_lossy(&archived.stderr).trim()
        );
    }
    if !tar.status.success() {
        bail!(
            "unpacking revision {rev} failed: {}",
            String::from_utf8_lossy(&tar.stderr).trim()
        );
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_717_200_000).unwrap(), "2024-06-01T00:00:00Z");
    }
}
