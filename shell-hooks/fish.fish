# devenv hook for fish: activates the nearest devenv.json (or devbox.json) project at each prompt
# and when PWD changes. A call where nothing changed runs builtins only (see the bash hook for the
# checks); only on a change does it run `devenv export fish`. Its variables are named `__devenv_*`
# (names a project cannot set), so the code it sources reads the user's variables, not these.
function __devenv_hook --on-event fish_prompt --on-variable PWD
    set -l __devenv_d $PWD
    set -l __devenv_f ''
    set -l __devenv_m ''
    while true
        if test -f "$__devenv_d/devenv.json"
            set __devenv_f $__devenv_d; set __devenv_m devenv; break
        end
        if test -f "$__devenv_d/devbox.json"
            set __devenv_f $__devenv_d; set __devenv_m devbox; break
        end
        if test -z "$__devenv_d"
            break
        end
        set __devenv_d (string replace -r '/[^/]*$' '' -- $__devenv_d)
    end
    if test -z "$__devenv_f"; and set -q DEVENV_SHELL; and test -n "$DEVENV_SHELL"
        set __devenv_f $DEVENV_SHELL; set __devenv_m devenv
        if not test -f "$__devenv_f/devenv.json"
            set __devenv_m devbox
        end
    end
    set -l __devenv_g @DEVENV_GLOBAL@
    if test -z "$__devenv_f"; and test -f "$__devenv_g/devenv.json"
        set __devenv_f $__devenv_g; set __devenv_m devenv
    end
    if test -z "$__devenv_f"; and not set -q __DEVENV_DIR
        return
    end
    if test -n "$__devenv_f"; and set -q __DEVENV_DIR; and test "-$__devenv_f" = "$__DEVENV_DIR"
        set -l __devenv_s (string replace -r '^-' '' -- "$__DEVENV_STAMP")
        set -l __devenv_a "$__DEVENV_ALLOW"
        if test -n "$__devenv_s"; and test -e "$__devenv_s"; and not test "$__devenv_f/$__devenv_m.json" -nt "$__devenv_s"; and not test "$__devenv_f/$__devenv_m.lock" -nt "$__devenv_s"
            if string match -q '+*' -- $__devenv_a; and test -e (string sub -s 2 -- $__devenv_a)
                return
            end
            if string match -q '!*' -- $__devenv_a; and not test -e (string sub -s 2 -- $__devenv_a)
                return
            end
        end
    end
    set -l __devenv_exe @DEVENV_EXE@
    if not test -x "$__devenv_exe"
        set __devenv_exe devenv
        if not command -q devenv
            return
        end
    end
    $__devenv_exe export fish | source
end
