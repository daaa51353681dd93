//! devenv: per-project, reproducible command-line tools pinned to exact nixpkgs versions.
//!
//! This file is the table of contents. Data flows
//! `manifest` → `index` (resolve) → `lock` → `store` (realize) → `profile` → `env` → `shell`;
//! each domain module owns one step, `app` strings them together for every command, and `cli`
//! only parses arguments and prints. stdout carries data (hook output is `eval`ed by shells) and
//! only `cli` writes it; messages and progress go to stderr through `printer`.
//!
//! `unsafe` code lives in `sys` alone, where each block says why it is sound; every other
//! system call goes through `rustix`.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![deny(unsafe_code)]

pub mod app;
pub mod boot_id;
pub mod cli;
pub mod completion;
pub mod diagnostic;
pub mod display;
pub mod doctor;
pub mod env;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod index;
pub mod limits;
pub mod lock;
pub mod manifest;
pub mod namespace;
pub mod nix;
pub mod plugins;
pub mod printer;
pub mod profile;
pub mod settings;
pub mod shell;
pub mod store;
pub mod supply;
#[allow(unsafe_code)]
mod sys;
pub mod system;
pub mod variables;
pub mod version;
