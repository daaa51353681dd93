//! Running the programs of a store that is not at `/nix`: devenv's store under the user's data
//! directory, mounted at `/nix` inside an unprivileged user + mount namespace (the technique of
//! nix-user-chroot), so programs from binary caches find their loader and libraries at
//! `/nix/store` without root and without a `/nix` on the machine.
//!
//! It owns three things: [`enter`] (the namespace itself: same uid and gid as seen by files,
//! same cwd and environment; the process then `exec`s, so signals, exit status, tty and stdin/
//! stdout stay the program's own), the hidden entry points of the devenv binary that run before
//! anything else ([`dispatch`]: `devenv __namespace-exec`, the probe, and the launchers of
//! [`launcher`]), and [`probe`], which says before anything is installed whether this system
//! allows the namespace, and if not, which setting forbids it.
//!
//! `unshare(CLONE_NEWUSER)` works only in a single-threaded process, so commands that already
//! started threads (`run` after installing, `shell`) re-execute the binary through
//! [`ENTER_ARG`] rather than entering the namespace themselves. A process already inside (the
//! physical store and `/nix/store` are the same directory) never enters again, so launched
//! programs that start each other do not nest namespaces.
//!
//! Entering means joining the namespace kept alive by the store's long-lived holder
//! (`holder.rs`), which spares every short-lived program the namespace's teardown at exit;
//! only when that cannot be done does the process make a namespace of its own.
//!
//! The kernel interface is Linux's; other systems get [`Blocked`] with "not on this system"
//! (`unsupported.rs`), which the store turns into a clear error.

#[cfg(target_os = "linux")]
pub mod holder;
pub mod launcher;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
use unsupported as platform;

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// `devenv __namespace-exec <nix dir> <program> [args…]`: enter the namespace in which `<nix
/// dir>` is `/nix`, then exec the program (looked up on PATH).
pub const ENTER_ARG: &str = "__namespace-exec";
/// `devenv __namespace-probe`: exit 0 when a user + mount namespace can be made and mounted in.
pub const PROBE_ARG: &str = "__namespace-probe";

/// Why the namespace cannot be used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The setting that forbids it, as `name = value` (`user.max_user_namespaces = 0`), when
    /// one could be named.
    pub setting: Option<String>,
    /// What the kernel said.
    pub cause: String,
    /// Whether the way out is an AppArmor profile rather than a sysctl alone.
    pub apparmor: bool,
    /// Whether the system refused (rather than something else failing, such as a missing
    /// directory): only then are the ways out worth naming.
    pub forbidden: bool,
    /// Whether only this process's threads stood in the way (`unshare` of a user namespace
    /// needs a single-threaded process): nothing was changed, and a fresh process can enter.
    pub threads: bool,
}

/// Whether a process here is already inside the namespace of `nix_dir`, or `/nix` simply is
/// `nix_dir`: nothing to enter then.
pub fn inside(nix_dir: &Path) -> bool {
    same_dir(Path::new("/nix/store"), &nix_dir.join("store"))
}

fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Enter a new user + mount namespace in which `nix_dir` is mounted at `/nix`: bound onto
/// `/nix` when it exists, otherwise under a private root made of bind mounts of `/`'s entries
/// plus `nix`. Only for a single-threaded process that `exec`s next.
///
/// The namespace of the store's holder is joined when it can be (started first when none
/// runs); otherwise this process makes one of its own.
pub fn enter(nix_dir: &Path) -> Result<(), Blocked> {
    if inside(nix_dir) {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    match holder::join(nix_dir) {
        Ok(()) => return Ok(()),
        Err(holder::NotJoined::Unchanged) => {}
        Err(holder::NotJoined::Changed(cause)) => {
            return Err(Blocked {
                setting: None,
                cause,
                apparmor: false,
                forbidden: false,
                threads: false,
            })
        }
    }
    platform::enter(nix_dir)
}

/// What `doctor` says about the holder of `nix_dir`'s namespace.
pub fn holder_summary(nix_dir: &Path) -> String {
    #[cfg(target_os = "linux")]
    if let Some(r) = holder::running(nix_dir) {
        return format!(
            "namespace held by process {} (programs join it; stopping it with `kill {}` is \
             harmless: the next program starts another)",
            r.pid, r.pid
        );
    }
    "no namespace holder runs (the next program started from the store starts one)".to_string()
}

/// Whether [`enter`] can work on this system (a user + mount namespace in which this user may
/// mount), tried in a child process since entering changes the process for good; when not,
/// why. Nothing outside the child's namespace is touched.
pub fn probe(nix_dir: &Path) -> Result<(), Blocked> {
    if inside(nix_dir) {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| Blocked {
        setting: None,
        cause: format!("cannot find devenv's own executable: {e}"),
        apparmor: false,
        forbidden: false,
        threads: false,
    })?;
    let out = Command::new(exe)
        .arg(PROBE_ARG)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Blocked {
            setting: None,
            cause: format!("cannot start devenv's own executable: {e}"),
            apparmor: false,
            forbidden: false,
            threads: false,
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let cause = lines.next().unwrap_or("the probe failed").to_string();
    let setting = lines.next().filter(|s| !s.is_empty()).map(str::to_string);
    let kind = lines.next().unwrap_or("");
    Err(Blocked {
        setting,
        cause,
        apparmor: kind.contains("apparmor"),
        forbidden: kind.contains("forbidden"),
        threads: false,
    })
}

/// The command that runs `cmd` inside the namespace of `nix_dir`: this binary with
/// [`ENTER_ARG`], the same arguments, environment changes and directory.
pub fn wrap(cmd: &Command, nix_dir: &Path) -> std::io::Result<Command> {
    let mut wrapped = Command::new(std::env::current_exe()?);
    wrapped
        .arg(ENTER_ARG)
        .arg(nix_dir)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    Ok(wrapped)
}

/// What [`dispatch`] failed at, as a sentence with a hint, for the caller to print.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    pub exit_code: u8,
}

/// The binary's hidden entry points, handled before anything else (no settings, no threads):
/// `None` when this invocation is an ordinary devenv command.
pub fn dispatch() -> Option<Result<ExitCode, Failure>> {
    let mut args = std::env::args_os();
    let argv0 = args.next()?;
    let rest: Vec<OsString> = args.collect();
    match rest.first().and_then(|a| a.to_str()) {
        Some(ENTER_ARG) if rest.len() >= 3 => {
            let nix_dir = PathBuf::from(&rest[1]);
            Some(exec_inside(&nix_dir, &rest[2], &rest[2], &rest[3..]))
        }
        Some(PROBE_ARG) if rest.len() == 1 => Some(Ok(probe_here())),
        #[cfg(target_os = "linux")]
        Some(holder::HOLD_ARG) => {
            let (dir, detached) = holder::hold_args(&rest)?;
            Some(Ok(holder::hold(&dir, detached)))
        }
        _ => launcher::dispatch(&argv0, &rest),
    }
}

/// The probe's child side: enter, and report on stdout (cause, setting, kind) when it fails.
fn probe_here() -> ExitCode {
    match platform::probe() {
        Ok(()) => ExitCode::SUCCESS,
        Err(b) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{}\n{}\n{}{}",
                b.cause,
                b.setting.unwrap_or_default(),
                if b.apparmor { "apparmor " } else { "" },
                if b.forbidden { "forbidden" } else { "" }
            );
            ExitCode::from(1)
        }
    }
}

/// Enter the namespace of `nix_dir` and exec `program` (a path, or a name looked up on PATH)
/// with `argv0` and `args`. Returns only on failure.
fn exec_inside(
    nix_dir: &Path,
    program: &OsString,
    argv0: &OsString,
    args: &[OsString],
) -> Result<ExitCode, Failure> {
    if let Err(b) = enter(nix_dir) {
        return Err(Failure {
            message: format!(
                "cannot enter the user namespace that mounts the store `{}` at /nix: {}",
                nix_dir.display(),
                b.cause
            ),
            hint: b.forbidden.then(|| blocked_hint(&b)),
            exit_code: 1,
        });
    }
    refuse_setuid(program, std::env::var_os("PATH"))?;
    let err = Command::new(program).arg0(argv0).args(args).exec();
    Err(Failure {
        message: format!("could not run `{}`: {err}", program.to_string_lossy()),
        hint: Some("check the command's name".to_string()),
        exit_code: if err.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    })
}

/// A setuid or setgid `program` (a path, or a name looked up on `path`) as the [`Failure`] to
/// report instead of starting it inside the namespace, where it would run without its
/// privileges.
pub fn refuse_setuid(program: &OsStr, path: Option<OsString>) -> Result<(), Failure> {
    let Some(found) = find_program(program, path) else {
        return Ok(());
    };
    match setuid_bits(&found) {
        None => Ok(()),
        Some(bits) => Err(Failure {
            message: format!(
                "`{}` is a {bits} program: inside the user namespace that mounts devenv's store \
                 at /nix it would run without its privileges",
                found.display()
            ),
            hint: Some(
                "run it outside devenv's environment (its own path, not through `devenv run`, \
                 `devenv shell` or a launcher)"
                    .to_string(),
            ),
            exit_code: 1,
        }),
    }
}

/// The two ways out when the namespace is forbidden, in one hint.
pub fn blocked_hint(b: &Blocked) -> String {
    let allow = match (&b.setting, b.apparmor) {
        (Some(s), true) => format!(
            "allow unprivileged user namespaces ({s}): `sudo sysctl -w \
             kernel.apparmor_restrict_unprivileged_userns=0`, or an AppArmor profile for devenv \
             with `userns,` (see the store docs)"
        ),
        (Some(s), false) => {
            let name = s.split(" = ").next().unwrap_or(s);
            let value = if name == "user.max_user_namespaces" {
                "15000"
            } else {
                "1"
            };
            format!("allow unprivileged user namespaces: `sudo sysctl -w {name}={value}` (and in /etc/sysctl.d/ to keep it)")
        }
        (None, _) => "allow unprivileged user namespaces where devenv runs (a container needs \
                      them allowed by its runtime)"
            .to_string(),
    };
    format!(
        "{allow}; or create /nix once, owned by you: `sudo mkdir -p /nix && sudo chown $USER /nix`"
    )
}

/// `program` as the path exec would run: itself when it has a slash, else the first executable
/// of that name on PATH.
fn find_program(program: &OsStr, path: Option<OsString>) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return Some(p.to_path_buf());
    }
    let path = path?;
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| rustix::fs::access(c, rustix::fs::Access::EXEC_OK).is_ok() && c.is_file())
}

/// `Some("setuid")` / `Some("setgid")` when `path` has that bit.
fn setuid_bits(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    if mode & 0o4000 != 0 {
        Some("setuid")
    } else if mode & 0o2000 != 0 {
        Some("setgid")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hint_names_the_setting_and_both_ways_out() {
        let b = Blocked {
            setting: Some("user.max_user_namespaces = 0".into()),
            cause: "No space left on device".into(),
            apparmor: false,
            forbidden: true,
            threads: false,
        };
        let hint = blocked_hint(&b);
        assert!(
            hint.contains("sudo sysctl -w user.max_user_namespaces=15000"),
            "{hint}"
        );
        assert!(
            hint.contains("sudo mkdir -p /nix && sudo chown $USER /nix"),
            "{hint}"
        );
        let b = Blocked {
            setting: Some("kernel.apparmor_restrict_unprivileged_userns = 1".into()),
            cause: "Permission denied".into(),
            apparmor: true,
            forbidden: true,
            threads: false,
        };
        assert!(blocked_hint(&b).contains("AppArmor profile"));
    }

    #[test]
    fn setuid_programs_are_recognised() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p");
        std::fs::write(&p, "").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o4755)).unwrap();
        assert_eq!(setuid_bits(&p), Some("setuid"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(setuid_bits(&p), None);
    }
}
