{
  description = "devenv: per-project, reproducible command-line tools pinned to exact nixpkgs versions, without installing Nix";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      # One attribute per system; no flake-utils input, so nixpkgs is the only dependency.
      forAllSystems = f: builtins.listToAttrs (map
        (system: { name = system; value = f system nixpkgs.legacyPackages.${system}; })
        systems);
      cargoToml = builtins.fromTOML (builtins.readFile ./Cargo.toml);
      # Only what cargo needs: a build must not depend on target/ or editor files.
      src = builtins.path {
        name = "devenv-source";
        path = ./.;
        filter = path: type:
          let base = baseNameOf path;
          in !(builtins.elem base [ "target" ".git" "result" ".direnv" ]);
      };
    in
    {
      packages = forAllSystems (system: pkgs: rec {
        devenv = pkgs.rustPlatform.buildRustPackage {
          pname = "devenv";
          version = cargoToml.package.version;
          inherit src;
          cargoLock.lockFile = ./Cargo.lock;
          # The test suite drives real Nix, bash, zsh, fish and tmux against loopback servers,
          # which the build sandbox does not offer; run ./scripts/test.sh from the dev shell.
          doCheck = false;
          meta = {
            description = cargoToml.package.description;
            mainProgram = "devenv";
            license = with pkgs.lib.licenses; [ mit asl20 ];
          };
        };
        default = devenv;
      });

      apps = forAllSystems (system: pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${system}.devenv}/bin/devenv";
        };
      });

      devShells = forAllSystems (system: pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [ cargo rustc clippy rustfmt nix zsh fish tmux shellcheck git ];
        };
      });
    };
}
