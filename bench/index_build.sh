#!/usr/bin/env bash
# Benchmarks of `devenv index build`, in one of two modes.
#
# Real nixpkgs (NIXPKGS=<git repo of nixpkgs> REV=<revision>): side by side on that one revision
# and the same SYSTEMS (default x86_64-linux), in ROUNDS alternating rounds (default 3; medians):
#   - `devenv index build` vs `nix-env -qaP --json --meta --out-path` alone on the same tree
#     (wall time and peak RSS; targets: <= 1.1x wall, <= 1.2x RSS). Peak RSS is given two ways:
#     GNU time's maximum resident set (of the largest single process) and the peak of the whole
#     process tree's resident memory sampled every 0.1 s (devenv runs nix-env as a child, so its
#     tree holds both at once);
#   - `devenv search` on the index built (target <= 10 ms) and `devenv add X --no-install` vs
#     `devenv --version` (target <= 2x), with hyperfine;
#   - with REV2=<another revision>: `--shard 1/2` and `--shard 2/2` over REV and REV2, then
#     `devenv index merge` of the two (target: merge < 5% of the shards' build time), and a check
#     that the merged index has the same bytes as one build of both revisions.
#   NIXPKGS=~/src/nixpkgs REV=release-17.09 REV2=<older commit> bench/index_build.sh
#
# Fixture (no NIXPKGS): `devenv index build` against a plain shell loop running
#   nix-env -qaP --json --meta --out-path -f <tree> --argstr system <system>
# over the same revisions (already exported to directories, so the loop pays nothing for git).
# Uses the fixture nixpkgs repository with PKGS extra packages per revision, and the REVS clean
# revisions that follow its five fixture revisions (those contain packages that throw or abort on
# purpose; a plain nix-env loop cannot index them at all, so they would not compare like for like).
# Prints the best of RUNS wall-clock times and the ratios (targets: <= 1.2 serial, < 1.0 with -j2),
# and the load average at the start of each round.
#
#   bench/index_build.sh            # REVS=20 PKGS=1500 RUNS=3 SYSTEMS=x86_64-linux,aarch64-darwin
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${NIXPKGS:-}" ]; then
  exec bash "$root/bench/index_build_real.sh"
fi
REVS=${REVS:-20}
PKGS=${PKGS:-1500}
RUNS=${RUNS:-3}
SYSTEMS=${SYSTEMS:-x86_64-linux,aarch64-darwin}
DEVENV=${DEVENV:-$root/target/release/devenv}
if [ ! -x "$DEVENV" ]; then
  (cd "$root" && cargo build --release --quiet)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
EXTRA_REVS=$REVS EXTRA_PKGS=$PKGS \
  bash "$root/tests/fixtures/nixpkgs/make-repo.sh" "$work/repo" >/dev/null
base=$(git -C "$work/repo" rev-parse HEAD~"$REVS")
mapfile -t revs < <(git -C "$work/repo" rev-list --reverse "$base..HEAD")
for r in "${revs[@]}"; do
  mkdir -p "$work/trees/$r"
  git -C "$work/repo" archive "$r" | tar -x -C "$work/trees/$r"
done
IFS=, read -r -a systems <<<"$SYSTEMS"

now() { date +%s.%N; }
best() { sort -g | head -1; }

loop_once() {
  local t0; t0=$(now)
  for r in "${revs[@]}"; do
    for s in "${systems[@]}"; do
      nix-env -qaP --json --meta --out-path -f "$work/trees/$r" --argstr system "$s" >/dev/null 2>&1 || true
    done
  done
  echo "$(now) - $t0" | bc
}

ours_once() { # jobs
  # A new output directory per run, all deleted at the end: deleting thousands of files just
  # before creating thousands more makes ext4's inode allocation scan the recently deleted ones,
  # a cost of the benchmark's cleanup, not of building an index.
  local out; out=$(mktemp -d "$work/index.XXXXXX")
  local t0; t0=$(now)
  "$DEVENV" -q index build --nixpkgs "$work/repo" --revs "$base..HEAD" \
    --out "$out" --systems "$SYSTEMS" --jobs "$1" >/dev/null
  echo "$(now) - $t0" | bc
}

# Rounds of one run each, interleaved, so a change in the machine's load during the benchmark
# hits all three alike instead of whichever happened to run then.
loads=()
loop_ts=() serial_ts=() par_ts=()
for _ in $(seq "$RUNS"); do
  loads+=("$(cut -d' ' -f1 /proc/loadavg)")
  loop_ts+=("$(loop_once)")
  serial_ts+=("$(ours_once 1)")
  par_ts+=("$(ours_once 2)")
done
loop_t=$(printf '%s\n' "${loop_ts[@]}" | best)
serial_t=$(printf '%s\n' "${serial_ts[@]}" | best)
par_t=$(printf '%s\n' "${par_ts[@]}" | best)

printf 'index build over %d revisions x %d systems (%d packages per revision), best of %d\n' \
  "${#revs[@]}" "${#systems[@]}" "$((PKGS + 3))" "$RUNS"
printf 'load average at the start of each round: %s\n' "${loads[*]}"
printf '%-34s %8.3fs %6s\n' "nix-env shell loop" "$loop_t" "1.00x"
printf '%-34s %8.3fs %5.2fx\n' "devenv index build --jobs 1" "$serial_t" "$(echo "$serial_t / $loop_t" | bc -l)"
printf '%-34s %8.3fs %5.2fx\n' "devenv index build --jobs 2" "$par_t" "$(echo "$par_t / $loop_t" | bc -l)"
