//! The parts of `devenv index build` and `devenv publish`, kept apart so each has one job:
//! [`git`] turns revision arguments into commits and exports their trees, [`eval`] runs the real
//! Nix evaluator on one exported tree for one system, [`kept`] stores finished evaluations so an
//! interrupted build can resume, [`merge`] folds evaluation results into the
//! static sparse index (pure, deterministic), and [`write`] puts an index on disk atomically.
//! [`build`] (in `run.rs`) strings them together, for all evaluations or a [`shard`] of them;
//! [`merge_dirs`] combines whole indexes and shards' outputs. [`publish`] adds a local directory
//! to an index and a binary cache, reusing the merge and write rules.

pub mod eval;
pub mod git;
pub mod kept;
pub mod merge;
pub mod merge_dirs;
pub mod publish;
mod run;
pub mod shard;
pub mod write;

pub use run::{build, BuildOptions, Event, Reporter, Summary};
