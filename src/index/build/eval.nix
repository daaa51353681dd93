# Wraps a nixpkgs-like package set for `nix-env -qaP --json --meta --out-path`: every top-level
# attribute is tried first with `builtins.tryEval`, forcing what nix-env will print (name, output
# paths and the meta fields the index keeps); one that throws is left out and named on stderr as
# `trace: devenv-skip: <system> <attr>`, so a broken package neither aborts the listing nor
# corrupts its JSON. `abort` cannot be caught by tryEval: the caller then lists groups of
# attributes (`only`, a JSON file with a list of names), halving a failing group until the
# aborting attribute is alone.
#
# With `systems` (comma-separated) the result has one set per system, `<system>.<attr>`, so one
# evaluator process lists several systems and parses the package set's files once.
# `namesOnly` gives just the top-level attribute names (their values are not forced).
{ path, system ? null, systems ? null, only ? null, namesOnly ? false }:
let
  # nixpkgs itself takes `{ ... }@args`: give it an empty configuration (so the user's
  # ~/.config/nixpkgs does not leak into the index) without aliases (so renamed attributes are not
  # listed twice). A set that names its arguments and has no `config` gets only `system`.
  fn = import (/. + path);
  formals = builtins.functionArgs fn;
  pure = if formals == { } || formals ? config
    then { config = { allowAliases = false; }; overlays = [ ]; } else { };
  pkgsFor = system: fn ({ inherit system; } // pure);
  force = v:
    if !(builtins.isAttrs v) || (v.type or null) != "derivation" then true
    else builtins.deepSeq [
      v.name
      (map (o: v.${o}.outPath) (v.outputs or [ "out" ]))
      (v.meta.description or null)
      (v.meta.homepage or null)
      (v.meta.license or null)
      (v.meta.outputsToInstall or null)
    ] true;
  setFor = system:
    let
      pkgs = pkgsFor system;
      ok = name: (builtins.tryEval (force pkgs.${name})).success
        || builtins.trace "devenv-skip: ${system} ${name}" false;
      names = if only == null then builtins.attrNames pkgs
        else builtins.fromJSON (builtins.readFile (/. + only));
    in
      builtins.listToAttrs (map (name: { inherit name; value = pkgs.${name}; }) (builtins.filter ok names));
  systemList = builtins.filter builtins.isString (builtins.split "," systems);
in
  if namesOnly then builtins.attrNames (pkgsFor system)
  else if systems == null then setFor system
  else builtins.listToAttrs (map (s: {
    name = s;
    value = setFor s // { recurseForDerivations = true; };
  }) systemList)
