#!/usr/bin/env bash
# Benchmark: the namespace store's cost, side by side in one hyperfine run each.
#   1. starting a program of the environment through its launcher (the symlink the hook puts on
#      PATH: devenv enters the user + mount namespace and execs it) vs starting it directly, with
#      `devenv --version` (the cost of starting the binary at all) alongside;
#   2. `devenv run -- true` with the namespace store vs with the store at /nix.
# Targets: <= 2 ms extra per program start, <= 1.5x for `run`.
# Programs of the namespace store join the namespace of the store's long-lived holder; the
# first measured start of each part starts it (in the warm-up), and the script stops it at the
# end (and between the parts, whose outer namespaces differ).
# The package is a copy of the host's `true` built into a store path by Nix and published as a
# signed file:// cache; the /nix store is a scratch directory bound over /nix in a mount
# namespace (`unshare -U -r -m`), so the machine's own /nix is never touched (it must exist).
#
# usage: bench/namespace.sh [RUNS]     (default 200)
# env:   DEVENV_BIN  the binary to measure (default: target/release/devenv, else target/debug/devenv)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-200}"
for tool in hyperfine nix-build nix-store nix unshare; do
  command -v "$tool" >/dev/null || { echo "bench/namespace.sh needs $tool" >&2; exit 1; }
done
[ -d /nix ] || { echo "bench/namespace.sh binds a scratch store over /nix, which must exist" >&2; exit 1; }

bin="${DEVENV_BIN:-}"
if [ -z "$bin" ]; then
  bin="$root/target/release/devenv"
  [ -x "$bin" ] || bin="$root/target/debug/devenv"
fi
[ -x "$bin" ] || (cd "$root" && cargo build --quiet)
case "$bin" in *debug*) echo "note: measuring a debug build ($bin)" >&2 ;; esac

work="$(mktemp -d)"
# The namespace store's holder outlives every command by design: stop the benchmark's own.
stop_holder() {
  local pid
  pid=$(sed -n 's/^pid=//p' "$work/ns/.namespace-holder/record" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
}
trap 'stop_holder; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
system=$(nix-instantiate --eval -E builtins.currentSystem | tr -d '"')

# The package: the host's `true`, in a store path of its own.
cat > "$work/pkg.nix" <<NIX
derivation {
  name = "bench-true-1.0"; system = "$system"; builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir -p \$out/bin && /bin/cp -L /bin/true \$out/bin/btrue && echo $$ > \$out/salt" ];
}
NIX
path=$(nix-build "$work/pkg.nix" --no-out-link --quiet \
  --option build-users-group '' --option sandbox false --option substituters '')
nix-store --generate-binary-cache-key bench-1 "$work/sk" "$work/pk"
nix --extra-experimental-features nix-command copy \
  --to "file://$work/cache?compression=none&secret-key=$work/sk" "$path"

mkdir -p "$work/project" "$work/home/.config/devenv" "$work/nix"
cat > "$work/home/.config/devenv/config.json" <<JSON
{"substituters": ["file://$work/cache"], "trusted_public_keys": ["$(cat "$work/pk")"]}
JSON
cat > "$work/project/devenv.json" <<JSON
{"packages": {"bench-true": {"version": "1.0"}}}
JSON
cat > "$work/project/devenv.lock" <<JSON
{"lockfile_version": "1", "packages": {"bench-true@1.0": {
  "last_modified": "2024-06-01T00:00:00Z",
  "resolved": "github:NixOS/nixpkgs/0000000000000000000000000000000000000000#bench-true",
  "source": "bench", "version": "1.0",
  "systems": {"$system": {"outputs": [{"name": "out", "path": "$path", "default": true}]}}}}}
JSON

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache" \
  XDG_DATA_HOME="$work/home/.local/share" XDG_STATE_HOME="$work/home/.local/state"
unset DEVENV_STORE_ROOT DEVENV_STORE_MODE
cd "$work/project"

# The namespace store: its own root, mounted at /nix for its programs only.
ns=(env DEVENV_STORE_MODE=namespace DEVENV_STORE_ROOT="$work/ns")
"${ns[@]}" "$bin" install --frozen --quiet
"${ns[@]}" "$bin" allow --quiet >/dev/null
"${ns[@]}" "$bin" export bash >/dev/null   # writes the launchers
launcher=$(echo "$work"/home/.local/share/devenv/launchers/*/btrue)
direct="$work/ns${path}/bin/btrue"
[ -L "$launcher" ] || { echo "no launcher at $launcher" >&2; exit 1; }

echo "== program start: launcher vs direct ($runs runs)" >&2
hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/start.json" \
  -n launcher "$launcher" -n direct "$direct" -n floor "$bin --version"

# The launcher where its namespace is already entered (the store bound at /nix): the fast path
# alone, so launcher minus this is what entering the namespace costs.
# shellcheck disable=SC2016  # expanded by the inner sh, on purpose
unshare -U -r -m --propagation private sh -c 'mount --bind "$0" /nix && exec "$@"' "$work/ns/nix" \
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/inside.json" -n launcher-inside "$launcher"

# The next part runs in a user namespace of its own, from which the holder started above (in
# the machine's) cannot be joined: its first run starts one there.
stop_holder

# The /nix store: a scratch directory bound over /nix, in a namespace of this benchmark's own.
# shellcheck disable=SC2016  # expanded by the inner sh, on purpose
at_nix=(unshare -U -r -m --propagation private sh -c 'mount --bind "$0" /nix && exec "$@"' "$work/nix")
"${at_nix[@]}" "$bin" install --frozen --quiet

echo "== devenv run -- true: namespace store vs /nix ($runs runs)" >&2
# Both inside the same outer namespace (the one that puts the scratch store at /nix), so they
# differ only in the store: the namespace store nests a user namespace of its own, as it would
# on a machine without /nix.
"${at_nix[@]}" hyperfine -N --warmup 10 --runs "$runs" --export-json "$work/run.json" \
  -n namespace "env DEVENV_STORE_MODE=namespace DEVENV_STORE_ROOT=$work/ns $bin run -- true" \
  -n at-nix "$bin run -- true"

python3 - "$work/start.json" "$work/run.json" "$work/inside.json" <<'PY'
import json, sys
# Means, medians and minimums: on a loaded machine the median and the minimum say more.
def stats(p, key):
    return {r["command"]: r[key] * 1000 for r in json.load(open(p))["results"]}
for key in ("mean", "median", "min"):
    s, r, i = (stats(p, key) for p in sys.argv[1:4])
    extra = s["launcher"] - s["direct"]
    print(f"[{key}] launcher start {s['launcher']:.2f} ms, direct {s['direct']:.2f} ms: +{extra:.2f} ms per start (target <= 2 ms); "
          f"of which starting the devenv binary at all (`devenv --version`) is {s['floor'] - s['direct']:.2f} ms")
    print(f"[{key}] launcher already inside the namespace (fast path only) {i['launcher-inside']:.2f} ms: "
          f"joining the namespace costs {s['launcher'] - i['launcher-inside']:.2f} ms")
    print(f"[{key}] devenv run -- true: namespace {r['namespace']:.2f} ms, /nix {r['at-nix']:.2f} ms: "
          f"{r['namespace'] / r['at-nix']:.2f}x (target <= 1.5x)")
# CPU time (user + system, hyperfine's means): what a start costs the machine, unlike the wall
# clock hardly changed by other load.
def cpu(p):
    return {r["command"]: (r["user"] + r["system"]) * 1000 for r in json.load(open(p))["results"]}
s, r = cpu(sys.argv[1]), cpu(sys.argv[2])
print(f"[cpu] launcher {s['launcher']:.2f} ms, direct {s['direct']:.2f} ms: +{s['launcher'] - s['direct']:.2f} ms per start; "
      f"`devenv --version` {s['floor']:.2f} ms; devenv run -- true: namespace {r['namespace']:.2f} ms, /nix {r['at-nix']:.2f} ms: "
      f"{r['namespace'] / r['at-nix']:.2f}x")
PY
