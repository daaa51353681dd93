//! The id of the running kernel's boot, which tells "registered in this boot" from "registered
//! before a restart" for the store (see `store::durability`) and tells a namespace holder's
//! record from one written before a restart. Linux has it in `/proc`; macOS has
//! `kern.bootsessionuuid` (read with `sysctl`, so no `unsafe` is needed for a call made once per
//! invocation); elsewhere it is unknown, and fetched paths are flushed before they are
//! registered instead.

/// The boot id as the kernel gives it, if it can be known.
#[cfg(target_os = "linux")]
pub fn kernel_boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The boot id as the kernel gives it, if it can be known.
#[cfg(target_vendor = "apple")]
pub fn kernel_boot_id() -> Option<String> {
    let out = std::process::Command::new("/usr/sbin/sysctl")
        .args(["-n", "kern.bootsessionuuid"])
        .output()
        .ok()?;
    let id = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !id.is_empty()).then_some(id)
}

/// Unknown on this system.
#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
pub fn kernel_boot_id() -> Option<String> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_boot_id_is_known_and_stable() {
        let id = super::kernel_boot_id().expect("Linux has a boot id");
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(super::kernel_boot_id(), Some(id));
    }
}
