//! The only module with `unsafe` code: the C library calls that `rustix` (through which every
//! other system call goes) does not offer. The crate denies `unsafe_code` everywhere else
//! (`#![deny(unsafe_code)]` in `lib.rs`, allowed for this module alone, and
//! `tests/unsafe_code.rs` checks that no other file opts out), so the blocks below are all the
//! `unsafe` there is to audit.
//!
//! * [`user_name`] asks the user database with `getpwuid_r`. Only the C library can answer: it
//!   goes through NSS (`/etc/passwd`, but also LDAP, systemd-homed and whatever else
//!   `nsswitch.conf` names), so reading `/etc/passwd` instead would miss users.
//! * [`unshare_user_and_mount`] calls `unshare`, which `rustix` marks `unsafe` only because
//!   of a flag this call does not use (see its block).
//! * [`close_fds_above_stdio`] and [`redirect_stdout`] let the namespace holder, a process
//!   that lives long, let go of the descriptors it inherited: closing or replacing a
//!   descriptor the process does not own as a Rust value has no safe form.

use std::ffi::{c_char, CStr};

/// Room for one user database entry. Entries are a few dozen bytes; one that does not fit
/// (`ERANGE`) is reported as unknown, which only costs a message its user name.
const ENTRY_BUF: usize = 4096;

/// The login name of user `uid`, or `None` when the user database does not know it.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let mut buf: Vec<c_char> = vec![0; ENTRY_BUF];
    // SAFETY (audited):
    // * `passwd` is a plain C struct of integers and pointers, so all-zero bytes are a valid
    //   value for the out-parameter `pwd`, which lives on this stack frame for the whole call;
    // * `buf` is a live allocation of exactly `buf.len()` bytes, and that length is what the
    //   call is told, so it cannot write past it; `buf` outlives every use of `pwd`;
    // * `getpwuid_r` is the reentrant variant: it keeps no state between calls and writes only
    //   through the pointers it is given, so concurrent calls from other threads are fine;
    // * `pwd.pw_name` is read only when the call returned 0 and set `result` (so `pwd` was
    //   filled in) and is not null; it then points to a NUL-terminated string inside `buf`,
    //   which `CStr::from_ptr` borrows and `to_string_lossy().into_owned()` copies out before
    //   `buf` is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        (rc == 0 && !result.is_null() && !pwd.pw_name.is_null())
            .then(|| CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned())
    }
}

/// Move this process into a new user namespace and a new mount namespace (for
/// `namespace::enter`).
#[cfg(target_os = "linux")]
pub(crate) fn unshare_user_and_mount() -> std::io::Result<()> {
    use rustix::thread::UnshareFlags;
    // SAFETY (audited): `unshare_unsafe` is `unsafe` for one reason only, `UnshareFlags::FILES`
    // (another thread could go on using descriptors from the table this thread leaves). That
    // flag is not passed. `NEWUSER` also needs a single-threaded process, which the kernel
    // checks itself (EINVAL otherwise), so a wrong caller gets an error, not undefined
    // behaviour.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNS) }
        .map_err(std::io::Error::from)
}

/// Close every descriptor above 2 (for the namespace holder, right at its start, before it
/// opens any): what its starter inherited, such as a pipe someone waits to see closed.
#[cfg(target_os = "linux")]
pub(crate) fn close_fds_above_stdio() {
    // SAFETY (audited): called first thing in the holder, a single-threaded process that has
    // not opened or wrapped any descriptor above 2 yet (the standard library keeps none open
    // between calls), so no `File`, `OwnedFd` or other owner can later use or close one of the
    // numbers closed here. `close_range` takes plain integers and touches nothing else.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: the numbers in /proc/self/fd, collected first (the directory's own
    // descriptor is closed by then, and closing it again only fails with EBADF).
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|fd| *fd > 2)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // SAFETY (audited): as above; `fd` is an integer, and no owner of it exists.
        unsafe {
            libc::close(fd);
        }
    }
}

/// Make standard output `file` (the holder, once it has said it is ready).
#[cfg(target_os = "linux")]
pub(crate) fn redirect_stdout(file: &std::fs::File) {
    use std::os::fd::AsRawFd as _;
    // SAFETY (audited): `dup2` onto descriptor 1 replaces what standard output refers to; the
    // standard library's `Stdout` owns no descriptor (it writes to the number 1), its buffer
    // was flushed by the caller, and `file` is borrowed and open for the whole call.
    unsafe {
        libc::dup2(file.as_raw_fd(), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_known_and_an_unused_uid_is_not() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(3_999_999_999), None);
    }
}
