//! `devenv image`: an environment built by real Nix 2.8 (a static busybox and a script that runs
//! with it), published in a signed binary cache, written as an OCI archive and read by real
//! tools: `skopeo inspect`, `skopeo copy` into an OCI layout, `umoci unpack`, and the unpacked
//! root filesystem runs the environment's programs under `chroot`. Two builds, in two stores
//! under different roots, are the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{run_ok, TestContext};

struct Built {
    _dir: tempfile::TempDir,
    busybox: String,
    hello: String,
    cache: PathBuf,
    public_key: String,
}

/// A static busybox (Debian's busybox-static) as a package with `sh`, and `hello-box`, a
/// `#!/bin/sh` script referring to it.
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        assert!(
            Path::new("/bin/busybox").exists(),
            "/bin/busybox is missing; scripts/test.sh installs busybox-static"
        );
        let dir = tempfile::tempdir().unwrap();
        let expr = dir.path().join("image.nix");
        std::fs::write(
            &expr,
            format!(
                r#"
let sys = "{}"; in rec {{
  busybox = derivation {{
    name = "busybox-1.35.0"; system = sys; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/bin; /bin/cp /bin/busybox $out/bin/busybox; /bin/ln -s busybox $out/bin/sh; /bin/ln -s busybox $out/bin/cat" ];
  }};
  hello = derivation {{
    name = "hello-box-1.0"; system = sys; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/bin $out/share/doc/${{builtins.substring 0 60 "a-directory-name-long-enough-to-need-the-ustar-prefix-field-and-more"}}; printf '#!/bin/sh\necho hello from the image, $GREETING\nexec ${{busybox}}/bin/busybox true\n' > $out/bin/hello-box; /bin/chmod +x $out/bin/hello-box" ];
  }};
}}
"#,
                devenv::system::current()
            ),
        )
        .unwrap();
        let out = run_ok(Command::new("nix-build")
            .arg(&expr)
            .args(["--option", "build-users-group", ""])
            .args(["--option", "sandbox", "false"])
            .args(["--option", "substituters", ""])
            .args(["--no-out-link", "--quiet", "-A", "busybox", "-A", "hello"]));
        let paths: Vec<String> = out.lines().map(str::to_string).collect();
        let (sk, pk) = (dir.path().join("sk"), dir.path().join("pk"));
        run_ok(Command::new("nix-store")
            .arg("--generate-binary-cache-key")
            .arg("image-test-1")
            .arg(&sk)
            .arg(&pk));
        let cache = dir.path().join("cache");
        run_ok(Command::new("nix")
            .args(["--extra-experimental-features", "nix-command", "copy", "--to"])
            .arg(format!(
                "file://{}?compression=zstd&secret-key={}",
                cache.display(),
                sk.display()
            ))
            .args(&paths));
        Built {
            busybox: paths[0].clone(),
            hello: paths[1].clone(),
            cache,
            public_key: std::fs::read_to_string(pk).unwrap().trim().to_string(),
            _dir: dir,
        }
    })
}

/// A project locking both packages, with an env variable and a script.
fn world() -> TestContext {
    let b = built();
    let cx = TestContext::new();
    let system = devenv::system::current();
    std::fs::write(
        cx.project.join("devenv.json"),
        serde_json::json!({
            "packages": { "busybox": "1.35.0", "hello-box": "1.0" },
            "env": { "GREETING": "from the manifest" },
            "shell": { "scripts": { "greet": ["hello-box"] } },
        })
        .to_string(),
    )
    .unwrap();
    let entry = |attr: &str, version: &str, path: &str| {
        serde_json::json!({
            "last_modified": "2024-06-01T00:00:00Z",
            "resolved": format!("github:NixOS/nixpkgs/1111111111111111111111111111111111111111#{attr}"),
            "source": "fixture",
            "systems": { system.clone(): { "outputs": [{ "name": "out", "path": path, "default": true }] } },
            "version": version,
        })
    };
    std::fs::write(
        cx.project.join("devenv.lock"),
        serde_json::to_string_pretty(&serde_json::json!({
            "lockfile_version": "1",
            "packages": {
                "busybox@1.35.0": entry("busybox", "1.35.0", &b.busybox),
                "hello-box@1.0": entry("hello-box", "1.0", &b.hello),
            },
        }))
        .unwrap(),
    )
    .unwrap();
    let cfg = cx.home.join(".config/devenv");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.json"),
        serde_json::json!({
            "substituters": [format!("file://{}", b.cache.display())],
            "trusted_public_keys": [b.public_key],
        })
        .to_string(),
    )
    .unwrap();
    cx
}

fn skopeo_inspect(what: &str) -> Value {
    serde_json::from_str(&run_ok(Command::new("skopeo").args(["inspect", what]))).unwrap()
}

#[test]
fn the_image_is_read_by_skopeo_and_umoci_and_its_programs_run_and_builds_are_identical() {
    let cx = world();
    cx.ok(&["image", "--tag", "demo:1", "--script", "greet"]);
    let archive = cx.project.join("image.tar");
    let first = std::fs::read(&archive).unwrap();
    // Again, in a second store under another root (first fetching everything): same bytes.
    let other = world();
    other.ok(&[
        "image",
        "--tag",
        "demo:1",
        "--script",
        "greet",
        "-o",
        "again.tar",
    ]);
    assert!(
        first == std::fs::read(other.project.join("again.tar")).unwrap(),
        "two builds of the same lock differ"
    );
    // And a rebuild in the first store, with everything installed.
    cx.ok(&[
        "image",
        "--tag",
        "demo:1",
        "--script",
        "greet",
        "-o",
        "third.tar",
    ]);
    assert!(first == std::fs::read(cx.project.join("third.tar")).unwrap());

    let inspected = skopeo_inspect(&format!("oci-archive:{}:1", archive.display()));
    let layers = inspected["Layers"].as_array().unwrap();
    // busybox, hello-box, and the environment layer.
    assert_eq!(layers.len(), 3, "{inspected:#}");
    let env: Vec<&str> = inspected["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(env, vec!["PATH=/env/bin", "GREETING=from the manifest"]);
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(inspected["Architecture"], arch);
    assert_eq!(inspected["Created"], "2024-06-01T00:00:00Z");

    // Unpack it as a container runtime would and run the environment's programs.
    let work = cx.root().join("oci");
    run_ok(
        Command::new("skopeo")
            .args(["--insecure-policy", "copy"])
            .arg(format!("oci-archive:{}:1", archive.display()))
            .arg(format!("oci:{}:demo", work.display())),
    );
    let bundle = cx.root().join("bundle");
    let mut umoci = Command::new("umoci");
    umoci.arg("unpack");
    if !is_root() {
        umoci.arg("--rootless");
    }
    run_ok(
        umoci
            .arg("--image")
            .arg(format!("{}:demo", work.display()))
            .arg(&bundle),
    );
    let rootfs = bundle.join("rootfs");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    let args: Vec<String> = config["process"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args, vec!["/env/bin/sh", "-c", "hello-box"]);
    let out = run_ok(
        chroot(&rootfs)
            .args(&args)
            .env_clear()
            .env("PATH", "/env/bin")
            .env("GREETING", "from the manifest"),
    );
    assert_eq!(out, "hello from the image, from the manifest\n");
    // `/bin/sh` is the environment's (scripts with `#!/bin/sh` work), store paths are read-only.
    let out = run_ok(chroot(&rootfs).args(["/bin/sh", "-c", "echo $0; cat /env/bin/hello-box"]));
    assert!(out.starts_with("/bin/sh\n#!/bin/sh\n"), "{out}");
    let mode = std::fs::metadata(
        rootfs
            .join(built().busybox.trim_start_matches('/'))
            .join("bin/busybox"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o555);
}

#[test]
fn the_docker_archive_is_read_by_skopeo() {
    let cx = world();
    cx.ok(&[
        "image",
        "--format",
        "docker",
        "--tag",
        "demo",
        "-o",
        "docker.tar",
    ]);
    let archive = cx.project.join("docker.tar");
    let inspected = skopeo_inspect(&format!("docker-archive:{}", archive.display()));
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(inspected["Env"][0], "PATH=/env/bin", "{inspected:#}");
    // Provenance can attest the archive: its subject is the file's SHA-256.
    let statement: Value =
        serde_json::from_str(&cx.ok(&["provenance", "--image", "docker.tar"])).unwrap();
    let sha = run_ok(Command::new("sha256sum").arg(&archive));
    let subject = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "docker.tar")
        .unwrap();
    assert_eq!(
        subject["digest"]["sha256"].as_str().unwrap(),
        sha.split_whitespace().next().unwrap()
    );
    // Without --script the command is the environment's shell.
    let oci = cx.project.join("oci.tar");
    cx.ok(&["image", "-o", "oci.tar"]);
    let config = skopeo_config(&format!("oci-archive:{}", oci.display()));
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/env/bin/sh"]));
}

fn skopeo_config(what: &str) -> Value {
    serde_json::from_str(&run_ok(
        Command::new("skopeo").args(["inspect", "--config", what]),
    ))
    .unwrap()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `chroot` into `rootfs` (in a user namespace when not root). The program is found on the
/// caller's PATH, so the command's own environment can be cleared.
fn chroot(rootfs: &Path) -> Command {
    let which = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
            .map(|d| d.join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no `{name}` on PATH"))
    };
    let mut cmd;
    if is_root() {
        cmd = Command::new(which("chroot"));
    } else {
        cmd = Command::new(which("unshare"));
        cmd.arg("--map-root-user").arg(which("chroot"));
    }
    cmd.arg(rootfs);
    cmd
}
