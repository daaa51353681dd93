//! Devbox projects as they are published: `null` where Devbox reads it as unset, every key of
//! Devbox's manifest read (what devenv cannot honour warned about once, at its position), and the
//! variables Devbox sets in every environment.

use crate::common::TestContext;

/// Keys from Devbox's schema and its Go types, with `null` in the places real projects have it.
const EVERY_FIELD: &str = r#"{
  "$schema": "https://raw.githubusercontent.com/jetify-com/devbox/0.10.1/.schema/devbox.schema.json",
  "name": "every-field",
  "description": null,
  "packages": {
    "go": null,
    "jq": {"version": "", "patch_glibc": true, "allow_insecure": null, "disable_plugin": false}
  },
  "env": {"NOTHING": null, "PLAYBOOKS": "$DEVBOX_PROJECT_ROOT/.playbooks"},
  "env_from": ".env",
  "aliases": {"ll": "ls -l"},
  "nixpkgs": {"commit": "f80ac848e3d6f0c12c52758c0f25c10c97ca3b62"},
  "shell": {
    "init_hook": null,
    "scripts": {"vars": "echo \"$PLAYBOOKS|$DEVBOX_PROJECT_ROOT|$DEVBOX_CONFIG_DIR|$DEVBOX_WD|$DEVENV_PROJECT_ROOT|${NOTHING-unset}\"", "empty": null}
  }
}
"#;

fn stderr_of(t: &TestContext, args: &[&str]) -> String {
    let out = t.run(args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// Five of Devbox's own examples have `"init_hook": null`; it was refused with exit 2 by every
/// command, `init --from-devbox` too.
#[test]
fn null_init_hook_is_no_hook() {
    let t = TestContext::new();
    t.write(
        "devbox.json",
        r#"{"packages": [], "shell": {"init_hook": null, "scripts": {"hi": "echo hi"}}}"#,
    );
    assert_eq!(t.ok(&["run", "hi"]), "hi\n");
    t.ok(&["init", "--from-devbox"]);
    assert_eq!(t.ok(&["run", "hi"]), "hi\n");
}

#[test]
fn every_devbox_field_is_read_and_what_is_not_honoured_is_said_once() {
    let t = TestContext::new();
    t.write("devbox.json", EVERY_FIELD);
    let text = format!("$ devenv list\n{}", stderr_of(&t, &["list"]));
    crate::snapshots::settings(&t).assert_snapshot("devbox__every_field", &text);
    t.ok(&["init", "--from-devbox"]);
    let err = stderr_of(&t, &["list"]);
    assert!(
        err.is_empty(),
        "the converted manifest has nothing left to warn about: {err}"
    );
}

/// `DEVBOX_PROJECT_ROOT`, `DEVBOX_CONFIG_DIR`, `DEVBOX_PACKAGES_DIR`, `DEVBOX_WD` and
/// `DEVENV_PROJECT_ROOT` are set in scripts, `env` (once empty, so `"$DEVBOX_PROJECT_ROOT/x"`
/// became `/x`), the hook's export and `shellenv`.
#[test]
fn devbox_variables_are_set_in_every_environment() {
    let t = TestContext::new();
    // No packages: nothing to install, the environment is the variables alone.
    let start = EVERY_FIELD.find("\"packages\"").unwrap();
    let end = EVERY_FIELD.find("\"env\"").unwrap();
    t.write(
        "devbox.json",
        &format!("{}{}", &EVERY_FIELD[..start], &EVERY_FIELD[end..]),
    );
    std::fs::create_dir_all(t.project.join("sub")).unwrap();
    let root = t.project.display().to_string();
    let mut cmd = t.cmd();
    cmd.current_dir(t.project.join("sub"))
        .env("PWD", t.project.join("sub"))
        .args(["run", "vars"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{root}/.playbooks|{root}|{root}/devbox.d|{root}/sub|{root}|\n")
    );
    let out = t.ok(&["run", "sh", "-c", "echo \"$DEVBOX_PACKAGES_DIR\""]);
    assert!(
        out.starts_with(&t.home.display().to_string()) && out.ends_with("/current\n"),
        "{out}"
    );
    let shellenv = t.ok(&["shellenv", "--shell", "bash"]);
    for expected in [
        format!("export DEVBOX_PROJECT_ROOT='{root}'"),
        format!("export DEVBOX_CONFIG_DIR='{root}/devbox.d'"),
        format!("export DEVBOX_WD='{root}'"),
        format!("export PLAYBOOKS='{root}/.playbooks'"),
        "export DEVBOX_PACKAGES_DIR=".to_string(),
    ] {
        assert!(shellenv.contains(&expected), "{expected} in {shellenv}");
    }
}

/// A loopback binary cache with no paths at all: every narinfo is a 404, and the requests say
/// exactly which store paths `install` looked for.
pub(crate) fn empty_cache(t: &TestContext) -> crate::common::http::Server {
    let dir = t.root().join("empty-cache");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("nix-cache-info"),
        "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n",
    )
    .unwrap();
    crate::common::http::Server::serve_dir(&dir)
}

/// The store path hashes whose narinfo was asked for, sorted.
pub(crate) fn narinfos_asked(server: &crate::common::http::Server) -> Vec<String> {
    let mut asked: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.strip_suffix(".narinfo"))
        .map(|r| r.trim_start_matches('/').to_string())
        .collect();
    asked.sort();
    asked.dedup();
    asked
}

fn hash_of(store_path: &str) -> String {
    store_path["/nix/store/".len()..]["".len()..32].to_string()
}

/// Locks from 2023 and earlier: `hello@2.12` pinned to 2.12.1 with a revision and no `systems`,
/// and an unversioned `"source": "nixpkg"` entry. `install --frozen` installs them from exactly
/// that revision (the index's record of it), never the newer 2.12.2 that `update` used to pick;
/// a revision the index does not have is named with the way forward.
#[test]
fn old_devbox_locks_install_as_locked() {
    use crate::common::index::{rev, store_path, IndexWorld};
    let w = IndexWorld::new();
    let cache = empty_cache(&w.t);
    w.t.write(
        "devbox.json",
        r#"{"packages": ["hello@2.12", "jq"], "shell": {"init_hook": null}}"#,
    );
    let lock = format!(
        r#"{{
  "lockfile_version": "1",
  "packages": {{
    "hello@2.12": {{
      "last_modified": "2022-06-01T00:00:00Z",
      "resolved": "github:NixOS/nixpkgs/{}#hello",
      "source": "devbox-search",
      "version": "2.12.1"
    }},
    "jq": {{
      "resolved": "github:NixOS/nixpkgs/{}#jq",
      "source": "nixpkg"
    }}
  }}
}}
"#,
        rev("hello-2.12.1"),
        rev("jq-1.6")
    );
    w.t.write("devbox.lock", &lock);
    let url = cache.url();
    let args = [
        "install",
        "--frozen",
        "--system",
        "x86_64-linux",
        "--substituters",
        &url,
    ];
    // No Nix on PATH: nothing is evaluated or built, only the index and the cache are asked.
    let no_nix = w.t.root().join("no-nix");
    std::fs::create_dir_all(&no_nix).unwrap();
    let fails = |args: &[&str]| {
        let out =
            w.t.cmd()
                .env("DEVENV_INDEX", &w.index_url)
                .env("PATH", &no_nix)
                .args(args)
                .output()
                .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        err
    };
    let err = fails(&args);
    assert!(
        err.contains("are in none of the binary caches asked"),
        "{err}"
    );
    let mut expected: Vec<String> = [
        store_path("hello", "2.12.1", "x86_64-linux", "out"),
        store_path("jq", "1.6", "x86_64-linux", "bin"),
        store_path("jq", "1.6", "x86_64-linux", "man"),
    ]
    .iter()
    .map(|p| hash_of(p))
    .collect();
    expected.sort();
    assert_eq!(narinfos_asked(&cache), expected, "{err}");
    assert_eq!(w.t.read("devbox.lock"), lock, "the lock is left as it was");

    // A revision the index has no record of.
    w.t.write(
        "devbox.lock",
        &lock.replace(&rev("jq-1.6"), &rev("elsewhere")),
    );
    let err = fails(&args);
    let text = format!("$ devenv install --frozen\n{err}");
    crate::snapshots::settings(&w.t)
        .assert_snapshot("devbox__old_lock_revision_not_in_the_index", &text);
}

/// A stand-in `python3` with what the python plugin's hook uses: `-c 'import venv'` and
/// `-m venv DIR` (which writes an `activate` setting `VIRTUAL_ENV`, as the real one does).
const STAND_IN_PYTHON: &str = r#"#!/bin/sh
case "$1" in
  -c) exit 0 ;;
  -m) mkdir -p "$3/bin"; printf 'export VIRTUAL_ENV="%s"\n' "$3" > "$3/bin/activate"; echo created >> "$3/../venv-created" ;;
esac
"#;

/// Built-in plugins (`plugin:python`, `plugin:redis`) and a local plugin directory: their `env`,
/// files, `init_hook` and scripts reach the project's scripts unchanged, as in Devbox; a local
/// plugin's packages join the project's; services are listed.
#[test]
fn builtin_and_local_plugins_reach_scripts() {
    let t = TestContext::new();
    let bin = t.root().join("stand-in-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let python = bin.join("python3");
    std::fs::write(&python, STAND_IN_PYTHON).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    t.write(
        "my-plugin/plugin.json",
        r#"{
  "name": "my-plugin",
  // Devbox's plugin files may have comments.
  "env": {"MY_VAR": "{{ .Virtenv }}/state", "PROJECT_VAR": "from-plugin"},
  "create_files": {"{{ .DevboxDir }}/settings.txt": "settings.txt", "{{ .Virtenv }}/process-compose.yaml": "process-compose.yaml"},
  "shell": {"init_hook": ["export FROM_HOOK=plugin-hook"], "scripts": {"plugin_script": "echo plugin script"}}
}"#,
    );
    t.write("my-plugin/settings.txt", "setting=1\n");
    t.write("my-plugin/process-compose.yaml", "processes: {}\n");
    t.write(
        "devbox.json",
        r#"{
  "packages": [],
  "include": ["plugin:python", "path:my-plugin", "plugin:redis"],
  "env": {"PROJECT_VAR": "from-project"},
  "shell": {
    "init_hook": [". $VENV_DIR/bin/activate"],
    "scripts": {"check": "echo \"$VIRTUAL_ENV|$MY_VAR|$REDIS_CONF|$FROM_HOOK|$PROJECT_VAR\""}
  }
}"#,
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        let out = t.cmd().env("PATH", &path).args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let root = t.project.display().to_string();
    assert_eq!(
        run(&["run", "check"]),
        format!("{root}/.venv|{root}/.devbox/virtenv/my-plugin/state|{root}/devbox.d/redis/redis.conf|plugin-hook|from-project\n")
    );
    assert_eq!(run(&["run", "plugin_script"]), "plugin script\n");
    assert_eq!(t.read("devbox.d/my-plugin/settings.txt"), "setting=1\n");
    assert!(t
        .read("devbox.d/redis/redis.conf")
        .contains("bind 127.0.0.1"));
    assert_eq!(
        t.read("venv-created"),
        "created\n",
        "the venv is created once"
    );
    run(&["run", "check"]);
    assert_eq!(t.read("venv-created"), "created\n");

    let out = t.cmd().env("PATH", &path).args(["list"]).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("services: my-plugin (plugin my-plugin), redis (plugin redis)"),
        "{err}"
    );
    // A plugin's packages are the project's when Devbox locked them (devenv does not rewrite
    // devbox.lock, and Devbox locked plugin packages only with some plugin versions).
    t.write(
        "my-plugin/plugin.json",
        r#"{"name": "my-plugin", "packages": ["hello@2.12"]}"#,
    );
    let list: serde_json::Value = serde_json::from_str(&run(&["list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!([]));
    t.write(
        "devbox.lock",
        &format!(
            r#"{{"lockfile_version": "1", "packages": {{"hello@2.12": {{
  "resolved": "github:NixOS/nixpkgs/{}#hello", "version": "2.12.1",
  "systems": {{"x86_64-linux": {{"outputs": [{{"name": "out", "path": "/nix/store/{}-hello-2.12.1", "default": true}}]}}}}}}}}}}"#,
            "a".repeat(40),
            "b".repeat(32)
        ),
    );
    let list: serde_json::Value = serde_json::from_str(&run(&["list", "--json"])).unwrap();
    assert_eq!(list[0]["key"], "hello@2.12");
    assert_eq!(list[0]["version"], "2.12.1");
}

/// What devenv cannot do with a project's plugins is said once each, naming where it was asked.
#[test]
fn plugin_warnings() {
    let t = TestContext::new();
    t.write(
        "plugins/broken.json",
        r#"{"name": "broken", "env": {"HOME": "/elsewhere"}, "create_files": {"{{ .Virtenv }}/x": "missing.txt"}, "packages": ["github:org/flake#tool"], "shell": {"init_hook": ["echo {{ .Unknown }}"]}}"#,
    );
    t.write(
        "devbox.json",
        r#"{
  "packages": [],
  "include": [
    "plugin:caddy",
    "github:jetify-com/devbox-plugins?dir=mongodb",
    "path:./plugins/absent.json",
    "path:./plugins/broken.json"
  ]
}
"#,
    );
    let text = format!("$ devenv list\n{}", stderr_of(&t, &["list"]));
    crate::snapshots::settings(&t).assert_snapshot("devbox__plugin_warnings", &text);
}

/// An old entry whose revision the index has no record of is evaluated with Nix, from that
/// revision of the nixpkgs checkout, only under `devenv install` typed by the user (a `cd` or
/// `run` says why it cannot); then built like any path no cache has.
#[test]
fn an_old_entry_the_index_lacks_is_evaluated_by_install_only() {
    use crate::common::index::IndexWorld;
    use crate::common::nixfix;
    let system = devenv::system::current();
    let w = IndexWorld::new();
    let cache = empty_cache(&w.t);
    // A git checkout standing in for nixpkgs (DEVENV_NIXPKGS), at the revision the lock names.
    let flake = w.t.root().join("nixpkgs");
    let rev = nixfix::fixture_flake(&flake, "devbox-old-lock", &system);
    w.t.write(
        "devbox.json",
        r#"{"packages": ["fixapp@2.0"], "shell": {"scripts": {"app": "fixapp"}}}"#,
    );
    w.t.write(
        "devbox.lock",
        &format!(
            r#"{{"lockfile_version": "1", "packages": {{"fixapp@2.0": {{
  "resolved": "github:NixOS/nixpkgs/{rev}#fixapp", "source": "devbox-search", "version": "2.0"}}}}}}"#
        ),
    );
    let run = |args: &[&str]| {
        w.t.cmd()
            .env("DEVENV_INDEX", &w.index_url)
            .env("DEVENV_SUBSTITUTERS", cache.url())
            .env("DEVENV_NIXPKGS", &flake)
            .env(
                "NIX_CONFIG",
                "build-users-group =\nsandbox = false\nsubstituters =\nflake-registry = /dev/null",
            )
            .args(args)
            .output()
            .unwrap()
    };
    // `run` never evaluates: it says why and how.
    let out = run(&["run", "app"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`devenv install` (typed by you, with Nix installed) evaluates it"),
        "{err}"
    );
    // `install` evaluates the locked revision and builds it.
    let out = run(&["install", "--frozen"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "evaluating git+file://{}?rev={rev}#fixapp with Nix",
            flake.display()
        )),
        "{err}"
    );
    let out = run(&["run", "app"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("fixtool 1.0 devbox-old-lock"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Devbox hook written for bash (`source`, `[[`) works under `devenv run` as it does in a
/// shell, even where `/bin/sh` is dash; devenv's own manifests keep POSIX `sh`.
#[test]
fn devbox_scripts_run_in_bash_and_devenv_scripts_in_sh() {
    let t = TestContext::new();
    t.write("env.sh", "GREETING=hello\n");
    t.write(
        "devbox.json",
        r#"{"packages": [], "shell": {
            "init_hook": ["source ./env.sh", "[[ -n $GREETING ]] || exit 7"],
            "scripts": {"hi": "echo \"$GREETING from ${BASH_VERSION:+bash}\""}}}"#,
    );
    assert_eq!(t.ok(&["run", "hi"]), "hello from bash\n");
    std::fs::remove_file(t.project.join("devbox.json")).unwrap();
    t.write(
        "devenv.json",
        r#"{"packages": [], "shell": {"scripts": {"which": "echo \"${BASH_VERSION:-sh}\""}}}"#,
    );
    let out = t.ok(&["run", "which"]);
    // `sh` is bash on some systems; where it is not, the devenv script saw no BASH_VERSION.
    let sh_is_bash = std::fs::canonicalize("/bin/sh")
        .map(|p| p.ends_with("bash"))
        .unwrap_or(false);
    if !sh_is_bash {
        assert_eq!(out, "sh\n");
    }
}
