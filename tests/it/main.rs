//! The integration tests: one binary (linking once is most of the cost of a test build), one
//! module per area. Each runs the real `devenv` binary in a throwaway world (`common`).

mod common;

mod app_layer;
mod bad_input;
mod cli_basics;
mod completions;
mod config;
mod devbox;
mod devbox_corpus;
mod docs_examples;
mod doctor;
mod e2e_team_story;
mod file_modes;
mod flake;
mod formats_files;
mod fuzz_corpus;
mod http_policy;
mod index_build;
mod index_nixhub;
mod index_sparse;
mod install_sh;
mod layering;
mod nar_robustness;
mod nix_interop_formats;
mod nixhub_fidelity;
mod package_commands;
mod publish;
mod schemas;
mod security_trust;
mod shell_bash;
mod shell_commands;
mod shell_interactive;
mod shell_packages;
mod shell_restore;
mod shell_zsh_fish;
mod snapshots;
mod store_crash;
mod store_durability;
mod store_faults;
mod store_push_gc;
mod store_substitute;
mod unsafe_code;
mod versions;
