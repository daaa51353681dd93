//! The layering of docs/architecture.md, checked on the source: no module depends on `cli`, only
//! `cli` (and the doctor, which reports what activation would do) uses the application layer,
//! and the top-level modules depend on each other without cycles.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its files name as `crate::<module>`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        let module = name.trim_end_matches(".rs").to_string();
        if module != "main" && module != "lib" {
            modules.insert(module);
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in walk(&src) {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if !modules.contains(&module) {
            continue;
        }
        // Doc links (`[`crate::x`]`) in comments are not dependencies.
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = graph.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != module && modules.contains(&name) {
                deps.insert(name);
            }
        }
    }
    graph
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn nothing_depends_on_cli_and_only_cli_uses_the_application_layer() {
    let graph = module_graph();
    for (module, deps) in &graph {
        assert!(!deps.contains("cli"), "`{module}` depends on `cli`");
        if deps.contains("app") {
            assert!(
                ["cli", "doctor"].contains(&module.as_str()),
                "`{module}` depends on the application layer"
            );
        }
    }
    assert!(graph["cli"].contains("app"));
}

#[test]
fn top_level_modules_have_no_dependency_cycles() {
    let graph = module_graph();
    // Kahn's algorithm: whatever cannot be ordered sits on a cycle.
    let mut remaining = graph.clone();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            remaining.remove(&leaf);
        }
    }
    assert!(
        remaining.is_empty(),
        "modules on a dependency cycle: {:?}",
        remaining.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_store_names_no_command_in_its_messages() {
    // What to run about a store failure depends on who asked; `app` and `cli` say it.
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    for file in walk(&store) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            assert!(
                code.starts_with("//") || !code.contains("`devenv "),
                "{}:{}: {line}",
                file.display(),
                n + 1
            );
        }
    }
}
