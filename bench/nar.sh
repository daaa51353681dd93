#!/usr/bin/env bash
# NAR benchmark: our unpack vs `nix-store --restore`, our dump vs `nix-store --dump`, side by side
# in one run, on a generated tree of at least 500 MB (many small files and a few large ones).
# Prints the time ratios (ours / Nix; <= 1.0 means at least as fast) and peak RSS of each.
#
# Needs: cargo, nix-store (Nix 2.8), hyperfine, python3, jq, GNU time (/usr/bin/time).
# Environment:
#   NAR_BENCH_DIR   scratch directory (default: a new temp dir; a tmpfs such as /dev/shm
#                   measures the code rather than the disk)
#   NAR_BENCH_MB    approximate tree size in MB (default 560)
#   NAR_BENCH_RUNS  hyperfine runs per command and round (default 2)
#   NAR_BENCH_ROUNDS rounds, alternating which side runs first (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${NAR_BENCH_MB:-560}
runs=${NAR_BENCH_RUNS:-2}
rounds=${NAR_BENCH_ROUNDS:-4}
scratch=${NAR_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$scratch"
work=$(mktemp -d "$scratch/nar-bench.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

cargo build --release --quiet --example nar_tool
tool=$PWD/target/release/examples/nar_tool

# Keep Nix away from the machine's store and settings.
export NIX_STATE_DIR=$work/nix-state NIX_LOG_DIR=$work/nix-log NIX_CONF_DIR=$work/nix-etc
export NIX_CONFIG=$'substituters =\nbuild-users-group ='

echo "generating a ~${size_mb} MB tree in $work/tree" >&2
python3 - "$work/tree" "$size_mb" <<'PY'
import os, random, sys
root, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
large = size_mb * 6 // 10          # 60% in a few large files
small_budget = (size_mb - large) << 20
os.makedirs(root)
for i in range(6):
    with open(f"{root}/large-{i}.bin", "wb") as f:
        left = (large << 20) // 6 + i * 7  # odd sizes: exercise padding
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n
written, n = 0, 0
while written < small_budget:
    d = f"{root}/pkg-{n // 100:03d}/sub-{n % 7}"
    os.makedirs(d, exist_ok=True)
    size = int(rng.expovariate(1 / 4096))
    p = f"{d}/file-{n}"
    with open(p, "wb") as f:
        f.write(rng.randbytes(size))
    if n % 5 == 0:
        os.chmod(p, 0o755)
    if n % 50 == 0:
        os.symlink(f"file-{n}", f"{d}/link-{n}")
    written += size
    n += 1
print(f"{n} small files, {written >> 20} MB small + {large} MB large", file=sys.stderr)
PY

"$tool" dump "$work/tree" > "$work/tree.nar"
nar_mb=$(( $(stat -c %s "$work/tree.nar") >> 20 ))
cmp <(nix-store --dump "$work/tree") "$work/tree.nar"
echo "NAR: ${nar_mb} MB (identical to nix-store --dump)" >&2

clean="chmod -R u+w $work/out 2>/dev/null || true; rm -rf $work/out"
unpack_ours="$tool unpack $work/out < $work/tree.nar"
unpack_nix="nix-store --restore $work/out < $work/tree.nar"
dump_ours="$tool dump $work/tree > /dev/null"
dump_nix="nix-store --dump $work/tree > /dev/null"
# Rounds alternate which command goes first, so a change in machine load during the run does
# not favour one side; every round is a hyperfine run of both commands.
for round in $(seq 1 "$rounds"); do
  if (( round % 2 )); then
    a=(-n ours-unpack "$unpack_ours" -n nix-restore "$unpack_nix")
    b=(-n ours-dump "$dump_ours" -n nix-dump "$dump_nix")
  else
    a=(-n nix-restore "$unpack_nix" -n ours-unpack "$unpack_ours")
    b=(-n nix-dump "$dump_nix" -n ours-dump "$dump_ours")
  fi
  hyperfine --style basic --runs "$runs" --warmup 1 --prepare "$clean" \
    --export-json "$work/unpack-$round.json" "${a[@]}"
  hyperfine --style basic --runs "$runs" --warmup 1 \
    --export-json "$work/dump-$round.json" "${b[@]}"
done
eval "$clean"

rss() { # peak RSS in MB of a shell command
  /usr/bin/time -f %M -o "$work/rss" bash -c "$1" >/dev/null
  echo $(( $(cat "$work/rss") / 1024 ))
}
eval "$clean"; rss_unpack=$(rss "$tool unpack $work/out < $work/tree.nar")
eval "$clean"; rss_restore=$(rss "nix-store --restore $work/out < $work/tree.nar")
eval "$clean"
rss_dump=$(rss "$tool dump $work/tree")
rss_nixdump=$(rss "nix-store --dump $work/tree")
# A much smaller NAR, to show that our peak memory does not follow the NAR size.
mkdir -p "$work/small" && cp -r "$work/tree/pkg-000" "$work/small/" && head -c 5000000 "$work/tree/large-1.bin" > "$work/small/part"
"$tool" dump "$work/small" > "$work/small.nar"
rss_small=$(rss "$tool unpack $work/out-small < $work/small.nar")

summary() { # $1: file prefix, $2: our command name, $3: Nix's command name
  python3 - "$work" "$@" <<'PY'
import glob, json, statistics, sys
work, prefix, ours, nix = sys.argv[1:]
times, cpu = {ours: [], nix: []}, {ours: [], nix: []}
for path in sorted(glob.glob(f"{work}/{prefix}-*.json")):
    for r in json.load(open(path))["results"]:
        times[r["command"]] += r["times"]
        cpu[r["command"]].append(r["user"] + r["system"])
m = {k: statistics.mean(v) for k, v in times.items()}
lo = {k: min(v) for k, v in times.items()}
c = {k: statistics.mean(v) for k, v in cpu.items()}
print(f"{prefix}: {len(times[ours])} runs each; mean ours {m[ours]:.3f} s / Nix {m[nix]:.3f} s = "
      f"ratio {m[ours] / m[nix]:.2f}; fastest ours {lo[ours]:.3f} s / Nix {lo[nix]:.3f} s = "
      f"ratio {lo[ours] / lo[nix]:.2f}; CPU (user+sys) ours {c[ours]:.3f} s / Nix {c[nix]:.3f} s = "
      f"ratio {c[ours] / c[nix]:.2f}")
PY
}
small_mb=$(( $(stat -c %s "$work/small.nar") >> 20 ))
echo "NAR size: ${nar_mb} MB"
summary unpack ours-unpack nix-restore
summary dump ours-dump nix-dump
echo "peak RSS: unpack ours ${rss_unpack} MB (Nix ${rss_restore} MB); dump ours ${rss_dump} MB (Nix ${rss_nixdump} MB)"
echo "peak RSS of our unpack for a ${small_mb} MB NAR: ${rss_small} MB"
