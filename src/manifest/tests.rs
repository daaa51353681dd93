//! Parsing manifests: both package forms, warnings and the module-level bad-input corpus.

use super::*;
use crate::diagnostic::{Report, EXIT_BAD_INPUT};

fn ok(text: &str) -> (Manifest, Vec<String>) {
    parse(text, "devenv.json", Dialect::Devenv).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Parse `text`, expect bad input, and return the rendered report.
fn bad(text: &str) -> String {
    let err = parse(text, "devenv.json", Dialect::Devenv).unwrap_err();
    let report = Report::from_error(&err);
    assert_eq!(report.exit_code, EXIT_BAD_INPUT, "{text}");
    report.render()
}

#[test]
fn both_package_forms_env_and_shell() {
    let (m, warnings) = ok(r#"{
  // comment
  "$schema": "s",
  "packages": ["ansible@2.16.5", "jq", "python3@>=3.11 <3.13",],
  "env": {"B": "2", "A": "$B"},
  "shell": {"init_hook": "echo hi", "scripts": {"lint": ["a", "b"], "t": "c"}},
}"#);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(m.schema.as_deref(), Some("s"));
    assert_eq!(
        m.packages,
        vec![
            PackageSpec::new("ansible", "2.16.5"),
            PackageSpec::new("jq", "latest"),
            PackageSpec::new("python3", ">=3.11 <3.13"),
        ]
    );
    assert_eq!(
        m.env,
        vec![("B".into(), "2".into()), ("A".into(), "$B".into())]
    );
    assert_eq!(m.init_hook, vec!["echo hi".to_string()]);
    assert_eq!(m.scripts["lint"], vec!["a".to_string(), "b".to_string()]);

    let (m, _) = ok(r#"{"packages": {"hello": "", "go": "1.22",
        "rg": {"version": "14", "excluded_platforms": ["x86_64-darwin"], "outputs": ["out"]}},
        "shell": {"init_hook": ["a", "b"]}}"#);
    assert_eq!(m.packages[0], PackageSpec::new("hello", "latest"));
    assert_eq!(m.packages[1], PackageSpec::new("go", "1.22"));
    assert_eq!(
        m.packages[2].excluded_platforms,
        vec!["x86_64-darwin".to_string()]
    );
    assert!(!m.packages[2].enabled_on("x86_64-darwin") && m.packages[2].enabled_on("x86_64-linux"));
    assert_eq!(m.init_hook.len(), 2);
}

#[test]
fn unknown_keys_warn_with_position() {
    let (m, warnings) = ok("{\n  \"packages\": {\"jq\": {\"version\": \"1\", \"colour\": 1}},\n  \"name\": \"x\",\n  \"pakages\": []\n}");
    assert_eq!(m.packages.len(), 1);
    assert_eq!(
        warnings,
        vec![
            "devenv.json:2:39: unknown key `colour` in package `jq` is ignored",
            "devenv.json:3:3: `name` is a Devbox setting devenv does not use; it is ignored",
            "devenv.json:4:3: unknown key `pakages` in the manifest is ignored",
        ]
    );
}

/// The module-level bad-input corpus: each names the file and line:column.
#[test]
fn bad_manifests_name_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        ("{\n  \"packages\": [\n", "devenv.json:2:15: invalid JSON: Unterminated array"),
        ("{\"packages\": [\"a\" \"b\"]}", "devenv.json:1:19: invalid JSON: expected a comma"),
        ("{\"env\": {\"A\": \"1\"\n \"B\": \"2\"}}", "devenv.json:2:2: invalid JSON: expected a comma"),
        ("", "devenv.json:1:1: the file is empty"),
        ("[]", "devenv.json:1:1: the manifest must be an object, not a list"),
        ("{packages: []}", "devenv.json:1:2: invalid JSON"),
        ("{\n  \"packages\": 5\n}", "devenv.json:2:15: `packages` must be a list"),
        ("{\"packages\": [1]}", "devenv.json:1:15: each entry of `packages` must be a string, not a number"),
        ("{\"packages\": [\"jq@\"]}", "devenv.json:1:15: `jq@` has no version after `@`"),
        ("{\"packages\": [\"@1.0\"]}", "devenv.json:1:15: `@1.0` has no package name before `@`"),
        ("{\"packages\": [\"my tool\"]}", "devenv.json:1:15: `my tool` is not a valid package name: it contains whitespace"),
        ("{\"packages\": [\"a/b@1\"]}", "it contains `/`"),
        ("{\"packages\": [\"jq@1.7!\"]}", "devenv.json:1:15: in `jq@1.7!`: `1.7!` is not a valid version constraint"),
        ("{\"packages\": [\"jq\", \"jq@1\"]}", "devenv.json:1:21: the package `jq` is listed twice"),
        ("{\"packages\": {\"jq\": 1}}", "devenv.json:1:21: package `jq` must be a version string or an object"),
        ("{\"packages\": {\"jq\": {\"version\": 1}}}", "devenv.json:1:33: `version` of package `jq` must be a string, not a number"),
        ("{\"packages\": {\"jq\": {\"platforms\": [\"x86_64-linux\"], \"excluded_platforms\": [\"aarch64-linux\"]}}}", "sets both `platforms` and `excluded_platforms`"),
        ("{\"packages\": {\"jq\": {\"platforms\": [\"windows\"]}}}", "devenv.json:1:36: `windows` is not a known platform"),
        ("{\"packages\": {\"a b\": \"1\"}}", "devenv.json:1:15: `a b` is not a valid package name"),
        ("{\"env\": []}", "devenv.json:1:9: `env` must be an object, not a list"),
        ("{\"env\": {\"A\": 1}}", "devenv.json:1:15: `env.A` must be a string, not a number"),
        ("{\"env\": {\"1A\": \"x\"}}", "devenv.json:1:10: `1A` is not a valid environment variable name"),
        ("{\"shell\": {\"init_hook\": 3}}", "devenv.json:1:25: `shell.init_hook` must be a string or a list of strings"),
        ("{\"shell\": {\"scripts\": {\"my script\": \"x\"}}}", "devenv.json:1:24: `my script` is not a valid script name"),
        ("{\"shell\": {\"scripts\": {\"s\": []}}}", "devenv.json:1:29: script `s` has no commands"),
        ("{\"$schema\": 1}", "devenv.json:1:13: `$schema` must be a string"),
        ("{\"packages\": ['jq']}", "devenv.json:1:15: invalid JSON: strings must be in double quotes"),
        ("{'env': {}}", "devenv.json:1:2: invalid JSON: strings must be in double quotes"),
        ("{\"env\": {\"A\": \"x\ny\"}}", "devenv.json:1:17: invalid JSON: a string holds a raw control character (U+000A)"),
        ("{\"pack\u{0}ages\": []}", "devenv.json:1:7: invalid JSON: a string holds a raw control character (U+0000)"),
        ("{\"packages\": [\"github:foo/bar#x\"]}", "devenv.json:1:15: `github:foo/bar#x` looks like a flake reference"),
        ("{\"env\": {},\n \"env\": {\"A\": \"1\"}}", "devenv.json:2:2: the key `env` appears twice"),
        ("\u{feff}{\n\"packages\": 1}", "devenv.json:2:13: `packages` must be a list"),
    ];
    for (text, expected) in cases {
        let report = bad(text);
        assert!(
            report.contains(expected),
            "for {text:?} expected {expected:?} in:\n{report}"
        );
        assert!(
            report.starts_with("error: `devenv.json` is not a valid manifest\n"),
            "{report}"
        );
        assert!(report.contains("hint: "), "{report}");
    }
}

#[test]
fn deep_or_huge_manifests_are_refused_before_parsing() {
    // The JSONC parser recurses per level: 30,000 levels used to overflow the stack.
    let deep = format!(
        "{{\"packages\": {}{}}}",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let report = bad(&deep);
    assert!(
        report.contains("devenv.json:1:77: the document nests deeper than 64 levels"),
        "{report}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::File::create(&path)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let report = Report::from_error(&load(&path).unwrap_err());
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    assert_eq!(
        report.message,
        format!("the manifest `{}` is too large to read", path.display())
    );
    assert!(report.causes[0].contains("larger than 8 MiB"), "{report:?}");
}

#[test]
fn env_refuses_names_the_shell_depends_on_nul_and_oversized_values() {
    let big = "x".repeat(200_000);
    let cases = [
        (
            "{\"env\": {\n  \"PROMPT_COMMAND\": \"echo hi\"}}".to_string(),
            "devenv.json:2:3: `PROMPT_COMMAND` cannot be set by a project: devenv's shell hook runs from it".to_string(),
        ),
        (
            "{\"env\": {\"PS1\": \"$ \"}}".to_string(),
            "devenv.json:1:10: `PS1` cannot be set by a project: the shell runs its value as code".to_string(),
        ),
        (
            "{\"env\": {\"__DEVENV_DIFF\": \"x\"}}".to_string(),
            "devenv.json:1:10: `__DEVENV_DIFF` cannot be set by a project".to_string(),
        ),
        (
            "{\"env\": {\"A\": \"1\", \"NUL\": \"a\\u0000b\"}}".to_string(),
            "devenv.json:1:27: `env.NUL` contains a NUL character".to_string(),
        ),
        (
            format!("{{\"env\": {{\"BIG\": \"{big}\"}}}}"),
            "devenv.json:1:17: `env.BIG` is 200000 bytes long; a value may have at most 32768 bytes".to_string(),
        ),
    ];
    for (text, expected) in &cases {
        let report = bad(text);
        assert!(
            report.contains(expected.as_str()),
            "expected {expected:?} in:\n{}",
            &report[..report.len().min(2000)]
        );
    }
    // Five values of 30000 bytes each are fine alone, too much together.
    let value = "y".repeat(30_000);
    let entries: Vec<String> = (1..=5).map(|i| format!("\"V{i}\": \"{value}\"")).collect();
    let text = format!("{{\"env\": {{\n{}}}}}", entries.join(",\n"));
    let report = bad(&text);
    assert!(
        report.contains("devenv.json:6:1: `env` takes 150020 bytes up to `V5`; all of `env` together may take at most 131072 bytes"),
        "{}",
        &report[..report.len().min(2000)]
    );
    let (m, _) = ok(&format!("{{\"env\": {{{}}}}}", entries[..4].join(",")));
    assert_eq!(m.env.len(), 4);
}

#[test]
fn load_reads_files_and_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, "{\"packages\": [\"jq@1.7\"], \"x\": 1}").unwrap();
    let loaded = load(&path).unwrap();
    assert_eq!(
        loaded.manifest.packages,
        vec![PackageSpec::new("jq", "1.7")]
    );
    assert_eq!(loaded.text, "{\"packages\": [\"jq@1.7\"], \"x\": 1}");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].starts_with(&format!("{}:1:26:", path.display())));

    std::fs::write(&path, "{\"packages\": 1}").unwrap();
    let err = format!("{:#}", load(&path).unwrap_err());
    assert!(err.contains(&format!("{}:1:14:", path.display())), "{err}");

    let err = load(&dir.path().join("missing.json")).unwrap_err();
    assert_eq!(Report::from_error(&err).exit_code, 1);
}

#[test]
fn package_args() {
    let p = |s: &str| parse_package_arg(s).map_err(|e| Report::from_error(&e));
    assert_eq!(
        p("ansible@2.16.5").unwrap(),
        ("ansible".into(), "2.16.5".into())
    );
    assert_eq!(p("jq").unwrap(), ("jq".into(), "latest".into()));
    assert_eq!(
        p("python312Packages.pip@^24").unwrap(),
        ("python312Packages.pip".into(), "^24".into())
    );
    assert_eq!(p("gtk+3@3.24").unwrap(), ("gtk+3".into(), "3.24".into()));
    assert_eq!(p("ansible@>=2.15 <2.17").unwrap().1, ">=2.15 <2.17");
    for (arg, expected) in [
        ("pkg@", "`pkg@` has no version after `@`"),
        ("@1.0", "`@1.0` has no package name before `@`"),
        ("", "the package argument is empty"),
        (
            "my pkg",
            "`my pkg` is not a valid package name: it contains whitespace",
        ),
        (
            "foo/bar",
            "`foo/bar` is not a valid package name: it contains `/`",
        ),
        (
            "a@b@1",
            "`a@b` is not a valid package name: it contains `@`",
        ),
        (".hidden", "`.hidden` is not a valid package name"),
        ("jq@1.7 !", "is not a valid version constraint"),
    ] {
        let report = p(arg).unwrap_err();
        assert_eq!(report.exit_code, EXIT_BAD_INPUT);
        assert!(
            report.message.contains(expected),
            "{arg:?}: {}",
            report.render()
        );
        assert_eq!(report.hints.len(), 1);
    }
}

#[test]
fn template_parses_and_has_schema() {
    let (m, warnings) = ok(&template());
    assert!(warnings.is_empty());
    assert_eq!(m.schema.as_deref(), Some(SCHEMA_URL));
    assert!(m.packages.is_empty());
}

#[test]
fn devbox_manifest_is_read_with_warnings() {
    let text = r#"{
  "name": "devbox",
  "packages": {
    "fd": "latest",
    "nodejs-slim": {"version": "latest", "disable_plugin": true},
    "github:nix-community/fenix#stable.toolchain": "",
    "cudatoolkit": {"version": "latest", "excluded_platforms": ["aarch64-darwin", "x86_64-darwin"]}
  },
  "env": {"GOENV": "off",},
  "shell": {"init_hook": ["a"], "scripts": {"build": "go build"}},
  "include": ["plugin:php84"]
}"#;
    let (m, warnings) = parse(text, "devbox.json", Dialect::Devbox).unwrap();
    let names: Vec<&str> = m.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["fd", "nodejs-slim", "cudatoolkit"]);
    assert_eq!(m.disabled_plugins, ["nodejs-slim"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("flake or runx reference"));
    assert_eq!(m.include[0].reference, "plugin:php84");
    assert_eq!((m.include[0].line, m.include[0].column), (11, 15));

    let converted = devbox::convert(text).unwrap();
    assert_eq!(converted.warnings, warnings);
    let (c, w) = ok(&converted.text);
    assert!(w.is_empty());
    assert_eq!(c.packages, m.packages);
    assert_eq!(c.env, m.env);
    assert_eq!(c.init_hook, m.init_hook);
    assert_eq!(c.scripts, m.scripts);
    // The file is edited in place: comments, order and layout stay.
    assert_eq!(
        converted.text,
        format!(
            r#"{{
  "$schema": "{SCHEMA_URL}",
  "packages": {{
    "fd": "latest",
    "nodejs-slim": {{"version": "latest"}},
    "cudatoolkit": {{"version": "latest", "excluded_platforms": ["aarch64-darwin", "x86_64-darwin"]}}
  }},
  "env": {{"GOENV": "off",}},
  "shell": {{"init_hook": ["a"], "scripts": {{"build": "go build"}}}}
}}"#
        )
    );
}

/// Devbox reads `null` as "not set" wherever its Go types allow it; five of its own examples
/// have `"init_hook": null`, which devenv once refused.
#[test]
fn devbox_nulls_are_unset_values() {
    let text = r#"{
  "name": null, "description": null, "env_from": null, "include": null, "aliases": null,
  "nixpkgs": {"commit": null},
  "packages": {"go": null, "jq": {"version": null, "platforms": null, "outputs": null}},
  "env": {"EMPTY": null},
  "shell": {"init_hook": null, "scripts": {"gone": null, "test": ["echo ok"]}}
}"#;
    let (m, warnings) = parse(text, "devbox.json", Dialect::Devbox).unwrap();
    assert_eq!(
        m.packages,
        [
            PackageSpec::new("go", "latest"),
            PackageSpec::new("jq", "latest")
        ]
    );
    assert_eq!(m.env, [("EMPTY".to_string(), String::new())]);
    assert!(m.init_hook.is_empty());
    assert_eq!(m.scripts.keys().collect::<Vec<_>>(), ["test"]);
    assert_eq!(
        warnings,
        ["devbox.json:6:52: script `gone` is `null`, so it has no commands; it is left out"]
    );
    for text in [
        r#"{"shell": {"init_hook": null}}"#,
        r#"{"packages": null, "env": null, "shell": null}"#,
    ] {
        let (m, w) = ok(text);
        assert!(w.is_empty() && m == Manifest::default(), "{text}");
        let converted = devbox::convert(text).unwrap();
        assert!(converted.warnings.is_empty());
    }
}

/// Every key of Devbox's schema is read with its type; what devenv cannot honour is one
/// warning at its position.
#[test]
fn devbox_fields_are_read_and_checked() {
    let text = r#"{
  "name": "x", "description": "y",
  "env_from": ".env",
  "aliases": {"ll": "ls -l", "g": "git"},
  "nixpkgs": {"commit": "f80ac848e3d6f0c12c52758c0f25c10c97ca3b62"},
  "packages": {"a": {"patch_glibc": true, "allow_insecure": ["openssl-1.1.1w"]}, "b": {"patch": "always"}, "c": {"glibc_patch": false, "patch": "auto"}}
}"#;
    let (_, warnings) = parse(text, "devbox.json", Dialect::Devbox).unwrap();
    let at: Vec<&str> = warnings
        .iter()
        .map(|w| w.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        at,
        [
            "devbox.json:3:3",
            "devbox.json:4:3",
            "devbox.json:5:15",
            "devbox.json:6:22",
            "devbox.json:6:88"
        ],
        "{warnings:#?}"
    );
    assert!(warnings[1].contains("no alias is defined for `ll`, `g`;"));
    for (text, expected) in [
        (r#"{"name": 1}"#, "devbox.json:1:10: `name` must be a string, not a number"),
        (r#"{"include": "plugin:x"}"#, "devbox.json:1:13: `include` must be a list of strings, not a string"),
        (r#"{"aliases": {"a": 1}}"#, "devbox.json:1:19: alias `a` must be a string, not a number"),
        (r#"{"packages": {"a": {"patch": "sometimes"}}}"#, "devbox.json:1:30: `patch` of package `a` must be \"auto\", \"always\" or \"never\", not \"sometimes\""),
        (r#"{"packages": {"a": {"disable_plugin": "yes"}}}"#, "devbox.json:1:39: `disable_plugin` of package `a` must be true or false, not a string"),
    ] {
        let err = parse(text, "devbox.json", Dialect::Devbox).unwrap_err();
        let report = Report::from_error(&err);
        assert_eq!(report.exit_code, EXIT_BAD_INPUT);
        assert!(report.render().contains(expected), "{}", report.render());
    }
}

#[test]
fn devbox_conversion_keeps_comments_and_replaces_the_schema() {
    let text = "{\n  // our tools\n  \"$schema\": \"https://example.invalid/devbox.schema.json\",\n  \"packages\": [\n    \"go@1.22\", // compiler\n    \"runx:golangci/golangci-lint@latest\",\n    \"hello\"\n  ],\n  \"env_from\": \"test.env\",\n  \"shell\": {\n    /* hooks */ \"init_hook\": \"echo hi\",\n    \"aliases\": {}\n  }\n}\n";
    let converted = devbox::convert(text).unwrap();
    assert_eq!(
        converted.text,
        format!("{{\n  // our tools\n  \"$schema\": \"{SCHEMA_URL}\",\n  \"packages\": [\n    \"go@1.22\", // compiler\n    \"hello\"\n  ],\n  \"shell\": {{\n    /* hooks */ \"init_hook\": \"echo hi\"\n  }}\n}}\n")
    );
    assert_eq!(converted.warnings.len(), 3, "{:#?}", converted.warnings);
    let bom = devbox::convert(&format!("\u{feff}{text}")).unwrap();
    assert_eq!(bom.text, format!("\u{feff}{}", converted.text));
    assert_eq!(
        devbox::convert("{}").unwrap().text,
        format!("{{\"$schema\": \"{SCHEMA_URL}\"}}")
    );
}

#[test]
fn devbox_list_form_converts_to_a_list() {
    let converted =
        devbox::convert(r#"{"packages": ["python310@latest", "stdenv.cc.cc.lib"], "nixpkgs": {"commit": "f80ac848e3d6f0c12c52758c0f25c10c97ca3b62"}}"#)
            .unwrap();
    assert_eq!(
        converted.text,
        format!("{{\"$schema\": \"{SCHEMA_URL}\", \"packages\": [\"python310@latest\", \"stdenv.cc.cc.lib\"]}}")
    );
    assert_eq!(converted.warnings.len(), 1);
}

#[test]
fn write_replaces_atomically_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    assert!(write(&path, &template()).unwrap());
    assert!(!write(&path, &template()).unwrap());
    let edited = edit::add_package(&template(), &PackageSpec::new("jq", "1.7")).unwrap();
    assert!(write(&path, &edited).unwrap());
    assert_eq!(
        load(&path).unwrap().manifest.packages,
        vec![PackageSpec::new("jq", "1.7")]
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn packages_for_a_system() {
    let (m, _) = ok(
        r#"{"packages": {"a": "1", "b": {"platforms": ["aarch64-darwin"]}, "c": {"excluded_platforms": ["aarch64-darwin"]}}}"#,
    );
    let names = |s: &str| {
        m.packages_for(s)
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("aarch64-darwin"), ["a", "b"]);
    assert_eq!(names("x86_64-linux"), ["a", "c"]);
}
