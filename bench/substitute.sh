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
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${SUBST_BENCH_PATHS:-220}
kb=${SUBST_BENCH_KB:-1750}
jobs=${SUBST_BENCH_JOBS:-8}
work=$root/bench/.work/substitute-$n-$kb
mkdir -p "$work"

cargo build --release --quiet
devenv=$root/target/release/devenv
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
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work" >/dev/null 2>&1 &
server=$!
scratch=$(mktemp -d "$work/run.XXXXXX")
trap 'kill $server 2>/dev/null; chmod -R u+w "$scratch" 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/cache-xz/nix-cache-info" >/dev/null 2>&1 && break
  sleep 0.1
done

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

declare -A results
for c in xz zstd; do
  url="http://127.0.0.1:$port/cache-$c"
  # ours
  rm -rf "$scratch/ours" "$scratch/home"
  mkdir -p "$scratch/home"
  start=$(date +%s.%N)
  (cd "$project" && HOME=$scratch/home XDG_CACHE_HOME=$scratch/home/.cache XDG_CONFIG_HOME=$scratch/home/.config \
    DEVENV_STORE_ROOT=$scratch/ours DEVENV_SUBSTITUTERS=$url DEVENV_TRUSTED_PUBLIC_KEYS=$pk \
    /usr/bin/time -v -o "$scratch/ours-$c.time" "$devenv" install --frozen --jobs "$jobs" -q)
  ours=$(python3 -c "import time,sys; print(time.time() - float(sys.argv[1]))" "$start")
  # Nix 2.8
  rm -rf "$scratch/nix" "$scratch/nixhome"
  mkdir -p "$scratch/nixhome"
  start=$(date +%s.%N)
  HOME=$scratch/nixhome XDG_CACHE_HOME=$scratch/nixhome/.cache NIX_CONFIG= \
    /usr/bin/time -v -o "$scratch/nix-$c.time" nix-store --store "$scratch/nix" -r "$env_path" \
    --option substituters "$url" --option trusted-public-keys "$pk" \
    --option build-users-group '' --option sandbox false --quiet >/dev/null
  theirs=$(python3 -c "import time,sys; print(time.time() - float(sys.argv[1]))" "$start")
  results[$c]="$ours $theirs $(peak_kb "$scratch/ours-$c.time") $(peak_kb "$scratch/nix-$c.time") $(cpu_s "$scratch/ours-$c.time") $(cpu_s "$scratch/nix-$c.time")"
done

# Second install with everything present, against the process floor.
sync  # let the writeback of 500 MB settle so it does not land on the no-op runs
hyperfine -N --warmup 10 --runs 100 --export-json "$scratch/noop.json" \
  "env -C $project HOME=$scratch/home DEVENV_STORE_ROOT=$scratch/ours DEVENV_SUBSTITUTERS=http://127.0.0.1:$port/cache-zstd DEVENV_TRUSTED_PUBLIC_KEYS=$pk $devenv install --frozen -q" \
  "env -C $project HOME=$scratch/home $devenv --version" >/dev/null 2>&1
read -r noop floor < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(r[0]['mean'], r[1]['mean'])" "$scratch/noop.json")

echo
echo "substituting $paths paths / $nar_mb MiB of NARs from a loopback cache into an empty store"
printf '%-6s %10s %10s %8s %12s %12s %9s %14s %14s\n' NARs "devenv s" "nix s" ratio "devenv CPU s" "nix CPU s" "CPU ratio" "devenv RSS MiB" "nix RSS MiB"
for c in xz zstd; do
  read -r o t ro rt co ct <<<"${results[$c]}"
  printf '%-6s %10.2f %10.2f %8.2f %12.2f %12.2f %9.2f %14.1f %14.1f\n' "$c" "$o" "$t" \
    "$(python3 -c "print($o / $t)")" "$co" "$ct" "$(python3 -c "print($co / $ct)")" \
    "$(python3 -c "print($ro / 1024)")" "$(python3 -c "print($rt / 1024)")"
done
printf 'second install (all present): %.1f ms, process floor (devenv --version, same wrapper): %.1f ms, ratio %.2f\n' \
  "$(python3 -c "print($noop * 1000)")" "$(python3 -c "print($floor * 1000)")" "$(python3 -c "print($noop / $floor)")"
