//! `devenv completions <shell>` loaded into real bash, zsh and fish: subcommands complete, and
//! package names for `add`/`info` come from the local index through `devenv __complete`, which
//! never touches the network. Checked both by calling the completion functions directly and by
//! pressing TAB in each shell running interactively in tmux.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::http::Server;
use crate::common::TestContext;

/// A world with a directory index holding three package names and the scripts for each shell.
struct World {
    t: TestContext,
    index: PathBuf,
    bin_dir: PathBuf,
}

impl World {
    fn new() -> World {
        let t = TestContext::new();
        let index = t.root().join("index");
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(index.join("index.json"), "{\"format\": 1}\n").unwrap();
        std::fs::write(
            index.join("names.jsonl"),
            concat!(
                "{\"name\":\"ansible\",\"summary\":\"IT automation\",\"latest\":\"2.16.5\"}\n",
                "{\"name\":\"ansible-lint\",\"summary\":\"Lint playbooks\",\"latest\":\"6.22.2\"}\n",
                "{\"name\":\"jq\",\"summary\":\"JSON processor\",\"latest\":\"1.7.1\"}\n",
            ),
        )
        .unwrap();
        let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_devenv"))
            .parent()
            .unwrap()
            .to_path_buf();
        for shell in ["bash", "zsh", "fish"] {
            let script = t.ok(&["completions", shell]);
            std::fs::write(t.root().join(format!("devenv.{shell}")), script).unwrap();
        }
        World { t, index, bin_dir }
    }

    fn script(&self, shell: &str) -> PathBuf {
        self.t.root().join(format!("devenv.{shell}"))
    }

    /// Run `shell` without the user's rc files, with `devenv` on PATH and the local index set.
    fn shell(&self, shell: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(shell);
        self.t.isolate(&mut cmd);
        cmd.args(args)
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin_dir.display()),
            )
            .env("DEVENV_INDEX", &self.index)
            .current_dir(&self.t.project);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{shell} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn script_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bash_registers_devenv_and_completes_commands_and_packages() {
    let w = World::new();
    let script = w.script("bash");
    let program = format!(
        r#"source '{}'
complete -p devenv
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); _devenv_with_packages devenv "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; printf '%s\n' "${{COMPREPLY[@]}}"; }}
echo '-- doc'
complete_words devenv doc
echo '-- add ans'
complete_words devenv add ans
echo '-- info with a global flag first'
complete_words devenv --system x86_64-linux info j
"#,
        script_arg(&script)
    );
    let out = w.shell("bash", &["--norc", "--noprofile", "-c", &program]);
    let got = lines(&out);
    assert!(
        got[0].contains("-F _devenv_with_packages") && got[0].ends_with(" devenv"),
        "{got:?}"
    );
    let section = |name: &str| -> Vec<String> {
        let start = got.iter().position(|l| l == name).unwrap() + 1;
        got[start..]
            .iter()
            .take_while(|l| !l.starts_with("-- "))
            .cloned()
            .collect()
    };
    assert_eq!(section("-- doc"), vec!["doctor"]);
    assert_eq!(section("-- add ans"), vec!["ansible", "ansible-lint"]);
    assert_eq!(section("-- info with a global flag first"), vec!["jq"]);
}

#[test]
fn zsh_defines_the_completion_function_after_compinit() {
    let w = World::new();
    let script = w.script("zsh");
    // `compadd` is a completion-widget builtin, usable only while completing; stand in for it to
    // see what the real `_devenv` offers for `devenv add ans`.
    let program = format!(
        r#"autoload -U compinit && compinit -u -D
source '{}'
print -r -- "comp=$_comps[devenv]"
(( $+functions[_devenv_clap] )) && print -r -- "clap function defined"
compadd() {{ local name=${{@[-1]}}; print -l -- "${{(@P)name}}"; }}
words=(devenv add ans); CURRENT=3
_devenv
words=(devenv info ''); CURRENT=3
_devenv
"#,
        script_arg(&script)
    );
    let out = w.shell("zsh", &["-f", "-c", &program]);
    let got = lines(&out);
    assert_eq!(
        got,
        vec![
            "comp=_devenv",
            "clap function defined",
            "ansible",
            "ansible-lint",
            "ansible",
            "ansible-lint",
            "jq"
        ]
    );
}

#[test]
fn fish_completes_commands_and_packages() {
    let w = World::new();
    let script = w.script("fish");
    let run = |line: &str| -> Vec<String> {
        let program = format!(
            "source '{}'; complete -C '{line}' | cut -f1",
            script_arg(&script)
        );
        lines(&w.shell("fish", &["--no-config", "-c", &program]))
    };
    let commands = run("devenv ad");
    assert_eq!(commands, vec!["add"]);
    assert!(
        !run("devenv ").iter().any(|c| c == "__complete"),
        "plumbing stays hidden"
    );
    assert_eq!(run("devenv add ans"), vec!["ansible", "ansible-lint"]);
    assert_eq!(run("devenv info j"), vec!["jq"]);
}

#[test]
fn package_names_come_from_the_index_cache_and_never_touch_the_network() {
    let t = TestContext::new();
    let served = t.root().join("served");
    crate::common::index::write_fixture_index(&served);
    let server = Server::serve_dir(&served);
    let complete = |prefix: &str| -> Vec<String> {
        let out = t
            .cmd()
            .args(["__complete", "packages", prefix])
            .env("DEVENV_INDEX", server.url())
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines(&out)
    };
    assert!(
        complete("ans").is_empty(),
        "nothing cached yet, so nothing offered"
    );
    assert!(server.requests().is_empty(), "{:?}", server.requests());

    // Any command that reads the index fills the cache; completion then answers from it alone.
    let out = t
        .cmd()
        .args(["search", "ans"])
        .env("DEVENV_INDEX", server.url())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.clear_requests();
    assert_eq!(complete("ans"), vec!["ansible", "ansible-lint"]);
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let t = TestContext::new();
    let err = t.fails(&["completions", "tcsh"], 2);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

/// A real interactive shell in a private tmux server: keys are typed, the screen is read.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Start `argv` in a detached 160x40 session with `env` set.
    fn start(w: &World, argv: &[&str]) -> Tmux {
        // One server per session, so a previous one still shutting down cannot interfere.
        let socket = w.t.root().join(format!("tmux-{}.sock", argv[0]));
        let mut cmd = Command::new("tmux");
        w.t.isolate(&mut cmd);
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", w.bin_dir.display());
        let index = w.index.to_str().unwrap().to_string();
        let mut args: Vec<String> = vec![
            "-S".into(),
            socket.to_str().unwrap().into(),
            "-f".into(),
            "/dev/null".into(),
            "new-session".into(),
            "-d".into(),
            "-c".into(),
            w.t.project.to_str().unwrap().into(),
            "-x".into(),
            "160".into(),
            "-y".into(),
            "40".into(),
            "env".into(),
            format!("PATH={path}"),
            format!("DEVENV_INDEX={index}"),
            "TERM=screen".into(),
            "PS1=$ ".into(),
        ];
        args.extend(argv.iter().map(|s| s.to_string()));
        let status = cmd.args(&args).env("TERM", "screen").status().unwrap();
        assert!(status.success(), "tmux failed to start {argv:?}");
        Tmux { socket }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success());
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "0"]).stdout).to_string()
    }

    /// Wait until the screen shows every one of `wanted`; panics with the screen if it never does.
    fn wait_for(&self, wanted: &[&str]) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if wanted.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            if std::time::Instant::now() > deadline {
                panic!("the screen never showed {wanted:?}:\n{screen}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// TAB pressed in real interactive shells lists the package names from the index.
#[test]
fn tab_in_interactive_shells_offers_package_names() {
    let w = World::new();
    let cases: [(&str, Vec<&str>, String); 3] = [
        (
            "bash",
            vec!["bash", "--norc", "--noprofile", "-i"],
            // One TAB lists the candidates (readline's default needs a second, timed TAB).
            format!(
                "bind 'set show-all-if-ambiguous on'; source '{}'",
                w.script("bash").display()
            ),
        ),
        (
            "zsh",
            vec!["zsh", "-f", "-i"],
            format!(
                "unsetopt list_ambiguous; autoload -U compinit && compinit -u -D && source '{}'",
                w.script("zsh").display()
            ),
        ),
        (
            "fish",
            vec!["fish", "--no-config", "-i"],
            format!("source '{}'", w.script("fish").display()),
        ),
    ];
    for (shell, argv, setup) in cases {
        let tmux = Tmux::start(&w, &argv);
        tmux.send(&[&setup, "Enter"]);
        // Arithmetic, so the echoed command line itself cannot match what we wait for.
        let ready = if shell == "fish" {
            "echo loaded-(math 1+1)"
        } else {
            "echo loaded-$((1+1))"
        };
        tmux.send(&[ready, "Enter"]);
        tmux.wait_for(&["loaded-2\n"]);
        // One TAB completes the common prefix and lists both candidates.
        tmux.send(&["devenv add ans", "Tab"]);
        let screen = tmux.wait_for(&["ansible-lint"]);
        assert!(screen.contains("devenv add ansible"), "{shell}:\n{screen}");
        // And a subcommand completes too.
        // Keys are read in order (a signal such as C-c would not be), so clearing the line with
        // C-u cannot overtake the completion still being drawn.
        tmux.send(&["C-u", "devenv doc", "Tab"]);
        tmux.wait_for(&["devenv doctor"]);
    }
}
