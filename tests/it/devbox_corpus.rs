//! The corpus of real Devbox projects (tests/fixtures/devbox-corpus/, manifests and locks as
//! published): `install --frozen` asks the binary cache for exactly the store paths each lock
//! names for this system, and `init --from-devbox` keeps every store path of every system.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::TestContext;
use crate::devbox::{empty_cache, narinfos_asked};

/// Projects whose locks record store paths for every package (2024 on).
const LOCKED_WITH_PATHS: &[&str] = &[
    "117503445-devbox-demo",
    "AlexMakesSoftware-JupyterDevbox",
    "data_science-R",
    "data_science-llama",
    "databases-mariadb",
    "databases-mysql",
    "databases-postgres",
    "databases-redis",
    "databases-valkey",
    "development-bun",
    "development-csharp-hello-world",
    "development-elixir-elixir_hello",
    "development-fsharp-hello-world",
    "development-go-hello-world",
    "development-haskell",
    "development-java-gradle-hello-world",
    "development-java-maven-hello-world",
    "development-nim-spinnytest",
    "development-nodejs-nodejs-npm",
    "development-nodejs-nodejs-pnpm",
    "development-nodejs-nodejs-typescript",
    "development-nodejs-nodejs-yarn",
    "development-php-ds-extension",
    "development-php-latest",
    "development-python-pip",
    "development-python-pipenv",
    "development-python-poetry-poetry-demo",
    "development-ruby",
    "development-rust-rust-stable-hello-world",
    "development-zig-zig-hello-world",
    "insecure",
    "plugins-v2-local",
    "servers-apache",
    "servers-caddy",
    "servers-nginx",
    "stacks-django",
    "stacks-drupal",
    "stacks-jekyll",
    "stacks-lapp-stack",
    "stacks-laravel",
    "stacks-lepp-stack",
    "stacks-rails",
];

/// Projects with 2023 locks (entries without `systems`, `"source": "nixpkg"`).
const OLDER_LOCKS: &[&str] = &[
    "cloud_development-argo-workflows",
    "cloud_development-maelstrom",
    "cloud_development-temporal",
    "data_science-jupyter",
    "data_science-pytorch-basic-example",
    "tutorial",
];

const SYSTEM: &str = "x86_64-linux";

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/devbox-corpus")
        .join(name)
}

/// Copy a corpus project into the test world's project directory.
fn project(name: &str) -> TestContext {
    let t = TestContext::new();
    crate::common::nixfix::copy_tree(&corpus(name), &t.project);
    t
}

fn lock_of(t: &TestContext, file: &str) -> Value {
    serde_json::from_str(&t.read(file)).unwrap()
}

/// Package entries of a lock (not the nixpkgs or flake entries).
fn packages(lock: &Value) -> impl Iterator<Item = (&String, &Value)> {
    lock["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.contains(':') && !k.contains('#'))
}

/// The outputs a manifest asks for by package name (`"openssl": {"outputs": ["out", "dev"]}`).
fn requested_outputs(manifest: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: true,
    };
    let m = jsonc_parser::parse_to_serde_value(manifest, &options)
        .unwrap()
        .unwrap();
    let mut out = std::collections::BTreeMap::new();
    if let Some(map) = m["packages"].as_object() {
        for (name, opts) in map {
            if let Some(list) = opts["outputs"].as_array() {
                let list = list.iter().map(|o| o.as_str().unwrap().to_string());
                out.insert(name.clone(), list.collect());
            }
        }
    }
    out
}

/// The store paths Devbox installs on `system` by the lock: each entry's outputs the manifest
/// asks for, else its default outputs (`out`, or the first, when none is marked), or its
/// `store_path`.
fn installed_by_lock(lock: &Value, manifest: &str, system: &str) -> BTreeSet<String> {
    let requested = requested_outputs(manifest);
    let mut out = BTreeSet::new();
    for (key, entry) in packages(lock) {
        let sys = &entry["systems"][system];
        let outputs = sys["outputs"].as_array().cloned().unwrap_or_default();
        let name = key.rsplit_once('@').map_or(key.as_str(), |(n, _)| n);
        if let Some(wanted) = requested.get(name) {
            for o in outputs
                .iter()
                .filter(|o| wanted.iter().any(|w| o["name"] == **w))
            {
                out.insert(o["path"].as_str().unwrap().to_string());
            }
            continue;
        }
        if outputs.is_empty() {
            if let Some(p) = sys["store_path"].as_str() {
                out.insert(p.to_string());
            }
            continue;
        }
        let defaults: Vec<&Value> = outputs.iter().filter(|o| o["default"] == true).collect();
        let chosen = if defaults.is_empty() {
            vec![outputs
                .iter()
                .find(|o| o["name"] == "out")
                .unwrap_or(&outputs[0])]
        } else {
            defaults
        };
        for o in chosen {
            out.insert(o["path"].as_str().unwrap().to_string());
        }
    }
    out
}

/// Every store path a lock names, on every system.
fn every_path(lock: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, entry) in packages(lock) {
        let Some(systems) = entry["systems"].as_object() else {
            continue;
        };
        for sys in systems.values() {
            if let Some(p) = sys["store_path"].as_str() {
                out.insert(p.to_string());
            }
            for o in sys["outputs"].as_array().into_iter().flatten() {
                out.insert(o["path"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

fn hash(store_path: &str) -> String {
    store_path["/nix/store/".len()..]
        .split('-')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn install_frozen_asks_for_exactly_the_locked_store_paths() {
    let mut counted = Vec::new();
    for name in LOCKED_WITH_PATHS {
        let t = project(name);
        let cache = empty_cache(&t);
        let expected: BTreeSet<String> =
            installed_by_lock(&lock_of(&t, "devbox.lock"), &t.read("devbox.json"), SYSTEM)
                .iter()
                .map(|p| hash(p))
                .collect();
        // No Nix on PATH: nothing is built from source, only the cache is asked.
        let no_nix = t.root().join("no-nix");
        std::fs::create_dir_all(&no_nix).unwrap();
        let out = t
            .cmd()
            .env("DEVENV_OFFLINE", "1")
            .env("PATH", &no_nix)
            .args(["install", "--frozen", "--system", SYSTEM, "--substituters"])
            .arg(cache.url())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // The cache has nothing: the install fails after asking for every path.
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("are in none of the binary caches asked"),
            "{name}: {err}"
        );
        let asked: BTreeSet<String> = narinfos_asked(&cache).into_iter().collect();
        assert_eq!(asked, expected, "{name}: {err}");
        counted.push((*name, expected.len()));
    }
    let total: usize = counted.iter().map(|(_, n)| n).sum();
    assert_eq!(counted.len(), 42);
    assert_eq!(total, 143, "{counted:?}");
}

#[test]
fn init_from_devbox_keeps_every_store_path_of_every_system() {
    let mut total = 0;
    for name in LOCKED_WITH_PATHS.iter().chain(OLDER_LOCKS) {
        let t = project(name);
        t.ok(&["init", "--from-devbox"]);
        let theirs = every_path(&lock_of(&t, "devbox.lock"));
        let ours = every_path(&lock_of(&t, "devenv.lock"));
        assert_eq!(ours, theirs, "{name}");
        total += theirs.len();
        // The converted project reads back without a word.
        let out = t.run(&["list"]);
        assert!(out.status.success(), "{name}: {out:?}");
    }
    assert_eq!(total, 1034, "paths kept");
}

/// A stand-in Python at the real store path of the lock: `python -m venv DIR` writes an
/// `activate` that sets `VIRTUAL_ENV`, `pip` and `python` say what they were asked.
const STAND_IN_PYTHON: &str = r#"#!/bin/sh
case "$1" in
  -c) exit 0 ;;
  -m) mkdir -p "$3/bin"; printf 'export VIRTUAL_ENV="%s"\n' "$3" > "$3/bin/activate"; exit 0 ;;
esac
echo "python $* in ${VIRTUAL_ENV:-no venv}"
"#;

/// A corpus project whose hook and script lean on the python plugin (`. $VENV_DIR/bin/activate`,
/// `pip install`, `python main.py`) runs them: its locked Python (a stand-in at the real store
/// path, from a locally signed cache) is installed, the plugin's `VENV_DIR` is set and its hook
/// creates the virtual environment there.
#[test]
fn a_python_project_runs_its_script_with_the_plugin() {
    use devenv::nix::signature::SecretKey;
    use devenv::nix::store_path::StorePath;
    use devenv::store::cache_writer::{CacheWriter, NarCompression, PathMeta};
    use std::os::unix::fs::PermissionsExt as _;

    let t = project("development-python-pip");
    let lock = lock_of(&t, "devbox.lock");
    let paths = installed_by_lock(&lock, &t.read("devbox.json"), SYSTEM);
    assert_eq!(paths.len(), 1);
    let key = SecretKey::generate("corpus-test-1");
    let cache = t.root().join("cache");
    let writer = CacheWriter::open(&cache).unwrap();
    for path in &paths {
        let dir = t.root().join("stand-in");
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for tool in ["python3", "python"] {
            let file = dir.join("bin").join(tool);
            std::fs::write(&file, STAND_IN_PYTHON).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let pip = dir.join("bin/pip");
        std::fs::write(&pip, "#!/bin/sh\necho \"pip $*\"\n").unwrap();
        std::fs::set_permissions(&pip, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (nar_hash, nar_size) = devenv::nix::nar::writer::dump_hash(&dir).unwrap();
        let meta = PathMeta {
            nar_hash,
            nar_size,
            references: Vec::new(),
            deriver: None,
            ca: None,
        };
        let store_path = StorePath::parse_absolute(path).unwrap();
        writer
            .add(&store_path, &dir, &meta, NarCompression::Xz, Some(&key))
            .unwrap();
    }
    let out = t
        .cmd()
        .env("DEVENV_SYSTEM", SYSTEM)
        .env("DEVENV_SUBSTITUTERS", format!("file://{}", cache.display()))
        .env("DEVENV_TRUSTED_PUBLIC_KEYS", key.public().to_string())
        .args(["run", "run_test"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let venv = t.project.join(".venv").display().to_string();
    assert_eq!(
        stdout,
        format!("pip install -r requirements.txt\npython main.py in {venv}\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("creating a Python virtual environment in {venv}")),
        "{stderr}"
    );
}
