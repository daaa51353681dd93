//! NAR, the Nix ARchive: the canonical serialisation of a file-system tree that store paths and
//! binary caches hash and ship.
//!
//! ```plain
//! nar       ::= str("nix-archive-1") node
//! node      ::= str("(") str("type") body str(")")
//! body      ::= str("regular") [str("executable") str("")] str("contents") str(<bytes>)
//!             | str("symlink") str("target") str(<target>)
//!             | str("directory") entry*
//! entry     ::= str("entry") str("(") str("name") str(<name>) str("node") node str(")")
//! str(s)    ::= u64le(len s) s <zero bytes up to a multiple of 8>
//! ```
//!
//! Only three node types exist; permissions other than the owner's executable bit, owners,
//! times, xattrs and hard links are not represented. Canonical form, which the writer always
//! produces and the reader insists on (the rules of current Nix):
//!
//! * directory entries are sorted by raw bytes, strictly (no duplicates);
//! * names are non-empty, not `.` or `..`, contain no `/` or NUL, and are at most 255 bytes;
//! * symlink targets are non-empty, contain no NUL, and are at most 4095 bytes;
//! * padding bytes are zero; fields come in grammar order; tags are at most 32 bytes;
//! * directories nest at most 64 deep;
//! * nothing follows the archive.
//!
//! Restoring applies what Nix's store applies after unpacking: regular files get mode 0444, or
//! 0555 when executable; directories 0555; every node (symlinks included) mtime 1.

pub mod reader;
pub mod wire;
pub mod writer;

pub use reader::{unpack, validate, NarError, UnpackStats};
pub use writer::{dump, dump_hash};
