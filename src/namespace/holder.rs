//! The long-lived holder of a namespace store's namespace. Creating a user + mount namespace is
//! cheap, but the kernel tearing the mount namespace down when its last process exits costs
//! about 2 ms, which every short-lived program started through a launcher would pay. So, as
//! rootless container engines do, one detached process per store (the holder) makes the
//! namespace once and keeps it alive doing nothing, and every launch joins it with `setns`.
//!
//! The holder is started on demand by the first launch that finds none: under a lock file, the
//! launch starts `devenv __namespace-hold <nix dir>`, which starts the holder itself in a new
//! session and exits (so the holder is no child of the program the launch becomes), and the
//! launch writes the record `<store root>/.namespace-holder/record` (a directory only its user
//! may write): the holder's pid, the boot id, and the inode numbers of its user and mount
//! namespaces. A record is believed only when all of them still match and the store is what
//! that process sees at `/nix/store`, so a dead holder or a reused pid is never joined: a new
//! holder is started instead. The holder has `/` as its directory, closes what it inherited
//! and sleeps; it exits only when killed, which is harmless (the next launch starts another).
//!
//! Joining is all-or-nothing for the caller: when anything does not fit (no holder can be
//! started, the current directory is not visible inside, `setns` refused), nothing has changed
//! and [`super::enter`] makes a namespace of the process's own as before.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use rustix::thread::LinkNameSpaceType;

/// `devenv __namespace-hold <nix dir> [--detached]`: start the holder of `<nix dir>`'s
/// namespace (without `--detached`), or be it.
pub const HOLD_ARG: &str = "__namespace-hold";
/// The second stage of [`HOLD_ARG`]: the holder itself.
const DETACHED: &str = "--detached";
/// The holder's directory in the store root: the record and the lock.
const DIR: &str = ".namespace-holder";
const RECORD: &str = "record";
const LOCK: &str = "lock";

/// Which process holds the namespace, and what proves it is still that process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pid: i32,
    pub boot: String,
    pub user_ns: u64,
    pub mnt_ns: u64,
}

impl Record {
    fn format(&self) -> String {
        format!(
            "pid={}\nboot={}\nuserns={}\nmntns={}\n",
            self.pid, self.boot, self.user_ns, self.mnt_ns
        )
    }

    fn parse(text: &str) -> Option<Record> {
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
        };
        Some(Record {
            pid: field("pid")?.parse().ok().filter(|p| *p > 0)?,
            boot: field("boot")?,
            user_ns: field("userns")?.parse().ok()?,
            mnt_ns: field("mntns")?.parse().ok()?,
        })
    }

    /// The record of the live process `pid`, as it is now.
    fn of(pid: i32) -> Option<Record> {
        let ino = |ns: &str| std::fs::metadata(format!("/proc/{pid}/ns/{ns}")).map(|m| m.ino());
        Some(Record {
            pid,
            boot: crate::store::boot_id::kernel_boot_id()?,
            user_ns: ino("user").ok()?,
            mnt_ns: ino("mnt").ok()?,
        })
    }

    /// Whether the record names a live holder of this user that is still in the namespaces
    /// recorded (not a dead holder's reused pid): the one process [`stop`] may signal.
    fn alive(&self) -> bool {
        let mine = std::fs::metadata(format!("/proc/{}", self.pid))
            .is_ok_and(|m| m.uid() == rustix::process::getuid().as_raw());
        let holder =
            std::fs::read(format!("/proc/{}/cmdline", self.pid)).is_ok_and(|c| holder_cmdline(&c));
        mine && holder && Record::of(self.pid).as_ref() == Some(self)
    }
}

/// Whether `cmdline` (as in `/proc/<pid>/cmdline`) is a holder's: `… __namespace-hold <dir>
/// --detached`.
fn holder_cmdline(cmdline: &[u8]) -> bool {
    let args: Vec<&[u8]> = cmdline
        .strip_suffix(b"\0")
        .unwrap_or(cmdline)
        .split(|b| *b == 0)
        .collect();
    matches!(args.as_slice(), [_, hold, _, detached] if *hold == HOLD_ARG.as_bytes() && *detached == DETACHED.as_bytes())
}

/// The directory of the record and lock for the store whose `nix` directory is `nix_dir`.
pub fn record_dir(nix_dir: &Path) -> PathBuf {
    nix_dir.parent().unwrap_or(Path::new("/")).join(DIR)
}

/// The record, when it is in a directory only this user may write.
fn read_record(dir: &Path) -> Option<Record> {
    if !super::launcher::private_to_me(dir) || !super::launcher::private_to_me(&dir.join(RECORD)) {
        return None;
    }
    Record::parse(&std::fs::read_to_string(dir.join(RECORD)).ok()?)
}

/// The holder of `nix_dir`'s namespace that runs now, if one does.
pub fn running(nix_dir: &Path) -> Option<Record> {
    read_record(&record_dir(nix_dir)).filter(|r| open(r, nix_dir).is_some())
}

/// Stop the holder of `nix_dir`'s namespace, if one runs: `Some(pid)` of the one stopped.
/// Programs inside go on; the next launch starts a new holder.
pub fn stop(nix_dir: &Path) -> Option<i32> {
    let rec = read_record(&record_dir(nix_dir)).filter(Record::alive)?;
    let pid = rustix::process::Pid::from_raw(rec.pid)?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).ok()?;
    Some(rec.pid)
}

/// The holder's namespaces, opened (which keeps them alive until joined).
struct Held {
    pid: i32,
    user: File,
    mnt: File,
}

/// The namespaces of the record's process, when it is a live holder of this store: same boot,
/// namespace inode numbers as recorded, and `nix_dir`'s store at `/nix/store` in its root.
fn open(rec: &Record, nix_dir: &Path) -> Option<Held> {
    if crate::store::boot_id::kernel_boot_id().as_deref() != Some(rec.boot.as_str()) {
        return None;
    }
    let proc = PathBuf::from(format!("/proc/{}", rec.pid));
    let user = File::open(proc.join("ns/user")).ok()?;
    let mnt = File::open(proc.join("ns/mnt")).ok()?;
    let ino = |f: &File| f.metadata().map(|m| m.ino()).ok();
    if ino(&user)? != rec.user_ns || ino(&mnt)? != rec.mnt_ns {
        return None;
    }
    if !super::same_dir(&proc.join("root/nix/store"), &nix_dir.join("store")) {
        return None;
    }
    // The pid still names the process whose root was just looked at.
    let again = std::fs::metadata(proc.join("ns/mnt")).ok()?.ino();
    (again == rec.mnt_ns).then_some(Held {
        pid: rec.pid,
        user,
        mnt,
    })
}

/// Why a process is not in the holder's namespace.
#[derive(Debug)]
pub(super) enum NotJoined {
    /// Nothing was changed: the process may make a namespace of its own instead. (Why is not
    /// kept: that namespace is just as good, only slower to leave.)
    Unchanged,
    /// The namespaces were joined but the current directory could not be regained: the program
    /// must not start (it would start in `/`).
    Changed(String),
}

/// Move this (single-threaded) process into the namespace of `nix_dir`'s holder, starting the
/// holder when none runs, and back into its current directory.
pub(super) fn join(nix_dir: &Path) -> Result<(), NotJoined> {
    let unchanged = |_why: String| NotJoined::Unchanged;
    let cwd =
        std::env::current_dir().map_err(|e| unchanged(format!("no current directory: {e}")))?;
    let dir = record_dir(nix_dir);
    let held = match read_record(&dir).and_then(|r| open(&r, nix_dir)) {
        Some(held) => held,
        None => start(nix_dir, &dir).map_err(unchanged)?,
    };
    // `setns` into a mount namespace moves to its `/`: the directory must be there by the same
    // path, or the program would start somewhere else.
    let here = Path::new("/proc")
        .join(held.pid.to_string())
        .join("root")
        .join(cwd.strip_prefix("/").unwrap_or(&cwd));
    if !super::same_dir(&here, Path::new(".")) {
        return Err(unchanged(format!(
            "`{}` is not the same directory in the holder's namespace",
            cwd.display()
        )));
    }
    rustix::thread::move_into_link_name_space(held.user.as_fd(), Some(LinkNameSpaceType::User))
        .map_err(|e| unchanged(format!("cannot join the holder's user namespace: {e}")))?;
    // In the holder's user namespace but still in this mount namespace, a namespace of the
    // process's own still works (it nests in the holder's user namespace, which maps this
    // user), so a refusal here still counts as unchanged.
    rustix::thread::move_into_link_name_space(held.mnt.as_fd(), Some(LinkNameSpaceType::Mount))
        .map_err(|e| unchanged(format!("cannot join the holder's mount namespace: {e}")))?;
    std::env::set_current_dir(&cwd).map_err(|e| {
        NotJoined::Changed(format!(
            "cannot return to `{}` in the namespace of the store: {e}",
            cwd.display()
        ))
    })
}

/// Under the lock: the holder another launch just started, or a new one.
fn start(nix_dir: &Path, dir: &Path) -> Result<Held, String> {
    crate::fsutil::create_private_dir_all(dir)
        .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    if !super::launcher::private_to_me(dir) {
        return Err(format!(
            "`{}` could be changed by another user",
            dir.display()
        ));
    }
    let lock = {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join(LOCK))
            .map_err(|e| format!("cannot open `{}`: {e}", dir.join(LOCK).display()))?
    };
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock `{}`: {e}", dir.join(LOCK).display()))?;
    if let Some(rec) = read_record(dir) {
        if let Some(held) = open(&rec, nix_dir) {
            return Ok(held);
        }
        // A live holder that no longer shows this store (its directory was replaced): useless.
        if rec.alive() {
            let _ = stop(nix_dir);
        }
    }
    let pid = spawn(nix_dir)?;
    let rec = Record::of(pid).ok_or("the new holder is gone")?;
    // Not flushed to disk: after a power failure the boot id no longer matches anyway.
    crate::fsutil::replace_cache_file(&dir.join(RECORD), rec.format().as_bytes())
        .map_err(|e| format!("cannot write `{}`: {e}", dir.join(RECORD).display()))?;
    open(&rec, nix_dir).ok_or_else(|| "the new holder does not show the store".to_string())
}

/// Start a holder through [`HOLD_ARG`] and wait until its namespace is ready: its pid.
fn spawn(nix_dir: &Path) -> Result<i32, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find devenv: {e}"))?;
    let mut child = Command::new(exe)
        .arg(HOLD_ARG)
        .arg(nix_dir)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the holder: {e}"))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        // Ends with the holder's one line, or at EOF when it died before writing it.
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let _ = child.wait();
    match line.trim_end().split_once(' ') {
        Some(("ready", pid)) => pid.parse().map_err(|_| format!("the holder said `{line}`")),
        Some(("error", why)) => Err(why.to_string()),
        _ => Err("the holder exited before its namespace was ready".to_string()),
    }
}

/// The two stages of [`HOLD_ARG`]: the starter (a new session, the holder started in it, exit)
/// and the holder (the namespace, one line on stdout: `ready <pid>` or `error <why>`, sleep).
pub(super) fn hold(nix_dir: &Path, detached: bool) -> ExitCode {
    use std::io::Write as _;
    if !detached {
        let _ = rustix::process::setsid();
        let started = std::env::current_exe().and_then(|exe| {
            Command::new(exe)
                .arg(HOLD_ARG)
                .arg(nix_dir)
                .arg(DETACHED)
                .current_dir("/")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        });
        if let Err(e) = started {
            let _ = writeln!(std::io::stdout(), "error cannot start the holder: {e}");
        }
        return ExitCode::SUCCESS;
    }
    // A long-lived process keeps nothing open that its starter's callers may wait on.
    crate::sys::close_fds_above_stdio();
    if let Err(b) = super::platform::enter(nix_dir) {
        let _ = writeln!(std::io::stdout(), "error {}", b.cause);
        return ExitCode::FAILURE;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready {}", std::process::id());
    let _ = out.flush();
    drop(out);
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        crate::sys::redirect_stdout(&null);
    }
    loop {
        std::thread::park();
    }
}

/// `Some(detached)` when `args` (after the binary's name) are [`HOLD_ARG`]'s.
pub(super) fn hold_args(args: &[std::ffi::OsString]) -> Option<(PathBuf, bool)> {
    match args {
        [_, dir] => Some((PathBuf::from(dir), false)),
        [_, dir, flag] if flag == DETACHED => Some((PathBuf::from(dir), true)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_a_damaged_one_is_none() {
        let r = Record {
            pid: 42,
            boot: "b-1".into(),
            user_ns: 4026531837,
            mnt_ns: 4026531841,
        };
        assert_eq!(Record::parse(&r.format()), Some(r.clone()));
        assert_eq!(Record::parse("pid=0\nboot=b\nuserns=1\nmntns=2\n"), None);
        assert_eq!(Record::parse("pid=42\nboot=b\nuserns=x\nmntns=2\n"), None);
        assert_eq!(Record::parse("pid=42\nboot=b\n"), None);
    }

    #[test]
    fn only_a_holder_is_alive() {
        let me = Record::of(std::process::id() as i32).expect("Linux has /proc");
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(
            !me.alive(),
            "this process is no holder, so it is never signalled"
        );
        assert!(holder_cmdline(
            b"devenv\0__namespace-hold\0/s/nix\0--detached\0"
        ));
        assert!(
            !holder_cmdline(b"devenv\0__namespace-hold\0/s/nix\0"),
            "the starter"
        );
        assert!(!holder_cmdline(b"sleep\x00300\x00"));
    }

    #[test]
    fn a_record_others_could_write_is_not_read() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(DIR);
        crate::fsutil::create_private_dir_all(&dir).unwrap();
        let me = Record::of(std::process::id() as i32).unwrap();
        crate::fsutil::write_private(&dir.join(RECORD), me.format().as_bytes()).unwrap();
        assert_eq!(read_record(&dir), Some(me));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(read_record(&dir), None);
    }
}
