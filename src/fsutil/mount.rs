//! What a file system's mount options allow, for the store: whether programs may run from it.
//! Linux reports `noexec` in `statvfs`'s flags; elsewhere (macOS's `statvfs` has no such flag,
//! its `statfs` does as `MNT_NOEXEC`) the answer is "not known", taken as allowed.

use std::path::Path;

/// Whether `dir` is on a file system mounted `noexec`.
#[cfg(target_os = "linux")]
pub fn is_noexec(dir: &Path) -> bool {
    rustix::fs::statvfs(dir)
        .is_ok_and(|st| st.f_flag.contains(rustix::fs::StatVfsMountFlags::NOEXEC))
}

/// Not known on this system: taken as allowed.
#[cfg(not(target_os = "linux"))]
pub fn is_noexec(_dir: &Path) -> bool {
    false
}
