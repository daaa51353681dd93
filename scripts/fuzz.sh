#!/usr/bin/env bash
# Runs the cargo-fuzz targets under fuzz/ one after the other, each for SECONDS (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      (all targets when none is named)
#
# Each target starts from its committed seeds (fuzz/corpus/<target>/) and a working corpus that
# grows from run to run (fuzz/work/<target>/, not committed). An input that makes a target fail
# is copied to fuzz/regressions/<target>/, which the test suite replays (tests/it/fuzz_corpus.rs):
# commit it with the fix. Exits with 1 when a target failed, 2 on bad arguments.
# Needs a nightly toolchain; installs cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: SECONDS must be a positive whole number, not \`$seconds\`" >&2
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi
[ $# -gt 0 ] && shift

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo fuzz needs a nightly toolchain; install one with \`rustup toolchain install nightly\`" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# nar_reader unpacks every input into a temporary directory: keep that in memory when possible.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi

all=$(cargo +nightly fuzz list)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets <<<"$all"
fi
for t in "${targets[@]}"; do
  if ! grep -qx -- "$t" <<<"$all"; then
    echo "fuzz.sh: there is no fuzz target \`$t\` (there are: ${all//$'\n'/ })" >&2
    exit 2
  fi
done

failed=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/work/$t" "fuzz/artifacts/$t"
  before=$(ls "fuzz/artifacts/$t")
  log="fuzz/work/$t.log"
  echo "fuzz.sh: running $t for ${seconds}s (log: $log)" >&2
  status=0
  cargo +nightly fuzz run "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" |
    sed "s/^/fuzz.sh: $t: /" >&2 || true
  [ "$status" -eq 0 ] && continue
  failed+=("$t")
  found=0
  for path in "fuzz/artifacts/$t"/*; do
    [ -e "$path" ] || continue
    f=${path##*/}
    if ! grep -qx -- "$f" <<<"$before"; then
      mkdir -p "fuzz/regressions/$t"
      cp "fuzz/artifacts/$t/$f" "fuzz/regressions/$t/$f"
      found=1
      echo "fuzz.sh: $t FAILED on an input, saved as fuzz/regressions/$t/$f" >&2
      echo "fuzz.sh:   reproduce: cargo +nightly fuzz run $t fuzz/regressions/$t/$f" >&2
    fi
  done
  if [ "$found" -eq 0 ]; then
    echo "fuzz.sh: $t FAILED without a failing input (exit $status); the end of $log:" >&2
    tail -n 20 "$log" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}; the tail of each log names the property that broke" >&2
  exit 1
fi
echo "fuzz.sh: every target ran ${seconds}s without a failure" >&2
