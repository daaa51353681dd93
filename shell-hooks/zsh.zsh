# devenv hook for zsh: activates the nearest devenv.json (or devbox.json) project before each
# prompt and on each directory change. A hook call where nothing changed runs builtins only (see the
# bash hook for the checks); only on a change does it run `devenv export zsh`.
_devenv_hook() {
  local __devenv_st=$?
  emulate -L zsh
  local d=${PWD-} f= m= s a out exe
  while :; do
    if [[ -f $d/devenv.json ]]; then f=$d; m=devenv; break; fi
    if [[ -f $d/devbox.json ]]; then f=$d; m=devbox; break; fi
    if [[ -z $d ]]; then break; fi
    d=${d%/*}
  done
  if [[ -z $f && -n ${DEVENV_SHELL-} ]]; then
    f=$DEVENV_SHELL; m=devenv
    if [[ ! -f $f/devenv.json ]]; then m=devbox; fi
  fi
  if [[ -z $f && -z ${__DEVENV_DIR-} ]]; then return $__devenv_st; fi
  if [[ -n $f && "-$f" == "${__DEVENV_DIR-}" ]]; then
    s=${__DEVENV_STAMP-}; s=${s#-}; a=${__DEVENV_ALLOW-}
    if [[ -n $s && -e $s && ! $f/$m.json -nt $s && ! $f/$m.lock -nt $s ]]; then
      if [[ $a == +* && -e ${a#+} ]]; then return $__devenv_st; fi
      if [[ $a == '!'* && ! -e ${a#!} ]]; then return $__devenv_st; fi
    fi
  fi
  exe=@DEVENV_EXE@
  if [[ ! -x $exe ]]; then
    exe=devenv
    if ! (( $+commands[devenv] )); then return $__devenv_st; fi
  fi
  out=$("$exe" export zsh) || out=
  trap -- '' INT
  eval "$out"
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
