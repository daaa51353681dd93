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

const STAND_IN_PIP: &str = "#!/bin/sh\necho \"pip $*\"\n";

/// The stand-in Python package: `python3`, `python` and `pip`.
const PYTHON_TOOLS: &[(&str, &str)] = &[
    ("python3", STAND_IN_PYTHON),
    ("python", STAND_IN_PYTHON),
    ("pip", STAND_IN_PIP),
];

/// A stand-in `nginx` that checks what the plugin's variables lead the `start` script to pass:
/// the prefix directory exists, the config file exists and is the rendered template; it says
/// what it would serve instead of serving it.
const STAND_IN_NGINX: &str = r#"#!/bin/sh
set -eu
[ "$1" = -p ] && [ "$3" = -c ] && [ "$5" = -e ] && [ "$7" = -g ] || { echo "nginx: unexpected arguments: $*" >&2; exit 64; }
[ -d "$2" ] || { echo "nginx: no prefix directory $2" >&2; exit 1; }
[ -f "$4" ] || { echo "nginx: no config file $4" >&2; exit 1; }
if grep -q '\$' "$4"; then echo "nginx: $4 is not rendered" >&2; exit 1; fi
echo "nginx serving $(grep -E 'listen|server_name|root' "$4" | sed 's/^ *//' | paste -sd ' ' -) with prefix $2, log $6, globals $8"
echo "started" > "$2/$6"
"#;

/// A stand-in `initdb` that initializes `$PGDATA` (the postgresql plugin's data directory) the
/// way the real one marks it: a `PG_VERSION` file.
const STAND_IN_INITDB: &str = r#"#!/bin/sh
set -eu
[ -n "${PGDATA:-}" ] || { echo "initdb: no data directory specified" >&2; exit 1; }
mkdir -p "$PGDATA"
echo 17 > "$PGDATA/PG_VERSION"
echo "initdb: initialized $PGDATA"
"#;

/// The default output of each package the lock installs on `system`, by package name (the
/// lock key without its `@version`), with its output name.
fn installed_outputs(lock: &Value, manifest: &str, system: &str) -> Vec<(String, String, String)> {
    let installed = installed_by_lock(lock, manifest, system);
    let mut out = Vec::new();
    for (key, entry) in packages(lock) {
        let name = key.rsplit_once('@').map_or(key.as_str(), |(n, _)| n);
        let sys = &entry["systems"][system];
        for o in sys["outputs"].as_array().into_iter().flatten() {
            let path = o["path"].as_str().unwrap();
            if installed.contains(path) {
                let output = o["name"].as_str().unwrap();
                out.push((name.to_string(), output.to_string(), path.to_string()));
            }
        }
        if let Some(p) = sys["store_path"].as_str() {
            if installed.contains(p) && !out.iter().any(|(_, _, q)| q == p) {
                out.push((name.to_string(), "out".to_string(), p.to_string()));
            }
        }
    }
    out
}

/// A locally signed binary cache holding a stand-in for every store path the project's lock
/// installs on [`SYSTEM`], at its real store path: a package named in `tools` gets those
/// executables in `bin/` of its `out` output (the first installed one when it has none), every
/// other path is an empty directory. Returns the cache directory and its public key.
fn stand_in_cache(t: &TestContext, tools: &[(&str, &[(&str, &str)])]) -> (PathBuf, String) {
    use devenv::nix::signature::SecretKey;
    use devenv::nix::store_path::StorePath;
    use devenv::store::cache_writer::{CacheWriter, NarCompression, PathMeta};
    use std::os::unix::fs::PermissionsExt as _;

    let lock = lock_of(t, "devbox.lock");
    let outputs = installed_outputs(&lock, &t.read("devbox.json"), SYSTEM);
    assert_eq!(
        outputs.len(),
        installed_by_lock(&lock, &t.read("devbox.json"), SYSTEM).len()
    );
    for (package, _) in tools {
        assert!(
            outputs.iter().any(|(name, _, _)| name == package),
            "{package} is not in the lock: {outputs:?}"
        );
    }
    let key = SecretKey::generate("corpus-test-1");
    let cache = t.root().join("cache");
    let writer = CacheWriter::open(&cache).unwrap();
    for (i, (package, output, path)) in outputs.iter().enumerate() {
        let dir = t.root().join(format!("stand-in-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let has_out = outputs.iter().any(|(p, o, _)| p == package && o == "out");
        let first = outputs.iter().find(|(p, _, _)| p == package).unwrap().2 == *path;
        let carries_tools = if has_out { output == "out" } else { first };
        let wanted = tools.iter().find(|(p, _)| p == package);
        if let (true, Some((_, list))) = (carries_tools, wanted) {
            std::fs::create_dir_all(dir.join("bin")).unwrap();
            for (tool, content) in *list {
                let file = dir.join("bin").join(tool);
                std::fs::write(&file, content).unwrap();
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
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
    (cache, key.public().to_string())
}

/// `devenv run <script>` in a corpus project whose packages come from the stand-in `cache`.
fn run_script(t: &TestContext, cache: &(PathBuf, String), script: &str) -> std::process::Output {
    t.cmd()
        .env("DEVENV_SYSTEM", SYSTEM)
        .env(
            "DEVENV_SUBSTITUTERS",
            format!("file://{}", cache.0.display()),
        )
        .env("DEVENV_TRUSTED_PUBLIC_KEYS", &cache.1)
        .args(["run", script])
        .output()
        .unwrap()
}

/// `devenv run <script>` for each of `scripts` in turn, in a corpus project whose packages come
/// from a [`stand_in_cache`]; returns each one's stdout and stderr after checking it succeeded.
fn run_with_stand_ins(
    t: &TestContext,
    tools: &[(&str, &[(&str, &str)])],
    scripts: &[&str],
) -> Vec<(String, String)> {
    let cache = stand_in_cache(t, tools);
    let mut outputs = Vec::new();
    for script in scripts {
        let out = run_script(t, &cache, script);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{script}: {stdout}\n{stderr}");
        outputs.push((stdout, stderr));
    }
    outputs
}

/// A corpus project whose hook and script lean on the python plugin (`. $VENV_DIR/bin/activate`,
/// `pip install`, `python main.py`) runs them: its locked Python (a stand-in at the real store
/// path, from a locally signed cache) is installed, the plugin's `VENV_DIR` is set and its hook
/// creates the virtual environment there.
#[test]
fn a_python_project_runs_its_script_with_the_plugin() {
    let t = project("development-python-pip");
    let ran = run_with_stand_ins(&t, &[("python", PYTHON_TOOLS)], &["run_test"]);
    let (stdout, stderr) = &ran[0];
    let venv = t.project.join(".venv").display().to_string();
    assert_eq!(
        *stdout,
        format!("pip install -r requirements.txt\npython main.py in {venv}\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("creating a Python virtual environment in {venv}")),
        "{stderr}"
    );
}

/// servers-nginx's `build` renders the plugin's `nginx.template` into `nginx.conf` in
/// `$NGINX_CONFDIR` with envsubst (the project's `NGINX_WEB_PORT` over the plugin's), and its
/// `start` runs nginx with `$NGINX_PATH_PREFIX` and that config.
#[test]
fn the_nginx_project_builds_its_config_and_starts_with_the_plugin() {
    let t = project("servers-nginx");
    let ran = run_with_stand_ins(
        &t,
        &[("nginx", &[("nginx", STAND_IN_NGINX)])],
        &["build", "start"],
    );
    assert_eq!(ran[0].0, "", "{}", ran[0].1);
    // The plugin's own nginx.conf was replaced by the rendered template.
    let conf = t.read("devbox.d/nginx/nginx.conf");
    assert!(conf.starts_with("# Rendered into nginx.conf"), "{conf}");
    assert!(conf.contains("listen 8080;"), "{conf}");
    assert!(conf.contains("server_name localhost;"), "{conf}");
    assert!(conf.contains("root ../../../devbox.d/web;"), "{conf}");
    assert!(!conf.contains('$'), "{conf}");
    let prefix = t.project.join(".devbox/virtenv/nginx");
    assert_eq!(
        ran[1].0,
        format!(
            "nginx serving listen 8080; server_name localhost; root ../../../devbox.d/web; \
             with prefix {}, log error.log, globals pid nginx.pid;daemon off;\n",
            prefix.display()
        ),
        "{}",
        ran[1].1
    );
    assert_eq!(t.read(".devbox/virtenv/nginx/error.log"), "started\n");
    assert!(t.project.join("devbox.d/web/index.html").is_file());
}

/// stacks-django's hook activates the plugin's virtual environment (`. $VENV_DIR/bin/activate`)
/// and installs its requirements before every script; `initdb` initializes the postgresql
/// plugin's `$PGDATA` and `server` runs in the environment. Its `create_db` and `test` scripts
/// need a running PostgreSQL server (`createdb`, `psql`, `devbox services start`), which a
/// stand-in cannot honestly be, so they are not run here.
#[test]
fn the_django_project_runs_its_scripts_in_the_plugins_virtual_environment() {
    let t = project("stacks-django");
    let ran = run_with_stand_ins(
        &t,
        &[
            ("python", PYTHON_TOOLS),
            ("postgresql", &[("initdb", STAND_IN_INITDB)]),
        ],
        &["initdb", "server"],
    );
    let venv = t.project.join(".venv").display().to_string();
    let pgdata = t.project.join(".devbox/virtenv/postgresql/data");
    let pip = "pip install -r requirements.txt --use-pep517\n";
    assert_eq!(
        ran[0].0,
        format!("{pip}initdb: initialized {}\n", pgdata.display()),
        "{}",
        ran[0].1
    );
    assert_eq!(t.read(".devbox/virtenv/postgresql/data/PG_VERSION"), "17\n");
    assert_eq!(
        ran[1].0,
        format!("{pip}python todo_project/manage.py runserver in {venv}\n"),
        "{}",
        ran[1].1
    );
}

/// The LAPP and LEPP stacks' `init_db` runs `initdb` in the postgresql plugin's `$PGDATA` (their
/// own `PGHOST` and `PGPORT` beside it). Their `create_db` and `run_test` scripts need a running
/// PostgreSQL server, Apache or nginx with PHP-FPM (`devbox services up`, `createdb`, `psql`,
/// `curl`), which stand-ins cannot honestly be, so they are not run here.
#[test]
fn the_lapp_and_lepp_stacks_initialize_the_plugins_database_directory() {
    for name in ["stacks-lapp-stack", "stacks-lepp-stack"] {
        let t = project(name);
        let ran = run_with_stand_ins(
            &t,
            &[("postgresql", &[("initdb", STAND_IN_INITDB)])],
            &["init_db"],
        );
        let pgdata = t.project.join(".devbox/virtenv/postgresql/data");
        assert_eq!(
            ran[0].0,
            format!("initdb: initialized {}\n", pgdata.display()),
            "{name}: {}",
            ran[0].1
        );
        assert_eq!(
            t.read(".devbox/virtenv/postgresql/data/PG_VERSION"),
            "17\n",
            "{name}"
        );
    }
}

/// A stand-in `ruby` that says what it was asked to run and where gems go.
const STAND_IN_RUBY: &str = "#!/bin/sh\necho \"ruby $* with GEM_HOME=${GEM_HOME:-unset}\"\n";

/// development-ruby's `run_test` runs its locked Ruby with the ruby plugin's `GEM_HOME`.
#[test]
fn the_ruby_project_runs_its_script_with_the_plugins_gem_home() {
    let t = project("development-ruby");
    let ran = run_with_stand_ins(&t, &[("ruby", &[("ruby", STAND_IN_RUBY)])], &["run_test"]);
    let gem_home = t.project.join(".devbox/virtenv/ruby");
    assert_eq!(
        ran[0].0,
        format!(
            "ruby -e puts \"Hello from Ruby #{{RUBY_VERSION}}\" with GEM_HOME={}\n",
            gem_home.display()
        ),
        "{}",
        ran[0].1
    );
}

// The other corpus projects whose hooks or scripts use plugin variables are not run here:
// - AlexMakesSoftware-JupyterDevbox: its hook runs the project's `setup_kernel.sh`, which the
//   corpus does not keep, and its one script fails on purpose. (Its `source` line works: Devbox
//   projects' hooks and scripts run in bash, see `devbox::devbox_scripts_run_in_bash_and_devenv_scripts_in_sh`.)
// - cloud_development-temporal: a 2023 lock without store paths (only Nix can resolve them from
//   nixpkgs, so no stand-in can stand at them), and its hook reads clang's `nix-support` files.
// - stacks-drupal: its only script needs MariaDB, nginx and PHP-FPM running
//   (`devbox services up`), the project's `install-drupal.sh` and a real `curl` of the site.
// - servers-apache and stacks-lapp-stack's `run_test` (`HTTPD_CONFDIR`, `HTTPD_PORT`): devenv has
//   no apache plugin yet (see the Devbox page), so those variables are not set.
// - stacks-jekyll: its scripts `cd myblog`, a directory the corpus does not keep, and run
//   `devbox run` inside themselves.
