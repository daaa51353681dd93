//! `install.sh` run for real in a throwaway HOME: shellcheck-clean, installs the binary (prebuilt
//! and through cargo), adds the hook to real bash/zsh/fish rc files idempotently, creates /nix via
//! one `sudo` (a recording fake, so the machine's /nix is never touched), and uninstalls exactly
//! what it added; after it, an allowed project activates and deactivates in each new shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn built_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_devenv"))
}

/// A throwaway HOME with rc files that already hold the user's own lines.
struct World {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    /// Extra directory put first on PATH (for fakes such as `sudo`).
    fakes: PathBuf,
}

const BASHRC: &str = "# my bashrc\nalias ll='ls -l'\nexport MY_VAR=kept\n";
const ZSHRC: &str = "# my zshrc\nexport MY_VAR=kept\n";
const FISHRC: &str = "# my fish config\nset -gx MY_VAR kept\n";

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let fakes = tmp.path().join("fakes");
        std::fs::create_dir_all(home.join(".config/fish")).unwrap();
        std::fs::create_dir_all(&fakes).unwrap();
        std::fs::write(home.join(".bashrc"), BASHRC).unwrap();
        std::fs::write(home.join(".zshrc"), ZSHRC).unwrap();
        std::fs::write(home.join(".config/fish/config.fish"), FISHRC).unwrap();
        World {
            _tmp: tmp,
            home,
            fakes,
        }
    }

    fn bin(&self) -> PathBuf {
        self.home.join(".local/bin/devenv")
    }

    fn rc(&self, rel: &str) -> String {
        std::fs::read_to_string(self.home.join(rel)).unwrap()
    }

    /// A command with the throwaway HOME and the system PATH (not the developer's extra dirs).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("HOME", &self.home)
            .env("USER", "tester")
            .env("TERM", "dumb")
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                    self.fakes.display()
                ),
            )
            .current_dir(&self.home);
        cmd
    }

    fn install(&self, args: &[&str]) -> Output {
        let out = self
            .command("sh")
            .arg(checkout().join("install.sh"))
            .args(args)
            .output()
            .unwrap();
        out
    }

    fn install_ok(&self, args: &[&str]) -> String {
        let out = self.install(args);
        assert!(
            out.status.success(),
            "install.sh {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Run `script` in a new shell that reads its rc file the way an interactive one does.
    fn shell(&self, shell: &str, script: &str) -> Output {
        let mut cmd = self.command(shell);
        match shell {
            "fish" => cmd.args(["-c", script]),
            _ => cmd.args(["-i", "-c", script]),
        };
        cmd.output().unwrap()
    }

    fn write_fake(&self, name: &str, body: &str) {
        let path = self.fakes.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        let mut perm = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&path, perm).unwrap();
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn install_sh_is_shellcheck_clean() {
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .arg(checkout().join("install.sh"))
        .output()
        .expect("shellcheck is required for this test: apt-get install -y shellcheck");
    assert!(
        out.status.success(),
        "shellcheck found problems:\n{}",
        stdout(&out)
    );
}

#[test]
fn installs_a_prebuilt_binary_and_prints_the_rc_lines() {
    let w = World::new();
    let bin = built_binary();
    let msg = w.install_ok(&["--binary", bin.to_str().unwrap()]);
    let version = Command::new(w.bin()).arg("--version").output().unwrap();
    assert!(
        stdout(&version).starts_with("devenv "),
        "{}",
        stdout(&version)
    );
    assert!(msg.contains(r#"eval "$(devenv hook bash)""#), "{msg}");
    assert!(msg.contains(r#"eval "$(devenv hook zsh)""#), "{msg}");
    assert!(msg.contains("devenv hook fish | source"), "{msg}");
    // Without --hook, rc files are not touched.
    assert_eq!(w.rc(".bashrc"), BASHRC);
    assert_eq!(w.rc(".zshrc"), ZSHRC);
}

#[test]
fn hooks_each_shell_once_and_new_shells_find_devenv() {
    let w = World::new();
    let bin = built_binary();
    let args = [
        "--binary",
        bin.to_str().unwrap(),
        "--hook",
        "bash",
        "--hook",
        "zsh",
        "--hook",
        "fish",
    ];
    w.install_ok(&args);
    let first = (
        w.rc(".bashrc"),
        w.rc(".zshrc"),
        w.rc(".config/fish/config.fish"),
    );
    // Re-running is a no-op for the rc files.
    let msg = w.install_ok(&args);
    assert!(msg.contains("already in"), "{msg}");
    let second = (
        w.rc(".bashrc"),
        w.rc(".zshrc"),
        w.rc(".config/fish/config.fish"),
    );
    assert_eq!(first, second);

    for (rc, original, line) in [
        (&first.0, BASHRC, r#"eval "$(devenv hook bash)""#),
        (&first.1, ZSHRC, r#"eval "$(devenv hook zsh)""#),
        (&first.2, FISHRC, "devenv hook fish | source"),
    ] {
        assert!(rc.starts_with(original), "user lines kept first:\n{rc}");
        assert_eq!(rc.matches("# >>> devenv hook").count(), 1, "{rc}");
        assert_eq!(rc.matches(line).count(), 1, "{rc}");
    }

    let want = w.bin().display().to_string();
    for (shell, hooked) in [
        (
            "bash",
            r#"declare -F _devenv_hook >/dev/null && echo hooked"#,
        ),
        (
            "zsh",
            r#"(( ${precmd_functions[(I)_devenv_hook]} )) && echo hooked"#,
        ),
        ("fish", "functions -q __devenv_hook; and echo hooked"),
    ] {
        let script = format!("command -v devenv; devenv --version; echo $MY_VAR; {hooked}");
        let out = w.shell(shell, &script);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{shell} broke after sourcing its rc:\n{}\n{stderr}",
            stdout(&out)
        );
        assert!(
            !stderr.contains("devenv"),
            "{shell} printed errors: {stderr}"
        );
        let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
        assert_eq!(lines.first(), Some(&want.as_str()), "{shell}: {lines:?}");
        assert!(lines[1].starts_with("devenv "), "{shell}: {lines:?}");
        assert_eq!(lines[2], "kept", "{shell} lost the user's rc lines");
        assert_eq!(lines.get(3), Some(&"hooked"), "{shell}: hook not active");
    }
    // bash: the PATH entry is added once even when the rc is sourced twice.
    let out = w.shell(
        "bash",
        r#"source ~/.bashrc; echo "$PATH" | tr ':' '\n' | grep -c '/.local/bin$'"#,
    );
    assert_eq!(stdout(&out).trim(), "1");
}

#[test]
fn uninstall_removes_the_binary_and_the_blocks_and_nothing_else() {
    let w = World::new();
    let bin = built_binary();
    let bindir = w.home.join(".local/bin");
    std::fs::create_dir_all(&bindir).unwrap();
    std::fs::write(bindir.join("other-tool"), "keep me").unwrap();
    w.install_ok(&[
        "--binary",
        bin.to_str().unwrap(),
        "--hook",
        "bash",
        "--hook",
        "fish",
    ]);
    // The user adds lines after our block; they must survive the uninstall.
    let mut bashrc = w.rc(".bashrc");
    bashrc.push_str("export AFTER=1\n");
    std::fs::write(w.home.join(".bashrc"), &bashrc).unwrap();

    w.install_ok(&["--uninstall"]);
    assert!(!w.bin().exists());
    assert_eq!(
        std::fs::read_to_string(bindir.join("other-tool")).unwrap(),
        "keep me"
    );
    assert_eq!(w.rc(".bashrc"), format!("{BASHRC}export AFTER=1\n"));
    assert_eq!(w.rc(".zshrc"), ZSHRC);
    assert_eq!(w.rc(".config/fish/config.fish"), FISHRC);
    // Uninstalling twice is harmless.
    w.install_ok(&["--uninstall"]);
}

#[test]
fn a_symlinked_rc_file_stays_a_symlink() {
    let w = World::new();
    let dotfiles = w.home.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::rename(w.home.join(".bashrc"), dotfiles.join("bashrc")).unwrap();
    std::os::unix::fs::symlink(dotfiles.join("bashrc"), w.home.join(".bashrc")).unwrap();
    let bin = built_binary();
    w.install_ok(&["--binary", bin.to_str().unwrap(), "--hook", "bash"]);
    w.install_ok(&["--uninstall"]);
    assert!(w
        .home
        .join(".bashrc")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(dotfiles.join("bashrc")).unwrap(),
        BASHRC
    );
}

#[test]
fn bad_options_exit_2_with_a_hint() {
    let w = World::new();
    for (args, needle) in [
        (&["--hook", "tcsh"][..], "tcsh"),
        (&["--frobnicate"][..], "--frobnicate"),
        (
            &["--binary", "/nonexistent/devenv"][..],
            "/nonexistent/devenv",
        ),
    ] {
        let out = w.install(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error:") && err.contains(needle), "{err}");
        assert!(err.contains("hint:"), "{err}");
    }
    assert!(!w.bin().exists());
    assert_eq!(w.rc(".bashrc"), BASHRC);
}

/// The owner uid of a path, as `ls -n` shows it.
fn owner(path: &Path) -> u32 {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(path).unwrap())
}

#[test]
fn create_nix_dir_uses_one_sudo_when_not_root() {
    let w = World::new();
    let log = w.home.join("sudo.log");
    // A user who does not own /nix (whatever this machine's /nix is), and a sudo that only records.
    let nix_owner = std::fs::metadata("/nix")
        .ok()
        .map(|_| owner(Path::new("/nix")));
    let uid = nix_owner.map(|u| u + 4242).unwrap_or(4242);
    w.write_fake(
        "id",
        &format!("case \"$1\" in -u) echo {uid} ;; -un) echo tester ;; *) echo 'uid={uid}(tester)' ;; esac\n"),
    );
    w.write_fake(
        "sudo",
        &format!(
            "for a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\n",
            log.display()
        ),
    );
    let bin = built_binary();
    let msg = w.install_ok(&["--binary", bin.to_str().unwrap(), "--create-nix-dir"]);
    let recorded = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        recorded, "sh\n-c\nmkdir -p /nix && chown \"$1\" /nix\nsh\ntester\n",
        "exactly one sudo call with the user as an argument"
    );
    assert!(msg.contains("/nix"), "{msg}");
    if let Some(before) = nix_owner {
        assert_eq!(
            owner(Path::new("/nix")),
            before,
            "the real /nix was touched"
        );
    }
}

#[test]
fn create_nix_dir_skips_sudo_when_nix_is_already_owned() {
    let w = World::new();
    let log = w.home.join("sudo.log");
    let Ok(meta) = std::fs::metadata("/nix") else {
        panic!("this test needs an existing /nix (nix-bin creates it)");
    };
    let uid = std::os::unix::fs::MetadataExt::uid(&meta);
    w.write_fake(
        "id",
        &format!("case \"$1\" in -u) echo {uid} ;; *) echo tester ;; esac\n"),
    );
    w.write_fake("sudo", &format!("echo \"$@\" >> '{}'\n", log.display()));
    let bin = built_binary();
    let msg = w.install_ok(&["--binary", bin.to_str().unwrap(), "--create-nix-dir"]);
    assert!(msg.contains("/nix already exists and is yours"), "{msg}");
    assert!(!log.exists(), "sudo must not run");
}

#[test]
fn builds_and_installs_with_cargo_into_a_prefix() {
    let w = World::new();
    // Reuse this test run's own target dir, so the build is incremental instead of from scratch.
    let target_dir = built_binary()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let real_home = PathBuf::from(std::env::var("HOME").unwrap());
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| real_home.join(".cargo"));
    let rustup_home = std::env::var("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| real_home.join(".rustup"));
    let prefix = w.home.join("opt/devenv");
    // cargo's directory without a `devenv` someone installed there with `cargo install`: this
    // test's uninstall must find only what it installed.
    let tools = w.home.join("cargo-bin");
    std::fs::create_dir_all(&tools).unwrap();
    for entry in std::fs::read_dir(cargo_home.join("bin")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "devenv" {
            std::os::unix::fs::symlink(entry.path(), tools.join(entry.file_name())).unwrap();
        }
    }
    let path_without_devenv: Vec<PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .filter(|dir| !dir.join("devenv").exists())
            .collect();
    let path = std::env::join_paths(std::iter::once(tools).chain(path_without_devenv)).unwrap();
    let mut install = w.command("sh");
    install
        .arg(checkout().join("install.sh"))
        .args(["--debug", "--prefix", prefix.to_str().unwrap()])
        .env("PATH", &path)
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", &rustup_home)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_NET_OFFLINE", "true");
    // The compiler wrapper this test run was built with (the test script lints while it builds):
    // without it cargo would see devenv as built by another compiler and build it again.
    for var in ["RUSTC_WORKSPACE_WRAPPER", "CLIPPY_ARGS"] {
        if let Some(value) = std::env::var_os(var) {
            install.env(var, value);
        }
    }
    let out = install.output().unwrap();
    assert!(
        out.status.success(),
        "cargo install via install.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = prefix.join("bin/devenv");
    let version = Command::new(&installed).arg("--version").output().unwrap();
    assert!(stdout(&version).starts_with("devenv "));
    assert!(!w.bin().exists(), "--prefix must be honoured");

    let out = w
        .command("sh")
        .arg(checkout().join("install.sh"))
        .args(["--uninstall", "--prefix", prefix.to_str().unwrap()])
        .env("PATH", &path)
        .env("CARGO_HOME", &cargo_home)
        .env("RUSTUP_HOME", &rustup_home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!installed.exists());
    let crates = std::fs::read_to_string(prefix.join(".crates.toml")).unwrap_or_default();
    assert!(
        !crates.contains("devenv "),
        "cargo's record was cleaned:\n{crates}"
    );
}

#[test]
fn after_installing_an_allowed_project_activates_in_each_new_shell() {
    let w = World::new();
    let bin = built_binary();
    w.install_ok(&[
        "--binary",
        bin.to_str().unwrap(),
        "--hook",
        "bash",
        "--hook",
        "zsh",
        "--hook",
        "fish",
    ]);
    let project = w.home.join("src/infra");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("devenv.json"),
        "{\"packages\": [], \"env\": {\"FROM_PROJECT\": \"yes\"}}\n",
    )
    .unwrap();
    // `devenv allow` as the user would type it, with the installed binary.
    let out = w
        .command(w.bin().to_str().unwrap())
        .arg("allow")
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // bash and zsh run the hook at the prompt, which `-c` never shows, so call it where the
    // prompt would; fish runs it on the change of PWD itself.
    for (shell, script) in [
        (
            "bash",
            "cd ~/src/infra; _devenv_hook; echo \"in=$FROM_PROJECT\"; cd ~; _devenv_hook; echo \"out=${FROM_PROJECT-unset}\"",
        ),
        (
            "zsh",
            "cd ~/src/infra; _devenv_hook; echo \"in=$FROM_PROJECT\"; cd ~; _devenv_hook; echo \"out=${FROM_PROJECT-unset}\"",
        ),
        (
            "fish",
            "cd ~/src/infra; echo \"in=$FROM_PROJECT\"; cd ~; set -q FROM_PROJECT; and echo out=set; or echo out=unset",
        ),
    ] {
        let out = w.shell(shell, script);
        let text = stdout(&out);
        assert!(
            text.contains("in=yes\n") && text.contains("out=unset\n"),
            "{shell}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_failing_cargo_build_is_explained_and_installs_nothing() {
    let w = World::new();
    // A cargo that fails the way an offline build does.
    w.write_fake(
        "cargo",
        "echo 'error: failed to download from registry' >&2\nexit 101\n",
    );
    let out = w.install(&["--hook", "bash"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: cargo could not build devenv") && err.contains("hint:"),
        "{err}"
    );
    assert!(!w.bin().exists());
    assert_eq!(
        w.rc(".bashrc"),
        BASHRC,
        "no hook for a binary that is not there"
    );
}

#[test]
fn create_nix_dir_on_macos_explains_the_synthetic_volume_instead_of_mkdir() {
    // A machine without /nix (a mount namespace where it is absent), and `uname` saying Darwin.
    let w = World::new();
    w.write_fake("uname", "echo Darwin\n");
    let bin = built_binary();
    let scratch = w.home.join("../scratch");
    let mut cmd = crate::common::nsworld::World::default().command(&scratch, &w.home, "sh");
    let env = w.command("sh");
    cmd.env_clear();
    for (k, v) in env.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd
        .env("PWD", &w.home)
        .arg(checkout().join("install.sh"))
        .args(["--binary", bin.to_str().unwrap(), "--create-nix-dir"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "error: /nix cannot be created with mkdir on macOS",
        "/etc/synthetic.conf",
        "diskutil apfs addVolume",
        "/etc/fstab",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[test]
fn uninstall_without_prefix_removes_the_binary_where_the_hook_block_put_it() {
    let w = World::new();
    let prefix = w.home.join("opt/devenv");
    w.install_ok(&[
        "--binary",
        built_binary().to_str().unwrap(),
        "--prefix",
        prefix.to_str().unwrap(),
        "--hook",
        "bash",
        "--hook",
        "fish",
    ]);
    assert!(prefix.join("bin/devenv").exists());
    let out = w.install(&["--uninstall"]);
    let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(!prefix.join("bin/devenv").exists(), "{text}");
    assert!(
        text.contains(&format!(
            "says devenv was installed in {}",
            prefix.join("bin").display()
        )),
        "{text}"
    );
    assert!(text.contains("devenv is uninstalled"), "{text}");
    assert_eq!(w.rc(".bashrc"), BASHRC);
    assert_eq!(w.rc(".config/fish/config.fish"), FISHRC);
}

#[test]
fn uninstall_does_not_claim_success_while_another_devenv_is_on_path() {
    let w = World::new();
    w.install_ok(&["--binary", built_binary().to_str().unwrap()]);
    // A devenv installed elsewhere (another --prefix without a hook, or by other means).
    w.write_fake("devenv", "exit 0\n");
    let out = w.install(&["--uninstall"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!w.bin().exists(), "what it installed is removed: {err}");
    assert!(
        err.contains(&format!(
            "error: another devenv is still on PATH: {}",
            w.fakes.join("devenv").display()
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: if install.sh put it there, run ./install.sh --uninstall --prefix "),
        "{err}"
    );
    assert!(!err.contains("devenv is uninstalled"), "{err}");
}

#[test]
fn fish_hook_then_uninstall_leaves_no_config_fish_it_created() {
    let w = World::new();
    std::fs::remove_dir_all(w.home.join(".config/fish")).unwrap();
    w.install_ok(&[
        "--binary",
        built_binary().to_str().unwrap(),
        "--hook",
        "fish",
    ]);
    assert!(w.home.join(".config/fish/config.fish").exists());
    w.install_ok(&["--uninstall"]);
    assert!(!w.home.join(".config/fish/config.fish").exists());
    assert!(!w.home.join(".config/fish").exists());
    assert!(w.home.join(".config").exists());
}
