# devenv hook for fish: activates the nearest devenv.json (or devbox.json) project at each prompt
# and when PWD changes. A call where nothing changed runs builtins only (see the bash hook for the
# checks); only on a change does it run `devenv export fish`.
function __devenv_hook --on-event fish_prompt --on-variable PWD
    set -l d $PWD
    set -l f ''
    set -l m ''
    while true
        if test -f "$d/devenv.json"
            set f $d; set m devenv; break
        end
        if test -f "$d/devbox.json"
            set f $d; set m devbox; break
        end
        if test -z "$d"
            break
        end
        set d (string replace -r '/[^/]*$' '' -- $d)
    end
    if test -z "$f"; and set -q DEVENV_SHELL; and test -n "$DEVENV_SHELL"
        set f $DEVENV_SHELL; set m devenv
        if not test -f "$f/devenv.json"
            set m devbox
        end
    end
    if test -z "$f"; and not set -q __DEVENV_DIR
        return
    end
    if test -n "$f"; and set -q __DEVENV_DIR; and test "-$f" = "$__DEVENV_DIR"
        set -l s (string replace -r '^-' '' -- "$__DEVENV_STAMP")
        set -l a "$__DEVENV_ALLOW"
        if test -n "$s"; and test -e "$s"; and not test "$f/$m.json" -nt "$s"; and not test "$f/$m.lock" -nt "$s"
            if string match -q '+*' -- $a; and test -e (string sub -s 2 -- $a)
                return
            end
            if string match -q '!*' -- $a; and not test -e (string sub -s 2 -- $a)
                return
            end
        end
    end
    set -l exe @DEVENV_EXE@
    if not test -x "$exe"
        set exe devenv
        if not command -q devenv
            return
        end
    end
    $exe export fish | source
end
