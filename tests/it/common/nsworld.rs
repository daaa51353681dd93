//! Machines without `/nix`, and users without root, made from this one: a command runs in a
//! new mount namespace (created as root) whose `/` is the host's `/` rebuilt from bind mounts,
//! with `/nix` left out or replaced by a given directory, switched to with `pivot_root` (a
//! `chroot` would keep the unprivileged user from creating user namespaces), then as an
//! unprivileged user (`setpriv`). Needs root, `unshare` and `setpriv` (util-linux).

use std::path::Path;
use std::process::Command;

const SCRIPT: &str = r#"set -e
here=$PWD new=$1 nix=$2 uid=$3 gid=$4 noexec=$5; shift 5
mount -t tmpfs -o mode=0755 world "$new"
for e in /* /.[!.]*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  name=${e#/}
  [ "$name" = nix ] && continue
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$new/$name"
  elif [ -d "$e" ]; then mkdir "$new/$name"; mount --rbind "$e" "$new/$name"
  else : > "$new/$name"; mount --bind "$e" "$new/$name"; fi
done
if [ -n "$nix" ]; then mkdir "$new/nix"; mount --bind "$nix" "$new/nix"; fi
mkdir "$new/.old"; cd "$new"; pivot_root . .old; umount -l /.old; rmdir /.old
if [ -n "$noexec" ]; then mount -t tmpfs -o noexec,mode=0777 noexec "$noexec"; fi
cd "$here"
if [ -n "$uid" ]; then exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; fi
exec "$@"
"#;

/// The world a command runs in.
#[derive(Default)]
pub struct World<'a> {
    /// What `/nix` is: absent (`None`) or this directory.
    pub nix: Option<&'a Path>,
    /// Run as this (uid, gid) rather than root.
    pub user: Option<(u32, u32)>,
    /// A directory that gets an empty `noexec` tmpfs mounted on it (writable by everyone).
    pub noexec: Option<&'a Path>,
}

impl World<'_> {
    /// `unshare … <program>`: add arguments and environment to the result; `scratch` is an
    /// empty directory for the new root's mount point; the command runs in `cwd`.
    pub fn command(&self, scratch: &Path, cwd: &Path, program: &str) -> Command {
        std::fs::create_dir_all(scratch).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh"])
            .arg(scratch)
            .arg(self.nix.map(|p| p.as_os_str()).unwrap_or_default())
            .arg(self.user.map(|u| u.0.to_string()).unwrap_or_default())
            .arg(self.user.map(|u| u.1.to_string()).unwrap_or_default())
            .arg(self.noexec.map(|p| p.as_os_str()).unwrap_or_default())
            .arg(program)
            .env("PWD", cwd)
            .current_dir(cwd);
        cmd
    }
}

/// An unprivileged user for the tests (created once), as (uid, gid).
pub fn test_user() -> (u32, u32) {
    let name = "devenv-ns-test";
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").arg(flag).arg(name).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if id("-u").is_none() {
        // Two tests may race to create it; the loser's failure is fine if the user exists.
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/sh", name])
            .output();
    }
    (
        id("-u").expect("the test user exists"),
        id("-g").expect("the test user has a group"),
    )
}

/// Give `dir` and everything under it to `user`.
pub fn chown_tree(dir: &Path, user: (u32, u32)) {
    let ok = Command::new("chown")
        .arg("-R")
        .arg(format!("{}:{}", user.0, user.1))
        .arg(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown {}", dir.display());
}
