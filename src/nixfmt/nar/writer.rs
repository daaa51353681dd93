//! Writes the canonical NAR of a file, symlink or directory tree (`nix-store --dump`).
//!
//! Entries are emitted sorted by raw name bytes; a file is "executable" iff its owner execute
//! bit is set; symlinks are stored verbatim and never followed; any other file type (fifo,
//! socket, device) is an error, as in Nix. File contents stream through a fixed buffer, so
//! memory does not grow with file size.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::wire::{self, *};
use crate::nixfmt::hash::{HashingWriter, Sha256Hash};

const BUF: usize = 1 << 17;

/// Writes the NAR of `path` to `out`.
pub fn dump(path: &Path, out: impl Write) -> io::Result<()> {
    let mut out = BufWriter::with_capacity(BUF, out);
    let mut buf = vec![0u8; BUF];
    wire::write_str(&mut out, MAGIC)?;
    dump_node(path, &mut out, &mut buf)?;
    out.flush()
}

/// The NAR sha256 and size of `path`, without keeping the NAR.
pub fn dump_hash(path: &Path) -> io::Result<(Sha256Hash, u64)> {
    let mut w = HashingWriter::new(io::sink());
    dump(path, &mut w)?;
    let (h, n, _) = w.finish();
    Ok((h, n))
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
}

fn dump_node(path: &Path, out: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    let meta = fs::symlink_metadata(path).map_err(|e| annotate(path, e))?;
    let ft = meta.file_type();
    wire::write_tokens(out, &[OPEN, TYPE])?;
    if ft.is_file() {
        wire::write_str(out, REGULAR)?;
        if meta.permissions().mode() & 0o100 != 0 {
            wire::write_tokens(out, &[EXECUTABLE, b""])?;
        }
        wire::write_str(out, CONTENTS)?;
        dump_contents(path, meta.len(), out, buf)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(path).map_err(|e| annotate(path, e))?;
        wire::write_tokens(out, &[SYMLINK, TARGET, target.as_os_str().as_bytes()])?;
    } else if ft.is_dir() {
        wire::write_str(out, DIRECTORY)?;
        let mut names = fs::read_dir(path)
            .map_err(|e| annotate(path, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| annotate(path, e))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            wire::write_tokens(out, &[ENTRY, OPEN, NAME, name.as_bytes(), NODE])?;
            dump_node(&path.join(&name), out, buf)?;
            wire::write_str(out, CLOSE)?;
        }
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "`{}` has an unsupported file type (only regular files, directories and symlinks can be archived)",
                path.display()
            ),
        ));
    }
    wire::write_str(out, CLOSE)
}

fn dump_contents(path: &Path, len: u64, out: &mut impl Write, buf: &mut [u8]) -> io::Result<()> {
    let mut file = File::open(path).map_err(|e| annotate(path, e))?;
    wire::write_u64(out, len)?;
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).map_err(|e| annotate(path, e))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    // The size is already written, so a file that shrank meanwhile would corrupt the archive.
    // (One that grew is cut at the size written, which keeps the archive well-formed.)
    if left != 0 {
        return Err(io::Error::other(format!(
            "`{}` shrank while it was being archived",
            path.display()
        )));
    }
    out.write_all(&[0u8; 8][..wire::padding(len)])
}
