//! Nix system names (`x86_64-linux`, …): which ones a lock covers and which one this machine is.

/// The systems every lock entry is resolved for, so one lock serves Linux and macOS colleagues.
pub const LOCK_SYSTEMS: [&str; 4] = [
    "aarch64-darwin",
    "aarch64-linux",
    "x86_64-darwin",
    "x86_64-linux",
];

/// Every system name `platforms` / `excluded_platforms` may name.
pub const KNOWN_SYSTEMS: [&str; 6] = [
    "aarch64-darwin",
    "aarch64-linux",
    "armv7l-linux",
    "i686-linux",
    "x86_64-darwin",
    "x86_64-linux",
];

/// The Nix system of the running binary, e.g. `x86_64-linux`.
pub fn current() -> String {
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        other => other,
    };
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    format!("{arch}-{os}")
}

/// Whether `name` is a system devenv knows.
pub fn is_known(name: &str) -> bool {
    KNOWN_SYSTEMS.contains(&name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn current_system_is_known() {
        assert!(super::is_known(&super::current()));
    }
}
