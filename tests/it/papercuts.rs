//! Small things a newcomer trips over: a hook whose binary moved stays quiet (or finds devenv on
//! PATH) in bash, zsh and fish, and `devenv run` alone lists the project's scripts.

use crate::common::shells::ShellWorld;

/// Per shell: enter the project and run two prompts, then print whether FOO is set.
fn enter_script(shell: &str, path: &str) -> String {
    match shell {
        "fish" => format!(
            "set -gx PATH {path}\ncd $ROOT/proj; prompt; prompt\nif set -q FOO; echo FOO=$FOO; else; echo FOO=unset; end\n"
        ),
        _ => format!(
            "PATH={path}\ncd \"$ROOT/proj\"; prompt; prompt\necho \"FOO=${{FOO-unset}}\"\n"
        ),
    }
}

#[test]
fn a_moved_binary_leaves_the_hook_quiet_or_uses_devenv_on_path() {
    for shell in ["bash", "zsh", "fish"] {
        let w = ShellWorld::new();
        let p = w.project("proj", r#"{"env": {"FOO": "1"}}"#);
        w.allow(&p);
        // The path the hook was generated with is gone (an upgrade moved the binary).
        let moved = w.t.root().join("moved");
        std::fs::create_dir_all(&moved).unwrap();
        std::fs::rename(w.t.root().join("wrap/devenv"), moved.join("devenv")).unwrap();

        let out = w.script(shell, &enter_script(shell, "/usr/bin:/bin"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{shell}: {stdout}{stderr}");
        assert_eq!(stdout, "FOO=unset\n", "{shell}");
        assert_eq!(
            stderr, "",
            "{shell}: no devenv anywhere, no message at every prompt"
        );

        let path = format!("{}:/usr/bin:/bin", moved.display());
        let out = w.script(shell, &enter_script(shell, &path));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout,
            "FOO=1\n",
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            w.export_calls(),
            1,
            "{shell}: devenv on PATH loaded it once"
        );
    }
}

#[test]
fn run_without_arguments_lists_the_scripts() {
    let w = ShellWorld::new();
    let p = w.project(
        "proj",
        r#"{"packages": ["not-resolved@1"],
            "shell": {"scripts": {"lint": "ansible-lint site.yml", "deploy": ["echo a", "echo b", "echo c"]}}}"#,
    );
    let out = w.t.cmd().current_dir(&p).arg("run").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    // A listing installs nothing: the package above could not even be resolved.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "deploy  echo a  (+2 more lines)\nlint    ansible-lint site.yml\n"
    );
    let out =
        w.t.cmd()
            .current_dir(&p)
            .args(["run", "--json"])
            .output()
            .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["deploy"][2], "echo c");
    assert_eq!(json["lint"][0], "ansible-lint site.yml");

    let bare = w.project("bare", r#"{"env": {}}"#);
    let out = w.t.cmd().current_dir(&bare).arg("run").output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("devenv.json` defines no scripts; add them under `shell.scripts`, or run any command with `devenv run <command> [args…]`"),
        "{err}"
    );
}
