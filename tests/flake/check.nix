# Evaluates flake.nix's outputs without the network: `nixpkgs` is a stand-in whose
# legacyPackages provide just enough (rustPlatform.buildRustPackage, mkShell, lib.licenses and
# the dev shell's tools) to evaluate the attribute structure, the app path and the package's
# arguments. Prints a summary that tests/flake.rs compares with Cargo.toml.
{ flakeDir }:
# flakeDir is a string (an absolute path), so nothing is copied into a store.
let
  flake = import (/. + flakeDir + "/flake.nix");
  tool = name: { type = "derivation"; inherit name; outPath = "/nix/store/stub-${name}"; };
  stubPkgs = system: {
    inherit system;
    rustPlatform.buildRustPackage = args: {
      type = "derivation";
      name = "${args.pname}-${args.version}";
      outPath = "/nix/store/stub-${args.pname}-${args.version}-${system}";
      inherit args;
    };
    mkShell = args: { type = "derivation"; name = "devshell"; inherit args; };
    lib.licenses = { mit = "MIT"; asl20 = "Apache-2.0"; };
    cargo = tool "cargo"; rustc = tool "rustc"; clippy = tool "clippy"; rustfmt = tool "rustfmt";
    nix = tool "nix"; zsh = tool "zsh"; fish = tool "fish"; tmux = tool "tmux";
    shellcheck = tool "shellcheck"; git = tool "git";
  };
  systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
  nixpkgs = {
    legacyPackages = builtins.listToAttrs (map (s: { name = s; value = stubPkgs s; }) systems);
  };
  outputs = flake.outputs { inherit self nixpkgs; };
  self = outputs // { outPath = flakeDir; };
  perSystem = system: {
    package = {
      inherit (outputs.packages.${system}.default.args) pname version doCheck;
      name = outputs.packages.${system}.default.name;
      same_as_devenv = outputs.packages.${system}.default == outputs.packages.${system}.devenv;
      lock_file = toString outputs.packages.${system}.default.args.cargoLock.lockFile;
      main_program = outputs.packages.${system}.default.args.meta.mainProgram;
      licenses = outputs.packages.${system}.default.args.meta.license;
    };
    app = outputs.apps.${system}.default;
    dev_shell = map (p: p.name) outputs.devShells.${system}.default.args.packages;
  };
in
{
  description = flake.description;
  inputs = builtins.attrNames flake.inputs;
  nixpkgs_url = flake.inputs.nixpkgs.url;
  outputs = builtins.attrNames outputs;
  packages = builtins.attrNames outputs.packages;
  apps = builtins.attrNames outputs.apps;
  dev_shells = builtins.attrNames outputs.devShells;
  systems = builtins.listToAttrs (map (s: { name = s; value = perSystem s; }) systems);
}
