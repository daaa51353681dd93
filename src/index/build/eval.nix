# Wraps a nixpkgs-like package set for `nix-env -qaP --json --meta --out-path`: every top-level
# attribute is tried first with `builtins.tryEval`, forcing what nix-env will print (name, output
# paths and the meta fields the index keeps); one that throws is left out and named on stderr as
# `trace: devenv-skip: <system> <attr>`, so a broken package neither aborts the listing nor
# corrupts its JSON. `abort` cannot be caught by tryEval: the caller then lists groups of
# attributes (`only`, a JSON file with a list of names), halving a failing group until the
# aborting attribute is alone. An attribute whose value is itself a `throw` (a removed alias) is
# left out quietly, and every derivation is handed to nix-env as a value of its own, so one bound
# to two names (`python3 = python311`) is listed under both.
#
# With `systems` (comma-separated) the result has one set per system, `<system>.<attr>`, so one
# evaluator process lists several systems and parses the package set's files once.
# `namesOnly` gives just the top-level attribute names (their values are not forced).
{ path, system ? null, systems ? null, only ? null, namesOnly ? false }:
let
  fn = import (/. + path);
  # Every era of nixpkgs takes other arguments: 16.03 `{ system, config, … }` without `...`,
  # 16.09 an `impure.nix` that forwards everything to a set without `overlays`, 17.03 on
  # `overlays`, 17.09 on `localSystem` / `crossSystem`. Ask the function which arguments it
  # names and pass only those, so no era fails with "called with unexpected argument".
  formals = builtins.functionArgs fn;
  # An empty configuration (so the indexing user's ~/.config/nixpkgs never leaks into the index)
  # without aliases (so renamed attributes are not listed twice, and aliases kept as `throw` are
  # not there to fail); no overlays for the same reason. A set that names only its own arguments
  # (no `config`) gets just the system. `crossSystem` is passed only where it has no default.
  wanted = system: {
    inherit system;
    config = { allowAliases = false; };
    overlays = [ ];
    crossSystem = null;
    localSystem = { inherit system; };
  };
  argsFor = system:
    let
      all = wanted system;
      named = builtins.intersectAttrs formals all;
      # `localSystem` only where `system` cannot say it; `crossSystem` only where required.
      pick = builtins.removeAttrs named
        ((if formals ? system then [ "localSystem" ] else [ ])
          ++ (if (formals.crossSystem or true) then [ "crossSystem" ] else [ ]));
    in
      if formals == { } then { inherit (all) system config; } else pick;
  pkgsFor = system: fn (argsFor system);
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
      # An attribute whose value itself throws is an alias kept as `throw "… was removed"` (or
      # a package that says it does not exist on this system): left out quietly. One that is
      # there but fails while its name, outputs or meta are forced is broken: left out and named.
      ok = name:
        let value = builtins.tryEval pkgs.${name}; in
        value.success && ((builtins.tryEval (force value.value)).success
          || builtins.trace "devenv-skip: ${system} ${name}" false);
      # nix-env drops a value that fails an `assert` without a word, so a package set that does
      # not evaluate at all would list as empty: make that an error nix-env reports.
      all = builtins.tryEval (builtins.attrNames pkgs);
      names = if !all.success then abort "devenv: the package set does not evaluate for ${system}"
        else if only == null then all.value
        else builtins.fromJSON (builtins.readFile (/. + only));
      # nix-env lists a value once, under the first attribute holding it, so `python3 =
      # python311` would hide `python311` and `python3Packages = python311Packages` the whole
      # `python3Packages.*`: every derivation, also in the sets nix-env recurses into, is
      # listed as a value of its own (a copy with one more attribute; nothing more is
      # evaluated for it) so each attribute path is a key.
      # One level of sets only: a set that holds itself (`pythonPackages.pythonPackages`) is
      # then still seen once, as nix-env sees it.
      own = top: v:
        if !(builtins.isAttrs v) then v
        else if (v.type or null) == "derivation" then v // { devenvListed = true; }
        else if top && (v.recurseForDerivations or false) then builtins.mapAttrs (_: own false) v
        else v;
    in
      builtins.listToAttrs (map (name: { inherit name; value = own true pkgs.${name}; }) (builtins.filter ok names));
  systemList = builtins.filter builtins.isString (builtins.split "," systems);
in
  if namesOnly then builtins.attrNames (pkgsFor system)
  else if systems == null then setFor system
  else builtins.listToAttrs (map (s: {
    name = s;
    value = setFor s // { recurseForDerivations = true; };
  }) systemList)
