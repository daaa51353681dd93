//! A real ELF closure (loader, libc and a library in their own store paths) runs through `run`,
//! `shell` and the hook: with the store at `/nix`, and as an unprivileged user on a machine
//! without `/nix`, where the store lives in the data directory and is mounted at `/nix` inside a
//! user namespace. Plus the cases where that cannot work, each with one clear message.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::elffix::ElfFixture;
use crate::common::nsworld::{self, World};
use crate::common::TestContext;

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

    fn devenv(&self, world: &World, args: &[&str]) -> Command {
        self.cmd(world, BIN, args)
    }

    fn hello(&self, args: &str) -> String {
        format!("hello from libgreet {}; args:{args}\n", self.salt)
    }
}

/// `stderr` as users read it, with the test world's paths and the test user's ids redacted,
/// recorded as a snapshot under `name`.
fn snapshot(case: &Case, name: &str, stderr: &str) {
    let mut text = stderr.replace(&case.t.root().display().to_string(), "[ROOT]");
    if let Ok(c) = case.t.root().canonicalize() {
        text = text.replace(&c.display().to_string(), "[ROOT]");
    }
    let mut s = insta::Settings::clone_current();
    s.set_omit_expression(true);
    s.set_prepend_module_to_snapshot(false);
    s.bind(|| insta::assert_snapshot!(name, text));
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("unshare runs")
}

fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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
        let out = ok(&mut case.cmd(world, &program, &args));
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
    ok(&mut case.devenv(&world, &["install", "--frozen"]));
    assert!(
        nix.join("store")
            .join(&case.fx.paths["elflibc"][11..])
            .is_dir(),
        "the store is /nix/store itself"
    );
    let out = ok(&mut case.devenv(&world, &["run", "elfhello", "a", "b c"]));
    assert_eq!(out, case.hello(" [a] [b c]"));
    let status = output(&mut case.devenv(&world, &["run", "elfhello", "--exit", "3"])).status;
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        shell(&case, &world, "elfhello in-shell\nexit\n"),
        case.hello(" [in-shell]")
    );
    ok(&mut case.devenv(&world, &["allow"]));
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
    let probe = ok(&mut case.cmd(
        &world,
        "sh",
        &["-c", "test -e /nix && echo yes || echo no; id -u"],
    ));
    assert_eq!(probe, format!("no\n{}\n", user.0), "the world has no /nix");

    ok(&mut case.devenv(&world, &["install", "--frozen"]));
    let store = case.t.home.join(".local/share/devenv/store/nix/store");
    assert!(
        store.join(&case.fx.paths["elfhello"][11..]).is_dir(),
        "the store is in the data directory"
    );
    let out = ok(&mut case.devenv(&world, &["run", "elfhello", "a", "b c"]));
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
    let info = ok(&mut case.devenv(&world, &["run", "elfinfo"]));
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
    let on_tty = ok(&mut case.cmd(
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
    ok(&mut case.devenv(&world, &["allow"]));
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
    ok(&mut case.devenv(&world, &["gc"]));
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
    let out = ok(&mut case.devenv(&world, &["run", "elfhello", "x"]));
    assert_eq!(out, case.hello(" [x]"));
    fails(
        "namespace__setuid_program",
        &mut case.devenv(&world, &["run", suid.to_str().unwrap()]),
        &["is a setuid program", "without its privileges"],
    );
}
