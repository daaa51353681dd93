//! The manifest and lock files on disk: in-place edits over many generated layouts keep every byte
//! they do not touch, bad files are reported without being changed, and a Devbox project converts
//! to devenv files that keep its locked store paths.

use devenv::diagnostic::{Report, EXIT_BAD_INPUT};
use devenv::lock;
use devenv::manifest::{self, edit, Dialect, PackageSpec};
use proptest::prelude::*;

/// How one entry is decorated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Decoration {
    Plain,
    /// `"a", // note n` (multi-line layouts only)
    LineComment,
    /// `/* c n */ "a"`
    BlockBefore,
    /// `// about n` on the line above (multi-line layouts only)
    CommentAbove,
    /// An empty line above (multi-line layouts only)
    BlankAbove,
    /// A map value written as a multi-line object (map form only)
    ObjectValue,
}

#[derive(Debug, Clone)]
struct Layout {
    map_form: bool,
    multiline: bool,
    indent: &'static str,
    trailing_comma: bool,
    decorations: Vec<Decoration>,
    versions: Vec<&'static str>,
    env_first: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    let decoration = prop::sample::select(vec![
        Decoration::Plain,
        Decoration::Plain,
        Decoration::LineComment,
        Decoration::BlockBefore,
        Decoration::CommentAbove,
        Decoration::BlankAbove,
        Decoration::ObjectValue,
    ]);
    (
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec!["  ", "    ", "\t"]),
        any::<bool>(),
        prop::collection::vec(
            (
                decoration,
                prop::sample::select(vec!["latest", "1.2", "^3", ">=1 <2", "2.16.5"]),
            ),
            0..5,
        ),
        any::<bool>(),
    )
        .prop_map(
            |(map_form, multiline, indent, trailing_comma, entries, env_first)| Layout {
                map_form,
                multiline,
                indent,
                trailing_comma,
                decorations: entries.iter().map(|e| e.0).collect(),
                versions: entries.iter().map(|e| e.1).collect(),
                env_first,
            },
        )
}

/// A manifest in the given layout, and the exact text of each package entry.
fn render(l: &Layout) -> (String, Vec<String>) {
    let i1 = l.indent;
    let i2 = l.indent.repeat(2);
    let i3 = l.indent.repeat(3);
    let entries: Vec<String> = l
        .versions
        .iter()
        .enumerate()
        .map(|(n, v)| {
            if !l.map_form {
                format!("\"pkg{n}@{v}\"")
            } else if l.decorations[n] == Decoration::ObjectValue && l.multiline {
                format!(
                    "\"pkg{n}\": {{\n{i3}\"version\": \"{v}\",\n{i3}\"outputs\": [\"out\"]\n{i2}}}"
                )
            } else if l.decorations[n] == Decoration::ObjectValue {
                format!("\"pkg{n}\": {{ \"version\": \"{v}\" }}")
            } else {
                format!("\"pkg{n}\": \"{v}\"")
            }
        })
        .collect();
    let (open, close) = if l.map_form { ("{", "}") } else { ("[", "]") };
    let packages = if l.multiline && !entries.is_empty() {
        let mut s = format!("{open}\n");
        for (n, e) in entries.iter().enumerate() {
            let last = n + 1 == entries.len();
            let comma = if !last || l.trailing_comma { "," } else { "" };
            let d = l.decorations[n];
            match d {
                Decoration::CommentAbove => s.push_str(&format!("{i2}// about {n}\n")),
                Decoration::BlankAbove => s.push('\n'),
                _ => {}
            }
            let before = if d == Decoration::BlockBefore {
                format!("/* c {n} */ ")
            } else {
                String::new()
            };
            let after = if d == Decoration::LineComment {
                format!(" // note {n}")
            } else {
                String::new()
            };
            s.push_str(&format!("{i2}{before}{e}{comma}{after}\n"));
        }
        s.push_str(&format!("{i1}{close}"));
        s
    } else {
        let trailing = if l.trailing_comma && !entries.is_empty() {
            ","
        } else {
            ""
        };
        let items: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(n, e)| {
                if l.decorations[n] == Decoration::BlockBefore {
                    format!("/* c {n} */ {e}")
                } else {
                    e.clone()
                }
            })
            .collect();
        format!("{open}{}{trailing}{close}", items.join(", "))
    };
    let env = format!("{i1}\"env\": {{ \"A\": \"1\" }}, /* kept */\n");
    let mut text = String::from("{\n");
    if l.env_first {
        text.push_str(&env);
    }
    text.push_str(&format!(
        "{i1}// the tools\n{i1}\"packages\": {packages},\n"
    ));
    if !l.env_first {
        text.push_str(&env);
    }
    text.push_str(&format!(
        "{i1}\"shell\": {{ \"init_hook\": \"echo hi\" }}\n}}\n"
    ));
    (text, entries)
}

fn parse(text: &str) -> manifest::Manifest {
    manifest::parse(text, "devenv.json", Dialect::Devenv)
        .unwrap_or_else(|e| panic!("{e:#}\n{text}"))
        .0
}

proptest! {
    #[test]
    fn add_then_remove_restores_every_byte(l in layout(), version in prop::sample::select(vec!["latest", "3.1", "^1"])) {
        let (text, _) = render(&l);
        let before = parse(&text);
        let spec = PackageSpec::new("newtool", version);
        let added = edit::add_package(&text, &spec).unwrap();
        let after = parse(&added);
        prop_assert_eq!(&after.packages[..before.packages.len()], &before.packages[..]);
        prop_assert_eq!(after.packages.last(), Some(&spec));
        prop_assert_eq!(&after.env, &before.env);
        // Only the entry is new: no comment or other text is copied.
        let entry = if l.map_form {
            format!("\"newtool\": \"{version}\"")
        } else {
            format!("\"newtool@{version}\"")
        };
        // The entry, a comma, and at most a line break with indentation.
        prop_assert!(added.len() - text.len() <= entry.len() + 2 + l.indent.len() * 2, "{}", added);
        prop_assert_eq!(added.matches("/*").count(), text.matches("/*").count());
        prop_assert_eq!(added.matches("//").count(), text.matches("//").count());
        // The new entry copies its neighbours' layout: on its own line when they are.
        if l.multiline && !l.versions.is_empty() {
            let line = added.lines().find(|line| line.contains("newtool")).unwrap();
            prop_assert!(line.starts_with(&l.indent.repeat(2)), "{:?}", line);
            prop_assert!(!line.contains("pkg"), "{:?}", line);
        }
        let removed = edit::remove_package(&added, "newtool").unwrap().unwrap();
        prop_assert_eq!(removed, text);
    }

    #[test]
    fn remove_touches_only_its_entry(l in layout(), pick in 0usize..5) {
        let (text, _) = render(&l);
        let before = parse(&text);
        prop_assume!(!before.packages.is_empty());
        let victim = before.packages[pick % before.packages.len()].name.clone();
        let out = edit::remove_package(&text, &victim).unwrap().unwrap();
        let after = parse(&out);
        let expected: Vec<PackageSpec> = before.packages.iter().filter(|p| p.name != victim).cloned().collect();
        prop_assert_eq!(after.packages, expected);
        prop_assert!(!out.contains(&format!("\"{victim}")), "{}", out);
        // Everything before the packages and after them is untouched.
        let start = text.find("\"packages\"").unwrap();
        prop_assert_eq!(&out[..start], &text[..start]);
        let tail = text.find("\"shell\"").unwrap();
        prop_assert!(out.ends_with(&text[tail..]));
        // The other entries keep their comments.
        for (n, d) in l.decorations.iter().enumerate() {
            if format!("pkg{n}") == victim {
                continue;
            }
            for note in [format!("// note {n}"), format!("/* c {n} */"), format!("// about {n}")] {
                if text.contains(&note) {
                    prop_assert!(out.contains(&note), "{} ({:?}) lost:\n{}", note, d, out);
                }
            }
        }
    }

    #[test]
    fn replacing_a_version_changes_only_that_entry(l in layout(), pick in 0usize..5) {
        let (text, entries) = render(&l);
        let before = parse(&text);
        prop_assume!(!before.packages.is_empty());
        let n = pick % before.packages.len();
        let name = &before.packages[n].name;
        let spec = PackageSpec::new(name.clone(), "9.9");
        let out = edit::add_package(&text, &spec).unwrap();
        let new = if l.map_form { format!("\"{name}\": \"9.9\"") } else { format!("\"{name}@9.9\"") };
        prop_assert_eq!(out, text.replacen(&entries[n], &new, 1));
    }
}

proptest! {
    /// Options turn a list into the map form; the packages keep their order and values, and the
    /// text outside `packages` is untouched.
    #[test]
    fn options_keep_every_package(l in layout(), pick in 0usize..6) {
        let (text, _) = render(&l);
        let before = parse(&text);
        let name = if pick < before.packages.len() { before.packages[pick].name.clone() } else { "newtool".to_string() };
        let mut spec = PackageSpec::new(name.clone(), "^2");
        spec.platforms = vec!["x86_64-linux".into(), "aarch64-darwin".into()];
        let out = edit::add_package(&text, &spec).unwrap();
        let after = parse(&out);
        let mut expected = before.packages.clone();
        match expected.iter_mut().find(|p| p.name == name) {
            Some(p) => *p = spec.clone(),
            None => expected.push(spec.clone()),
        }
        prop_assert_eq!(after.packages, expected);
        let start = text.find("\"packages\"").unwrap();
        prop_assert_eq!(&out[..start], &text[..start]);
        let tail = text.find("\"shell\"").unwrap();
        prop_assert!(out.ends_with(&text[tail..]));
        // Converting the list keeps every comment in it.
        prop_assert_eq!(out.matches("/*").count(), text.matches("/*").count());
        prop_assert_eq!(out.matches("//").count(), text.matches("//").count());
    }
}

/// Reading a bad manifest or lock changes nothing on disk.
#[test]
fn bad_files_are_left_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join(manifest::FILE_NAME);
    let lock_path = dir.path().join(lock::FILE_NAME);
    let manifest_text = "{\n  \"packages\": [\"jq@\"] // oops\n}\n";
    let lock_text = "{\n<<<<<<< ours\n=======\n>>>>>>> theirs\n}\n";
    std::fs::write(&manifest_path, manifest_text).unwrap();
    std::fs::write(&lock_path, lock_text).unwrap();

    let err = manifest::load(&manifest_path).unwrap_err();
    let report = Report::from_error(&err);
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    assert!(
        report.causes[0].contains(&format!(
            "{}:2:16: `jq@` has no version",
            manifest_path.display()
        )),
        "{}",
        report.render()
    );

    let err = lock::read(&lock_path).unwrap_err();
    let report = Report::from_error(&err);
    assert_eq!(report.exit_code, EXIT_BAD_INPUT);
    assert!(report.causes[0].contains(&format!("{}:2:1:", lock_path.display())));

    assert_eq!(
        std::fs::read_to_string(&manifest_path).unwrap(),
        manifest_text
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock_text);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A Devbox project converts: the manifest keeps its packages, env and scripts; the lock keeps
/// the store paths, and what devenv writes is stable when written again.
#[test]
fn devbox_project_converts_keeping_store_paths() {
    let dir = tempfile::tempdir().unwrap();
    let devbox_json = r#"{
  "packages": ["go@1.22", "hello"],
  "env": {"GOENV": "off"},
  "shell": {"scripts": {"test": "go test ./..."}}
}"#;
    let devbox_lock = r#"{
  "lockfile_version": "1",
  "packages": {
    "go@1.22": {
      "last_modified": "2024-05-01T00:00:00Z",
      "resolved": "github:NixOS/nixpkgs/1111111111111111111111111111111111111111#go_1_22",
      "source": "devbox-search",
      "version": "1.22.2",
      "systems": {
        "x86_64-linux": {"outputs": [{"name": "out", "path": "/nix/store/00000000000000000000000000000000-go-1.22.2", "default": true}], "store_path": "/nix/store/00000000000000000000000000000000-go-1.22.2"},
        "aarch64-darwin": {"store_path": "/nix/store/11111111111111111111111111111111-go-1.22.2"}
      }
    },
    "hello": {"resolved": "github:NixOS/nixpkgs/2222222222222222222222222222222222222222#hello", "source": "nixpkg"},
    "github:NixOS/nixpkgs/nixpkgs-unstable": {"resolved": "github:NixOS/nixpkgs/3333333333333333333333333333333333333333?narHash=x"}
  }
}"#;
    std::fs::write(dir.path().join("devbox.json"), devbox_json).unwrap();
    std::fs::write(dir.path().join("devbox.lock"), devbox_lock).unwrap();

    let loaded = manifest::load(&dir.path().join("devbox.json")).unwrap();
    let converted = manifest::devbox::convert(&loaded.text).unwrap();
    let devenv_json = dir.path().join(manifest::FILE_NAME);
    devenv::fsutil::write_atomic(&devenv_json, converted.text.as_bytes()).unwrap();
    let m = manifest::load(&devenv_json).unwrap();
    assert!(m.warnings.is_empty());
    assert_eq!(m.manifest.packages, loaded.manifest.packages);

    let l = lock::read_devbox(&dir.path().join("devbox.lock"))
        .unwrap()
        .unwrap();
    let devenv_lock = dir.path().join(lock::FILE_NAME);
    assert!(lock::write(&devenv_lock, &l).unwrap());
    assert!(!lock::write(&devenv_lock, &l).unwrap());
    let back = lock::read(&devenv_lock).unwrap().unwrap();
    let go = &back.packages["go@1.22"];
    assert_eq!(
        go.outputs_for("aarch64-darwin", &[])[0].path,
        "/nix/store/11111111111111111111111111111111-go-1.22.2"
    );
    assert_eq!(
        go.outputs_for("x86_64-linux", &[])[0].path,
        "/nix/store/00000000000000000000000000000000-go-1.22.2"
    );
    // The unversioned entry is pinned to its revision: locked, installed from that revision
    // (see `devbox::old_devbox_locks_install_as_locked`), never resolved again.
    let status = lock::check(&m.manifest, &back);
    assert!(status.is_up_to_date(), "{status:?}");
}

proptest! {
    /// `init --from-devbox` removes exactly the Devbox-only keys and adds `$schema`; everything
    /// else in the file stays byte-for-byte.
    #[test]
    fn devbox_conversion_removes_only_devbox_keys(l in layout()) {
        let (original, _) = render(&l);
        let i1 = l.indent;
        let devbox = original
            .replacen("{\n", &format!("{{\n{i1}\"name\": \"proj\",\n"), 1)
            .replace(
                "\"echo hi\" }\n}\n",
                &format!("\"echo hi\" }},\n{i1}\"include\": [\"plugin:x\"]\n}}\n"),
            );
        prop_assert_ne!(&devbox, &original);
        let converted = manifest::devbox::convert(&devbox).unwrap();
        // `name` is only a description; `init --from-devbox` names the plugins left behind.
        prop_assert_eq!(converted.warnings.len(), 0);
        let expected = original.replacen(
            &format!("\n{i1}\""),
            &format!("\n{i1}\"$schema\": \"{}\",\n{i1}\"", manifest::SCHEMA_URL),
            1,
        );
        prop_assert_eq!(converted.text, expected);
    }
}
