#!/usr/bin/env bash
# The real-nixpkgs mode of bench/index_build.sh (see there): NIXPKGS=<git repo> REV=<rev>
# [REV2=<rev>] [ROUNDS=3] [SYSTEMS=x86_64-linux] [DEVENV=<binary>] [BENCH_DIR=<dir to keep>].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${NIXPKGS:?set NIXPKGS to a git repository of nixpkgs}" "${REV:?set REV to a revision}"
SYSTEMS=${SYSTEMS:-x86_64-linux}
DEVENV=${DEVENV:-$root/target/release/devenv}
for tool in hyperfine /usr/bin/time setsid; do
  command -v "$tool" >/dev/null || { echo "bench/index_build.sh needs $tool" >&2; exit 1; }
done
if [ ! -x "$DEVENV" ]; then
  (cd "$root" && cargo build --release --quiet)
fi

work=${BENCH_DIR:-$(mktemp -d)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home" "$work/tree"
# An isolated world: no user configuration for devenv or nixpkgs.
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"
export XDG_DATA_HOME="$work/home/.local/share" XDG_STATE_HOME="$work/home/.local/state" NO_COLOR=1
unset NIXPKGS_CONFIG DEVENV_INDEX

rev=$(git -C "$NIXPKGS" rev-parse --verify "$REV^{commit}")
git -C "$NIXPKGS" archive "$rev" | tar -x -C "$work/tree"
IFS=, read -r -a systems <<<"$SYSTEMS"

# measure LABEL CMD...: run CMD in a session of its own under GNU time; sets `wall` (seconds),
# `cpu` (user + system seconds of all its processes), `maxrss` (KiB, GNU time: the largest single
# process) and `treerss` (KiB, the peak sum over the session's processes, sampled every 0.1 s).
# On a loaded machine wall time says more about the other jobs than about CMD; CPU time does not.
measure() {
  local label=$1; shift
  local t0 t1 rss
  t0=$(date +%s.%N)
  setsid /usr/bin/time -v -o "$work/$label.time" "$@" >"$work/$label.out" 2>"$work/$label.err" &
  local pid=$!
  treerss=0
  while kill -0 "$pid" 2>/dev/null; do
    # ps fails when the session ended since the check above: that sample counts as 0.
    rss=$({ ps -o rss= -s "$pid" 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
    [ "$rss" -gt "$treerss" ] && treerss=$rss
    sleep 0.1
  done
  local status=0
  wait "$pid" || status=$?
  t1=$(date +%s.%N)
  if [ "$status" != 0 ]; then
    echo "$label failed ($status):" >&2; tail -20 "$work/$label.err" >&2; exit 1
  fi
  wall=$(echo "$t1 - $t0" | bc)
  maxrss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$label.time")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$work/$label.time")
}

ratio() { echo "scale=2; $1 / $2" | bc; }
mib() { echo "scale=0; $1 / 1024" | bc; }

printf 'revision %s (%s), systems %s, load average %s\n' "$rev" \
  "$(git -C "$NIXPKGS" log -1 --format=%cs "$rev")" "$SYSTEMS" "$(cut -d' ' -f1-3 /proc/loadavg)"

loop=""
for s in "${systems[@]}"; do
  loop+="nix-env -qaP --json --meta --out-path -f '$work/tree' --argstr system '$s' >/dev/null; "
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

# ROUNDS rounds (default 3), nix-env then devenv in each, so a change in the machine's load hits
# both alike; each devenv build gets a new output directory and an empty cache (so it checks the
# revision out, as a first build on a machine does). Medians are what to compare.
printf '%-50s %9s %9s %16s %16s\n' "" "wall" "CPU" "max RSS (1 proc)" "peak RSS (tree)"
row() { printf '%-50s %8.1fs %8.1fs %12s MiB %12s MiB\n' "$1" "$2" "$3" "$(mib "$4")" "$(mib "$5")"; }
ratios() {
  printf '%-50s %8sx %8sx %15sx %15sx   (targets <= 1.1x wall, <= 1.2x RSS)\n' "$1" \
    "$(ratio "$2" "$6")" "$(ratio "$3" "$7")" "$(ratio "$4" "$8")" "$(ratio "$5" "$9")"
}
nw=() nc=() nm=() nt=() dw=() dc=() dm=() dt=()
for round in $(seq "${ROUNDS:-3}"); do
  measure nixenv bash -c "$loop"
  nw+=("$wall") nc+=("$cpu") nm+=("$maxrss") nt+=("$treerss")
  row "round $round: nix-env -qaP --json --meta --out-path" "$wall" "$cpu" "$maxrss" "$treerss"
  measure build env XDG_CACHE_HOME="$work/cache-$round" "$DEVENV" -q index build \
    --nixpkgs "$NIXPKGS" --rev "$rev" --systems "$SYSTEMS" --out "$work/index-$round"
  dw+=("$wall") dc+=("$cpu") dm+=("$maxrss") dt+=("$treerss")
  row "round $round: devenv index build" "$wall" "$cpu" "$maxrss" "$treerss"
  ratios "round $round: ratio" "$wall" "$cpu" "$maxrss" "$treerss" \
    "${nw[-1]}" "${nc[-1]}" "${nm[-1]}" "${nt[-1]}"
done
packages=$(wc -l <"$work/index-1/names.jsonl")
nix=("$(median "${nw[@]}")" "$(median "${nc[@]}")" "$(median "${nm[@]}")" "$(median "${nt[@]}")")
dev=("$(median "${dw[@]}")" "$(median "${dc[@]}")" "$(median "${dm[@]}")" "$(median "${dt[@]}")")
row "median: nix-env -qaP --json --meta --out-path" "${nix[@]}"
row "median: devenv index build ($packages names)" "${dev[@]}"
ratios "ratio of the medians" "${dev[@]}" "${nix[@]}"
mv "$work/index-1" "$work/index"

# Lookups on the index just built.
export DEVENV_INDEX="$work/index"
mkdir -p "$work/project"
printf '{\n  "packages": []\n}\n' >"$work/devenv.json.orig"
reset="sh -c 'cp $work/devenv.json.orig $work/project/devenv.json && rm -f $work/project/devenv.lock'"
cp "$work/devenv.json.orig" "$work/project/devenv.json"
(cd "$work/project" && "$DEVENV" -q add git --no-install && test -s devenv.lock)
(cd "$work/project" && hyperfine --warmup 5 --runs 50 --shell=none --export-json "$work/lookups.json" \
  --prepare "$reset" --prepare "$reset" --prepare "$reset" \
  -n version "$DEVENV --version" \
  -n search "$DEVENV search git" \
  -n add "$DEVENV -q add git --no-install" >/dev/null)
python3 - "$work/lookups.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print(f"devenv search git             {r['search']:6.2f} ms (target <= 10 ms)")
print(f"devenv --version              {r['version']:6.2f} ms")
print(f"devenv add git --no-install   {r['add']:6.2f} ms = {r['add'] / r['version']:.2f}x --version (target <= 2x)")
PY

[ -n "${REV2:-}" ] || exit 0
rev2=$(git -C "$NIXPKGS" rev-parse --verify "$REV2^{commit}")
shard_wall=0
for k in 1 2; do
  measure "shard$k" "$DEVENV" -q index build --nixpkgs "$NIXPKGS" --rev "$rev" --rev "$rev2" \
    --systems "$SYSTEMS" --shard "$k/2" --out "$work/shard$k"
  printf 'shard %s/2 of %s and %s: %.1fs, peak RSS (tree) %s MiB\n' "$k" "${rev:0:12}" "${rev2:0:12}" \
    "$wall" "$(mib "$treerss")"
  shard_wall=$(echo "$shard_wall + $wall" | bc)
done
measure merge "$DEVENV" -q index merge "$work/shard1" "$work/shard2" --out "$work/merged"
printf 'index merge of the two shards: %.2fs = %s%% of their build time (target < 5%%), peak RSS %s MiB\n' \
  "$wall" "$(echo "scale=2; 100 * $wall / $shard_wall" | bc)" "$(mib "$treerss")"
# One build of both revisions from the shards' kept evaluations (resumed, nothing evaluated): the
# merge must have its bytes.
mkdir -p "$work/whole/.build"
cp "$work"/shard*/.build/*.json.zst "$work/whole/.build/"
"$DEVENV" -q index build --nixpkgs "$NIXPKGS" --rev "$rev" --rev "$rev2" --systems "$SYSTEMS" \
  --out "$work/whole" --nix-env /nonexistent/nix-env
if diff -r -x .build "$work/whole" "$work/merged" >/dev/null; then
  echo "merged index = one build of both revisions, byte for byte"
else
  echo "MERGED INDEX DIFFERS from one build of both revisions" >&2; exit 1
fi
