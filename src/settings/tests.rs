use std::collections::BTreeMap;

use super::*;

fn dirs(root: &Path) -> Dirs {
    Dirs {
        config: root.join("config"),
        cache: root.join("cache"),
        data: root.join("data"),
        state: root.join("state"),
    }
}

/// A made-up environment and config file, resolved.
struct World {
    _tmp: tempfile::TempDir,
    dirs: Dirs,
    env: BTreeMap<&'static str, &'static str>,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        std::fs::create_dir_all(&dirs.config).unwrap();
        World {
            _tmp: tmp,
            dirs,
            env: BTreeMap::new(),
        }
    }

    fn config(&self, json: &str) -> &World {
        std::fs::write(self.dirs.config_file(), json).unwrap();
        self
    }

    fn var(&mut self, name: &'static str, value: &'static str) -> &mut World {
        self.env.insert(name, value);
        self
    }

    fn resolve(&self, overrides: Overrides) -> Result<Settings> {
        let env = |name: &str| self.env.get(name).map(OsString::from);
        Settings::resolve(overrides, &env, self.dirs.clone())
    }

    fn bad(&self, overrides: Overrides) -> crate::diagnostic::Report {
        let err = self.resolve(overrides).unwrap_err();
        crate::diagnostic::Report::from_error(&err)
    }
}

#[test]
fn flags_beat_config_beat_defaults() {
    let w = World::new();
    w.config(r#"{"index": "/from/config", "substituters": ["file:///c"]}"#);
    let s = w
        .resolve(Overrides {
            index: Some("/from/flag".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(s.index.value, "/from/flag");
    assert_eq!(s.index.source, Source::Flag("--index"));
    assert_eq!(s.substituters.value, vec!["file:///c".to_string()]);
    assert_eq!(
        s.substituters.source,
        Source::ConfigFile(w.dirs.config_file())
    );
    assert!(s
        .trusted_public_keys
        .contains(&CACHE_NIXOS_ORG_KEY.to_string()));
}

#[test]
fn every_knob_goes_flag_then_variable_then_config_then_default() {
    let mut w = World::new();
    w.config(
        r#"{
            "index": "/c/index", "substituters": ["file:///c/cache"], "trusted_public_keys": ["c:key"],
            "store_root": "/c/root", "system": "aarch64-linux", "http_timeout": 7.5,
            "http_retries": 4, "jobs": 3, "offline": true, "nixpkgs": "/c/nixpkgs",
            "nix_env": "/c/nix-env", "store_mode": "namespace"
        }"#,
    );
    // Only the config file: every value and source from it.
    let s = w.resolve(Overrides::default()).unwrap();
    let config = Source::ConfigFile(w.dirs.config_file());
    for e in s.entries() {
        assert_eq!(e.source, config, "{}", e.key);
    }
    assert_eq!(s.http_timeout.value, Duration::from_millis(7500));
    assert_eq!(s.http.policy().timeout, Duration::from_millis(7500));
    assert_eq!(s.http.policy().retries, 4);
    assert_eq!(s.jobs.value, 3);
    assert!(s.offline.value);
    assert_eq!(s.nixpkgs.value, Some(PathBuf::from("/c/nixpkgs")));
    assert_eq!(s.store_mode.value, Some(StoreMode::Namespace));

    // Variables beat the config file.
    w.var("DEVENV_INDEX", "/e/index")
        .var("DEVENV_SUBSTITUTERS", "file:///e/a file:///e/b")
        .var("DEVENV_TRUSTED_PUBLIC_KEYS", "e:key")
        .var("DEVENV_STORE_ROOT", "/e/root")
        .var("DEVENV_SYSTEM", "x86_64-darwin")
        .var("DEVENV_HTTP_TIMEOUT", "2")
        .var("DEVENV_HTTP_RETRIES", "0")
        .var("DEVENV_JOBS", "5")
        .var("DEVENV_OFFLINE", "0")
        .var("DEVENV_NIXPKGS", "/e/nixpkgs")
        .var("DEVENV_NIX_ENV", "/e/nix-env")
        .var("DEVENV_STORE_MODE", "auto");
    let s = w.resolve(Overrides::default()).unwrap();
    for e in s.entries() {
        let knob = KNOBS.iter().find(|k| k.key == e.key).unwrap();
        assert_eq!(e.source, Source::Env(knob.variable), "{}", e.key);
    }
    assert_eq!(s.substituters.value, ["file:///e/a", "file:///e/b"]);
    assert_eq!(s.trusted_public_keys.value, ["e:key", CACHE_NIXOS_ORG_KEY]);
    assert_eq!(s.http.policy().timeout, Duration::from_secs(2));
    assert_eq!(s.http.policy().retries, 0);
    assert!(!s.offline.value);

    // Flags beat variables, where a knob has a flag.
    let s = w
        .resolve(Overrides {
            index: Some("/f/index".into()),
            substituters: Some("file:///f".into()),
            trusted_public_keys: Some("f:key".into()),
            store_root: Some("/f/root".into()),
            system: Some("aarch64-darwin".into()),
            offline: true,
            jobs: Some(9),
            nix_env: Some("/f/nix-env".into()),
        })
        .unwrap();
    assert_eq!(s.index.source, Source::Flag("--index"));
    assert_eq!(s.substituters.source, Source::Flag("--substituters"));
    assert_eq!(
        s.trusted_public_keys.source,
        Source::Flag("--trusted-public-keys")
    );
    assert_eq!(s.store_root.value, Some(PathBuf::from("/f/root")));
    assert_eq!(s.store_root.source, Source::Flag("--store-root"));
    assert_eq!(s.system.source, Source::Flag("--system"));
    assert_eq!(
        (s.offline.value, &s.offline.source),
        (true, &Source::Flag("--offline"))
    );
    assert_eq!((s.jobs.value, &s.jobs.source), (9, &Source::Flag("--jobs")));
    assert_eq!(s.nix_env.source, Source::Flag("--nix-env"));
    // Knobs without a flag keep their variable.
    assert_eq!(s.http_timeout.source, Source::Env("DEVENV_HTTP_TIMEOUT"));
}

#[test]
fn nothing_given_is_the_defaults() {
    let w = World::new();
    let s = w.resolve(Overrides::default()).unwrap();
    for e in s.entries() {
        assert_eq!(e.source, Source::Default, "{}", e.key);
    }
    assert_eq!(s.index.value, DEFAULT_INDEX);
    assert_eq!(s.substituters.value, [DEFAULT_SUBSTITUTER]);
    assert_eq!(s.trusted_public_keys.value, [CACHE_NIXOS_ORG_KEY]);
    assert_eq!(s.store_root.value, None);
    assert_eq!(s.system.value, crate::system::current());
    assert_eq!(*s.http.policy(), crate::http::Policy::default());
    assert_eq!(s.jobs.value, DEFAULT_JOBS);
    assert!(!s.offline.value);
    assert_eq!(s.nixpkgs.value, None);
    assert_eq!(s.nix_env.value, DEFAULT_NIX_ENV);
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let mut w = World::new();
    w.config(r#"{"index": "/c"}"#);
    w.var("DEVENV_INDEX", "").var("DEVENV_HTTP_TIMEOUT", "");
    let s = w.resolve(Overrides::default()).unwrap();
    assert_eq!(s.index.value, "/c");
    assert_eq!(s.http_timeout.source, Source::Default);
}

#[test]
fn a_bad_variable_is_bad_input_naming_it_and_its_value() {
    for (var, value, hint) in [
        ("DEVENV_HTTP_TIMEOUT", "soon", "seconds"),
        ("DEVENV_HTTP_TIMEOUT", "0", "seconds"),
        ("DEVENV_HTTP_TIMEOUT", "1e300", "seconds"),
        ("DEVENV_HTTP_RETRIES", "11", "whole number"),
        ("DEVENV_JOBS", "0", "whole number"),
        ("DEVENV_JOBS", "many", "whole number"),
        ("DEVENV_OFFLINE", "maybe", "unset"),
    ] {
        let mut w = World::new();
        w.var(var, value);
        let report = w.bad(Overrides::default());
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        assert!(
            report.message.starts_with(&format!("{var}=`{value}`")),
            "{report:?}"
        );
        assert!(report.hints[0].contains(hint), "{report:?}");
    }
}

#[test]
fn zero_jobs_on_the_command_line_is_bad_input() {
    let report = World::new().bad(Overrides {
        jobs: Some(0),
        ..Default::default()
    });
    assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
    assert!(report.message.contains("--jobs"), "{report:?}");
}

#[test]
fn an_unknown_system_names_where_it_came_from() {
    let mut w = World::new();
    w.var("DEVENV_SYSTEM", "pdp11-unix");
    let report = w.bad(Overrides::default());
    assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
    assert_eq!(
        report.message,
        "unknown system `pdp11-unix` (from DEVENV_SYSTEM)"
    );
}

#[test]
fn bad_config_names_file_line_and_column() {
    let w = World::new();
    w.config("{\n  \"index\": 3\n}");
    let report = w.bad(Overrides::default());
    assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
    assert!(report.causes[0].contains("config.json:2:"), "{report:?}");
    assert!(report.hints[0].contains("http_timeout"), "{report:?}");
}

#[test]
fn out_of_range_config_values_name_the_line_and_the_key() {
    for (json, key) in [
        ("{\n\n  \"http_timeout\": -1\n}", "http_timeout"),
        ("{\n\n  \"http_retries\": 99\n}", "http_retries"),
        ("{\n\n  \"jobs\": 0\n}", "jobs"),
        ("{\n\n  \"offline\": \"yes\"\n}", "bool"),
        ("{\n\n  \"timeout\": 3\n}", "unknown field `timeout`"),
    ] {
        let w = World::new();
        w.config(json);
        let report = w.bad(Overrides::default());
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        assert!(
            report.causes[0].contains("config.json:3:") && report.causes[0].contains(key),
            "{json}: {report:?}"
        );
    }
}

#[test]
fn devenv_config_shows_every_knob_in_table_order() {
    let s = World::new().resolve(Overrides::default()).unwrap();
    let shown: Vec<&str> = s.entries().iter().map(|e| e.key).collect();
    let knobs: Vec<&str> = KNOBS.iter().map(|k| k.key).collect();
    assert_eq!(shown, knobs);
    let mut sorted = knobs.clone();
    sorted.sort();
    assert_eq!(knobs, sorted, "KNOBS are sorted by key");
}

#[test]
fn a_store_mode_is_one_of_four_words() {
    let mut w = World::new();
    w.var("DEVENV_STORE_MODE", "Namespace");
    let s = w.resolve(Overrides::default()).unwrap();
    assert_eq!(s.store_mode.value, Some(StoreMode::Namespace));
    w.var("DEVENV_STORE_MODE", "chroot");
    let report = w.bad(Overrides::default());
    assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
    assert!(
        report.message.contains("DEVENV_STORE_MODE=`chroot`"),
        "{report:?}"
    );
    assert!(report.hints[0].contains("auto, root, namespace or daemon"));
    let w = World::new();
    w.config("{\n  \"store_mode\": \"chroot\"\n}");
    let report = w.bad(Overrides::default());
    assert!(report.causes[0].contains("config.json:2:"), "{report:?}");
    assert!(report.causes[0].contains("`root`, `namespace`, `daemon`"));
}
