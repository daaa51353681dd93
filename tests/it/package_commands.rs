//! `init`, `add`, `rm`, `update`, `list` against the fixture index: what they write to
//! devenv.json and devenv.lock, lock stability, platforms, outputs and Devbox projects.

use crate::common::index::{rev, store_path, version_entry, IndexWorld, SYSTEMS};

fn init(w: &IndexWorld) {
    w.ok(&["init"]);
}

#[test]
fn init_writes_the_template_once() {
    let w = IndexWorld::new();
    let (_, err) = w.ok(&["init"]);
    assert!(err.contains("created devenv.json"), "{err}");
    let text = w.t.read("devenv.json");
    assert!(text.contains("\"$schema\""), "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["packages"], serde_json::json!([]));

    w.t.write("devenv.json", "{ // mine\n}\n");
    let err = w.fails(&["init"], 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(w.t.read("devenv.json"), "{ // mine\n}\n");
}

#[test]
fn add_locks_every_system_with_rev_and_paths() {
    let w = IndexWorld::new();
    init(&w);
    let (_, err) = w.ok(&["add", "ansible@2.16", "--no-install"]);
    assert!(err.contains("ansible@2.16"), "{err}");
    let m: serde_json::Value = serde_json::from_str(&w.t.read("devenv.json")).unwrap();
    assert_eq!(m["packages"], serde_json::json!(["ansible@2.16"]));

    let lock = w.lock();
    assert_eq!(lock["lockfile_version"], "1");
    let e = &lock["packages"]["ansible@2.16"];
    assert_eq!(
        e["version"], "2.16.10",
        "prefix 2.16 = newest 2.16.x, never 2.160"
    );
    assert_eq!(
        e["resolved"],
        format!("github:NixOS/nixpkgs/{}#ansible", rev("ansible-2.16.10"))
    );
    assert_eq!(e["last_modified"], "2024-08-01T00:00:00Z");
    assert_eq!(e["source"], "fixture-index");
    for s in SYSTEMS {
        assert_eq!(
            e["systems"][s]["outputs"][0]["path"],
            store_path("ansible", "2.16.10", s, "out")
        );
    }
    let (list, _) = w.ok(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "ansible");
    assert_eq!(list[0]["version"], "2.16.10");
    let (human, _) = w.ok(&["list"]);
    assert!(
        human.contains("ansible@2.16") && human.contains("2.16.10"),
        "{human}"
    );
}

#[test]
fn constraints_pick_the_expected_versions() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&[
        "add",
        "ansible@~2.16.1",
        "tzdata",
        "hello@<2.12.2",
        "jq@1.6",
        "--no-install",
    ]);
    let lock = w.lock();
    let version = |k: &str| lock["packages"][k]["version"].as_str().unwrap().to_string();
    assert_eq!(version("ansible@~2.16.1"), "2.16.10");
    assert_eq!(version("tzdata@latest"), "2024a");
    assert_eq!(version("hello@<2.12.2"), "2.12.2pre1");
    assert_eq!(version("jq@1.6"), "1.6");
}

#[test]
fn adding_the_same_thing_again_leaves_the_lock_byte_identical() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&["add", "ansible@2.16.5", "jq", "--no-install"]);
    let manifest = w.t.read("devenv.json");
    let lock = w.t.read("devenv.lock");
    let lock_path = w.t.project.join("devenv.lock");
    let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
    filetime::set_file_mtime(&lock_path, old).unwrap();

    w.ok(&["add", "ansible@2.16.5", "--no-install"]);
    assert_eq!(w.t.read("devenv.json"), manifest);
    assert_eq!(w.t.read("devenv.lock"), lock);

    // Nothing new in the index: update does not even touch the file.
    w.ok(&["update", "--no-install"]);
    assert_eq!(w.t.read("devenv.lock"), lock);
    let meta = std::fs::metadata(&lock_path).unwrap();
    assert_eq!(filetime::FileTime::from_last_modification_time(&meta), old);
}

#[test]
fn add_keeps_comments_and_replaces_an_entry_of_the_same_name() {
    let w = IndexWorld::new();
    let original = "{\n  // tools for the CentOS 7 fleet\n  \"packages\": [\n    \"jq@1.6\", // pinned on purpose\n  ],\n  \"env\": {\"A\": \"1\"},\n}\n";
    w.t.write("devenv.json", original);
    w.ok(&["add", "jq@1.7.1", "--no-install"]);
    let text = w.t.read("devenv.json");
    assert!(text.contains("// tools for the CentOS 7 fleet"), "{text}");
    assert!(text.contains("\"env\": {\"A\": \"1\"},"), "{text}");
    assert!(text.contains("\"jq@1.7.1\""), "{text}");
    assert!(!text.contains("jq@1.6"), "{text}");
    let lock = w.lock();
    let keys: Vec<&String> = lock["packages"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["jq@1.7.1"], "the replaced key leaves the lock");
    // jq's default outputs come first in canonical order, all outputs are locked.
    let outs = &lock["packages"]["jq@1.7.1"]["systems"]["x86_64-linux"]["outputs"];
    assert_eq!(outs.as_array().unwrap().len(), 4);
}

#[test]
fn package_missing_on_a_system_is_locked_for_the_others_with_a_warning() {
    let w = IndexWorld::new();
    init(&w);
    let (_, err) = w.ok(&[
        "--system",
        "x86_64-darwin",
        "add",
        "ansible@2.16.5",
        "--no-install",
    ]);
    assert!(
        err.contains("has no build for this system (x86_64-darwin)"),
        "{err}"
    );
    let systems = w.lock()["packages"]["ansible@2.16.5"]["systems"].clone();
    let got: Vec<&String> = systems.as_object().unwrap().keys().collect();
    assert_eq!(got, vec!["aarch64-darwin", "aarch64-linux", "x86_64-linux"]);

    // On Linux the same package is fine here but missing elsewhere: a milder warning.
    let (_, err) = w.ok(&["--system", "x86_64-linux", "add", "iotop", "--no-install"]);
    assert!(
        err.contains("iotop 0.6 has no build for aarch64-darwin, x86_64-darwin"),
        "{err}"
    );
}

#[test]
fn platforms_and_outputs_use_the_map_form_and_limit_the_lock() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&[
        "add",
        "iotop",
        "--platform",
        "x86_64-linux",
        "--platform",
        "aarch64-linux",
        "--no-install",
    ]);
    w.ok(&["add", "jq@1.7.1", "--outputs", "bin,man", "--no-install"]);
    let m: serde_json::Value = serde_json::from_str(&w.t.read("devenv.json")).unwrap();
    assert_eq!(
        m["packages"]["iotop"]["platforms"],
        serde_json::json!(["x86_64-linux", "aarch64-linux"])
    );
    assert_eq!(
        m["packages"]["jq"]["outputs"],
        serde_json::json!(["bin", "man"])
    );
    let lock = w.lock();
    let systems: Vec<&String> = lock["packages"]["iotop@latest"]["systems"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(systems, vec!["aarch64-linux", "x86_64-linux"]);

    let err = w.fails(
        &[
            "add",
            "jq",
            "--platform",
            "x86_64-linux",
            "--exclude-platform",
            "aarch64-linux",
            "--no-install",
        ],
        2,
    );
    assert!(
        err.contains("platforms") && err.contains("excluded_platforms"),
        "{err}"
    );
}

#[test]
fn rm_removes_the_entry_and_its_lock_key() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&["add", "jq", "ansible@2.16", "--no-install"]);
    let (_, err) = w.ok(&["rm", "jq", "--no-install"]);
    assert!(err.contains("removed jq"), "{err}");
    let m: serde_json::Value = serde_json::from_str(&w.t.read("devenv.json")).unwrap();
    assert_eq!(m["packages"], serde_json::json!(["ansible@2.16"]));
    let lock = w.lock();
    let keys: Vec<&String> = lock["packages"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["ansible@2.16"]);
}

#[test]
fn update_moves_to_new_versions_and_adds_systems_without_churn() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&["add", "ansible@2.16", "ansible-lint", "--no-install"]);
    let before = w.lock();

    // Same version republished from another revision with x86_64-darwin: nothing changes.
    w.edit_package("ansible-lint", |v| {
        v["versions"][0]["rev"] = rev("other").into();
    });
    w.ok(&["update", "--no-install"]);
    assert_eq!(w.lock(), before);

    // A new 2.16.x appears: update takes it.
    w.edit_package("ansible", |v| {
        v["versions"].as_array_mut().unwrap().push(version_entry(
            "ansible",
            "2.16.11",
            "2024-09-01",
            &SYSTEMS,
            &[("out", true)],
        ));
    });
    let (out, err) = w.ok(&["update", "ansible", "--no-install", "--json"]);
    assert!(err.contains("updated ansible 2.16.10 -> 2.16.11"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["status"], "updated");
    let after = w.lock();
    assert_eq!(after["packages"]["ansible@2.16"]["version"], "2.16.11");
    assert_eq!(
        after["packages"]["ansible-lint@latest"],
        before["packages"]["ansible-lint@latest"]
    );
}

#[test]
fn update_adds_a_missing_system_and_keeps_the_locked_revision() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&["add", "ansible@2.16.5", "--no-install"]);
    let before = w.lock();
    assert!(before["packages"]["ansible@2.16.5"]["systems"]["x86_64-darwin"].is_null());
    w.edit_package("ansible", |v| {
        for e in v["versions"].as_array_mut().unwrap() {
            if e["version"] == "2.16.5" {
                let fresh = version_entry(
                    "ansible",
                    "2.16.5",
                    "2024-10-01",
                    &SYSTEMS,
                    &[("out", true)],
                );
                e["systems"] = fresh["systems"].clone();
                e["rev"] = rev("a later revision").into();
            }
        }
    });
    let (_, err) = w.ok(&["update", "--no-install"]);
    assert!(err.contains("added x86_64-darwin"), "{err}");
    let after = w.lock();
    let e = &after["packages"]["ansible@2.16.5"];
    assert_eq!(
        e["resolved"],
        before["packages"]["ansible@2.16.5"]["resolved"]
    );
    assert_eq!(
        e["systems"]["x86_64-linux"],
        before["packages"]["ansible@2.16.5"]["systems"]["x86_64-linux"]
    );
    assert!(e["systems"]["x86_64-darwin"].is_object());
}

const DEVBOX_JSON: &str = r#"{
  "$schema": "https://raw.githubusercontent.com/jetify-com/devbox/0.13.0/.schema/devbox.schema.json",
  "packages": ["jq@1.7.1"],
  "shell": {"init_hook": ["echo hi"], "scripts": {"t": "jq --version"}}
}
"#;

fn devbox_lock() -> String {
    let path = store_path("jq", "1.7.1", "x86_64-linux", "bin");
    format!(
        r#"{{
  "lockfile_version": "1",
  "packages": {{
    "jq@1.7.1": {{
      "last_modified": "2024-01-01T00:00:00Z",
      "resolved": "github:NixOS/nixpkgs/{}#jq",
      "source": "devbox-search",
      "version": "1.7.1",
      "systems": {{
        "x86_64-linux": {{
          "outputs": [{{"name": "bin", "path": "{path}", "default": true}}],
          "store_path": "{path}"
        }}
      }}
    }},
    "github:NixOS/nixpkgs/nixpkgs-unstable": {{
      "last_modified": "2024-06-13T14:05:44Z",
      "resolved": "github:NixOS/nixpkgs/9f11f828c213641c2369a9f1fa31fe31557e3156?lastModified=1781359544"
    }}
  }}
}}
"#,
        rev("jq-1.7.1")
    )
}

#[test]
fn devbox_projects_are_read_and_converted_keeping_store_paths() {
    let w = IndexWorld::new();
    w.t.write("devbox.json", DEVBOX_JSON);
    w.t.write("devbox.lock", &devbox_lock());
    let (list, _) = w.ok(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["key"], "jq@1.7.1");
    assert_eq!(list[0]["version"], "1.7.1");

    // Devbox files are read, not rewritten.
    let err = w.fails(&["add", "hello", "--no-install"], 2);
    assert!(err.contains("init --from-devbox"), "{err}");

    w.ok(&["init", "--from-devbox"]);
    let m: serde_json::Value = serde_json::from_str(&w.t.read("devenv.json")).unwrap();
    assert_eq!(m["packages"], serde_json::json!(["jq@1.7.1"]));
    let lock = w.lock();
    assert_eq!(
        lock["packages"]["jq@1.7.1"]["systems"]["x86_64-linux"]["outputs"][0]["path"],
        store_path("jq", "1.7.1", "x86_64-linux", "bin")
    );
    assert_eq!(
        w.t.read("devbox.json"),
        DEVBOX_JSON,
        "devbox.json is left alone"
    );
    // Now a devenv project: add works and keeps the converted entry.
    w.ok(&["add", "hello", "--no-install"]);
    let lock2 = w.lock();
    assert_eq!(lock2["packages"]["jq@1.7.1"], lock["packages"]["jq@1.7.1"]);
}

/// Devbox keeps entries it never resolved (no `resolved`); devenv's lock cannot hold them, so
/// the conversion leaves them out, says so, and writes a lock devenv reads.
#[test]
fn devbox_entries_never_resolved_are_left_out_of_the_converted_lock() {
    let w = IndexWorld::new();
    w.t.write(
        "devbox.json",
        &DEVBOX_JSON.replace(r#"["jq@1.7.1"]"#, r#"["jq@1.7.1", "poetry"]"#),
    );
    let lock = devbox_lock().replacen(
        r#""packages": {"#,
        r#""packages": {
    "poetry": {"plugin_version": "0.0.4"},"#,
        1,
    );
    w.t.write("devbox.lock", &lock);
    let (_, err) = w.ok(&["init", "--from-devbox"]);
    assert!(
        err.contains("Devbox never resolved `poetry@latest`"),
        "{err}"
    );
    let lock = w.lock();
    assert!(lock["packages"]["jq@1.7.1"].is_object());
    assert!(lock["packages"].get("poetry@latest").is_none());
    let (list, _) = w.ok(&["list", "--json"]);
    assert!(list.contains("jq@1.7.1"), "{list}");
}

/// In a real terminal (tmux), an unknown name offers the closest names; picking one adds it.
#[test]
fn unknown_name_in_a_terminal_offers_the_closest_names() {
    let w = IndexWorld::new();
    init(&w);
    let socket = w.t.root().join("tmux.sock");
    let q = |s: &str| shell_words::quote(s).into_owned();
    let home = &w.t.home;
    let script = format!(
        "env -i PATH=/usr/bin:/bin TERM=xterm HOME={h} XDG_CONFIG_HOME={h}/.config XDG_CACHE_HOME={h}/.cache \
         XDG_DATA_HOME={h}/.local/share XDG_STATE_HOME={h}/.local/state DEVENV_INDEX={idx} \
         sh -c 'cd {proj} && {bin} add ansibel --no-install; echo EXIT=$?; sleep 60'",
        h = q(home.to_str().unwrap()),
        idx = q(&w.index_url),
        proj = q(w.t.project.to_str().unwrap()),
        bin = q(env!("CARGO_BIN_EXE_devenv")),
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .output()
            .expect("tmux is installed")
    };
    let started = tmux(&["new-session", "-d", "-x", "120", "-y", "30", &script]);
    assert!(started.status.success(), "{started:?}");
    let wait_for = |needle: &str| -> String {
        for _ in 0..200 {
            let pane = String::from_utf8(tmux(&["capture-pane", "-p"]).stdout).unwrap();
            if pane.contains(needle) {
                return pane;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let pane = String::from_utf8(tmux(&["capture-pane", "-p"]).stdout).unwrap();
        tmux(&["kill-server"]);
        panic!("never saw {needle:?} in:\n{pane}");
    };
    let pane = wait_for("did you mean");
    assert!(pane.contains("ansible"), "{pane}");
    tmux(&["send-keys", "Enter"]);
    let pane = wait_for("EXIT=");
    tmux(&["kill-server"]);
    assert!(pane.contains("EXIT=0"), "{pane}");
    let m: serde_json::Value = serde_json::from_str(&w.t.read("devenv.json")).unwrap();
    assert_eq!(m["packages"], serde_json::json!(["ansible@latest"]));
    assert_eq!(w.lock()["packages"]["ansible@latest"]["version"], "2.160.0");
}

/// Concurrent `add`s in one project are serialized: every package ends up in both files.
#[test]
fn concurrent_adds_do_not_lose_each_other() {
    let w = IndexWorld::new();
    init(&w);
    let pkgs = ["jq", "hello", "tzdata", "ansible-lint", "iotop"];
    let children: Vec<_> = pkgs
        .iter()
        .map(|p| {
            w.t.cmd()
                .env("DEVENV_INDEX", &w.index_url)
                .args(["add", p, "--no-install"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let m: serde_json::Value = serde_json::from_str(&w.t.read("devenv.json")).unwrap();
    let lock = w.lock();
    for p in pkgs {
        let entry = format!("{p}@latest");
        assert!(
            m["packages"]
                .as_array()
                .unwrap()
                .contains(&entry.clone().into()),
            "{m}"
        );
        assert!(lock["packages"][&entry].is_object(), "{lock}");
    }
}

/// What the commands write validates against the published JSON Schemas.
#[test]
fn written_files_validate_against_the_schemas() {
    let w = IndexWorld::new();
    init(&w);
    w.ok(&["add", "ansible@2.16", "tzdata", "--no-install"]);
    w.ok(&["add", "jq@1.7.1", "--outputs", "bin,man", "--no-install"]);
    w.ok(&["add", "iotop", "--platform", "x86_64-linux", "--no-install"]);
    for (schema, file) in [
        ("devenv.schema.json", "devenv.json"),
        ("devenv.lock.schema.json", "devenv.lock"),
    ] {
        let instance: serde_json::Value = serde_json::from_str(&w.t.read(file)).unwrap();
        crate::common::json_schema::Schema::devenv(schema)
            .checks()
            .valid(file, instance)
            .run();
    }
}

#[test]
fn add_and_rm_keep_an_allowed_project_allowed_and_never_allow_by_themselves() {
    use devenv::shell::trust::{Trust, TrustStore};
    let w = IndexWorld::new();
    init(&w);
    let trust = TrustStore::new(&w.t.home.join(".local/share/devenv"));
    let root = w.t.project.canonicalize().unwrap();
    // An allowance is bound to the bytes of manifest and lock, as `Inputs` reads them.
    let status = || {
        let project = devenv::app::Project::at(&w.t.project).unwrap();
        let inputs = devenv::app::Inputs::read(&project).unwrap();
        trust.status(&root, &inputs.trust_content()).unwrap()
    };

    w.ok(&["add", "ansible-lint", "--no-install"]);
    assert_eq!(status(), Trust::NotAllowed, "add must not allow a project");
    w.ok(&["allow"]);
    assert_eq!(status(), Trust::Allowed);
    w.ok(&["add", "ansible@2.16", "--no-install"]);
    assert_eq!(status(), Trust::Allowed, "the user's own add is consent");
    w.ok(&["rm", "ansible-lint", "--no-install"]);
    assert_eq!(status(), Trust::Allowed, "the user's own rm is consent");
    w.ok(&["deny"]);
    w.ok(&["add", "ansible-lint", "--no-install"]);
    assert_eq!(status(), Trust::Denied, "a denied project stays denied");
}
