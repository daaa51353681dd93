#!/bin/sh
# Install devenv from this checkout: build it with cargo (or copy a prebuilt binary), print the one
# line that hooks it into your shell (and add it with --hook), optionally create /nix so the store
# can live at /nix/store without a Nix installation. Safe to run again; --uninstall undoes it.
#
# POSIX sh on purpose: it must run on a fresh machine before anything else is installed.
set -eu

usage() {
	cat <<'EOF'
Usage: ./install.sh [options]

Builds devenv from this checkout with `cargo install --locked` and installs it into
<prefix>/bin (default prefix: ~/.local).

Options:
  --prefix DIR        install into DIR/bin instead of ~/.local/bin
  --binary PATH       install this prebuilt devenv binary instead of building with cargo
  --debug             build without optimizations (faster to build, slower to run)
  --hook SHELL        add the activation hook to SHELL's rc file (bash, zsh or fish);
                      may be given more than once; re-running does not duplicate it
  --create-nix-dir    create /nix owned by you (one sudo), so the store can be /nix/store
                      without installing Nix
  --uninstall         remove the installed binary and the hook blocks this script added
  -h, --help          show this help
EOF
}

say() { printf '%s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$1" >&2
	[ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2
	exit "${3:-1}"
}

# Markers around what we add to rc files, so re-runs replace it and --uninstall removes exactly it.
BEGIN_MARK='# >>> devenv hook (added by install.sh) >>>'
END_MARK='# <<< devenv hook <<<'

checkout=$(cd "$(dirname "$0")" && pwd)
prefix="${HOME:?HOME must be set}/.local"
binary=""
debug=""
hooks=""
create_nix_dir=""
uninstall=""
prefix_given=""

while [ $# -gt 0 ]; do
	case "$1" in
	--prefix)
		[ $# -ge 2 ] || die "--prefix needs a directory" "./install.sh --prefix ~/.local" 2
		prefix=$2
		prefix_given=1
		shift 2
		;;
	--prefix=*)
		prefix=${1#--prefix=}
		prefix_given=1
		shift
		;;
	--binary)
		[ $# -ge 2 ] || die "--binary needs the path of a devenv binary" "" 2
		binary=$2
		shift 2
		;;
	--binary=*)
		binary=${1#--binary=}
		shift
		;;
	--debug)
		debug=1
		shift
		;;
	--hook)
		[ $# -ge 2 ] || die "--hook needs a shell name" "use one of: bash, zsh, fish" 2
		hooks="$hooks $2"
		shift 2
		;;
	--hook=*)
		hooks="$hooks ${1#--hook=}"
		shift
		;;
	--create-nix-dir)
		create_nix_dir=1
		shift
		;;
	--uninstall)
		uninstall=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		die "unknown option \`$1\`" "run ./install.sh --help to see the options" 2
		;;
	esac
done

for sh in $hooks; do
	case "$sh" in
	bash | zsh | fish) ;;
	*) die "unsupported shell \`$sh\` for --hook" "use one of: bash, zsh, fish" 2 ;;
	esac
done

case "$prefix" in
/*) ;;
*) prefix="$(pwd)/$prefix" ;;
esac
bindir="$prefix/bin"

rc_file() {
	case "$1" in
	bash) printf '%s\n' "$HOME/.bashrc" ;;
	zsh) printf '%s\n' "${ZDOTDIR:-$HOME}/.zshrc" ;;
	fish) printf '%s\n' "${XDG_CONFIG_HOME:-$HOME/.config}/fish/config.fish" ;;
	esac
}

# The block for one shell. PATH is extended only when the install dir is not on it already, and
# only inside the block, so uninstalling leaves the rc exactly as it was.
# shellcheck disable=SC2016 # the printed code is expanded later, by the user's shell
hook_block() {
	printf '%s\n' "$BEGIN_MARK"
	case "$1" in
	fish)
		printf 'if not contains -- %s $PATH\n    set -gx PATH %s $PATH\nend\n' "'$bindir'" "'$bindir'"
		printf 'if command -q devenv\n    devenv hook fish | source\nend\n'
		;;
	*)
		printf 'case ":$PATH:" in *:%s:*) ;; *) export PATH=%s":$PATH" ;; esac\n' "'$bindir'" "'$bindir'"
		printf 'if command -v devenv >/dev/null 2>&1; then eval "$(devenv hook %s)"; fi\n' "$1"
		;;
	esac
	printf '%s\n' "$END_MARK"
}

# shellcheck disable=SC2016 # printed for the user to paste
hook_line() {
	case "$1" in
	fish) printf 'devenv hook fish | source\n' ;;
	*) printf 'eval "$(devenv hook %s)"\n' "$1" ;;
	esac
}

# Print the rc file without our block (and without the blank line we put before it).
strip_block() {
	awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
		$0 == b { skip = 1; for (i = 1; i < held; i++) print ""; held = 0; next }
		skip && $0 == e { skip = 0; next }
		skip { next }
		$0 == "" { held++; next }
		{ for (i = 0; i < held; i++) print ""; held = 0; print }
		END { for (i = 0; i < held; i++) print "" }
	' "$1"
}

# Replace the rc file's content with a new version without losing it halfway: write a temp file
# next to it, then rename. A symlinked rc (dotfile managers) is written through instead, so the
# link survives.
replace_file() {
	target=$1
	tmp=$2
	if [ -L "$target" ]; then
		cat "$tmp" >"$target"
		rm -f "$tmp"
	else
		mv -f "$tmp" "$target"
	fi
}

add_hook() {
	rc=$(rc_file "$1")
	mkdir -p "$(dirname "$rc")"
	[ -e "$rc" ] || : >"$rc"
	block=$(hook_block "$1")
	if grep -qxF "$BEGIN_MARK" "$rc"; then
		current=$(awk -v b="$BEGIN_MARK" -v e="$END_MARK" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$rc")
		if [ "$current" = "$block" ]; then
			say "The $1 hook is already in $rc."
			return
		fi
		tmp="$rc.devenv-install.$$"
		strip_block "$rc" >"$tmp"
		{
			printf '\n'
			printf '%s\n' "$block"
		} >>"$tmp"
		replace_file "$rc" "$tmp"
		say "Updated the $1 hook in $rc."
	else
		# Appending never rewrites what the user wrote.
		if [ -s "$rc" ] && [ "$(tail -c 1 "$rc" | od -An -c | tr -d ' ')" != '\n' ]; then
			printf '\n' >>"$rc"
		fi
		{
			printf '\n'
			printf '%s\n' "$block"
		} >>"$rc"
		say "Added the $1 hook to $rc."
	fi
}

remove_hook() {
	rc=$(rc_file "$1")
	[ -f "$rc" ] || return 0
	grep -qxF "$BEGIN_MARK" "$rc" || return 0
	tmp="$rc.devenv-install.$$"
	strip_block "$rc" >"$tmp"
	if [ "$1" = fish ] && [ ! -L "$rc" ] && ! grep -q '[^[:space:]]' "$tmp"; then
		# Nothing but our block was in it: fish's config was made for the hook, so it goes too.
		rm -f "$tmp" "$rc"
		rmdir "$(dirname "$rc")" 2>/dev/null || :
		say "Removed $rc (it held only the devenv hook)."
		return 0
	fi
	replace_file "$rc" "$tmp"
	say "Removed the $1 hook from $rc."
}

# The bin directory an existing hook block puts on PATH: where install.sh installed devenv.
recorded_bindir() {
	for sh in bash zsh fish; do
		rc=$(rc_file "$sh")
		[ -f "$rc" ] || continue
		awk -v b="$BEGIN_MARK" -v e="$END_MARK" '
			$0 == b { on = 1; next }
			$0 == e { on = 0 }
			on && match($0, /'"'"'[^'"'"']*'"'"'/) { print substr($0, RSTART + 1, RLENGTH - 2); exit }
		' "$rc"
	done | head -n 1
}

owner_uid() {
	# shellcheck disable=SC2012 # ls -n is the portable way to read an owner (stat differs by OS)
	ls -ldn "$1" 2>/dev/null | awk '{ print $3 }'
}

create_nix() {
	me=$(id -u)
	if [ -d /nix ] && [ "$(owner_uid /nix)" = "$me" ]; then
		say "/nix already exists and is yours; the store can live at /nix/store."
		return
	fi
	user=${USER:-$(id -un)}
	if [ "$(uname -s)" = Darwin ] && [ ! -d /nix ]; then
		# macOS's system volume is read-only: /nix is a synthetic.conf entry plus an APFS volume,
		# which is the Nix installer's job (with the boot-time mount it sets up), not a mkdir.
		die "/nix cannot be created with mkdir on macOS: the system volume is read-only" \
			"create it as the Nix installer does, once: echo nix | sudo tee -a /etc/synthetic.conf; sudo /System/Library/Filesystems/apfs.fs/Contents/Resources/apfs.util -t; sudo diskutil apfs addVolume \"\$(diskutil info -plist / | plutil -extract ParentWholeDisk raw -)\" APFS 'Nix Store' -mountpoint /nix; sudo chown $user /nix; then add the volume to /etc/fstab (UUID=<its uuid> /nix apfs rw,noauto,nobrowse,suid,owners) so it mounts at boot. Without /nix, programs from binary caches cannot run on macOS (see docs/store.md)"
	fi
	if [ "$me" = 0 ]; then
		mkdir -p /nix
		chown "$user" /nix
	else
		say "Creating /nix owned by $user (asks for your password once):"
		say "  sudo sh -c 'mkdir -p /nix && chown \"\$1\" /nix' sh $user"
		# One sudo for both steps; the user name is passed as an argument, never spliced into code.
		# shellcheck disable=SC2016 # $1 is expanded by the inner shell on purpose
		sudo sh -c 'mkdir -p /nix && chown "$1" /nix' sh "$user" ||
			die "could not create /nix" "run it yourself: sudo mkdir -p /nix && sudo chown $user /nix"
	fi
	say "Created /nix owned by $user; the store can live at /nix/store."
}

if [ -n "$uninstall" ]; then
	if [ -z "$prefix_given" ]; then
		# Installed with --prefix and a hook: the block remembers where.
		recorded=$(recorded_bindir)
		if [ -n "$recorded" ] && [ "$recorded" != "$bindir" ]; then
			bindir=$recorded
			prefix=${recorded%/bin}
			say "The hook block says devenv was installed in $bindir; uninstalling from there."
		fi
	fi
	if [ -f "$prefix/.crates.toml" ] && grep -q '^"devenv ' "$prefix/.crates.toml" && command -v cargo >/dev/null 2>&1; then
		cargo uninstall --root "$prefix" devenv
	elif [ -e "$bindir/devenv" ]; then
		rm -f "$bindir/devenv"
		say "Removed $bindir/devenv."
	else
		say "No devenv binary in $bindir."
	fi
	for sh in bash zsh fish; do
		remove_hook "$sh"
	done
	left=$(command -v devenv 2>/dev/null || :)
	case "$left" in
	/*)
		if [ "$left" != "$bindir/devenv" ] && [ -x "$left" ]; then
			die "another devenv is still on PATH: $left" \
				"if install.sh put it there, run ./install.sh --uninstall --prefix ${left%/bin/devenv}; otherwise remove it the way it was installed" 1
		fi
		;;
	esac
	say "devenv is uninstalled. Your store, projects and settings were left as they are."
	exit 0
fi

if [ -n "$binary" ]; then
	if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
		die "\`$binary\` is not an executable file" "pass the path of a built devenv, e.g. target/release/devenv" 2
	fi
	mkdir -p "$bindir"
	tmp="$bindir/.devenv.install.$$"
	cp "$binary" "$tmp"
	chmod 755 "$tmp"
	mv -f "$tmp" "$bindir/devenv"
	say "Installed $binary as $bindir/devenv."
else
	command -v cargo >/dev/null 2>&1 ||
		die "cargo is not installed" "install Rust from https://rustup.rs, or pass --binary <path> with a prebuilt devenv"
	[ -f "$checkout/Cargo.toml" ] ||
		die "$checkout is not a devenv checkout (no Cargo.toml)" "run install.sh from the root of the devenv repository"
	say "Building devenv with cargo (this takes a few minutes the first time)..."
	profile_flag=""
	[ -z "$debug" ] || profile_flag="--debug"
	# $profile_flag is empty or one word; leaving it unquoted drops it when empty.
	# shellcheck disable=SC2086
	cargo install --locked $profile_flag --force --path "$checkout" --root "$prefix" ||
		die "cargo could not build devenv (its messages are above)" \
			"without network access, fetch the dependencies first (cargo fetch --locked) or pass --binary <path> with a prebuilt devenv"
	say "Installed $bindir/devenv."
fi

[ -z "$create_nix_dir" ] || create_nix

for sh in $hooks; do
	add_hook "$sh"
done

case ":$PATH:" in
*":$bindir:"*) ;;
*) say "Note: $bindir is not on your PATH; the hook block adds it, or add it yourself." ;;
esac

if [ -z "$hooks" ]; then
	say ""
	say "To switch project environments on when you cd, add one line to your shell's rc file:"
	say "  bash (~/.bashrc):                  $(hook_line bash)"
	say "  zsh (~/.zshrc):                    $(hook_line zsh)"
	say "  fish (~/.config/fish/config.fish): $(hook_line fish)"
	say "or run ./install.sh --hook <shell> to add it for you."
fi
say "Check the setup with: devenv doctor"
