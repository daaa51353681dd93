# devenv hook for bash: activates the nearest devenv.json (or devbox.json) project on each prompt.
# A prompt where nothing changed runs builtins only: find the project by walking up from $PWD, and
# compare it, its manifest and lock (-nt against the stamp of the last load) and its trust record
# with the state devenv left in __DEVENV_*. Only on a change does it run `devenv export bash`.
# Safe under `set -u` and `set -e`; keeps `$?`; never leaves a variable behind.
_devenv_hook() {
  local __devenv_st=$? __devenv_d=${PWD-} __devenv_f= __devenv_m= __devenv_s __devenv_a __devenv_out __devenv_exe __devenv_trap __devenv_g=@DEVENV_GLOBAL@
  while :; do
    if [[ -f $__devenv_d/devenv.json ]]; then __devenv_f=$__devenv_d; __devenv_m=devenv; break; fi
    if [[ -f $__devenv_d/devbox.json ]]; then __devenv_f=$__devenv_d; __devenv_m=devbox; break; fi
    if [[ -z $__devenv_d ]]; then break; fi
    __devenv_d=${__devenv_d%/*}
  done
  if [[ -z $__devenv_f && -n ${DEVENV_SHELL-} ]]; then
    __devenv_f=$DEVENV_SHELL; __devenv_m=devenv
    if [[ ! -f $__devenv_f/devenv.json ]]; then __devenv_m=devbox; fi
  fi
  # Outside every project, the user's global environment (`devenv global`) is the one to load.
  if [[ -z $__devenv_f && -f $__devenv_g/devenv.json ]]; then __devenv_f=$__devenv_g; __devenv_m=devenv; fi
  if [[ -z $__devenv_f && -z ${__DEVENV_DIR-} ]]; then return $__devenv_st; fi
  if [[ -n $__devenv_f && "-$__devenv_f" == "${__DEVENV_DIR-}" ]]; then
    __devenv_s=${__DEVENV_STAMP-}; __devenv_s=${__devenv_s#-}; __devenv_a=${__DEVENV_ALLOW-}
    if [[ -n $__devenv_s && -e $__devenv_s && ! $__devenv_f/$__devenv_m.json -nt $__devenv_s && ! $__devenv_f/$__devenv_m.lock -nt $__devenv_s ]]; then
      if [[ $__devenv_a == +* && -e ${__devenv_a#+} ]]; then return $__devenv_st; fi
      if [[ $__devenv_a == !* && ! -e ${__devenv_a#!} ]]; then return $__devenv_st; fi
    fi
  fi
  __devenv_exe=@DEVENV_EXE@
  if [[ ! -x $__devenv_exe ]]; then
    __devenv_exe=devenv
    if ! command -v devenv >/dev/null 2>&1; then return $__devenv_st; fi
  fi
  __devenv_out=$("$__devenv_exe" export bash) || __devenv_out=
  __devenv_trap=$(trap -p INT) || :
  trap -- '' INT
  eval "$__devenv_out"
  trap - INT
  if [[ -n $__devenv_trap ]]; then eval "$__devenv_trap"; fi
  return $__devenv_st
}
if [[ ";${PROMPT_COMMAND[*]-};" != *";_devenv_hook;"* ]]; then
  if [[ "$(declare -p PROMPT_COMMAND 2>&1)" == "declare -a"* ]]; then
    PROMPT_COMMAND=(_devenv_hook "${PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="_devenv_hook${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
  fi
fi
# bash has no hook on directory change, so `cd proj && cmd` would run cmd before the next prompt
# loads the project. Wrapping cd, pushd and popd closes that gap; a wrapper that is already there
# (rvm's, or another tool's) keeps running, renamed `_devenv_prev_<name>`. Only a change typed at
# the prompt (or at a script's top level) runs the hook: a `cd` inside a function, such as a
# completion's `$(cd "$d" && pwd)`, leaves the loading to the next prompt. A failed change returns
# its status untouched and runs nothing. `DEVENV_BASH_CD=0` before this hook leaves cd alone.
_devenv_wrap_chdir() {
  local __devenv_c __devenv_prev __devenv_call
  for __devenv_c in cd pushd popd; do
    __devenv_call="builtin $__devenv_c"
    if declare -F "$__devenv_c" >/dev/null; then
      __devenv_prev=$(declare -f "$__devenv_c") || __devenv_prev=
      if [[ $__devenv_prev == *_devenv_chdir_done* ]]; then continue; fi
      eval "_devenv_prev_$__devenv_c${__devenv_prev#"$__devenv_c"}"
      __devenv_call=_devenv_prev_$__devenv_c
    fi
    eval "$__devenv_c() { $__devenv_call \"\$@\" || return; _devenv_chdir_done; }"
  done
}
_devenv_chdir_done() {
  if [[ -z ${FUNCNAME[2]-} || ${FUNCNAME[2]} == main ]]; then _devenv_hook; fi
  return 0
}
if [[ ${DEVENV_BASH_CD-} != 0 ]]; then _devenv_wrap_chdir; fi
unset -f _devenv_wrap_chdir
