//! Plugins: built-ins by package and by `plugin:`, local plugin files with their includes,
//! placeholders and files, and what cannot be honoured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::manifest::{parse, Dialect};

fn manifest(text: &str) -> Manifest {
    parse(text, "devbox.json", Dialect::Devbox).unwrap().0
}

#[test]
fn a_package_activates_its_builtin_plugin_unless_disabled() {
    let root = Path::new("/p");
    let m = manifest(
        r#"{"packages": {"python312": "3.12", "postgresql": {"version": "16"}, "jq": ""}}"#,
    );
    let a = activate(root, "devbox.json", &m, &BTreeMap::new());
    assert_eq!(a.plugins, ["python", "postgresql"]);
    assert!(a.env.contains(&("VENV_DIR".into(), "/p/.venv".into())));
    assert!(a
        .env
        .contains(&("PGDATA".into(), "/p/.devbox/virtenv/postgresql/data".into())));
    assert_eq!(
        a.init_hook[1],
        "\"/p/.devbox/virtenv/python312/bin/venvShellHook.sh\""
    );
    assert_eq!(a.packages[0].name, "glibcLocales");
    assert_eq!(a.packages[0].platforms, ["x86_64-linux", "aarch64-linux"]);
    assert_eq!(a.services[0].name, "postgresql");
    assert!(a.files.iter().any(|f| f.path
        == Path::new("/p/.devbox/virtenv/python312/bin/venvShellHook.sh")
        && f.executable));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);

    let m = manifest(r#"{"packages": {"python312": {"version": "3.12", "disable_plugin": true}}}"#);
    assert!(activate(root, "devbox.json", &m, &BTreeMap::new())
        .plugins
        .is_empty());
}

#[test]
fn local_plugins_are_read_with_includes_placeholders_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("my-plugin/inner")).unwrap();
    std::fs::write(
        root.join("my-plugin/plugin.json"),
        r#"{
  // a comment, as Devbox allows
  "name": "my-plugin",
  "packages": ["hello@latest"],
  "env": {"MY_VAR": "{{ .Virtenv }}/x", "HOME": "/nope"},
  "create_files": {"{{ .DevboxDir }}/some-file.txt": "some-file.txt", "{{ .Virtenv }}/empty": "", "{{ .Virtenv }}/process-compose.yaml": "pc.yaml"},
  "shell": {"init_hook": ["echo from plugin"], "scripts": {"plugin_script": "echo hi"}},
  "include": ["./inner"]
}"#,
    )
    .unwrap();
    std::fs::write(root.join("my-plugin/some-file.txt"), "data").unwrap();
    std::fs::write(
        root.join("my-plugin/inner/plugin.json"),
        r#"{"name": "inner", "env": {"INNER": "{{ .DevboxProjectDir }}"}, "packages": {"cowsay": {"version": "3"}}}"#,
    )
    .unwrap();
    let m = manifest(
        r#"{"include": ["path:my-plugin/plugin.json", "github:org/repo", "plugin:nope", "./missing"]}"#,
    );
    let includes: Vec<String> = m.include.iter().map(|i| i.reference.clone()).collect();
    let files = read_local(root, &includes).unwrap();
    let keys: Vec<PathBuf> = files.keys().cloned().collect();
    assert_eq!(
        keys,
        [
            root.join("my-plugin/inner/plugin.json"),
            root.join("my-plugin/plugin.json"),
            root.join("my-plugin/some-file.txt"),
        ]
    );
    let a = activate(root, "devbox.json", &m, &files);
    assert_eq!(a.plugins, ["inner", "my-plugin"]);
    let r = root.display();
    assert_eq!(
        a.env,
        [
            ("INNER".to_string(), r.to_string()),
            (
                "MY_VAR".to_string(),
                format!("{r}/.devbox/virtenv/my-plugin/x")
            ),
        ]
    );
    let names: Vec<(&str, &str)> = a
        .packages
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(names, [("cowsay", "3"), ("hello", "latest")]);
    assert_eq!(a.init_hook, ["echo from plugin"]);
    assert_eq!(a.scripts["plugin_script"], ["echo hi"]);
    assert_eq!(
        a.services,
        [Service {
            name: "my-plugin".into(),
            plugin: "my-plugin".into()
        }]
    );
    let warnings = a.warnings.join("\n");
    for expected in [
        "`HOME` cannot be set by a project",
        "devbox.json:1:44: the plugin `github:org/repo` is not supported",
        "devbox.json:1:63: the plugin `plugin:nope` is not one devenv has",
        "devbox.json:1:78: the plugin `./missing` was not found",
        "`pc.yaml` (for `",
    ] {
        assert!(warnings.contains(expected), "{expected} in {warnings}");
    }
    create_files(&a.files).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("devbox.d/my-plugin/some-file.txt")).unwrap(),
        "data"
    );
    assert!(root.join(".devbox/virtenv/my-plugin/empty").is_dir());
    // The user's copy under devbox.d is theirs once created.
    std::fs::write(root.join("devbox.d/my-plugin/some-file.txt"), "edited").unwrap();
    create_files(&a.files).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("devbox.d/my-plugin/some-file.txt")).unwrap(),
        "edited"
    );
}

#[test]
fn plugin_files_stay_inside_the_project() {
    let mut a = Activation::default();
    a.push_file(
        Path::new("/p"),
        Path::new("/etc/passwd"),
        Some(b"x".to_vec()),
        false,
    );
    a.push_file(
        Path::new("/p"),
        Path::new("/p/../etc/x"),
        Some(b"x".to_vec()),
        false,
    );
    assert!(a.files.is_empty());
    assert_eq!(a.warnings.len(), 2);
}

/// A plugin copies files from inside the project only, never `../secret` next to code that
/// could send it away.
#[test]
fn plugin_sources_outside_the_project_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("project");
    std::fs::create_dir_all(root.join("p")).unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "secret").unwrap();
    std::fs::write(
        root.join("p/plugin.json"),
        r#"{"name": "p", "create_files": {"{{ .Virtenv }}/stolen": "../../secret.txt"}}"#,
    )
    .unwrap();
    let files = read_local(&root, &["path:p".to_string()]).unwrap();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        [&root.join("p/plugin.json")]
    );
    let m = manifest(r#"{"include": ["path:p"]}"#);
    let a = activate(&root, "devbox.json", &m, &files);
    assert!(a.files.is_empty());
    assert!(
        a.warnings[0].contains("`../../secret.txt`"),
        "{:?}",
        a.warnings
    );
}
