#!/usr/bin/env bash
# Image benchmark: `devenv image` of a generated closure (default 200 store paths, ~500 MB, built
# with real Nix and installed from a local binary cache) against `tar` of the same store paths into
# one file (the floor: reading the paths and writing them once). Prints wall time and peak RSS of
# each side by side with the ratios, then the time of `devenv sbom` (CycloneDX) of the closure.
#
# Uses target/release/devenv when it exists, else target/debug/devenv (built when missing); the
# binary used is printed with the results.
#
# Needs: nix-build, nix-store and nix (Nix 2.8), GNU tar, GNU time (/usr/bin/time), jq.
# Environment:
#   IMAGE_BENCH_PATHS  store paths in the closure (default 200)
#   IMAGE_BENCH_KB     size of each path's blob in KiB (default 2560, ~500 MB in all)
#   IMAGE_BENCH_RUNS   runs of each command; the best is reported (default 3)
#   IMAGE_BENCH_DIR    scratch directory (default: a new temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

paths=${IMAGE_BENCH_PATHS:-200}
kb=${IMAGE_BENCH_KB:-2560}
runs=${IMAGE_BENCH_RUNS:-3}
scratch=${IMAGE_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$scratch"
work=$(mktemp -d "$scratch/image-bench.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

if [ -x target/release/devenv ]; then
  devenv=$PWD/target/release/devenv
else
  [ -x target/debug/devenv ] || cargo build --quiet
  devenv=$PWD/target/debug/devenv
fi
system=$(uname -m)-linux

# A chain of derivations: each holds a random blob and 30 small files and refers to the previous
# one and to the one at half its index, so the last one's closure is all of them.
cat > "$work/bench.nix" <<NIX
let
  sys = "$system";
  n = $paths;
  mk = i: derivation {
    name = "bench-path-\${toString i}-1.0";
    system = sys;
    builder = "/bin/sh";
    args = [ "-c" ''
      /bin/mkdir -p \$out/share
      /bin/dd if=/dev/urandom of=\$out/share/blob bs=1024 count=$kb 2>/dev/null
      i=0; while [ \$i -lt 30 ]; do echo "file \$i of \${toString i}" > \$out/share/f\$i; i=\$((i+1)); done
      echo "\${if i > 0 then "\${builtins.elemAt drvs (i - 1)} \${builtins.elemAt drvs (i / 2)}" else ""}" > \$out/refs
    '' ];
  };
  drvs = builtins.genList mk n;
in builtins.elemAt drvs (n - 1)
NIX
echo "building $paths store paths with Nix" >&2
top=$(nix-build "$work/bench.nix" --no-out-link --quiet \
  --option build-users-group "" --option sandbox false --option substituters "")
nix-store --generate-binary-cache-key bench-1 "$work/sk" "$work/pk"
echo "copying them to a local binary cache" >&2
nix --extra-experimental-features nix-command copy \
  --to "file://$work/cache?compression=none&secret-key=$work/sk" "$top"

mkdir -p "$work/project" "$work/home" "$work/index"
cd "$work/project"
echo '{ "packages": { "bench": "1.0" } }' > devenv.json
cat > devenv.lock <<LOCK
{
  "lockfile_version": "1",
  "packages": {
    "bench@1.0": {
      "last_modified": "2024-06-01T00:00:00Z",
      "resolved": "github:NixOS/nixpkgs/0000000000000000000000000000000000000000#bench",
      "source": "bench",
      "systems": { "$system": { "outputs": [ { "name": "out", "path": "$top", "default": true } ] } },
      "version": "1.0"
    }
  }
}
LOCK
export HOME=$work/home DEVENV_STORE_ROOT=$work/store DEVENV_INDEX=$work/index
export DEVENV_SUBSTITUTERS=file://$work/cache DEVENV_TRUSTED_PUBLIC_KEYS="$(cat "$work/pk")"
"$devenv" -q install

mapfile -t closure < <(nix-store -qR "$top")
rel=()
for p in "${closure[@]}"; do rel+=("${p#/}"); done
bytes=$(du -sb --apparent-size "${rel[@]/#/$DEVENV_STORE_ROOT/}" | awk '{s+=$1} END {print s}')

# Best wall time (s) and its peak RSS (KiB) of `runs` runs of a command.
measure() {
  local best_t="" best_rss=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -v -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    local t rss
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time")
    if [ -z "$best_t" ] || awk -v a="$t" -v b="$best_t" 'BEGIN {exit !(a < b)}'; then
      best_t=$t best_rss=$rss
    fi
  done
  echo "$best_t $best_rss"
}

read -r tar_t tar_rss < <(measure tar -cf "$work/floor.tar" -C "$DEVENV_STORE_ROOT" "${rel[@]}")
# devenv writes the archive durably (temp file, fsync, rename), which tar does not: the same tar
# followed by an fsync of its output is the floor for a durable write.
# shellcheck disable=SC2016  # expanded by the inner sh, on purpose
read -r tarsync_t _ < <(measure bash -c 'tar -cf "$0" -C "$1" "${@:2}" && sync "$0"' \
  "$work/floor-synced.tar" "$DEVENV_STORE_ROOT" "${rel[@]}")
read -r img_t img_rss < <(measure "$devenv" -q image -o "$work/image.tar")
read -r sbom_t sbom_rss < <(measure "$devenv" -q sbom -o "$work/sbom.json")
layers=$("$devenv" -q --json image -o "$work/image2.tar" | jq '.layers | length')
cmp -s "$work/image.tar" "$work/image2.tar" && same=yes || same=NO

echo
echo "devenv: $devenv"
echo "closure: ${#closure[@]} store paths, $((bytes / 1048576)) MiB; image: $layers layers, $(( $(stat -c %s "$work/image.tar") / 1048576 )) MiB; two builds identical: $same"
printf '%-28s %10s %14s\n' "" "time (s)" "peak RSS (MiB)"
printf '%-28s %10.2f %14.1f\n' "tar of the store paths" "$tar_t" "$(echo "$tar_rss / 1024" | bc -l)"
printf '%-28s %10.2f\n' "tar, then fsync of its output" "$tarsync_t"
printf '%-28s %10.2f %14.1f\n' "devenv image" "$img_t" "$(echo "$img_rss / 1024" | bc -l)"
printf '%-28s %10.2f\n' "ratio image / tar" "$(echo "$img_t / $tar_t" | bc -l)"
printf '%-28s %10.2f\n' "ratio image / (tar + fsync)" "$(echo "$img_t / $tarsync_t" | bc -l)"
printf '%-28s %10.3f %14.1f\n' "devenv sbom" "$sbom_t" "$(echo "$sbom_rss / 1024" | bc -l)"
