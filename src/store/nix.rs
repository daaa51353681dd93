//! Living next to an installed Nix: registering what we substitute with Nix's own database (so
//! Nix's GC keeps it), delegating to a Nix daemon that owns `/nix/store`, and building a locked
//! package with the real evaluator when no binary cache has it.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context as _, Result};

use super::Store;

/// Nix's database directory for a store root, when a Nix installation shares the root and this
/// user may write it (single-user Nix, or a chroot store Nix created).
pub fn shared_nix_db(root: &Path) -> Option<PathBuf> {
    let db = root.join("nix/var/nix/db");
    (db.join("db.sqlite").is_file() && super::writable(&db)).then_some(db)
}

/// Register `fetched` (valid in our store) with the Nix installation sharing our root, if any:
/// `nix-store --register-validity --hash-given --reregister`, references-first. Returns whether
/// it did.
pub fn register_with_nix(store: &Store, fetched: &[String]) -> Result<bool> {
    let root = &store.layout().root;
    if shared_nix_db(root).is_none() || which("nix-store").is_none() {
        return Ok(false);
    }
    let wanted: BTreeSet<&String> = fetched.iter().collect();
    let mut input = String::new();
    for p in store.closure(fetched)? {
        if !wanted.contains(&p) {
            continue;
        }
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
        bail!(
            "`nix-store --register-validity` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(true)
}

/// Realize `paths` through the Nix installation (its daemon), passing our caches and keys as
/// extra substituters.
pub fn realize_with_daemon(
    paths: &[String],
    substituters: &[String],
    trusted_keys: &[String],
) -> Result<()> {
    let nix_store = which("nix-store")
        .ok_or_else(|| anyhow!("`nix-store` is not on PATH although a Nix daemon runs"))?;
    let out = Command::new(nix_store)
        .arg("--realise")
        .args(paths)
        .arg("--option")
        .arg("extra-substituters")
        .arg(substituters.join(" "))
        .arg("--option")
        .arg("extra-trusted-public-keys")
        .arg(trusted_keys.join(" "))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("cannot run `nix-store --realise`")?;
    if !out.status.success() {
        bail!(
            "`nix-store --realise` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The absolute path of `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
