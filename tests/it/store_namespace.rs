//! A real ELF closure (loader, libc and a library in their own store paths) runs through `run`,
//! `shell` and the hook: with the store at `/nix`, and as an unprivileged user on a machine
//! without `/nix`, where the store lives in the data directory and is mounted at `/nix` inside a
//! user namespace. Plus the cases where that cannot work, each with one clear message.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::elffix::ElfFixture;
use crate::common::nsworld::World;
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
    let mut cmd = case.devenv(world, &["shell"]);
    cmd.env("SHELL", "/bin/bash")
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
