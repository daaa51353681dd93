//! Living next to an installed Nix: registering what we substitute with Nix's own database (so
//! Nix's GC keeps it), adopting what Nix already has, and building a package with the real
//! evaluator when no binary cache has it. (Handing everything to a Nix daemon is `daemon`.)

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context as _, Result};

use super::{LocalStore, StoreError};

/// Nix's database directory for a store root, when a Nix installation shares the root and this
/// user may write it (single-user Nix, or a chroot store Nix created).
pub fn shared_nix_db(root: &Path) -> Option<PathBuf> {
    let db = root.join("nix/var/nix/db");
    (db.join("db.sqlite").is_file() && super::layout::writable(&db)).then_some(db)
}

/// Register the closure of `paths` (valid in our store) with the Nix installation sharing our
/// root, if any: the part Nix does not know yet, references first, with
/// `nix-store --register-validity --hash-given --reregister`. Also catches up paths fetched by
/// an earlier run that was killed before this step. Returns whether it registered anything.
pub fn register_with_nix(store: &LocalStore, paths: &[String]) -> Result<bool> {
    let root = &store.layout().root;
    if shared_nix_db(root).is_none() {
        return Ok(false);
    }
    let unknown: Vec<String> = store
        .closure(paths)?
        .into_iter()
        .filter(|p| nix_valid_info(root, p).is_none())
        .collect();
    if unknown.is_empty() || which("nix-store").is_none() {
        return Ok(false);
    }
    // Nix cannot tell after a restart that these were registered before their files reached
    // the disk, so they must reach it first.
    super::durability::flush_all(store)?;
    let mut input = String::new();
    for p in unknown {
        let info = store
            .path_info(&p)?
            .with_context(|| format!("`{p}` vanished from the store"))?;
        input.push_str(&format!(
            "{}\n{}\n{}\n{}\n{}\n",
            info.path,
            info.nar_hash_hex,
            info.nar_size,
            info.deriver.as_deref().unwrap_or(""),
            info.references.len()
        ));
        for r in &info.references {
            input.push_str(r);
            input.push('\n');
        }
    }
    let mut cmd = Command::new("nix-store");
    if root != Path::new("/") {
        cmd.arg("--store").arg(root);
    }
    cmd.args(["--register-validity", "--hash-given", "--reregister"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .context("cannot run `nix-store --register-validity`")?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(failed("nix-store --register-validity".into(), &out.stderr));
    }
    Ok(true)
}

/// A Nix command that exited with an error, with what it printed.
pub(super) fn failed(command: String, stderr: &[u8]) -> anyhow::Error {
    StoreError::Nix {
        command,
        stderr: String::from_utf8_lossy(stderr).trim().to_string(),
    }
    .into()
}

/// The absolute path of `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Build `installable` (a lock entry's `resolved`, e.g. `github:NixOS/nixpkgs/<rev>#jq`) with the
/// installed Nix and return the output paths it printed.
pub fn build_with_nix(installable: &str) -> Result<Vec<String>> {
    let nix = which("nix").ok_or_else(|| anyhow!("`nix` is not installed"))?;
    let out = Command::new(nix)
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "build",
            "--no-link",
            "--json",
            installable,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `nix build`")?;
    if !out.status.success() {
        return Err(failed(format!("nix build {installable}"), &out.stderr));
    }
    // `[{"drvPath": …, "outputs": {"out": "/nix/store/…", …}}, …]`
    let built: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`nix build {installable} --json` printed no JSON"))?;
    let mut paths: Vec<String> = built
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("outputs").and_then(|o| o.as_object()))
        .flat_map(|o| o.values().filter_map(|p| p.as_str().map(str::to_string)))
        .collect();
    paths.sort();
    Ok(paths)
}

fn nix_store_query(args: &[&str]) -> Result<String> {
    let out = Command::new("nix-store")
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `nix-store`")?;
    if !out.status.success() {
        return Err(failed(format!("nix-store {}", args.join(" ")), &out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Copy `paths` and their closures from the installed Nix's store into ours: each NAR comes
/// from `nix-store --dump`, is checked against the hash and size Nix recorded, unpacked and
/// registered exactly like a substituted path. Returns the paths copied.
pub fn import_from_nix(store: &LocalStore, paths: &[String]) -> Result<Vec<String>> {
    let mut args = vec!["-q", "--requisites"];
    args.extend(paths.iter().map(String::as_str));
    let closure: Vec<String> = nix_store_query(&args)?
        .lines()
        .map(str::to_string)
        .collect();
    // Nix prints requisites references-first.
    let mut copied = Vec::new();
    for path in closure {
        if store.is_valid_path(&path)? {
            continue;
        }
        let sp =
            crate::nix::store_path::StorePath::parse_absolute(&path).map_err(|e| anyhow!("{e}"))?;
        let _lock =
            super::locks::exclusive(&super::locks::path_lock(store.state_dir(), &sp.hash_part()))?;
        if store.is_valid_path(&path)? {
            continue;
        }
        let hash = nix_store_query(&["-q", "--hash", &path])?;
        let nar_hash = crate::nix::hash::Sha256Hash::parse(&hash)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("Nix reported an unreadable hash for `{path}`"))?;
        let nar_size: u64 = nix_store_query(&["-q", "--size", &path])?
            .parse()
            .with_context(|| format!("Nix reported an unreadable size for `{path}`"))?;
        let references: Vec<String> = nix_store_query(&["-q", "--references", &path])?
            .lines()
            .map(str::to_string)
            .collect();
        let deriver = nix_store_query(&["-q", "--deriver", &path])
            .ok()
            .filter(|d| d.starts_with('/'));
        if adopt_or_clear(store, &path)? {
            continue;
        }
        let tmp = super::substitute::tmp_path(store, &sp.hash_part());
        let mut child = Command::new("nix-store")
            .args(["--dump", &path])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run `nix-store --dump`")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let unpacked = super::substitute::unpack_checked(
            stdout,
            &nar_hash,
            nar_size,
            &tmp,
            &super::NoProgress,
        );
        let status = child.wait()?;
        if let Err(fault) = unpacked {
            let _ = super::substitute::remove_tree(&tmp);
            return Err(fault
                .into_error()
                .context(format!("cannot import `{path}` from Nix")));
        }
        if !status.success() {
            let _ = super::substitute::remove_tree(&tmp);
            bail!("`nix-store --dump {path}` failed");
        }
        super::substitute::commit(
            store,
            &tmp,
            &super::db::PathInfo {
                path: path.clone(),
                nar_hash_hex: format!("sha256:{}", nar_hash.to_hex()),
                nar_size,
                references,
                deriver,
                sigs: Vec::new(),
                ca: None,
                registration_time: super::db::now_secs(),
            },
        )?;
        copied.push(path);
    }
    Ok(copied)
}

/// What the Nix installation sharing `root` records about `path`, if it has it valid. Read-only;
/// used to adopt a path Nix already put on disk instead of replacing it.
pub fn nix_valid_info(root: &Path, path: &str) -> Option<super::db::PathInfo> {
    let db = root.join("nix/var/nix/db/db.sqlite");
    if !db.is_file() {
        return None;
    }
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let _ = conn.busy_timeout(std::time::Duration::from_secs(60));
    super::db::read_path_info(&conn, path).ok().flatten()
}

/// A path already on disk under our root: adopt it when the Nix sharing the root has it valid
/// (register Nix's metadata; returns true), else delete it (a leftover of a killed process that
/// was never registered) so a verified copy can take its place.
pub fn adopt_or_clear(store: &LocalStore, path: &str) -> Result<bool> {
    let final_path = store.layout().real_path(path);
    if std::fs::symlink_metadata(&final_path).is_err() {
        return Ok(false);
    }
    if let Some(info) = nix_valid_info(&store.layout().root, path) {
        store.register(&info)?;
        return Ok(true);
    }
    super::substitute::remove_tree(&final_path)?;
    Ok(false)
}

/// Build `installable` with Nix, check it produced every path in `wanted`, and import the
/// results (with their closures) into our store.
pub fn build_and_import(
    store: &LocalStore,
    installable: &str,
    wanted: &[String],
) -> Result<Vec<String>, StoreError> {
    let built = build_checked(installable, wanted)?;
    import_from_nix(store, &built)
        .with_context(|| format!("cannot import the build of `{installable}`"))?;
    Ok(built)
}

/// Build `installable` with Nix (into the store Nix uses) and check it produced every path in
/// `wanted`; returns the paths built.
pub fn build_checked(installable: &str, wanted: &[String]) -> Result<Vec<String>, StoreError> {
    let built = build_with_nix(installable)?;
    if let Some(w) = wanted.iter().find(|w| !built.contains(w)) {
        return Err(StoreError::BuildMismatch {
            installable: installable.to_string(),
            built,
            wanted: w.clone(),
        });
    }
    Ok(built)
}

/// Mirror our GC roots into the Nix installation sharing the root, as symlinks
/// `<root>/nix/var/nix/gcroots/devenv/<base name> -> /nix/store/<base name>`, so Nix's garbage
/// collector keeps exactly what devenv's roots keep. No-op without a shared Nix.
pub fn sync_nix_roots(store: &LocalStore) -> Result<()> {
    let root = &store.layout().root;
    if shared_nix_db(root).is_none() {
        return Ok(());
    }
    let dir = root.join("nix/var/nix/gcroots/devenv");
    crate::fsutil::create_dir_all_with_mode(&dir, super::PUBLIC_DIR)
        .with_context(|| format!("cannot create `{}`", dir.display()))?;
    let mut wanted = BTreeSet::new();
    for r in store.gc_roots()? {
        for p in r.paths {
            if store.is_valid_path(&p)? {
                wanted.insert(p);
            }
        }
    }
    let mut present = BTreeSet::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let target = format!("{}/{name}", super::layout::STORE_DIR);
        let points_right = std::fs::read_link(entry.path()).is_ok_and(|t| t == Path::new(&target));
        if wanted.contains(&target) && points_right {
            present.insert(target);
        } else {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove `{}`", entry.path().display()))?;
        }
    }
    for p in wanted.difference(&present) {
        let name = p
            .trim_start_matches(super::layout::STORE_DIR)
            .trim_start_matches('/');
        std::os::unix::fs::symlink(p, dir.join(name))
            .with_context(|| format!("cannot create a Nix GC root for `{p}`"))?;
    }
    Ok(())
}

/// If the Nix sharing our root has `path` valid (and so its whole closure), register that
/// closure with us, references first, without downloading anything. Returns whether it did.
pub fn adopt_closure(store: &LocalStore, path: &str) -> Result<bool> {
    let root = store.layout().root.clone();
    if shared_nix_db(&root).is_none() || nix_valid_info(&root, path).is_none() {
        return Ok(false);
    }
    // Iterative post-order walk over Nix's references.
    let mut order: Vec<super::db::PathInfo> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack: Vec<(String, bool)> = vec![(path.to_string(), false)];
    while let Some((p, expanded)) = stack.pop() {
        if expanded {
            let info = nix_valid_info(&root, &p)
                .with_context(|| format!("`{p}` vanished from Nix's database"))?;
            order.push(info);
            continue;
        }
        if !seen.insert(p.clone()) || store.is_valid_path(&p)? {
            continue;
        }
        let info = match nix_valid_info(&root, &p) {
            Some(i) if store.layout().real_path(&p).exists() => i,
            _ => return Ok(false),
        };
        stack.push((p.clone(), true));
        for r in info.references.iter().filter(|r| **r != p) {
            stack.push((r.clone(), false));
        }
    }
    for info in order {
        store.register(&info)?;
    }
    Ok(true)
}

/// The outputs of `installable` as the installed Nix evaluates them, without building: each
/// output's name and store path, and whether Nix installs it by default
/// (`meta.outputsToInstall`, else the first output).
pub fn eval_outputs(installable: &str) -> Result<Vec<(String, String, bool)>> {
    let nix = which("nix").ok_or_else(|| anyhow!("`nix` is not installed"))?;
    let apply = "p: let outs = p.outputs or [\"out\"]; in { \
        paths = builtins.listToAttrs (map (o: { name = o; value = p.${o}.outPath; }) outs); \
        install = p.meta.outputsToInstall or [ (builtins.head outs) ]; }";
    let out = Command::new(nix)
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "eval",
            "--json",
            installable,
            "--apply",
            apply,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `nix eval`")?;
    if !out.status.success() {
        return Err(failed(format!("nix eval {installable}"), &out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("`nix eval {installable}` printed no JSON"))?;
    let install: Vec<&str> = v["install"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o.as_str())
        .collect();
    Ok(v["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, p)| {
            let path = p.as_str()?.to_string();
            Some((name.clone(), path, install.contains(&name.as_str())))
        })
        .collect())
}
