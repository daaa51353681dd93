//! Modes and owners of the files devenv creates: private state (trust records, profiles, cached
//! environments, the store's database and locks, caches) is 0700/0600 whatever the umask, shared
//! files (manifest, lock, binary caches, indexes, public keys) follow the umask like an editor's,
//! and trust records, cached environments and profiles that another user could have written are
//! refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::shells::ShellWorld;
use crate::common::TestContext;

/// `devenv <args>` in the project directory of `t`, under `umask`, with `env` on top.
fn run_with_umask(t: &TestContext, umask: u32, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask:03o} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_devenv"))
        .args(args)
        .current_dir(&t.project);
    t.isolate(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run devenv")
}

fn ok_with_umask(t: &TestContext, umask: u32, env: &[(&str, String)], args: &[&str]) -> String {
    let out = run_with_umask(t, umask, env, args);
    assert!(
        out.status.success(),
        "devenv {args:?} under umask {umask:03o} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// Every directory and file under `root` (itself included; symlinks left out) with its mode.
fn modes_under(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_symlink())
        .map(|e| {
            (
                e.path().to_path_buf(),
                e.file_type().is_dir(),
                mode(e.path()),
            )
        })
        .collect()
}

/// Assert every directory under `root` has `dir_mode` and every file `file_mode`.
fn assert_tree(root: &Path, dir_mode: u32, file_mode: u32) {
    let entries = modes_under(root);
    assert!(entries.len() > 1, "{} is empty", root.display());
    for (path, is_dir, m) in entries {
        let want = if is_dir { dir_mode } else { file_mode };
        assert_eq!(m, want, "{} is {m:04o}, not {want:04o}", path.display());
    }
}

/// The only entry of `dir` whose name satisfies `pick`.
fn only_entry(dir: &Path, pick: impl Fn(&str) -> bool) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| pick(&p.file_name().unwrap().to_string_lossy()))
        .collect();
    assert_eq!(found.len(), 1, "{found:?} in {}", dir.display());
    found.into_iter().next().unwrap()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A world with a local binary cache and index holding `hello-modes 1.0.0`, published under
/// `umask` with a key generated on the way, and the settings that use them.
struct Offline {
    t: TestContext,
    cache: PathBuf,
    index: PathBuf,
    key: PathBuf,
    store_path: String,
    env: Vec<(&'static str, String)>,
}

fn offline(umask: u32) -> Offline {
    let t = TestContext::new();
    let tool = t.root().join("tool");
    std::fs::create_dir_all(tool.join("bin")).unwrap();
    std::fs::write(
        tool.join("bin/hello-modes"),
        "#!/bin/sh\necho hello from modes\n",
    )
    .unwrap();
    chmod(&tool.join("bin/hello-modes"), 0o755);
    let offline = t.root().join("offline");
    let (cache, index, key) = (
        offline.join("cache"),
        offline.join("index"),
        offline.join("signing.key"),
    );
    let system = devenv::system::current();
    let out = ok_with_umask(
        &t,
        umask,
        &[],
        &[
            "publish",
            tool.to_str().unwrap(),
            "--name",
            "hello-modes",
            "--version",
            "1.0.0",
            "--index",
            index.to_str().unwrap(),
            "--cache",
            &format!("file://{}", cache.display()),
            "--key",
            key.to_str().unwrap(),
            "--generate-key",
            "modes-1",
            "--systems",
            &system,
        ],
    );
    let store_path = out.trim().to_string();
    assert!(store_path.starts_with("/nix/store/"), "{out}");
    let public = std::fs::read_to_string(offline.join("signing.key.pub")).unwrap();
    let env = vec![
        ("DEVENV_INDEX", index.display().to_string()),
        ("DEVENV_SUBSTITUTERS", format!("file://{}", cache.display())),
        ("DEVENV_TRUSTED_PUBLIC_KEYS", public.trim().to_string()),
    ];
    Offline {
        t,
        cache,
        index,
        key,
        store_path,
        env,
    }
}

impl Offline {
    fn ok(&self, umask: u32, args: &[&str]) -> String {
        ok_with_umask(&self.t, umask, &self.env, args)
    }

    fn data(&self) -> PathBuf {
        self.t.home.join(".local/share/devenv")
    }

    fn state(&self) -> PathBuf {
        self.t.home.join(".local/state/devenv")
    }
}

#[test]
fn private_state_is_0700_and_0600_under_umask_000_and_002() {
    for umask in [0o000, 0o002] {
        let w = offline(umask);
        w.ok(umask, &["init"]);
        w.ok(umask, &["add", "hello-modes@1.0.0"]);
        w.ok(umask, &["allow"]);
        let code = w.ok(umask, &["export", "bash"]);
        assert!(code.contains("DEVENV_PROFILE"), "activated: {code}");
        let out = w.ok(umask, &["run", "hello-modes"]);
        assert_eq!(out, "hello from modes\n");

        // What was created exists, so the walks below cover it.
        let data = w.data();
        let record = only_entry(&data.join("trust/allow"), |_| true);
        let profile = only_entry(&data.join("projects"), |_| true);
        assert!(profile.join("generations/1/bin/hello-modes").exists());
        only_entry(&w.state().join("env"), |n| n.ends_with(".json"));
        only_entry(&w.state().join("env"), |n| n.ends_with(".stamps"));
        let store_state = w.t.store_root.join("nix/var/devenv");
        assert!(store_state.join("db.sqlite").exists());
        assert!(store_state.join("gc.lock").exists());
        assert_eq!(mode(&record), 0o600);

        for private in [data, w.state(), store_state] {
            assert_tree(&private, 0o700, 0o600);
        }
        let cache = w.t.home.join(".cache/devenv");
        if cache.exists() {
            assert_tree(&cache, 0o700, 0o600);
        }
        // The store tree is Nix's: 0755 directories, read-only store paths.
        for dir in ["nix", "nix/store", "nix/var"] {
            assert_eq!(mode(&w.t.store_root.join(dir)), 0o755, "{dir}");
        }
        let path = w.t.store_root.join(w.store_path.trim_start_matches('/'));
        assert_eq!(mode(&path), 0o555);
        assert_eq!(mode(&path.join("bin")), 0o555);
        assert_eq!(mode(&path.join("bin/hello-modes")), 0o555);

        // Shared files follow the umask, like an editor's.
        for file in ["devenv.json", "devenv.lock"] {
            assert_eq!(mode(&w.t.project.join(file)), 0o666 & !umask, "{file}");
        }
        assert_tree(&w.cache, 0o777 & !umask, 0o666 & !umask);
        assert_eq!(mode(&w.key), 0o600, "the secret key stays private");
    }
}

#[test]
fn publish_cache_push_manifest_and_lock_under_umask_022_are_0644_and_0755() {
    let w = offline(0o022);
    assert_tree(&w.cache, 0o755, 0o644);
    assert_tree(&w.index, 0o755, 0o644);
    assert_eq!(mode(&w.key), 0o600);
    assert_eq!(mode(&w.key.with_extension("key.pub")), 0o644);

    w.ok(0o022, &["init"]);
    w.ok(0o022, &["add", "hello-modes@1.0.0"]);
    assert_eq!(mode(&w.t.project.join("devenv.json")), 0o644);
    assert_eq!(mode(&w.t.project.join("devenv.lock")), 0o644);

    let pushed = w.t.root().join("pushed");
    w.ok(
        0o022,
        &[
            "cache",
            "push",
            "--to",
            pushed.to_str().unwrap(),
            "--key",
            w.key.to_str().unwrap(),
            &w.store_path,
        ],
    );
    assert!(only_entry(&pushed, |n| n.ends_with(".narinfo")).exists());
    assert_tree(&pushed, 0o755, 0o644);
}

#[test]
fn a_profile_other_users_can_write_is_refused() {
    let w = offline(0o022);
    w.ok(0o022, &["init"]);
    w.ok(0o022, &["add", "hello-modes@1.0.0"]);
    assert_eq!(w.ok(0o022, &["run", "hello-modes"]), "hello from modes\n");
    let profile = only_entry(&w.data().join("projects"), |_| true);
    chmod(&profile, 0o775);
    let out = run_with_umask(&w.t, 0o022, &w.env, &["run", "hello-modes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran");
    assert!(
        stderr.contains(&format!(
            "`{}` is writable by its group (mode 0775)",
            profile.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: run `chmod -R go-w "), "{stderr}");
    chmod(&profile, 0o755);
    assert_eq!(w.ok(0o022, &["run", "hello-modes"]), "hello from modes\n");
}

const MANIFEST: &str = r#"{
  "env": { "FOO": "1" },
  "shell": { "init_hook": ["touch \"$DEVENV_PROJECT_ROOT/hooked\""] }
}"#;

#[test]
fn an_allow_record_owned_by_another_user_is_refused_with_one_warning() {
    if !is_root() {
        eprintln!(
            "SKIPPED an_allow_record_owned_by_another_user_is_refused_with_one_warning: \
             only root can give a file to another user"
        );
        return;
    }
    let w = ShellWorld::new();
    let p = w.project("proj", MANIFEST);
    w.allow(&p);
    let record = only_entry(&w.t.home.join(".local/share/devenv/trust/allow"), |_| true);
    // What another user's planted record looks like: theirs, with the right name and content.
    std::os::unix::fs::chown(&record, Some(65534), Some(65534)).unwrap();
    let (out, err) = w.ok(
        "bash",
        &format!(
            r#"set -u
cd "$ROOT/proj"; prompt; prompt; prompt
echo "1 FOO=${{FOO-unset}} hooked=$([ -e hooked ] && echo yes || echo no)"
rm '{record}'; prompt; prompt
echo "2 FOO=${{FOO-unset}}"
"$ROOT/wrap/devenv" allow 2>/dev/null; prompt
echo "3 FOO=${{FOO-unset}} hooked=$([ -e hooked ] && echo yes || echo no)"
"#,
            record = record.display()
        ),
    );
    assert!(out.contains("1 FOO=unset hooked=no\n"), "{out}\n{err}");
    assert!(out.contains("2 FOO=unset\n"), "{out}\n{err}");
    assert!(out.contains("3 FOO=1 hooked=yes\n"), "{out}\n{err}");
    assert_eq!(
        err.matches("could have been written by another user")
            .count(),
        1,
        "one warning: {err}"
    );
    assert!(
        err.contains(&format!("`{}` belongs to ", record.display()))
            && err.contains("(uid 65534), not to you"),
        "{err}"
    );
    assert!(
        err.contains(&format!("hint: run `rm {}`", record.display())),
        "{err}"
    );
    assert_eq!(
        err.matches("is not allowed to load automatically").count(),
        2
    );
    // One export to refuse, one when the record went away, one after `devenv allow`.
    assert_eq!(w.export_calls(), 3);
    assert_eq!(std::fs::metadata(&record).unwrap().uid(), 0);
}

#[test]
fn a_group_writable_allow_record_or_trust_dir_is_refused() {
    let t = TestContext::new();
    t.write("devenv.json", MANIFEST);
    t.ok(&["allow"]);
    let trust = t.home.join(".local/share/devenv/trust");
    let record = only_entry(&trust.join("allow"), |_| true);
    assert!(t.ok(&["export", "bash"]).contains("FOO"));

    chmod(&record, 0o620);
    let out = t.run(&["export", "bash"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains("FOO") && !stdout.contains("hooked"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "`{}` is writable by its group (mode 0620)",
            record.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("hint: run `chmod go-w "), "{stderr}");
    // `devenv allow` writes a private record of this user in its place.
    t.ok(&["allow"]);
    assert_eq!(mode(&record), 0o600);
    assert!(t.ok(&["export", "bash"]).contains("FOO"));

    chmod(&trust, 0o777);
    let stderr = t.fails(&["allow"], 1);
    assert!(
        stderr.contains(&format!(
            "`{}` is writable by every user (mode 0777)",
            trust.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("hint: run `chmod -R go-w {}`", trust.display())),
        "{stderr}"
    );
    assert!(!t.ok(&["export", "bash"]).contains("FOO"));
}

#[test]
fn a_cached_environment_others_could_write_is_recomputed_and_a_writable_cache_dir_refused() {
    let t = TestContext::new();
    t.write("devenv.json", MANIFEST);
    t.ok(&["allow"]);
    let first = t.ok(&["export", "bash"]);
    assert!(first.contains("hooked"), "{first}");
    let env_dir = t.home.join(".local/state/devenv/env");
    let entry = only_entry(&env_dir, |n| n.ends_with(".json"));
    // Someone else rewrites the cached init_hook; its key still matches the inputs.
    let planted = std::fs::read_to_string(&entry)
        .unwrap()
        .replace("hooked", "pwned");
    std::fs::write(&entry, &planted).unwrap();
    chmod(&entry, 0o666);
    let again = t.ok(&["export", "bash"]);
    assert!(!again.contains("pwned"), "the planted entry ran: {again}");
    assert!(again.contains("hooked"), "{again}");
    assert_eq!(mode(&entry), 0o600, "replaced by a recomputed entry");
    assert!(!std::fs::read_to_string(&entry).unwrap().contains("pwned"));

    chmod(&env_dir, 0o775);
    let out = t.run(&["export", "bash"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "nothing to eval: {stdout}");
    let refusal = format!(
        "`{}` is writable by its group (mode 0775)",
        env_dir.display()
    );
    assert_eq!(stderr.matches(&refusal).count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("hint: run `chmod -R go-w {}`", env_dir.display())),
        "{stderr}"
    );
}
