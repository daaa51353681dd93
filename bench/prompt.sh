#!/usr/bin/env bash
# Activation benchmark, side by side in one run: devenv against direnv and mise with equivalent
# configurations (one variable, one project bin directory on PATH).
#
#   1. steady-state prompt inside a project: 1,000 prompts in one bash, minus a bash running an
#      empty loop of 1,000 (so shell start-up cancels out) -> cost per prompt;
#   2. entering a project whose environment is cached: one `devenv export bash` against direnv
#      loading the equivalent .envrc (`direnv export bash`) and a full `mise hook-env`;
#   3. `devenv run -- true` against `direnv exec . true` and `mise exec -- true`;
#   4. the prompts of 1. again with a global environment (`devenv global`) beneath the project.
#
# Needs hyperfine, direnv and python3; installs mise from npm (@jdxcode/mise-linux-x64) into a
# bench-local prefix when `mise` is not on PATH. Usage: bench/prompt.sh [path/to/devenv]
# (default: target/release/devenv, built if missing). Prints a table with ratios and targets.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
devenv=${1:-$repo/target/release/devenv}
if [[ ! -x $devenv ]]; then cargo build --release --quiet; fi
devenv=$(cd "$(dirname "$devenv")" && pwd)/$(basename "$devenv")

for tool in hyperfine direnv python3; do
  command -v "$tool" >/dev/null || { echo "bench needs $tool" >&2; exit 1; }
done
mise=$(command -v mise || true)
if [[ -z $mise ]]; then
  prefix=$repo/target/bench-mise
  mise=$prefix/node_modules/@jdxcode/mise-linux-x64/bin/mise
  if [[ ! -x $mise ]]; then
    echo "installing mise into $prefix" >&2
    npm install --silent --prefix "$prefix" @jdxcode/mise-linux-x64 >/dev/null
  fi
fi

w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
mkdir -p "$w/home" "$w/proj/bin" "$w/bin"
ln -s "$devenv" "$w/bin/devenv"
ln -s "$mise" "$w/bin/mise"
ln -s "$(command -v direnv)" "$w/bin/direnv"
printf '%s\n' '{"env": {"FOO": "bar", "PATH": "$DEVENV_PROJECT_ROOT/bin:$PATH"}}' > "$w/proj/devenv.json"
printf 'export FOO=bar\nPATH_add bin\n' > "$w/proj/.envrc"
printf '[env]\nFOO = "bar"\n_.path = ["{{config_root}}/bin"]\n' > "$w/proj/mise.toml"

# A clean, isolated environment for every measured command.
run_env=(env -i "HOME=$w/home" "PATH=$w/bin:/usr/local/bin:/usr/bin:/bin" "TERM=dumb" "LANG=C.UTF-8"
  "XDG_CONFIG_HOME=$w/home/.config" "XDG_DATA_HOME=$w/home/.local/share"
  "XDG_STATE_HOME=$w/home/.local/state" "XDG_CACHE_HOME=$w/home/.cache")
(
  cd "$w/proj"
  "${run_env[@]}" devenv -q allow
  "${run_env[@]}" direnv allow .
  "${run_env[@]}" mise trust -q "$w/proj/mise.toml"
  # Warm the caches (devenv's environment cache, mise's; direnv has none).
  "${run_env[@]}" devenv export bash
  "${run_env[@]}" mise hook-env -s bash
) >/dev/null 2>&1

n=1000
printf '%s\n' "cd '$w/proj'; for ((i = 0; i < $n; i++)); do :; done" > "$w/base.sh"
for tool in devenv direnv mise; do
  case $tool in
    devenv) init='eval "$(devenv hook bash)"'; hook=_devenv_hook; first=_devenv_hook ;;
    direnv) init='eval "$(direnv hook bash)"'; hook=_direnv_hook; first=_direnv_hook ;;
    mise) init='eval "$(mise activate bash)"'; hook=_mise_hook_prompt_command; first=_mise_hook ;;
  esac
  {
    printf '%s\n' "$init" "cd '$w/proj'; $first 2>/dev/null"
    printf '%s\n' '[[ ${FOO-} == bar ]] || { echo "'"$tool"' did not load" >&2; exit 1; }'
    printf '%s\n' "for ((i = 0; i < $n; i++)); do $hook; done"
  } > "$w/$tool.sh"
done

hf() { # hf <json> <runs> <command>...
  local json=$1 runs=$2
  shift 2
  (cd "$w/proj" && "${run_env[@]}" hyperfine -N --style none --warmup 1 --runs "$runs" \
    --export-json "$json" "$@" >/dev/null)
}
echo "measuring 1,000 prompts (devenv, direnv, mise)..." >&2
hf "$w/prompt.json" 3 "bash --norc --noprofile $w/base.sh" "bash --norc --noprofile $w/devenv.sh" \
  "bash --norc --noprofile $w/direnv.sh" "bash --norc --noprofile $w/mise.sh"
# The same devenv prompts with a global environment (`devenv global`) loaded beneath the project:
# the hook's quiet path must stay free of processes with both layers active.
mkdir -p "$w/home/.config/devenv/global"
printf '%s\n' '{"env": {"GLOBAL_FOO": "baz"}}' > "$w/home/.config/devenv/global/devenv.json"
(cd "$w/proj" && "${run_env[@]}" devenv export bash) >/dev/null 2>&1
{
  printf '%s\n' 'eval "$(devenv hook bash)"' "cd '$w/proj'; _devenv_hook 2>/dev/null"
  printf '%s\n' '[[ ${FOO-} == bar && ${GLOBAL_FOO-} == baz ]] || { echo "devenv did not load both layers" >&2; exit 1; }'
  printf '%s\n' "for ((i = 0; i < $n; i++)); do _devenv_hook; done"
} > "$w/devenv-global.sh"
echo "measuring 1,000 prompts with a global environment (devenv, direnv)..." >&2
hf "$w/prompt-global.json" 3 "bash --norc --noprofile $w/base.sh" \
  "bash --norc --noprofile $w/devenv-global.sh" "bash --norc --noprofile $w/direnv.sh"
rm -r "$w/home/.config/devenv/global"
echo "measuring entering a cached project..." >&2
hf "$w/enter.json" 30 "devenv export bash" "direnv export bash" "mise hook-env -s bash"
echo "measuring run/exec..." >&2
hf "$w/run.json" 30 "devenv run -- true" "direnv exec . true" "mise exec -- true"

python3 - "$w" "$n" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
def means(name):
    return [r["mean"] for r in json.load(open(f"{w}/{name}.json"))["results"]]
base, dv, de, mi = means("prompt")
per = lambda t: max(t - base, 0.0) / n
p_dv, p_de, p_mi = per(dv), per(de), per(mi)
e_dv, e_de, e_mi = means("enter")
r_dv, r_de, r_mi = means("run")
us = lambda s: f"{s * 1e6:.1f} µs"
ms = lambda s: f"{s * 1e3:.2f} ms"
def verdict(ratio, target):
    return f"{ratio:.3f}x (target <= {target}x: {'met' if ratio <= target else 'NOT met'})"
print("steady-state prompt inside a project (per prompt, 1,000 prompts)")
print(f"  devenv {us(p_dv)} | direnv {us(p_de)} | mise {us(p_mi)}")
print(f"  devenv/direnv {verdict(p_dv / p_de, 0.05)}")
print(f"  devenv/mise   {verdict(p_dv / p_mi, 0.1)}")
g_base, g_dv, g_de = means("prompt-global")
g_per = lambda t: max(t - g_base, 0.0) / n
print("the same, with a global environment loaded beneath the project (bash cd wrapper installed)")
print(f"  devenv {us(g_per(g_dv))} | direnv {us(g_per(g_de))}")
print(f"  devenv/direnv {verdict(g_per(g_dv) / g_per(g_de), 0.02)}")
print("entering a project with a cached environment")
print(f"  devenv export {ms(e_dv)} | direnv export, loading .envrc {ms(e_de)} | mise hook-env {ms(e_mi)}")
print(f"  devenv/direnv {verdict(e_dv / e_de, 0.3)}")
print("running a command in the environment")
print(f"  devenv run {ms(r_dv)} | direnv exec {ms(r_de)} | mise exec {ms(r_mi)}")
print(f"  devenv/faster {verdict(r_dv / min(r_de, r_mi), 1.0)}")
PY
