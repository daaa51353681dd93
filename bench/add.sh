#!/usr/bin/env bash
# Benchmark: `devenv add <pkg>@<ver> --no-install` against a warm local static index of
# 100,000 package-versions, side by side with the process floor (`devenv --version`).
# Prints both timings, their ratio (target: <= 2.0) and the index's size on disk.
#
# usage: bench/add.sh [NAMES] [VERSIONS_PER_NAME]     (defaults: 20000 5)
# env:   DEVENV_BIN  the binary to measure (default: target/release/devenv, built if missing)
#        BENCH_DIR   where to put the index and project (default: a temp dir, removed at exit)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
names="${1:-20000}"
per="${2:-5}"

command -v hyperfine >/dev/null || { echo "bench/add.sh needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench/add.sh needs python3" >&2; exit 1; }

bin="${DEVENV_BIN:-$root/target/release/devenv}"
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release --quiet)
fi

work="${BENCH_DIR:-$(mktemp -d)}"
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
index="$work/index"
project="$work/project"
mkdir -p "$project" "$work/home"

if [ ! -f "$index/index.json" ]; then
  echo "generating $names names x $per versions in $index ..." >&2
  python3 "$here/gen_index.py" "$index" "$names" "$per"
fi
versions=$(( names * per ))
size_kib=$(du -sk "$index" | cut -f1)
files=$(find "$index" -type f | wc -l)
fs=$(df -T "$work" | awk 'NR==2 {print $2}')

# An isolated world: no user config, caches in the bench dir.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"
export XDG_DATA_HOME="$work/home/.local/share" XDG_STATE_HOME="$work/home/.local/state"
export DEVENV_INDEX="$index" NO_COLOR=1

pkg="pkg-$(printf '%05d' $(( names / 2 )))"
cd "$project"
printf '{\n  "packages": []\n}\n' > "$work/devenv.json.orig"
reset="sh -c 'cp $work/devenv.json.orig $project/devenv.json && rm -f $project/devenv.lock'"
cp "$work/devenv.json.orig" devenv.json
"$bin" add "$pkg@2.1" --no-install -q          # warm the page cache, check it works
test -s devenv.lock

hyperfine --warmup 10 --runs 100 --shell=none --export-json "$work/result.json" \
  --prepare "$reset" --prepare "$reset" \
  -n floor "$bin --version" \
  -n add "$bin add $pkg@2.1 --no-install -q" >&2 || exit 1

python3 - "$work/result.json" "$versions" "$size_kib" "$files" "$fs" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
floor, add = r["floor"]["mean"], r["add"]["mean"]
ratio = add / floor
print(f"index: {int(sys.argv[2]):,} package-versions, {int(sys.argv[4]):,} files, {int(sys.argv[3]) / 1024:.1f} MiB on disk ({sys.argv[5]})")
print(f"devenv --version          mean {floor * 1000:7.2f} ms  (± {r['floor']['stddev'] * 1000:.2f})")
print(f"devenv add --no-install   mean {add * 1000:7.2f} ms  (± {r['add']['stddev'] * 1000:.2f})")
print(f"ratio add / floor: {ratio:.2f} (target <= 2.0) {'OK' if ratio <= 2.0 else 'ABOVE TARGET'}")
cpu = lambda x: x["user"] + x["system"]
print(f"cpu time (user+system): floor {cpu(r['floor']) * 1000:.2f} ms, add {cpu(r['add']) * 1000:.2f} ms, ratio {cpu(r['add']) / cpu(r['floor']):.2f}")
PY
