//! The byte-level pieces of the NAR encoding: 64-bit little-endian integers and padded strings,
//! plus the fixed tokens of the grammar in [`super`].

use std::io::{self, Write};

pub const MAGIC: &[u8] = b"nix-archive-1";
pub const OPEN: &[u8] = b"(";
pub const CLOSE: &[u8] = b")";
pub const TYPE: &[u8] = b"type";
pub const REGULAR: &[u8] = b"regular";
pub const SYMLINK: &[u8] = b"symlink";
pub const DIRECTORY: &[u8] = b"directory";
pub const EXECUTABLE: &[u8] = b"executable";
pub const CONTENTS: &[u8] = b"contents";
pub const TARGET: &[u8] = b"target";
pub const ENTRY: &[u8] = b"entry";
pub const NAME: &[u8] = b"name";
pub const NODE: &[u8] = b"node";

/// Longest entry name.
pub const MAX_NAME_LEN: usize = 255;
/// Longest symlink target.
pub const MAX_TARGET_LEN: usize = 4095;
/// Longest grammar token; anything longer cannot be a tag.
pub const MAX_TAG_LEN: usize = 32;
/// Deepest directory nesting.
pub const MAX_DEPTH: usize = 64;

/// Number of zero bytes that follow `len` bytes of string data.
pub const fn padding(len: u64) -> usize {
    ((8 - len % 8) % 8) as usize
}

pub fn write_u64(out: &mut impl Write, n: u64) -> io::Result<()> {
    out.write_all(&n.to_le_bytes())
}

/// Writes `str(s)`: length, bytes, zero padding.
pub fn write_str(out: &mut impl Write, s: &[u8]) -> io::Result<()> {
    write_u64(out, s.len() as u64)?;
    out.write_all(s)?;
    out.write_all(&[0u8; 8][..padding(s.len() as u64)])
}

/// Writes several tokens in a row.
pub fn write_tokens(out: &mut impl Write, tokens: &[&[u8]]) -> io::Result<()> {
    tokens.iter().try_for_each(|t| write_str(out, t))
}
