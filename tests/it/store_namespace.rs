//! A real ELF closure (loader, libc and a library in their own store paths) runs through `run`,
//! `shell` and the hook: with the store at `/nix`, and as an unprivileged user on a machine
//! without `/nix`, where the store lives in the data directory and is mounted at `/nix` inside a
//! user namespace. Plus the cases where that cannot work, each with one clear message.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::elffix::ElfFixture;
use crate::common::nsworld::{self, World};
use crate::common::{run_ok, TestContext};

const BIN: &str = env!("CARGO_BIN_EXE_devenv");

struct Case {
    t: TestContext,
    fx: ElfFixture,
    scratch: PathBuf,
    salt: String,
}

impl Case {
    fn new(salt: &str) -> Case {
        let t = TestContext::new();
        let fx = ElfFixture::build(&t.root().join("fx"), salt);
        fx.write_config(&t.home);
        fx.write_project(&t.project);
        let scratch = t.root().join("scratch");
        Case {
            t,
            fx,
            scratch,
            salt: salt.to_string(),
        }
    }

    /// `program args…` in `world`, in the project, with the test's HOME and XDG directories and
    /// no store root (the store's place is devenv's choice).
    fn cmd(&self, world: &World, program: &str, args: &[&str]) -> Command {
        let mut cmd = world.command(&self.scratch, &self.t.project, program);
        cmd.args(args);
        self.t.isolate(&mut cmd);
        cmd.env_remove("DEVENV_STORE_ROOT");
        cmd.env("PATH", std::env::var_os("PATH").unwrap());
        cmd
    }

    /// [`Case::cmd`], in `cwd` rather than the project.
    fn cmd_in(&self, world: &World, cwd: &Path, program: &str) -> Command {
        let mut cmd = world.command(&self.scratch, cwd, program);
        self.t.isolate(&mut cmd);
        cmd.env_remove("DEVENV_STORE_ROOT");
        cmd.env("PATH", std::env::var_os("PATH").unwrap());
        cmd
    }

    fn devenv(&self, world: &World, args: &[&str]) -> Command {
        self.cmd(world, BIN, args)
    }

    fn hello(&self, args: &str) -> String {
        format!("hello from libgreet {}; args:{args}\n", self.salt)
    }
}

impl Case {
    /// The store's namespace holder's record (`None` when no launch started one).
    fn holder_record(&self) -> Option<String> {
        std::fs::read_to_string(
            self.t
                .home
                .join(".local/share/devenv/store/.namespace-holder/record"),
        )
        .ok()
    }

    /// The pid in the holder's record.
    fn holder_pid(&self) -> Option<i32> {
        self.holder_record()?
            .lines()
            .find_map(|l| l.strip_prefix("pid="))?
            .parse()
            .ok()
    }
}

impl Drop for Case {
    /// A holder outlives every command by design: the test's own ends with the test.
    fn drop(&mut self) {
        if let Some(pid) = self.holder_pid() {
            kill_and_wait(pid);
        }
    }
}

/// Kill `pid` and wait until it is gone (it is no child of the test, so it cannot be waited
/// for as one).
fn kill_and_wait(pid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    for _ in 0..500 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // A zombie waits for its reaper only; it holds no namespace any more.
            Ok(stat)
                if !stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z') =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => return,
        }
    }
    panic!("pid {pid} did not die");
}

/// `stderr` as users read it, with the test world's paths and the test user's ids redacted,
/// recorded as a snapshot under `name`.
fn snapshot(case: &Case, name: &str, stderr: &str) {
    let mut redact = crate::snapshots::Redactions::default();
    redact.add_literal(&case.t.root().display().to_string(), "[ROOT]");
    if let Ok(c) = case.t.root().canonicalize() {
        redact.add_literal(&c.display().to_string(), "[ROOT]");
    }
    redact.assert_snapshot(name, stderr);
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("unshare runs")
}

/// `devenv shell` (bash) with `input` on its standard input; returns stdout.
fn shell(case: &Case, world: &World, input: &str) -> String {
    shell_with(case, world, "bash", input)
}

/// `devenv shell` with `SHELL` = `sh` and `input` on its standard input; returns stdout.
fn shell_with(case: &Case, world: &World, sh: &str, input: &str) -> String {
    let mut cmd = case.devenv(world, &["shell"]);
    cmd.env("SHELL", format!("/bin/{sh}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "devenv shell: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A script for `shell` that loads the project with the hook, runs `body`, leaves, and checks
/// that the environment after leaving equals the one before.
fn hook_script(shell: &str, project: &Path, body: &str) -> (String, Vec<String>) {
    let p = project.display();
    let (load, hook, diff) = match shell {
        "fish" => (
            format!("{BIN} hook fish | source"),
            "__devenv_hook",
            "env | sort | grep -v '^_=\\|^PWD=\\|^OLDPWD=\\|^SHLVL=' > $argv[1].$argv[2]",
        ),
        _ => (
            format!("eval \"$({BIN} hook {shell})\""),
            "_devenv_hook",
            "env | sort | grep -v '^_=\\|^PWD=\\|^OLDPWD=\\|^SHLVL=' > \"$1.$2\"",
        ),
    };
    let dump = match shell {
        "fish" => format!("function dump; {diff}; end"),
        _ => format!("dump() {{ {diff}; }}"),
    };
    let script = format!(
        "{load}\n{dump}\ncd /\n{hook}\ndump {p}/env before\ncd {p}\n{hook}\n{body}\ncd /\n{hook}\ndump {p}/env after\n"
    );
    let args = match shell {
        "bash" => vec!["--norc", "--noprofile", "-c"],
        "zsh" => vec!["-f", "-c"],
        _ => vec!["--no-config", "-c"],
    };
    let mut v: Vec<String> = args.into_iter().map(String::from).collect();
    v.push(script);
    (shell.to_string(), v)
}

fn assert_hook_runs(case: &Case, world: &World) {
    for sh in ["bash", "zsh", "fish"] {
        let (program, args) =
            hook_script(sh, &case.t.project, "elfhello from-hook\nelfinfo nested");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_ok(&mut case.cmd(world, &program, &args));
        let mut lines = out.lines();
        assert_eq!(
            format!("{}\n", lines.next().unwrap_or("")),
            case.hello(" [from-hook]"),
            "{sh}: {out}"
        );
        let (a, b) = (lines.next().unwrap(), lines.next().unwrap());
        assert!(a.starts_with("uid="), "{sh}: {out}");
        assert_eq!(
            a.split(" userns=").nth(1),
            b.split(" userns=").nth(1),
            "{sh}: a program started by a launched program is in the same namespace: {out}"
        );
        let before = std::fs::read_to_string(case.t.project.join("env.before")).unwrap();
        let after = std::fs::read_to_string(case.t.project.join("env.after")).unwrap();
        assert_eq!(
            before, after,
            "{sh}: leaving the project restores the environment"
        );
    }
}

#[test]
fn an_elf_closure_runs_with_the_store_at_nix() {
    let case = Case::new("elf-at-nix");
    let nix = case.t.root().join("nix");
    std::fs::create_dir_all(&nix).unwrap();
    let world = World {
        nix: Some(&nix),
        ..World::default()
    };
    run_ok(&mut case.devenv(&world, &["install", "--frozen"]));
    assert!(
        nix.join("store")
            .join(&case.fx.paths["elflibc"][11..])
            .is_dir(),
        "the store is /nix/store itself"
    );
    let out = run_ok(&mut case.devenv(&world, &["run", "elfhello", "a", "b c"]));
    assert_eq!(out, case.hello(" [a] [b c]"));
    let status = output(&mut case.devenv(&world, &["run", "elfhello", "--exit", "3"])).status;
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        shell(&case, &world, "elfhello in-shell\nexit\n"),
        case.hello(" [in-shell]")
    );
    run_ok(&mut case.devenv(&world, &["allow"]));
    assert_hook_runs(&case, &world);
}

#[test]
fn an_unprivileged_user_without_nix_runs_the_closure_in_a_namespace() {
    let case = Case::new("elf-userns");
    let user = nsworld::test_user();
    nsworld::chown_tree(case.t.root(), user);
    let world = World {
        user: Some(user),
        ..World::default()
    };
    let probe = run_ok(&mut case.cmd(
        &world,
        "sh",
        &["-c", "test -e /nix && echo yes || echo no; id -u"],
    ));
    assert_eq!(probe, format!("no\n{}\n", user.0), "the world has no /nix");

    run_ok(&mut case.devenv(&world, &["install", "--frozen"]));
    let store = case.t.home.join(".local/share/devenv/store/nix/store");
    assert!(
        store.join(&case.fx.paths["elfhello"][11..]).is_dir(),
        "the store is in the data directory"
    );
    let out = run_ok(&mut case.devenv(&world, &["run", "elfhello", "a", "b c"]));
    assert_eq!(
        out,
        case.hello(" [a] [b c]"),
        "the same output as at /nix/store"
    );
    let status = output(&mut case.devenv(&world, &["run", "elfhello", "--exit", "3"])).status;
    assert_eq!(status.code(), Some(3), "the exit status is the program's");
    let status = output(&mut case.devenv(&world, &["run", "sh", "-c", "kill -TERM $$"])).status;
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15),
        "death by a signal is the program's too (devenv execs it)"
    );
    let info = run_ok(&mut case.devenv(&world, &["run", "elfinfo"]));
    assert!(
        info.starts_with(&format!(
            "uid={} gid={} cwd={} ",
            user.0,
            user.1,
            case.t.project.display()
        )),
        "uid, gid and cwd are unchanged inside: {info}"
    );
    // On a terminal (a pty from `script`), the program still has it as its stdin.
    let on_tty = run_ok(&mut case.cmd(
        &world,
        "script",
        &["-qec", &format!("{BIN} run elfinfo"), "/dev/null"],
    ));
    assert!(on_tty.contains(" tty=1"), "stdin is the terminal: {on_tty}");
    for sh in ["bash", "zsh", "fish"] {
        assert_eq!(
            shell_with(&case, &world, sh, "elfhello in-shell\nexit\n"),
            case.hello(" [in-shell]"),
            "devenv shell with {sh}"
        );
    }
    run_ok(&mut case.devenv(&world, &["allow"]));
    assert_hook_runs(&case, &world);

    let doctor = output(&mut case.devenv(&world, &["doctor"]));
    let text = String::from_utf8_lossy(&doctor.stderr).to_string()
        + &String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("namespace"),
        "doctor names the store mode: {text}"
    );

    // Without the project, nothing keeps its paths: gc empties the namespace store.
    std::fs::remove_file(case.t.project.join("devenv.lock")).unwrap();
    std::fs::remove_file(case.t.project.join("devenv.json")).unwrap();
    run_ok(&mut case.devenv(&world, &["gc"]));
    let left: Vec<String> = std::fs::read_dir(&store)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("-elf"))
        .collect();
    assert!(left.is_empty(), "gc removed {left:?}");
}

#[test]
fn forbidden_namespaces_are_named_before_anything_is_installed() {
    let case = Case::new("elf-forbidden");
    let mut cmd = Command::new("unshare");
    cmd.args(["-U", "-r", "sh", "-c"])
        .arg("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$@\"")
        .args(["sh", BIN, "install", "--frozen"])
        .current_dir(&case.t.project);
    case.t.isolate(&mut cmd);
    cmd.env("DEVENV_STORE_MODE", "namespace");
    let out = output(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "cannot run",
        "user.max_user_namespaces = 0",
        "sudo sysctl -w user.max_user_namespaces=15000",
        "sudo mkdir -p /nix && sudo chown $USER /nix",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    assert!(
        !case.t.store_root.join("nix").exists(),
        "nothing was installed"
    );
    snapshot(&case, "namespace__forbidden", &stderr);
}

#[test]
fn bad_cases_get_one_clear_message() {
    let case = Case::new("elf-bad");
    let user = nsworld::test_user();
    let nix = case.t.root().join("other-nix");
    std::fs::create_dir_all(nix.join("store")).unwrap();
    let noexec = case.t.root().join("noexec");
    std::fs::create_dir_all(&noexec).unwrap();
    let suid = case.t.root().join("suid-true");
    std::fs::copy("/bin/true", &suid).unwrap();
    nsworld::chown_tree(case.t.root(), user);
    // Another user's /nix.
    Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&nix)
        .status()
        .unwrap();
    // A setuid program (root's).
    Command::new("chown")
        .arg("0:0")
        .arg(&suid)
        .status()
        .unwrap();
    Command::new("chmod")
        .arg("4755")
        .arg(&suid)
        .status()
        .unwrap();

    let world = World {
        nix: Some(&nix),
        user: Some(user),
        noexec: Some(&noexec),
    };
    let fails = |name: &str, cmd: &mut Command, needles: &[&str]| {
        let out = output(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{cmd:?}\n{stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
        for n in needles {
            assert!(stderr.contains(n), "missing {n:?} in:\n{stderr}");
        }
        snapshot(&case, name, &stderr);
    };
    let mut root_mode = case.devenv(&world, &["install", "--frozen"]);
    root_mode.env("DEVENV_STORE_MODE", "root");
    fails(
        "namespace__nix_owned_by_another_user",
        &mut root_mode,
        &[
            "`/nix` belongs to `nobody` (uid 65534)",
            "DEVENV_STORE_MODE=namespace",
        ],
    );

    let mut on_noexec = case.devenv(&world, &["install", "--frozen"]);
    on_noexec
        .env("DEVENV_STORE_MODE", "namespace")
        .env("DEVENV_STORE_ROOT", noexec.join("store"));
    fails(
        "namespace__noexec_store",
        &mut on_noexec,
        &["mounted noexec", "DEVENV_STORE_ROOT"],
    );
    assert_eq!(
        std::fs::read_dir(&noexec).unwrap().count(),
        0,
        "nothing installed"
    );

    // Automatic: another user's /nix is no obstacle to a namespace store bound over it.
    let out = run_ok(&mut case.devenv(&world, &["run", "elfhello", "x"]));
    assert_eq!(out, case.hello(" [x]"));
    fails(
        "namespace__setuid_program",
        &mut case.devenv(&world, &["run", suid.to_str().unwrap()]),
        &["is a setuid program", "without its privileges"],
    );
}

/// `readlink /proc/<pid>/ns/mnt` and `…/ns/user` of `pid`, one a line.
fn namespaces_of(pid: &str) -> String {
    ["mnt", "user"]
        .iter()
        .map(|ns| {
            let link = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
            format!("{}\n", link.display())
        })
        .collect()
}

/// A namespace store ready to run (installed, allowed, launchers written) for the test user.
fn installed(salt: &str) -> (Case, World<'static>) {
    let case = Case::new(salt);
    let user = nsworld::test_user();
    nsworld::chown_tree(case.t.root(), user);
    let world = World {
        user: Some(user),
        ..World::default()
    };
    run_ok(&mut case.devenv(&world, &["install", "--frozen"]));
    run_ok(&mut case.devenv(&world, &["allow"]));
    run_ok(&mut case.devenv(&world, &["export", "bash"]));
    (case, world)
}

/// The namespaces a program started by `devenv run` is in.
fn run_namespaces(case: &Case, world: &World) -> String {
    run_ok(&mut case.devenv(
        world,
        &[
            "run",
            "--",
            "readlink",
            "/proc/self/ns/mnt",
            "/proc/self/ns/user",
        ],
    ))
}

/// What `devenv doctor` prints (it exits 1 when any check fails, such as an unreachable cache).
fn doctor_text(case: &Case, world: &World) -> String {
    let out = output(&mut case.devenv(world, &["doctor"]));
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// The project's launcher of `program` (the symlink the hook puts on PATH).
fn launcher(case: &Case, program: &str) -> PathBuf {
    let dir = case.t.home.join(".local/share/devenv/launchers");
    let project = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
    project.path().join(program)
}

#[test]
fn launches_join_one_long_lived_holder() {
    let (case, world) = installed("elf-holder");
    let first = run_namespaces(&case, &world);
    let pid = case
        .holder_pid()
        .expect("the first launch started a holder");
    assert_eq!(
        first,
        namespaces_of(&pid.to_string()),
        "the program is in the holder's namespaces"
    );
    assert_eq!(
        run_namespaces(&case, &world),
        first,
        "a second launch joins the same namespaces"
    );
    assert_eq!(case.holder_pid(), Some(pid), "no second holder");
    let doctor = doctor_text(&case, &world);
    assert!(
        doctor.contains(&format!("namespace held by process {pid} ")),
        "doctor shows the holder: {doctor}"
    );

    // A launcher (what the hook puts on PATH) joins it too, in the caller's directory.
    let info = run_ok(&mut case.cmd(&world, launcher(&case, "elfinfo").to_str().unwrap(), &[]));
    let user_ns = first.lines().nth(1).unwrap();
    assert!(
        info.starts_with(&format!(
            "uid={} gid={} cwd={} userns={user_ns} ",
            world.user.unwrap().0,
            world.user.unwrap().1,
            case.t.project.display()
        )),
        "{info}"
    );
    // And `devenv shell`.
    let out = shell(
        &case,
        &world,
        "readlink /proc/self/ns/mnt /proc/self/ns/user\nexit\n",
    );
    assert_eq!(out, first, "devenv shell joins the holder");

    // gc with the holder running, then the same paths fetched again: the holder's namespace
    // sees the store as it is now (it binds the store's directory, not a copy of it).
    let hidden = case.t.root().join("hidden");
    std::fs::create_dir_all(&hidden).unwrap();
    for f in ["devenv.json", "devenv.lock"] {
        std::fs::rename(case.t.project.join(f), hidden.join(f)).unwrap();
    }
    run_ok(&mut case.devenv(&world, &["gc"]));
    let store = case.t.home.join(".local/share/devenv/store/nix/store");
    assert!(
        !store.join(&case.fx.paths["elfhello"][11..]).exists(),
        "gc removed the program"
    );
    for f in ["devenv.json", "devenv.lock"] {
        std::fs::rename(hidden.join(f), case.t.project.join(f)).unwrap();
    }
    run_ok(&mut case.devenv(&world, &["install", "--frozen"]));
    let out = run_ok(&mut case.devenv(&world, &["run", "elfhello", "again"]));
    assert_eq!(
        out,
        case.hello(" [again]"),
        "paths fetched later run inside"
    );
    assert_eq!(case.holder_pid(), Some(pid), "still the same holder");

    // A directory the holder cannot see (mounted after it started, under a private mount):
    // that launch makes a namespace of its own, in that directory, and leaves the holder be.
    let later = case.t.root().join("mounted-later");
    std::fs::create_dir_all(&later).unwrap();
    let elsewhere = World {
        noexec: Some(&later),
        ..World {
            user: world.user,
            ..World::default()
        }
    };
    let info = run_ok(&mut case.cmd_in(
        &elsewhere,
        &later,
        launcher(&case, "elfinfo").to_str().unwrap(),
    ));
    assert!(
        info.contains(&format!(" cwd={} userns=", later.display())),
        "the program starts in the caller's directory: {info}"
    );
    assert!(
        !info.contains(&format!(" userns={user_ns} ")),
        "not in the holder's namespace: {info}"
    );
    assert_eq!(case.holder_pid(), Some(pid), "the holder stays");

    // The holder holds nothing of its caller's: no directory but its own `/`, no descriptor but
    // /dev/null, no environment.
    use std::os::unix::fs::MetadataExt as _;
    let null = std::fs::metadata("/dev/null").unwrap().rdev();
    let mut fds: Vec<(String, u64)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            (name, std::fs::metadata(e.path()).unwrap().rdev())
        })
        .collect();
    fds.sort();
    assert_eq!(
        fds,
        [("0".into(), null), ("1".into(), null), ("2".into(), null)],
        "the holder's descriptors: /dev/null only"
    );
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(environ.is_empty(), "the holder's environment is empty");
    let cwd = std::fs::metadata(format!("/proc/{pid}/cwd")).unwrap();
    let root = std::fs::metadata(format!("/proc/{pid}/root")).unwrap();
    assert_eq!(
        (cwd.dev(), cwd.ino()),
        (root.dev(), root.ino()),
        "the holder's directory is its root"
    );
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields[0], "S", "the holder sleeps: {stat}");
    let mine = std::fs::read_to_string("/proc/self/stat").unwrap();
    let my_session = mine
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .to_string();
    assert_ne!(
        fields[3], my_session,
        "the holder is in a session of its own: {stat}"
    );
    // Its starter exited at once, so it was handed to init (or a subreaper), not to the program
    // the launch became, which belongs to the test user.
    let parent = std::fs::metadata(format!("/proc/{}", fields[1])).unwrap();
    assert_ne!(
        parent.uid(),
        world.user.unwrap().0,
        "the holder is no child of a launched program: {stat}"
    );
}

#[test]
fn a_killed_holder_or_a_stale_record_gets_a_new_holder() {
    let (case, world) = installed("elf-holder-gone");
    let hello = || run_ok(&mut case.devenv(&world, &["run", "elfhello", "x"]));
    assert_eq!(hello(), case.hello(" [x]"));
    let first = case.holder_pid().expect("a holder");

    // Killed between two launches: the next launch starts another.
    kill_and_wait(first);
    let doctor = doctor_text(&case, &world);
    assert!(
        doctor.contains("no namespace holder runs"),
        "doctor: {doctor}"
    );
    assert_eq!(hello(), case.hello(" [x]"), "runs with the holder killed");
    let second = case.holder_pid().expect("a holder");
    assert_ne!(second, first, "a new holder");
    assert_eq!(
        run_namespaces(&case, &world),
        namespaces_of(&second.to_string())
    );

    // A record whose pid is now another process of the same user, in namespaces of its own
    // (the record even names them): it does not show the store at /nix/store, so it is not
    // joined.
    let record = case
        .t
        .home
        .join(".local/share/devenv/store/.namespace-holder/record");
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let mut decoy = case
        .cmd(&world, "unshare", &["-U", "-m", "--", "sleep", "300"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let dpid = decoy.id().to_string();
    for _ in 0..500 {
        if std::fs::read_to_string(format!("/proc/{dpid}/comm")).unwrap_or_default() == "sleep\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    use std::os::unix::fs::MetadataExt as _;
    let ino = |ns: &str| {
        std::fs::metadata(format!("/proc/{dpid}/ns/{ns}"))
            .unwrap()
            .ino()
    };
    let forged = format!(
        "pid={dpid}\nboot={}\nuserns={}\nmntns={}\n",
        boot.trim(),
        ino("user"),
        ino("mnt")
    );
    let write_record = |text: &str| {
        std::fs::write(&record, text).unwrap();
        nsworld::chown_tree(&record, world.user.unwrap());
    };
    kill_and_wait(second);
    write_record(&forged);
    let joined = run_namespaces(&case, &world);
    let decoy_ns = namespaces_of(&dpid);
    assert!(
        decoy.try_wait().unwrap().is_none(),
        "the process a stale record names is left alone"
    );
    let _ = decoy.kill();
    let _ = decoy.wait();
    assert_ne!(
        joined, decoy_ns,
        "the reused pid's namespaces are not joined"
    );
    let third = case.holder_pid().expect("a holder");
    assert_ne!(
        third.to_string(),
        dpid,
        "a new holder replaced the stale record"
    );
    assert_eq!(joined, namespaces_of(&third.to_string()));

    // A record of a dead pid: a new holder too.
    kill_and_wait(third);
    let mut done = Command::new("true").spawn().unwrap();
    let dead = done.id();
    done.wait().unwrap();
    write_record(&format!(
        "pid={dead}\nboot={}\nuserns=1\nmntns=2\n",
        boot.trim()
    ));
    assert_eq!(hello(), case.hello(" [x]"), "runs with a dead pid recorded");
    let fourth = case.holder_pid().expect("a holder");
    assert_ne!(fourth, dead as i32);
    assert_eq!(
        run_namespaces(&case, &world),
        namespaces_of(&fourth.to_string())
    );
}
