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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_known_and_an_unused_uid_is_not() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_name(3_999_999_999), None);
    }
}
