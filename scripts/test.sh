#!/usr/bin/env bash
# Installs what the test suite needs on a Debian/Ubuntu machine (when missing), then runs every check:
# formatting, clippy, unit and integration tests (including interop with real Nix and real shells).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nix-store >/dev/null || need+=(nix-bin)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v tmux >/dev/null || need+=(tmux)
command -v direnv >/dev/null || need+=(direnv)
command -v git >/dev/null || need+=(git)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v patchelf >/dev/null || need+=(patchelf)
command -v envsubst >/dev/null || need+=(gettext-base)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v setpriv >/dev/null || need+=(util-linux)
# The JSON Schema tests run the reference validator, Python's jsonschema, with the library that
# checks the `uri` and `iri-reference` formats (without it those formats pass unchecked).
pyschema() { python3 -c 'import jsonschema, rfc3987' 2>/dev/null; }
pyschema || need+=(python3 python3-jsonschema python3-rfc3987)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! pyschema; then
  echo "python3 on PATH ($(command -v python3 || echo none)) cannot import jsonschema and rfc3987:" \
    "install them for it (python3 -m pip install jsonschema rfc3987) or put the system python3 first" >&2
  exit 1
fi

cargo fmt --all -- --check

# Lints and tests in one compile: devenv's own crates go through clippy-driver (what `cargo clippy`
# does, as a check) while the test build compiles them, so the dependencies are compiled once
# instead of once for clippy and again for the tests. Any warning, rustc's or clippy's, fails the
# build, as `cargo clippy -- -D warnings` does.
driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)
if [ -z "$driver" ]; then
  echo "clippy-driver not found: install clippy (rustup component add clippy)" >&2
  exit 1
fi
export RUSTC_WORKSPACE_WRAPPER="$driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# Most integration tests wait on child processes, shells and loopback servers rather than compute,
# so four at a time keep two cores busy; TEST_THREADS overrides it.
cargo test --locked --all-targets -- --test-threads="${TEST_THREADS:-4}"
