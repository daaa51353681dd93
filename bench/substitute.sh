#!/usr/bin/env bash
# Substitution benchmark: `devenv install` realizing a closure of >= 200 paths and >= 500 MB of
# NARs from a loopback binary cache into an empty store, side by side in one run with Nix 2.8
# (`nix-store -r` into an empty `--store <dir>`) substituting the same closure from the same
# cache, once with xz and once with zstd NARs. Also measures peak RSS (GNU time) and a second
# `devenv install` with everything present against the process floor (`devenv --version`).
#
# The fixture (built by real Nix, copied into signed caches with `nix copy`) is generated once
# and reused from bench/.work/ (xz-compressing 500 MB takes minutes on a small machine).
#
# Needs: cargo, nix-build/nix-store/nix (Nix 2.8), python3, hyperfine, GNU time (/usr/bin/time).
# Environment:
#   SUBST_BENCH_PATHS  number of package paths (default 220; the closure has one more)
#   SUBST_BENCH_KB     KiB of random data per path before base64 (default 1750, ~2.3 MB NAR)
#   SUBST_BENCH_JOBS   devenv --jobs (default 8)
#   SUBST_BENCH_RUNS   rounds of (xz, zstd) x (devenv, Nix) (default 3)
#   SUBST_BENCH_NIX_JOBS  --max-jobs for Nix (default: unset, i.e. Nix's own default)
#   SUBST_BENCH_COMPRESSIONS  which caches to measure (default "xz zstd")
#   SUBST_BENCH_FS     `loop` (default, as root): stores on a fresh ext4 loop image;
#                      `dir`: stores in a directory of the checkout's file system
#   DEVENV             the devenv binary to measure (default: a release build of this checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${SUBST_BENCH_PATHS:-220}
kb=${SUBST_BENCH_KB:-1750}
jobs=${SUBST_BENCH_JOBS:-8}
runs=${SUBST_BENCH_RUNS:-3}
work=$root/bench/.work/substitute-$n-$kb
mkdir -p "$work"

if [ -z "${DEVENV:-}" ]; then
  cargo build --release --quiet
fi
devenv=${DEVENV:-$root/target/release/devenv}
system=$(nix-instantiate --eval --expr builtins.currentSystem | tr -d '"')

# ---- fixture -------------------------------------------------------------------------------
if [ ! -f "$work/ready" ]; then
  echo "building the fixture: $n paths of ~$((kb * 4 / 3)) KiB each (once)" >&2
  cat >"$work/fixture.nix" <<EOF
let
  sys = builtins.currentSystem;
  mk = i: deps: derivation {
    name = "bench-pkg-\${toString i}-1.0"; system = sys; builder = "/bin/sh";
    args = [ "-c" ''
      /bin/mkdir -p \$out/lib \$out/share/doc \$out/bin
      /usr/bin/head -c ${kb}K /dev/urandom | /usr/bin/base64 > \$out/lib/data.b64
      for j in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24; do
        echo "doc \$j of package \${toString i}" > \$out/share/doc/page-\$j.txt
      done
      printf '#!/bin/sh\necho bench \${toString i}\n' > \$out/bin/bench-\${toString i}
      /bin/chmod +x \$out/bin/bench-\${toString i}
      echo \${builtins.concatStringsSep " " deps} > \$out/share/deps
      /bin/ln -s lib/data.b64 \$out/data-link
    '' ];
  };
  # A binary tree of references: path i depends on path (i-1)/2.
  pkgs = builtins.genList (i: if i == 0 then mk i [] else mk i [ (builtins.elemAt pkgs ((i - 1) / 2)) ]) $n;
in derivation {
  name = "bench-env"; system = sys; builder = "/bin/sh";
  args = [ "-c" "echo \${builtins.concatStringsSep " " pkgs} > \$out" ];
}
EOF
  env_path=$(nix-build "$work/fixture.nix" --no-out-link --quiet \
    --option build-users-group '' --option sandbox false --option substituters '' --max-jobs 2)
  rm -f "$work/sk" "$work/pk"
  nix-store --generate-binary-cache-key bench-cache-1 "$work/sk" "$work/pk"
  for c in xz zstd; do
    rm -rf "$work/cache-$c"
    echo "nix copy --to file://$work/cache-$c (compression=$c)" >&2
    nix --extra-experimental-features nix-command copy \
      --to "file://$work/cache-$c?compression=$c&secret-key=$work/sk" "$env_path"
  done
  echo "$env_path" >"$work/env-path"
  touch "$work/ready"
fi
env_path=$(cat "$work/env-path")
pk=$(cat "$work/pk")
paths=$(ls "$work/cache-xz"/*.narinfo | wc -l)
nar_mb=$(cat "$work/cache-xz"/*.narinfo | awk '/^NarSize:/ {s += $2} END {printf "%d", s / 1048576}')
echo "closure: $paths paths, $nar_mb MiB of NARs" >&2

# ---- loopback server -------------------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$root/bench/serve.py" "$port" "$work" >/dev/null 2>&1 &
server=$!
scratch=$(mktemp -d "$work/run.XXXXXX")
fs_mount=
cleanup() {
  kill "$server" 2>/dev/null
  if [ -n "$fs_mount" ]; then umount "$fs_mount" 2>/dev/null || umount -l "$fs_mount" 2>/dev/null; fi
  chmod -R u+w "$scratch" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/cache-xz/nix-cache-info" >/dev/null 2>&1 && break
  sleep 0.1
done

# Where the stores go. On ext4, creating thousands of files shortly after thousands were deleted
# makes inode allocation scan the recently deleted ones (a cost other jobs' deletions on a shared
# file system impose at random), so by default every store goes to a fresh ext4 file system in a
# loop image that only this benchmark writes to, and nothing is deleted until the end.
stores=$scratch/stores
if [ "${SUBST_BENCH_FS:-loop}" = loop ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null; then
  truncate -s $((runs * 4 * 800 + 1024))M "$scratch/fs.img"
  mkfs.ext4 -q -F "$scratch/fs.img"
  mkdir -p "$stores"
  if mount -o loop "$scratch/fs.img" "$stores" 2>/dev/null; then
    fs_mount=$stores
    echo "stores on a fresh ext4 file system (loop image)" >&2
  else
    echo "cannot mount a loop image; stores on $(df --output=fstype "$scratch" | tail -1) in $scratch" >&2
  fi
else
  mkdir -p "$stores"
  echo "stores on $(df --output=fstype "$scratch" | tail -1) in $scratch" >&2
fi

# A project locking the closure's top path.
project=$scratch/project
mkdir -p "$project"
printf '{\n  "packages": { "bench-env": { "version": "1.0" } }\n}\n' >"$project/devenv.json"
cat >"$project/devenv.lock" <<EOF
{
  "lockfile_version": "1",
  "packages": {
    "bench-env@1.0": {
      "last_modified": "2024-06-01T00:00:00Z",
      "resolved": "github:NixOS/nixpkgs/0000000000000000000000000000000000000000#bench-env",
      "source": "bench",
      "systems": {
        "$system": {
          "outputs": [
            {
              "default": true,
              "name": "out",
              "path": "$env_path"
            }
          ]
        }
      },
      "version": "1.0"
    }
  }
}
EOF

peak_kb() { awk '/Maximum resident set size/ {print $6}' "$1"; }
cpu_s() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[1]):.2f}')" "$1"; }

# Read the clock before starting Python: its start-up would otherwise count as the tool's time.
seconds_since() {
  local end; end=$(date +%s.%N)
  python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$end"
}
run_ours() { # compression dir
  mkdir -p "$2.home"
  local start; start=$(date +%s.%N)
  (cd "$project" && HOME=$2.home XDG_CACHE_HOME=$2.home/.cache XDG_CONFIG_HOME=$2.home/.config \
    DEVENV_STORE_ROOT=$2 DEVENV_SUBSTITUTERS=http://127.0.0.1:$port/cache-$1 DEVENV_TRUSTED_PUBLIC_KEYS=$pk \
    /usr/bin/time -v -o "$2.time" "$devenv" install --frozen --jobs "$jobs" -q)
  seconds_since "$start"
}
run_nix() { # compression dir
  mkdir -p "$2.home"
  local start; start=$(date +%s.%N)
  HOME=$2.home XDG_CACHE_HOME=$2.home/.cache NIX_CONFIG= \
    /usr/bin/time -v -o "$2.time" nix-store --store "$2" -r "$env_path" \
    --option substituters "http://127.0.0.1:$port/cache-$1" --option trusted-public-keys "$pk" \
    --option build-users-group '' --option sandbox false ${SUBST_BENCH_NIX_JOBS:+--max-jobs "$SUBST_BENCH_NIX_JOBS"} \
    --quiet >/dev/null
  seconds_since "$start"
}

# Rounds alternate which tool goes first, so a change in machine load cannot favour one side.
# Each run gets an empty store of its own and starts after `sync`, so neither pays for the
# other's writeback, and (as root) with the page cache dropped: each run leaves 500 MB cached
# twice (in the loop file system and in the image file backing it), and after a dozen runs the
# later ones spent seconds of system time reclaiming memory, whichever tool they measured.
settle() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}
rows=()
for round in $(seq "$runs"); do
  for c in ${SUBST_BENCH_COMPRESSIONS:-xz zstd}; do
    o=$stores/ours-$c-$round
    n=$stores/nix-$c-$round
    if [ $((round % 2)) = 1 ]; then
      settle; ours=$(run_ours "$c" "$o")
      settle; theirs=$(run_nix "$c" "$n")
    else
      settle; theirs=$(run_nix "$c" "$n")
      settle; ours=$(run_ours "$c" "$o")
    fi
    rows+=("$round $c $ours $theirs $(peak_kb "$o.time") $(peak_kb "$n.time") $(cpu_s "$o.time") $(cpu_s "$n.time") $(cut -d' ' -f1 /proc/loadavg)")
  done
done
last_store=$stores/ours-$c-$runs  # the last compression measured

# Second install with everything present, against the process floor.
sync  # let the writeback of 500 MB settle so it does not land on the no-op runs
hyperfine -N --warmup 10 --runs 100 --export-json "$scratch/noop.json" \
  "env -C $project HOME=$last_store.home DEVENV_STORE_ROOT=$last_store DEVENV_SUBSTITUTERS=http://127.0.0.1:$port/cache-$c DEVENV_TRUSTED_PUBLIC_KEYS=$pk $devenv install --frozen -q" \
  "env -C $project HOME=$last_store.home $devenv --version" >/dev/null 2>&1
read -r noop floor < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(r[0]['mean'], r[1]['mean'])" "$scratch/noop.json")

echo
echo "substituting $paths paths / $nar_mb MiB of NARs from a loopback cache into an empty store"
printf '%-5s %-5s %9s %9s %7s %11s %10s %9s %13s %11s %6s\n' round NARs "devenv s" "nix s" ratio \
  "devenv CPU" "nix CPU" "CPU ratio" "devenv RSS" "nix RSS" load
for row in "${rows[@]}"; do
  read -r r c o t ro rt co ct load <<<"$row"
  printf '%-5s %-5s %9.2f %9.2f %7.2f %10.2fs %9.2fs %9.2f %9.1f MiB %7.1f MiB %6s\n' "$r" "$c" "$o" "$t" \
    "$(python3 -c "print($o / $t)")" "$co" "$ct" "$(python3 -c "print($co / $ct)")" \
    "$(python3 -c "print($ro / 1024)")" "$(python3 -c "print($rt / 1024)")" "$load"
done
printf 'second install (all present): %.1f ms, process floor (devenv --version, same wrapper): %.1f ms, ratio %.2f\n' \
  "$(python3 -c "print($noop * 1000)")" "$(python3 -c "print($floor * 1000)")" "$(python3 -c "print($noop / $floor)")"
