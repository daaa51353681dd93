//! The Linux namespace: `unshare(CLONE_NEWUSER | CLONE_NEWNS)` (in `sys`, the one `unsafe`
//! call), a uid/gid map of the caller onto itself, then the store's `nix` directory mounted at
//! `/nix`: bound over `/nix` when it exists, else under a private root (a tmpfs holding bind
//! mounts of every entry of `/` plus `nix`) switched to with `pivot_root`, not `chroot`, so
//! programs inside may still create user namespaces of their own.

use std::fs;
use std::path::Path;

use rustix::mount::{MountFlags, UnmountFlags};

use super::Blocked;

/// Where the private root's tmpfs is mounted: a directory of the store root, so it exists
/// wherever the store does and belongs to its user.
const PRIVATE_ROOT: &str = ".namespace-root";
/// What `unshare` failing means, in [`diagnose`]'s words.
const UNSHARING: &str = "cannot create a user namespace";
/// Where the old root goes during `pivot_root`, inside the private root.
const OLD_ROOT: &str = ".old-root";

pub(super) fn enter(nix_dir: &Path) -> Result<(), Blocked> {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let cwd = std::env::current_dir().ok();
    crate::sys::unshare_user_and_mount().map_err(|e| diagnose(UNSHARING, e))?;
    // Without `deny`, an unprivileged process may not write a gid map.
    match fs::write("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(diagnose("cannot set up the user namespace", e))
        }
        _ => {}
    }
    fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))
        .map_err(|e| diagnose("cannot map the user id in the namespace", e))?;
    fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n"))
        .map_err(|e| diagnose("cannot map the group id in the namespace", e))?;
    let mounting = |e: std::io::Error| diagnose("cannot mount in the namespace", e);
    // No `mount --make-rprivate /`: a mount namespace made together with a user namespace gets
    // its shared mounts as slaves already (nothing done here reaches the parent), and walking
    // every mount of the machine would cost each program start a good part of a millisecond.
    if Path::new("/nix").is_dir() {
        rustix::mount::mount_bind_recursive(nix_dir, "/nix").map_err(|e| mounting(e.into()))?;
    } else {
        private_root(nix_dir).map_err(mounting)?;
    }
    if let Some(cwd) = cwd {
        // The same path names the same directory again (bind mounts of every entry of `/`).
        let _ = std::env::set_current_dir(cwd);
    }
    Ok(())
}

/// A user + mount namespace with a mount in it, in this (throwaway) process.
pub(super) fn probe() -> Result<(), Blocked> {
    let uid = rustix::process::getuid().as_raw();
    crate::sys::unshare_user_and_mount().map_err(|e| diagnose(UNSHARING, e))?;
    let _ = fs::write("/proc/self/setgroups", "deny");
    fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n"))
        .map_err(|e| diagnose("cannot map the user id in the namespace", e))?;
    rustix::mount::mount(
        "devenv",
        std::env::temp_dir(),
        "tmpfs",
        MountFlags::empty(),
        None,
    )
    .map_err(|e| diagnose("cannot mount in the namespace", e.into()))
}

/// `/` again, made of bind mounts, with the store's `nix` directory added as `/nix`.
fn private_root(nix_dir: &Path) -> std::io::Result<()> {
    let store_root = nix_dir.parent().unwrap_or(Path::new("/"));
    let new = store_root.join(PRIVATE_ROOT);
    if !new.is_dir() {
        fs::create_dir_all(&new)?;
    }
    rustix::mount::mount(
        "devenv",
        &new,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(c"mode=0755"),
    )?;
    for entry in fs::read_dir("/")? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "nix" {
            continue;
        }
        let from = Path::new("/").join(&name);
        let to = new.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if kind.is_dir() {
            fs::create_dir(&to)?;
            rustix::mount::mount_bind_recursive(&from, &to)?;
        } else {
            fs::File::create(&to)?;
            rustix::mount::mount_bind(&from, &to)?;
        }
    }
    let nix = new.join("nix");
    fs::create_dir(&nix)?;
    rustix::mount::mount_bind_recursive(nix_dir, &nix)?;
    let old = new.join(OLD_ROOT);
    fs::create_dir(&old)?;
    rustix::process::pivot_root(&new, &old)?;
    rustix::process::chdir("/")?;
    let old = Path::new("/").join(OLD_ROOT);
    rustix::mount::unmount(&old, UnmountFlags::DETACH)?;
    fs::remove_dir(&old)?;
    // Nothing is added to the new `/` from here on.
    rustix::mount::mount_remount(
        "/",
        MountFlags::BIND | MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV,
        "",
    )?;
    Ok(())
}

/// The kernel's refusal `e` while `doing`, with the setting that explains it when one does.
fn diagnose(doing: &str, e: std::io::Error) -> Blocked {
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    let (setting, apparmor) = if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0")
    {
        (Some("user.max_user_namespaces = 0".to_string()), false)
    } else if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        (
            Some("kernel.unprivileged_userns_clone = 0".to_string()),
            false,
        )
    } else if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1")
    {
        (
            Some("kernel.apparmor_restrict_unprivileged_userns = 1".to_string()),
            true,
        )
    } else {
        (None, false)
    };
    use rustix::io::Errno;
    let refused = e.raw_os_error().is_some_and(|n| {
        [Errno::PERM, Errno::ACCESS, Errno::NOSPC, Errno::USERS]
            .contains(&Errno::from_raw_os_error(n))
    });
    let cause = match &setting {
        Some(s) => format!("{doing} ({e}); this system forbids unprivileged user namespaces ({s})"),
        None if !refused => format!("{doing} ({e})"),
        None => format!(
            "{doing} ({e}); unprivileged user namespaces are not allowed here (a container or \
             security policy without the capability)"
        ),
    };
    Blocked {
        threads: doing == UNSHARING && e.raw_os_error() == Some(Errno::INVAL.raw_os_error()),
        forbidden: refused || setting.is_some(),
        setting,
        cause,
        apparmor,
    }
}
