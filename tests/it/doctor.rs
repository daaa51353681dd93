//! `devenv doctor` against a throwaway world: a loopback binary cache and index that are up, then
//! down; a bad trusted key; an unwritable store root; a missing shell hook whose printed fix,
//! when run, makes the check pass.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::http::{Fault, Server};
use crate::common::TestContext;
use serde_json::Value;

const GOOD_KEY: &str = "cache.example.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

/// A world where everything doctor looks at is fine: a served binary cache, a served static
/// index, a writable store root, bash as the shell with the hook in `~/.bashrc`, and a project.
struct World {
    t: TestContext,
    served: PathBuf,
    server: Server,
}

impl World {
    fn new() -> World {
        let t = TestContext::new();
        let served = t.root().join("served");
        std::fs::create_dir_all(served.join("cache")).unwrap();
        std::fs::create_dir_all(served.join("index")).unwrap();
        std::fs::write(
            served.join("cache/nix-cache-info"),
            "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n",
        )
        .unwrap();
        std::fs::write(served.join("index/index.json"), "{\"format\": 1}\n").unwrap();
        std::fs::write(
            t.home.join(".bashrc"),
            "# mine\neval \"$(devenv hook bash)\"\n",
        )
        .unwrap();
        t.write("devenv.json", "{\"packages\": []}\n");
        let server = Server::serve_dir(&served);
        World { t, served, server }
    }

    fn cmd(&self) -> Command {
        let mut cmd = self.t.cmd();
        cmd.env("SHELL", "/bin/bash")
            .env("DEVENV_INDEX", format!("{}/index", self.server.url()))
            .env(
                "DEVENV_SUBSTITUTERS",
                format!("{}/cache", self.server.url()),
            )
            .env("DEVENV_TRUSTED_PUBLIC_KEYS", GOOD_KEY);
        cmd
    }
}

/// Run `doctor --json`: exit code and the parsed report.
fn doctor_json(cmd: &mut Command) -> (Option<i32>, Value) {
    let out = cmd.args(["doctor", "--json"]).output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json printed no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

/// The checks named `name`.
fn checks<'a>(json: &'a Value, name: &str) -> Vec<&'a Value> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .collect()
}

fn one<'a>(json: &'a Value, name: &str) -> &'a Value {
    let found = checks(json, name);
    assert_eq!(found.len(), 1, "{name}: {json:#}");
    found[0]
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_healthy_setup_passes_every_check() {
    let w = World::new();
    let (code, json) = doctor_json(&mut w.cmd());
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["ok"], true);
    let store = one(&json, "store");
    assert_eq!(store["status"], "ok");
    let summary = store["summary"].as_str().unwrap();
    assert!(
        summary.contains(&w.t.store_root.join("nix/store").display().to_string())
            && summary.contains("DEVENV_STORE_ROOT"),
        "says which root and why: {summary}"
    );
    assert_eq!(one(&json, "index")["status"], "ok");
    assert_eq!(one(&json, "substituter")["status"], "ok");
    assert_eq!(one(&json, "trusted-keys")["status"], "ok");
    let hook = one(&json, "hook");
    assert_eq!(hook["status"], "ok", "{hook:#}");
    assert!(hook["details"][0].as_str().unwrap().ends_with(".bashrc"));
    let project = one(&json, "project");
    assert!(project["summary"]
        .as_str()
        .unwrap()
        .contains(&w.t.project.display().to_string()));
    // This machine's Nix (nix-bin) is found and its version reported.
    let nix = one(&json, "nix");
    assert_eq!(nix["status"], "ok", "{nix:#}");
    assert!(nix["summary"].as_str().unwrap().contains("2."), "{nix:#}");
    // Every request went to the loopback server, each once.
    let requests = w.server.requests();
    assert!(
        requests.iter().any(|r| r.contains("/cache/nix-cache-info")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.contains("/index/index.json")),
        "{requests:?}"
    );
}

#[test]
fn unreachable_cache_and_index_fail_with_the_fixing_command() {
    let w = World::new();
    let url = w.server.url();
    drop(w.server);
    let local_cache = w.served.join("cache");
    let mut cmd = w.t.cmd();
    cmd.env("SHELL", "/bin/bash")
        .env("DEVENV_INDEX", format!("{url}/index"))
        .env(
            "DEVENV_SUBSTITUTERS",
            format!("{url}/cache file://{}", local_cache.display()),
        );
    let (code, json) = doctor_json(&mut cmd);
    assert_eq!(code, Some(1));
    assert_eq!(json["ok"], false);
    let index = one(&json, "index");
    assert_eq!(index["status"], "fail");
    assert!(index["summary"].as_str().unwrap().contains("not reachable"));
    let subs = checks(&json, "substituter");
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["status"], "fail", "{:#}", subs[0]);
    assert!(subs[0]["summary"].as_str().unwrap().contains(&url));
    // The fix keeps the cache that works and drops the one that does not.
    assert_eq!(
        subs[0]["fix"],
        format!(
            "export DEVENV_SUBSTITUTERS=\"file://{}\"",
            local_cache.display()
        )
    );
    assert_eq!(
        subs[1]["status"], "ok",
        "a directory cache is checked on disk"
    );
}

#[test]
fn a_bad_trusted_key_is_named_and_the_fix_keeps_the_good_ones() {
    let w = World::new();
    let mut cmd = w.cmd();
    cmd.env(
        "DEVENV_TRUSTED_PUBLIC_KEYS",
        format!("{GOOD_KEY} mykey:AAAA not-a-key"),
    );
    let out = cmd.arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out);
    assert!(report.contains("FAIL  trusted-keys"), "{report}");
    assert!(
        report.contains("`mykey:AAAA`: its key is 3 bytes"),
        "{report}"
    );
    assert!(
        report.contains("`not-a-key`: it has no `name:` part"),
        "{report}"
    );
    let fix = report
        .lines()
        .find(|l| l.contains("fix: export DEVENV_TRUSTED_PUBLIC_KEYS"))
        .unwrap_or_else(|| panic!("no fix line:\n{report}"));
    assert!(fix.contains(GOOD_KEY) && fix.contains("cache.nixos.org-1:"));
    assert!(
        !fix.contains("mykey") && !fix.contains("not-a-key"),
        "{fix}"
    );
}

#[test]
fn an_unwritable_store_root_fails() {
    let w = World::new();
    let file = w.t.root().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let mut cmd = w.cmd();
    cmd.env("DEVENV_STORE_ROOT", file.join("root"));
    let (code, json) = doctor_json(&mut cmd);
    assert_eq!(code, Some(1));
    let store = one(&json, "store");
    assert_eq!(store["status"], "fail");
    assert!(store["summary"].as_str().unwrap().contains("not writable"));
    assert!(store["fix"].as_str().unwrap().contains("DEVENV_STORE_ROOT"));
}

#[test]
fn a_missing_hook_is_a_warning_whose_fix_works() {
    let w = World::new();
    let mut cmd = w.cmd();
    cmd.env("SHELL", "/usr/bin/zsh");
    let (code, json) = doctor_json(&mut cmd);
    assert_eq!(code, Some(0), "a warning is not a failure: {json:#}");
    let hook = one(&json, "hook");
    assert_eq!(hook["status"], "warn");
    assert!(hook["summary"].as_str().unwrap().contains("zsh"));
    assert!(
        hook["details"][0].as_str().unwrap().starts_with("bash: "),
        "reports the shells that are hooked: {hook:#}"
    );
    let fix = hook["fix"].as_str().unwrap();
    let ran = Command::new("sh").arg("-c").arg(fix).output().unwrap();
    assert!(ran.status.success(), "{fix}");
    let (_, json) = doctor_json(w.cmd().env("SHELL", "/usr/bin/zsh"));
    assert_eq!(one(&json, "hook")["status"], "ok", "{json:#}");
    // And the line it added is one a real zsh accepts.
    let zshrc = std::fs::read_to_string(w.t.home.join(".zshrc")).unwrap();
    assert_eq!(zshrc, "eval \"$(devenv hook zsh)\"\n");
    let parsed = Command::new("zsh")
        .arg("-n")
        .arg(w.t.home.join(".zshrc"))
        .status()
        .unwrap();
    assert!(parsed.success());
}

#[test]
fn a_local_index_is_checked_on_disk() {
    let w = World::new();
    let missing = w.t.root().join("no-index-here");
    let (code, json) = doctor_json(w.cmd().env("DEVENV_INDEX", &missing));
    assert_eq!(code, Some(1));
    let index = one(&json, "index");
    assert_eq!(index["status"], "fail");
    assert!(index["summary"]
        .as_str()
        .unwrap()
        .contains(&missing.join("index.json").display().to_string()));

    let (code, json) = doctor_json(w.cmd().env("DEVENV_INDEX", w.served.join("index")));
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(one(&json, "index")["status"], "ok");
}

#[test]
fn project_trust_is_reported_and_the_fix_allows_it() {
    let w = World::new();
    let (_, json) = doctor_json(&mut w.cmd());
    let project = one(&json, "project");
    assert_eq!(project["status"], "warn", "{project:#}");
    assert!(project["summary"].as_str().unwrap().contains("not allowed"));
    let fix = project["fix"].as_str().unwrap();
    assert!(fix.starts_with("devenv allow "), "{fix}");

    // Run the printed fix as a user would, with this devenv on PATH.
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_devenv"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut sh = Command::new("sh");
    w.t.isolate(&mut sh);
    let ran = sh
        .arg("-c")
        .arg(fix)
        .current_dir(w.t.root())
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{fix}: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let (code, json) = doctor_json(&mut w.cmd());
    assert_eq!(code, Some(0));
    assert_eq!(one(&json, "project")["status"], "ok", "{json:#}");

    // A changed manifest is no longer allowed.
    w.t.write("devenv.json", "{\"packages\": [\"jq\"]}\n");
    let (_, json) = doctor_json(&mut w.cmd());
    assert_eq!(one(&json, "project")["status"], "warn");
}

#[test]
fn a_stalled_cache_is_reported_instead_of_hanging_doctor() {
    let w = World::new();
    w.server.fault(
        "/cache/nix-cache-info",
        Fault::Stall(std::time::Duration::from_secs(3)),
    );
    let (code, json) = doctor_json(w.cmd().env("DEVENV_HTTP_TIMEOUT", "0.3"));
    assert_eq!(code, Some(1));
    let sub = one(&json, "substituter");
    assert_eq!(sub["status"], "fail");
    assert!(
        sub["summary"]
            .as_str()
            .unwrap()
            .contains("no answer in time"),
        "{sub:#}"
    );
    assert_eq!(
        one(&json, "index")["status"],
        "ok",
        "other checks still run"
    );
}

#[test]
fn the_store_check_says_which_setting_chose_the_root() {
    let w = World::new();
    let summary = |json: &Value| one(json, "store")["summary"].as_str().unwrap().to_string();

    let flag_root = w.t.root().join("flag-root");
    let (_, json) = doctor_json(
        w.cmd()
            .env_remove("DEVENV_STORE_ROOT")
            .args(["--store-root", flag_root.to_str().unwrap()]),
    );
    assert!(summary(&json).contains("set by --store-root"), "{json:#}");

    let config_root = w.t.root().join("config-root");
    let config = w.t.home.join(".config/devenv/config.json");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        serde_json::json!({ "store_root": config_root }).to_string(),
    )
    .unwrap();
    let (_, json) = doctor_json(w.cmd().env_remove("DEVENV_STORE_ROOT"));
    let s = summary(&json);
    assert!(
        s.contains(&config_root.join("nix/store").display().to_string())
            && s.contains("store_root in")
            && s.contains("config.json"),
        "{s}"
    );

    // A root that a Nix installation shares (its database is there) is reported as such.
    let db = w.t.store_root.join("nix/var/nix/db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(db.join("db.sqlite"), "").unwrap();
    let (_, json) = doctor_json(&mut w.cmd());
    let store = one(&json, "store");
    assert!(summary(&json).contains("set by DEVENV_STORE_ROOT"));
    assert!(
        store["details"].as_array().unwrap().iter().any(|d| d
            .as_str()
            .unwrap()
            .contains("shared with a Nix installation")),
        "{store:#}"
    );
}
