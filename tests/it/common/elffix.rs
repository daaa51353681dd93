//! A nixpkgs-shaped closure built by real Nix 2.8: dynamically linked ELF programs whose
//! interpreter and libraries live in other store paths, published as a signed binary cache.
//!
//! `elflibc` holds the host's loader and C library (copied), `elfgreet` a shared library compiled
//! here, and `elfhello` / `elfinfo` programs whose `PT_INTERP` and `RUNPATH` point into those
//! paths (set with `patchelf`), so they run only where the store is visible at `/nix/store`.
//! `elfinfo` prints what the namespace must keep unchanged (uid, cwd) plus its user namespace,
//! and `elfinfo nested` execs `elfinfo` found on PATH, which is how a launched program starts
//! another one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The programs' C sources and the derivations. `salt` makes the hashes the test's own.
pub fn expression(salt: &str, system: &str) -> String {
    let hello = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
const char *greeting(void);
int main(int argc, char **argv) {
  printf("%s; args:", greeting());
  for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
  printf("\n");
  return argc > 2 && strcmp(argv[1], "--exit") == 0 ? atoi(argv[2]) : 0;
}
"#;
    let info = r#"#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char ns[64] = "", cwd[4096] = "";
  ssize_t n = readlink("/proc/self/ns/user", ns, sizeof ns - 1);
  if (n > 0) ns[n] = 0;
  if (!getcwd(cwd, sizeof cwd)) return 9;
  printf("uid=%d gid=%d cwd=%s userns=%s tty=%d\n", (int)getuid(), (int)getgid(), cwd, ns, isatty(0));
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "nested") == 0) {
    char *args[] = { "elfinfo", NULL };
    execvp("elfinfo", args);
    return 8;
  }
  return 0;
}
"#;
    let nix_str = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
    };
    format!(
        r#"
let
  sys = "{system}";
  salt = "{salt}";
  base = {{ system = sys; builder = "/bin/sh"; PATH = "/usr/bin:/bin"; }};
in rec {{
  elflibc = derivation (base // {{
    name = "elflibc-2.0";
    args = [ "-c" "mkdir -p $out/lib && cp -L $(cc -print-file-name=libc.so.6) $out/lib/libc.so.6 && cp -L $(patchelf --print-interpreter /bin/sh) $out/lib/ld.so && echo ${{salt}} > $out/lib/salt" ];
  }});
  elfgreet = derivation (base // {{
    name = "elfgreet-1.0";
    src = "const char *greeting(void) {{ return \"hello from libgreet ${{salt}}\"; }}\n";
    args = [ "-c" "mkdir -p $out/lib && printf '%s' \"$src\" > g.c && cc -shared -fPIC -o $out/lib/libgreet.so g.c && patchelf --set-rpath ${{elflibc}}/lib $out/lib/libgreet.so" ];
  }});
  elfhello = derivation (base // {{
    name = "elfhello-1.0";
    src = "{hello}";
    args = [ "-c" "mkdir -p $out/bin && printf '%s' \"$src\" > m.c && cc -o $out/bin/elfhello m.c -L${{elfgreet}}/lib -lgreet && patchelf --set-interpreter ${{elflibc}}/lib/ld.so --set-rpath ${{elfgreet}}/lib:${{elflibc}}/lib $out/bin/elfhello" ];
  }});
  elfinfo = derivation (base // {{
    name = "elfinfo-1.0";
    src = "{info}";
    args = [ "-c" "mkdir -p $out/bin && printf '%s' \"$src\" > m.c && cc -o $out/bin/elfinfo m.c && patchelf --set-interpreter ${{elflibc}}/lib/ld.so --set-rpath ${{elflibc}}/lib $out/bin/elfinfo" ];
  }});
}}
"#,
        hello = nix_str(hello),
        info = nix_str(info),
    )
}

/// The built closure and a signed binary cache holding it.
pub struct ElfFixture {
    /// `elflibc`, `elfgreet`, `elfhello`, `elfinfo` → store path.
    pub paths: BTreeMap<String, String>,
    pub cache: PathBuf,
    pub public_key: String,
}

impl ElfFixture {
    /// Build with real Nix into the machine's store and copy to `<dir>/cache`, signed.
    pub fn build(dir: &Path, salt: &str) -> ElfFixture {
        std::fs::create_dir_all(dir).unwrap();
        let expr = dir.join("elf.nix");
        std::fs::write(&expr, expression(salt, &devenv::system::current())).unwrap();
        let attrs = ["elflibc", "elfgreet", "elfhello", "elfinfo"];
        let built = super::nixfix::build_signed_cache(&expr, &attrs, dir, "devenv-elf-1", "xz");
        let (paths, cache, pk) = (built.paths, built.cache, built.public_key);
        ElfFixture {
            paths,
            cache,
            public_key: std::fs::read_to_string(pk).unwrap().trim().to_string(),
        }
    }

    /// The devenv config (under `home`) trusting this fixture's key and substituting from its
    /// cache only.
    pub fn write_config(&self, home: &Path) {
        let cfg = home.join(".config/devenv");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(
            cfg.join("config.json"),
            serde_json::json!({
                "substituters": [format!("file://{}", self.cache.display())],
                "trusted_public_keys": [self.public_key],
            })
            .to_string(),
        )
        .unwrap();
    }

    /// A project in `dir` wanting `elfhello` and `elfinfo`, locked to the fixture's paths.
    pub fn write_project(&self, dir: &Path) {
        let system = devenv::system::current();
        let mut locked = serde_json::Map::new();
        for pkg in ["elfhello", "elfinfo"] {
            locked.insert(
                format!("{pkg}@1.0"),
                serde_json::json!({
                    "last_modified": "2024-06-01T00:00:00Z",
                    "resolved": format!("github:NixOS/nixpkgs/0000000000000000000000000000000000000000#{pkg}"),
                    "source": "fixture",
                    "systems": { system.as_str(): { "outputs": [
                        { "name": "out", "path": self.paths[pkg], "default": true }
                    ] } },
                    "version": "1.0"
                }),
            );
        }
        let manifest = serde_json::json!({ "packages": {
            "elfhello": { "version": "1.0" }, "elfinfo": { "version": "1.0" }
        } });
        std::fs::write(
            dir.join("devenv.json"),
            format!("{}\n", serde_json::to_string_pretty(&manifest).unwrap()),
        )
        .unwrap();
        let lock = serde_json::json!({ "lockfile_version": "1", "packages": locked });
        std::fs::write(
            dir.join("devenv.lock"),
            format!("{}\n", serde_json::to_string_pretty(&lock).unwrap()),
        )
        .unwrap();
    }
}
