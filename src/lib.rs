//! devenv: per-project, reproducible command-line tools pinned to exact nixpkgs versions.
//!
//! This file is the table of contents. Data flows
//! `manifest` → `index` (resolve) → `lock` → `store` (realize) → `profile` → `env` → `shell`;
//! each module owns one step, and `cli` only strings them together. Only `cli` prints: stdout carries
//! data (hook output is `eval`ed by shells), messages and progress go to stderr.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod completion;
pub mod context;
pub mod diagnostic;
pub mod display;
pub mod doctor;
pub mod env;
pub mod fsutil;
pub mod http;
pub mod index;
pub mod limits;
pub mod lock;
pub mod manifest;
pub mod nixfmt;
pub mod profile;
pub mod project;
pub mod shell;
pub mod store;
pub mod system;
pub mod version;
