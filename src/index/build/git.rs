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

/// `git` writing a checkout slot: with a worker per CPU, as writing a nixpkgs tree (tens of
/// thousands of files) waits on the file system more than on git.
fn git_checkout(repo: &Path, index: &Path, tree: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.args(["-c", "checkout.workers=0"])
        .arg("-C")
        .arg(repo)
        .env("GIT_INDEX_FILE", index)
        .arg("--work-tree")
        .arg(tree);
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
    // `log --no-walk`, not `show -s`: `show` reads the blobs a commit changed, which a mirror
    // may lack; the dates need only the commits.
    let mut args = vec!["log", "--no-walk=unsorted", "--format=%H %ct"];
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
    // Whole seconds in UTC, so RFC 3339 comes out as `…T00:00:00Z`.
    Ok(t.format(&time::format_description::well_known::Rfc3339)?)
}

/// Checkout slots kept between builds of one repository: a later build (another revision, the
/// next week's) rewrites only the files that changed instead of checking out and, at the end,
/// deleting a whole nixpkgs tree. Held by one build at a time.
#[derive(Debug)]
pub struct KeptSlots {
    pub dir: PathBuf,
    _lock: std::fs::File,
}

impl KeptSlots {
    /// The slots of `repo` in `cache` (a directory named after the repository's path), or `None`
    /// while another build holds them (that build then uses slots of its own, as without a cache).
    pub fn hold(cache: &Path, repo: &Path) -> anyhow::Result<Option<KeptSlots>> {
        use fs4::fs_std::FileExt as _;
        use sha2::Digest as _;
        let repo = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
        let key = sha2::Sha256::digest(repo.as_os_str().as_encoded_bytes());
        let dir = cache.join(crate::nix::hash::hex(&key[..8]));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let lock = std::fs::File::create(dir.join("lock"))
            .with_context(|| format!("could not create {}", dir.join("lock").display()))?;
        if !lock.try_lock_exclusive().unwrap_or(false) {
            return Ok(None);
        }
        Ok(Some(KeptSlots { dir, _lock: lock }))
    }
}

/// The work tree of a checkout slot.
pub fn checkout_tree(slot: &Path) -> PathBuf {
    slot.join("tree")
}

/// Make the work tree of `slot` hold exactly the tree of `rev`, rewriting only files that differ
/// from what the slot held before (its own index file records that). The repository's own index,
/// work tree and worktree list are not touched.
///
/// Mirrors often lack some blobs (a partial clone, or a host that drops nixpkgs' largest
/// generated file). A missing `.nix` file is written as an expression that throws, naming the
/// file and object, so the attributes that read it fail to evaluate (and are listed as failed)
/// while the rest of the revision is indexed; no output path can be computed from such a
/// placeholder. Any other missing object (a commit, a tree, a patch or source file that would be
/// hashed into an output path) fails the revision with the paths named.
/// Returns the `.nix` files written as placeholders (usually none).
pub fn checkout(repo: &Path, rev: &str, slot: &Path) -> anyhow::Result<Vec<String>> {
    let tree = checkout_tree(slot);
    std::fs::create_dir_all(&tree)
        .with_context(|| format!("could not create {}", tree.display()))?;
    let out = git_checkout(repo, &slot.join("index"), &tree)
        .args(["read-tree", "--reset", "-u", rev])
        .stdin(Stdio::null())
        .output()
        .context("could not run git")?;
    if !out.status.success() {
        let first = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return checkout_anew(repo, rev, slot, &first);
    }
    Ok(Vec::new())
}

/// The blobs of `rev`'s tree the repository does not have, as (path, object).
fn missing_blobs(repo: &Path, rev: &str) -> anyhow::Result<Vec<(String, String)>> {
    let listing = run_git(repo, &["ls-tree", "-r", "-z", "--full-tree", rev])?;
    let entries: Vec<(String, String)> = listing
        .split('\0')
        .filter_map(|e| {
            let (meta, path) = e.split_once('\t')?;
            let mut fields = meta.split(' ');
            let (_mode, kind, object) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == "blob").then(|| (path.to_owned(), object.to_owned()))
        })
        .collect();
    let mut child = git(repo)
        .args(["cat-file", "--batch-check=%(objectname)"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("could not run git")?;
    let mut stdin = child.stdin.take().context("git cat-file has no stdin")?;
    let objects: String = entries.iter().map(|(_, o)| format!("{o}\n")).collect();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(objects.as_bytes())
    });
    let out = child.wait_with_output().context("could not run git")?;
    writer.join().expect("writer thread")?;
    let answers = String::from_utf8_lossy(&out.stdout);
    let missing: std::collections::BTreeSet<&str> = answers
        .lines()
        .filter_map(|l| l.strip_suffix(" missing"))
        .collect();
    Ok(entries
        .into_iter()
        .filter(|(_, o)| missing.contains(o.as_str()))
        .collect())
}

/// Check `rev` out into an emptied slot, writing a throwing placeholder for each missing `.nix`
/// blob; `first` is why the ordinary checkout failed.
fn checkout_anew(repo: &Path, rev: &str, slot: &Path, first: &str) -> anyhow::Result<Vec<String>> {
    let tree = checkout_tree(slot);
    let missing = missing_blobs(repo, rev)
        .with_context(|| format!("revision {rev} cannot be read from the repository ({first})"))?;
    let unusable: Vec<&str> = missing
        .iter()
        .filter(|(p, _)| !p.ends_with(".nix"))
        .map(|(p, _)| p.as_str())
        .collect();
    if !unusable.is_empty() {
        bail!(
            "it cannot be checked out: the repository lacks the git objects of {}, which output paths are computed from; fetch them from a complete clone of nixpkgs, or leave this revision out",
            unusable.join(", ")
        );
    }
    let _ = std::fs::remove_dir_all(&tree);
    let _ = std::fs::remove_file(slot.join("index"));
    std::fs::create_dir_all(&tree)
        .with_context(|| format!("could not create {}", tree.display()))?;
    let index = slot.join("index");
    let step = |args: &[&str]| -> anyhow::Result<()> {
        let out = git_checkout(repo, &index, &tree)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("could not run git")?;
        if !out.status.success() {
            bail!(
                "checking out revision {rev} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    step(&["read-tree", "--reset", rev])?;
    if missing.is_empty() {
        // The first attempt failed for another reason (files of the previous revision in the
        // way): an emptied slot takes the whole tree.
        step(&["checkout-index", "--all", "--force"])?;
        return Ok(Vec::new());
    }
    let mut remove = vec!["update-index", "--force-remove", "--"];
    remove.extend(missing.iter().map(|(p, _)| p.as_str()));
    step(&remove)?;
    step(&["checkout-index", "--all", "--force"])?;
    for (path, object) in &missing {
        let file = tree.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(
            &file,
            format!("throw \"{path} (git object {object}) is missing from the repository\"\n"),
        )
        .with_context(|| format!("could not write {}", file.display()))?;
    }
    Ok(missing.into_iter().map(|(p, _)| p).collect())
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
