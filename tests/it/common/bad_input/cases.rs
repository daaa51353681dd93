//! The cases of the bad-input corpus, and the worlds they run in: a project with a manifest and
//! its lock, broken manifests and locks, the fixture index edited or served with faults, untrusted
//! index entries, and files nested too deep or too large to read.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::super::http::{Fault, Server};
use super::super::index::{rev, version_entry, IndexWorld};
use super::{Case, Run, Setup};

/// The manifest of [`project`].
pub const MANIFEST: &str = "{\n  // team tools\n  \"packages\": [\"jq@1.7.1\"],\n}\n";

/// What stderr says about a file that nests too deep.
pub const TOO_DEEP: &str = "nests deeper than 64 levels";

/// A project with a valid manifest and its lock.
pub fn project() -> IndexWorld {
    let w = IndexWorld::new();
    w.t.write("devenv.json", MANIFEST);
    w.ok(&["add", "jq@1.7.1", "--no-install"]);
    w
}

pub fn with_manifest(text: &str) -> IndexWorld {
    let w = IndexWorld::new();
    w.t.write("devenv.json", text);
    w
}

pub fn with_lock(text: &str) -> IndexWorld {
    let w = project();
    w.t.write("devenv.lock", text);
    w
}

/// Serve the world's index over loopback HTTP and point the world at it.
pub fn over_http(w: &mut IndexWorld) -> Server {
    let server = Server::serve_dir(&w.index);
    w.index_url = format!("sparse+{}", server.url());
    server
}

/// Give the fixture index a package `evil` with these version entries and this summary.
pub fn with_evil_package(w: &IndexWorld, summary: &str, versions: Vec<Value>) {
    let latest = versions[0]["version"].clone();
    let file = json!({"name": "evil", "summary": summary, "versions": versions});
    std::fs::write(w.index.join("packages/evil.json"), file.to_string()).unwrap();
    let line = json!({"name": "evil", "summary": summary, "latest": latest});
    let mut names = std::fs::read_to_string(w.index.join("names.jsonl")).unwrap();
    names.push_str(&format!("{line}\n"));
    std::fs::write(w.index.join("names.jsonl"), names).unwrap();
}

pub fn evil_entry(version: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut e = version_entry(
        "evil",
        version,
        "2024-01-01",
        &["x86_64-linux"],
        &[("out", true)],
    );
    edit(&mut e);
    e
}

pub fn deep_json(prefix: &str) -> String {
    format!("{prefix}{}{}", "[".repeat(30_000), "]".repeat(30_000))
}

fn world(make: impl Fn() -> IndexWorld + 'static) -> Box<dyn Fn() -> Setup> {
    Box::new(move || Setup {
        w: make(),
        server: None,
    })
}

/// [`project`] with its index served over HTTP, with `fault` for paths starting with `prefix`.
fn served(prefix: &'static str, fault: Fault) -> Box<dyn Fn() -> Setup> {
    Box::new(move || {
        let mut w = project();
        let server = over_http(&mut w);
        server.fault(prefix, fault.clone());
        Setup {
            w,
            server: Some(server),
        }
    })
}

fn simple(name: &'static str, make: fn() -> IndexWorld, run: Run) -> Case {
    Case {
        name,
        setup: world(make),
        runs: vec![run],
    }
}

/// Sets the store path of the first output of an `evil` entry.
fn path(p: &'static str) -> impl Fn(&mut Value) {
    move |e: &mut Value| e["systems"]["x86_64-linux"]["outputs"][0]["path"] = p.into()
}

/// Index entries that break the lock rules: each is refused naming the field, nothing is written.
pub fn index_entry_cases() -> Vec<Case> {
    type Edit = Box<dyn Fn(&mut Value)>;
    let entries: Vec<(&'static str, &'static str, Edit, &'static str)> = vec![
        (
            "index_entry_with_a_path_outside_the_store",
            "1.0",
            Box::new(path("/etc/passwd")),
            "`systems.x86_64-linux.outputs[0].path` is not a store path: store path `/etc/passwd`",
        ),
        (
            "index_entry_with_a_path_escaping_the_store",
            "1.0",
            Box::new(path("/nix/store/../../etc/passwd")),
            "`systems.x86_64-linux.outputs[0].path` is not a store path",
        ),
        (
            "index_entry_with_a_command_as_rev",
            "1.0",
            Box::new(|e| e["rev"] = "main; touch x".into()),
            "`rev` is `main; touch x`, not a 40-character",
        ),
        (
            "index_entry_with_a_date_that_is_not_a_date",
            "1.0",
            Box::new(|e| e["last_modified"] = "not a date".into()),
            "`last_modified` is not an RFC 3339 date: `not a date`",
        ),
        (
            "index_entry_with_a_command_as_attr_path",
            "1.0",
            Box::new(|e| e["attr_path"] = "evil\n$(touch x)".into()),
            "`attr_path` is `evil\\n$(touch x)`, not a nixpkgs attribute path",
        ),
        (
            "index_entry_with_a_version_forging_an_error_line",
            "1.0\nerror: all is well",
            Box::new(|_| {}),
            "`version` is `1.0\\nerror: all is well`, which contains a control",
        ),
        (
            "index_entry_with_an_escape_sequence_in_its_version",
            "1.0\u{1b}[31m",
            Box::new(|_| {}),
            "`version` is `1.0\\e[31m`, which contains a control",
        ),
    ];
    entries
        .into_iter()
        .map(|(name, version, edit, needle)| Case {
            name,
            setup: world(move || {
                let w = project();
                with_evil_package(&w, "harmless", vec![evil_entry(version, &edit)]);
                w
            }),
            runs: vec![Run::new(
                &["add", "evil", "--no-install"],
                1,
                &[
                    "the index `fixture-index` gave an unusable answer for `evil`",
                    needle,
                ],
            )
            .absent("\nerror: all is well")],
        })
        .collect()
}

/// The whole corpus.
pub fn cases() -> Vec<Case> {
    let mut cases = manifest_and_argument_cases();
    cases.extend(lock_and_index_cases());
    cases.extend(index_entry_cases());
    cases.extend(untrusted_data_cases());
    cases.extend(super::supply::supply_cases());
    cases.extend(super::sharding::sharding_cases());
    cases
}

fn manifest_and_argument_cases() -> Vec<Case> {
    let add = |pkg: &'static str| ["add", pkg, "--no-install"];
    vec![
        simple(
            "manifest_broken_json",
            || with_manifest("{\n  \"packages\": [\"jq\"\n"),
            Run::new(&add("hello"), 2, &["devenv.json:2:15"]),
        ),
        simple(
            "manifest_packages_of_wrong_type",
            || with_manifest("{\n  \"packages\": 5\n}\n"),
            Run::new(&["list"], 2, &["devenv.json:2:"]),
        ),
        simple(
            "manifest_package_entry_of_wrong_type",
            || with_manifest("{\n  \"packages\": [\n    true\n  ]\n}\n"),
            Run::new(&add("jq"), 2, &["devenv.json:3:"]),
        ),
        simple(
            "manifest_env_value_of_wrong_type",
            || with_manifest("{\"packages\": [], \"env\": {\"A\": 1}}"),
            Run::new(&["list"], 2, &["devenv.json:1:"]),
        ),
        simple(
            "manifest_init_hook_of_wrong_type",
            || with_manifest("{\"packages\": [],\n \"shell\": {\"init_hook\": 3}}"),
            Run::new(&["list"], 2, &["devenv.json:2:"]),
        ),
        simple(
            "manifest_package_with_empty_version",
            || with_manifest("{\"packages\": [\n  \"ansible@\"\n]}"),
            Run::new(&["list"], 2, &["devenv.json:2:", "ansible@"]),
        ),
        simple(
            "manifest_platforms_and_excluded_platforms_together",
            || {
                with_manifest(
                    "{\"packages\": {\n  \"jq\": {\"platforms\": [\"x86_64-linux\"], \"excluded_platforms\": [\"aarch64-linux\"]}\n}}",
                )
            },
            Run::new(&["list"], 2, &["devenv.json:2:", "excluded_platforms"]),
        ),
        simple(
            "manifest_unknown_system",
            || with_manifest("{\"packages\": {\n  \"jq\": {\"platforms\": [\"sparc-plan9\"]}\n}}"),
            Run::new(&["list"], 2, &["sparc-plan9"]),
        ),
        simple(
            "manifest_unknown_key_is_a_warning_not_an_error",
            || with_manifest("{\n  \"packages\": [],\n  \"frobnicate\": 1\n}\n"),
            Run::new(&["list"], 0, &["warning:", "devenv.json:3:", "frobnicate"]),
        ),
        simple(
            "no_manifest_anywhere",
            IndexWorld::new,
            Run::new(&add("jq"), 2, &["no devenv.json", "devenv init"]),
        ),
        simple(
            "argument_with_empty_version",
            project,
            Run::new(&add("pkg@"), 2, &["`pkg@`"]),
        ),
        simple(
            "argument_with_empty_name",
            project,
            Run::new(&add("@1.0"), 2, &["`@1.0`"]),
        ),
        simple(
            "argument_with_a_space",
            project,
            Run::new(&add("my pkg"), 2, &["my pkg"]),
        ),
        simple(
            "argument_with_a_slash",
            project,
            Run::new(&add("foo/bar"), 2, &["foo/bar"]),
        ),
        simple("argument_empty", project, Run::new(&add(""), 2, &["empty"])),
        simple(
            "argument_with_a_broken_range",
            project,
            Run::new(&add("jq@>="), 2, &["jq@>="]),
        ),
        simple(
            "argument_with_an_unknown_platform",
            project,
            Run::new(
                &["add", "jq", "--platform", "sparc-plan9", "--no-install"],
                2,
                &["sparc-plan9", "x86_64-linux"],
            ),
        ),
        simple(
            "unknown_package_name_suggests_and_changes_nothing",
            project,
            Run::new(
                &["add", "hello", "ansibel", "--no-install"],
                2,
                &["`ansibel` is not in the index", "did you mean ansible"],
            ),
        ),
        Case {
            name: "unknown_version_lists_what_exists",
            setup: world(project),
            runs: vec![
                Run::new(
                    &add("ansible@9.9"),
                    2,
                    &["`9.9`", "available versions: 2.160.0, 2.17.1"],
                ),
                Run::new(&["info", "jq@1.9.9"], 2, &["1.9.9", "1.7.1"]),
            ],
        },
        Case {
            name: "rm_and_update_of_a_package_not_in_the_manifest",
            setup: world(project),
            runs: vec![
                Run::new(&["rm", "hello", "--no-install"], 2, &["`hello`", "jq"]),
                Run::new(&["update", "hello", "--no-install"], 2, &["`hello`"]),
            ],
        },
        simple(
            "requested_output_that_does_not_exist",
            project,
            Run::new(
                &["add", "jq", "--outputs", "bin,docs", "--no-install"],
                2,
                &["jq 1.7.1 has no output named `docs`", "bin, dev, man, out"],
            ),
        ),
        simple(
            "package_built_for_none_of_the_wanted_systems",
            project,
            Run::new(
                &[
                    "add",
                    "macfuse-stubs",
                    "--platform",
                    "x86_64-linux",
                    "--no-install",
                ],
                2,
                &["macfuse-stubs 4.8.0 has no build", "x86_64-linux"],
            ),
        ),
    ]
}

fn lock_and_index_cases() -> Vec<Case> {
    let add_hello = ["add", "hello", "--no-install"];
    vec![
        simple(
            "lock_from_a_newer_devenv",
            || with_lock("{\n  \"lockfile_version\": \"99\",\n  \"packages\": {}\n}\n"),
            Run::new(&add_hello, 2, &["devenv.lock", "99", "upgrade"]),
        ),
        simple(
            "lock_edited_into_invalid_json",
            || with_lock("{\n  \"lockfile_version\": \"1\",\n  \"packages\": {,}\n}\n"),
            Run::new(&add_hello, 2, &["devenv.lock:3:"]),
        ),
        simple(
            "lock_with_merge_conflict_markers",
            || {
                let w = project();
                let conflicted = w.t.read("devenv.lock").replacen(
                    "  \"packages\": {",
                    "<<<<<<< HEAD\n  \"packages\": {\n=======\n  \"packages\": {\n>>>>>>> theirs",
                    1,
                );
                w.t.write("devenv.lock", &conflicted);
                w
            },
            Run::new(
                &["update", "--no-install"],
                2,
                &["devenv.lock:3:1", "conflict"],
            ),
        ),
        simple(
            "lock_with_wrong_types",
            || with_lock("{\"lockfile_version\": \"1\", \"packages\": []}\n"),
            Run::new(&["list"], 2, &["devenv.lock:1:"]),
        ),
        simple(
            "index_directory_missing",
            || {
                let mut w = project();
                w.index_url = w.t.root().join("nowhere").display().to_string();
                w
            },
            Run::new(&add_hello, 2, &["nowhere", "does not exist"]),
        ),
        simple(
            "index_package_file_is_not_json",
            || {
                let w = project();
                let file = w.index.join("packages/hello.json");
                std::fs::write(file, "{\"name\": \"hello\",\n  oops\n}").unwrap();
                w
            },
            Run::new(&add_hello, 1, &["packages/hello.json:2:3"]),
        ),
        simple(
            "index_in_a_newer_format",
            || {
                let w = project();
                std::fs::write(w.index.join("index.json"), "{\"format\": 2}").unwrap();
                w
            },
            Run::new(&add_hello, 1, &["format 2", "upgrade devenv"]),
        ),
        Case {
            name: "index_http_404_for_index_json",
            setup: served("/index.json", Fault::Status(404)),
            runs: vec![Run::new(&add_hello, 2, &["index.json` does not exist"])],
        },
        Case {
            name: "index_http_500",
            setup: served("/packages/", Fault::Status(500)),
            runs: vec![Run::new(&add_hello, 1, &["packages/hello.json", "500"])],
        },
        Case {
            name: "index_http_garbage",
            setup: served(
                "/packages/",
                Fault::Body(b"<html>\n<h1>It works!</h1>".to_vec()),
            ),
            runs: vec![Run::new(&add_hello, 1, &["packages/hello.json:1:1"])],
        },
        Case {
            name: "index_http_truncated",
            setup: served("/packages/", Fault::Truncate(10)),
            runs: vec![Run::new(&add_hello, 1, &["packages/hello.json"])],
        },
        Case {
            name: "index_http_slow",
            setup: served("/packages/", Fault::Stall(Duration::from_secs(4))),
            runs: vec![Run::new(
                &add_hello,
                1,
                &["packages/hello.json", "no answer within 1s"],
            )],
        },
        Case {
            name: "http_timeout_that_is_not_a_number",
            setup: Box::new(|| {
                let mut w = project();
                let server = over_http(&mut w);
                Setup {
                    w,
                    server: Some(server),
                }
            }),
            runs: vec![Run::new(&add_hello, 2, &["DEVENV_HTTP_TIMEOUT=`soon`"])
                .env("DEVENV_HTTP_TIMEOUT", "soon")],
        },
        simple(
            "unsupported_index_url_scheme",
            || {
                let mut w = project();
                w.index_url = "ftp://example.org/index".into();
                w
            },
            Run::new(&["search", "jq"], 2, &["ftp://example.org/index"]),
        ),
    ]
}

/// Index entries, code in locks, deeply nested and huge files.
fn untrusted_data_cases() -> Vec<Case> {
    vec![
        Case {
            name: "a_bad_entry_among_good_ones_is_ignored_with_a_warning",
            setup: world(|| {
                let w = project();
                let bad = evil_entry("2.0", |e| e["rev"] = "main; touch x".into());
                with_evil_package(&w, "harmless", vec![bad, evil_entry("1.0", |_| {})]);
                w
            }),
            runs: vec![Run::new(
                &["add", "evil", "--no-install"],
                0,
                &["warning: the index `fixture-index` has an unusable entry for `evil` (version `2.0`: `rev` is `main; touch x`"],
            )
            .writes()],
        },
        Case {
            name: "info_and_search_never_print_raw_control_characters",
            setup: world(|| {
                let w = project();
                let summary = "calm\u{1b}[2J\u{1b}]0;owned\u{7} \u{202e}txt.exe";
                let odd = evil_entry("2.0\u{1b}[31m", |_| {});
                with_evil_package(&w, summary, vec![evil_entry("1.0", |_| {}), odd]);
                w
            }),
            runs: vec![
                Run::new(&["info", "evil"], 0, &["`version` is `2.0\\e[31m`"]),
                Run::new(&["search", "evil"], 0, &[]),
            ],
        },
        Case {
            name: "lock_with_code_in_resolved_is_refused_naming_the_field",
            setup: world(|| {
                let w = project();
                let lock = w.t.read("devenv.lock");
                let rev = rev("jq-1.7.1");
                let tampered =
                    lock.replace(&format!("{rev}#jq\""), &format!("{rev}#a\\n$(touch x)\""));
                assert_ne!(lock, tampered);
                w.t.write("devenv.lock", &tampered);
                w
            }),
            runs: [&["list"][..], &["install"], &["update", "--no-install"]]
                .into_iter()
                .map(|args| {
                    Run::new(
                        args,
                        2,
                        &["devenv.lock", "`resolved` must be", "#a\\n$(touch x)`"],
                    )
                })
                .collect(),
        },
        Case {
            name: "manifest_nested_thirty_thousand_deep",
            setup: world(|| with_manifest(&format!("{}}}", deep_json("{\"packages\": ")))),
            runs: [&["list"][..], &["add", "jq", "--no-install"]]
                .into_iter()
                .map(|args| Run::new(args, 2, &["devenv.json:1:77:", TOO_DEEP]).absent("overflow"))
                .collect(),
        },
        // The hook parses a manifest once it is allowed: the error is shown, the shell unharmed.
        Case {
            name: "manifest_nested_thirty_thousand_deep_in_the_hook",
            setup: world(|| {
                let w = with_manifest(&format!("{}}}", deep_json("{\"packages\": ")));
                w.ok(&["allow"]);
                w
            }),
            runs: vec![
                Run::new(&["export", "bash"], 0, &["error:", "devenv.json:1:77:", TOO_DEEP])
                    .absent("overflow"),
            ],
        },
        simple(
            "lock_nested_thirty_thousand_deep",
            || with_lock(&deep_json("")),
            Run::new(&["list"], 2, &["devenv.lock:1:65:", TOO_DEEP]).absent("overflow"),
        ),
        simple(
            "config_nested_thirty_thousand_deep",
            || {
                let w = project();
                let config = w.t.home.join(".config/devenv/config.json");
                std::fs::create_dir_all(config.parent().unwrap()).unwrap();
                std::fs::write(&config, deep_json("")).unwrap();
                w
            },
            Run::new(&["list"], 2, &["config.json:1:65:", TOO_DEEP]).absent("overflow"),
        ),
        simple(
            "index_file_nested_thirty_thousand_deep",
            || {
                let w = project();
                std::fs::write(w.index.join("packages/hello.json"), deep_json("")).unwrap();
                w
            },
            Run::new(
                &["add", "hello", "--no-install"],
                1,
                &["packages/hello.json:1:65:", TOO_DEEP],
            )
            .absent("overflow"),
        ),
        Case {
            name: "a_sparse_gigabyte_manifest_is_refused_quickly_with_bounded_memory",
            setup: world(|| {
                let w = project();
                sparse_gigabyte(&w.t.project.join("devenv.json"));
                w
            }),
            runs: [
                &["list"][..],
                &["export", "bash"],
                &["allow"],
                &["add", "jq", "--no-install"],
            ]
            .into_iter()
            .map(|args| {
                Run::new(
                    args,
                    2,
                    &["devenv.json` is too large to read", "larger than 8 MiB"],
                )
                .bounded()
            })
            .collect(),
        },
        simple(
            "a_sparse_gigabyte_index_file_is_refused_quickly_with_bounded_memory",
            || {
                let w = project();
                sparse_gigabyte(&w.index.join("packages/hello.json"));
                w
            },
            Run::new(
                &["info", "hello"],
                1,
                &["packages/hello.json", "larger than 64 MiB"],
            )
            .bounded(),
        ),
    ]
}

/// Make `file` a gigabyte of holes: no disk used, but reading it whole would need the memory.
fn sparse_gigabyte(file: &Path) {
    std::fs::File::create(file)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
}
