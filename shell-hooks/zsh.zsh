# devenv hook for zsh: activates the nearest devenv.json (or devbox.json) project before each
# prompt and on each directory change. A hook call where nothing changed runs builtins only (see the
# bash hook for the checks); only on a change does it run `devenv export zsh`.
_devenv_hook() {
  local __devenv_st=$?
  emulate -L zsh
  local __devenv_d=${PWD-} __devenv_f= __devenv_m= __devenv_s __devenv_a __devenv_out __devenv_exe __devenv_g=@DEVENV_GLOBAL@
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
  if [[ -z $__devenv_f && -f $__devenv_g/devenv.json ]]; then __devenv_f=$__devenv_g; __devenv_m=devenv; fi
  if [[ -z $__devenv_f && -z ${__DEVENV_DIR-} ]]; then return $__devenv_st; fi
  if [[ -n $__devenv_f && "-$__devenv_f" == "${__DEVENV_DIR-}" ]]; then
    __devenv_s=${__DEVENV_STAMP-}; __devenv_s=${__devenv_s#-}; __devenv_a=${__DEVENV_ALLOW-}
    if [[ -n $__devenv_s && -e $__devenv_s && ! $__devenv_f/$__devenv_m.json -nt $__devenv_s && ! $__devenv_f/$__devenv_m.lock -nt $__devenv_s ]]; then
      if [[ $__devenv_a == +* && -e ${__devenv_a#+} ]]; then return $__devenv_st; fi
      if [[ $__devenv_a == '!'* && ! -e ${__devenv_a#!} ]]; then return $__devenv_st; fi
    fi
  fi
  __devenv_exe=@DEVENV_EXE@
  if [[ ! -x $__devenv_exe ]]; then
    __devenv_exe=devenv
    if ! (( $+commands[devenv] )); then return $__devenv_st; fi
  fi
  __devenv_out=$("$__devenv_exe" export zsh) || __devenv_out=
  trap -- '' INT
  eval "$__devenv_out"
  trap - INT
  return $__devenv_st
}
typeset -ag precmd_functions chpwd_functions
if (( ! ${precmd_functions[(I)_devenv_hook]} )); then
  precmd_functions=(_devenv_hook $precmd_functions)
fi
if (( ! ${chpwd_functions[(I)_devenv_hook]} )); then
  chpwd_functions=(_devenv_hook $chpwd_functions)
fi
