//! Profiles: a project's environment as a symlink farm of its package outputs, one generation per
//! change, each generation a GC root.
