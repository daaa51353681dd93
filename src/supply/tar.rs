//! A deterministic tar writer for image layers and the image archive around them.
//!
//! Every header is POSIX ustar with fixed metadata (uid and gid 0, no user or group names, one
//! mtime for everything), names that do not fit ustar's name/prefix fields get a PAX `path`
//! record, long link targets a `linkpath` record and files of 8 GiB or more a `size` record.
//! Directory entries are written in byte order of their names, as NAR does, so the same tree gives
//! the same bytes on every machine. Nothing is buffered beyond one copy buffer: file contents
//! stream from disk to the writer.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const BLOCK: usize = 512;
/// The largest size ustar's 11 octal digits hold.
const USTAR_MAX_SIZE: u64 = 0o77777777777;

/// The mtime of every entry: Nix's store mtime, so layers do not depend on when they were made.
pub const MTIME: u64 = 1;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File { size: u64, executable: bool },
    Dir,
    Symlink(Vec<u8>),
}

/// Wraps a writer: counts bytes (tar padding needs the position).
pub struct TarWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { out, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Pad to a block after `len` bytes of contents written through [`TarWriter::body`].
    pub fn pad(&mut self, len: u64) -> io::Result<()> {
        let rem = (len % BLOCK as u64) as usize;
        if rem != 0 {
            self.raw(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }

    /// The header (and PAX records, if needed) of an entry. A file's contents follow with
    /// [`TarWriter::contents`].
    pub fn header(&mut self, name: &[u8], kind: &Kind, mode: u32) -> io::Result<()> {
        let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();
        let (ustar_name, prefix) = match split_name(name) {
            Some(split) => split,
            None => {
                pax.push(("path", name.to_vec()));
                (truncated(name, 100), Vec::new())
            }
        };
        let (typeflag, size, link) = match kind {
            Kind::File { size, .. } => (b'0', *size, Vec::new()),
            Kind::Dir => (b'5', 0, Vec::new()),
            Kind::Symlink(target) => (b'2', 0, target.clone()),
        };
        if link.len() > 100 {
            pax.push(("linkpath", link.clone()));
        }
        if size > USTAR_MAX_SIZE {
            pax.push(("size", size.to_string().into_bytes()));
        }
        if !pax.is_empty() {
            let mut records = Vec::new();
            for (key, value) in &pax {
                records.extend(pax_record(key, value));
            }
            let pax_name = [b"PaxHeaders/".as_slice(), &truncated(name, 80)].concat();
            let header = ustar_header(&pax_name, &[], b'x', records.len() as u64, 0o644, &[]);
            self.raw(&header)?;
            self.raw(&records)?;
            self.pad(records.len() as u64)?;
        }
        let header = ustar_header(
            &ustar_name,
            &prefix,
            typeflag,
            size.min(USTAR_MAX_SIZE),
            mode,
            &truncated(&link, 100),
        );
        self.raw(&header)
    }

    /// Copy exactly `size` bytes of `input` as a file's contents, then pad to a block.
    pub fn contents(&mut self, input: impl Read, size: u64, shown: &Path) -> io::Result<()> {
        let mut limited = input.take(size);
        let copied = io::copy(&mut limited, &mut CountingRef(self))?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "`{}` changed while it was read ({copied} bytes instead of {size})",
                    shown.display()
                ),
            ));
        }
        self.pad(size)
    }

    /// A writer for an entry's contents (counted): the caller writes exactly the size its
    /// header announced, then calls [`TarWriter::pad`].
    pub fn body(&mut self) -> impl Write + '_ {
        CountingRef(self)
    }

    /// A whole in-memory file.
    pub fn file(&mut self, name: &[u8], mode: u32, data: &[u8]) -> io::Result<()> {
        let kind = Kind::File {
            size: data.len() as u64,
            executable: mode & 0o111 != 0,
        };
        self.header(name, &kind, mode)?;
        self.raw(data)?;
        self.pad(data.len() as u64)
    }

    /// The end-of-archive marker (two zero blocks); returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.raw(&[0u8; BLOCK * 2])?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The tree at `physical` as entries named `name` and below. Modes follow the store's
    /// (0555 directories and executables, 0444 files, 0777 links) whatever is on disk; symlink
    /// targets go through `link_target` (a store under another root is written as `/nix/store`).
    pub fn tree(
        &mut self,
        physical: &Path,
        name: &[u8],
        link_target: &dyn Fn(&Path) -> PathBuf,
    ) -> io::Result<()> {
        let meta = fs::symlink_metadata(physical).map_err(|e| annotate(physical, e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(physical).map_err(|e| annotate(physical, e))?;
            let target = link_target(&target);
            self.header(
                name,
                &Kind::Symlink(target.as_os_str().as_bytes().to_vec()),
                0o777,
            )
        } else if ft.is_dir() {
            let mut dir_name = name.to_vec();
            dir_name.push(b'/');
            self.header(&dir_name, &Kind::Dir, 0o555)?;
            let mut entries: Vec<_> = fs::read_dir(physical)
                .map_err(|e| annotate(physical, e))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()
                .map_err(|e| annotate(physical, e))?;
            entries.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for entry in entries {
                let mut child = dir_name.clone();
                child.extend_from_slice(entry.as_bytes());
                self.tree(&physical.join(&entry), &child, link_target)?;
            }
            Ok(())
        } else if ft.is_file() {
            let executable = meta.permissions().mode() & 0o100 != 0;
            let size = meta.len();
            let mode = if executable { 0o555 } else { 0o444 };
            self.header(name, &Kind::File { size, executable }, mode)?;
            let file = fs::File::open(physical).map_err(|e| annotate(physical, e))?;
            self.contents(file, size, physical)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "`{}` is neither a file, a directory nor a symlink",
                    physical.display()
                ),
            ))
        }
    }
}

struct CountingRef<'a, W: Write>(&'a mut TarWriter<W>);

impl<W: Write> Write for CountingRef<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.out.write(buf)?;
        self.0.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.out.flush()
    }
}

fn annotate(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("`{}`: {e}", path.display()))
}

fn truncated(bytes: &[u8], max: usize) -> Vec<u8> {
    bytes[..bytes.len().min(max)].to_vec()
}

/// `name` as ustar's (name, prefix), when it fits.
fn split_name(name: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if name.len() <= 100 {
        return Some((name.to_vec(), Vec::new()));
    }
    // A trailing slash (directories) belongs to the name part.
    let body = name.strip_suffix(b"/").unwrap_or(name);
    for (i, &b) in body.iter().enumerate().rev() {
        if b != b'/' {
            continue;
        }
        let (prefix, rest) = (&name[..i], &name[i + 1..]);
        if prefix.len() <= 155 && rest.len() <= 100 && !rest.is_empty() {
            return Some((rest.to_vec(), prefix.to_vec()));
        }
        if rest.len() > 100 {
            return None;
        }
    }
    None
}

/// One PAX record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, '=', newline
    let mut len = body + body.to_string().len();
    if len.to_string().len() != body.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

fn ustar_header(
    name: &[u8],
    prefix: &[u8],
    typeflag: u8,
    size: u64,
    mode: u32,
    link: &[u8],
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], MTIME);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let r = pax_record("path", b"abc");
        let text = String::from_utf8(r.clone()).unwrap();
        let len: usize = text.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(len, r.len());
        let long = pax_record("path", &[b'a'; 95]);
        let text = String::from_utf8(long.clone()).unwrap();
        let len: usize = text.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(len, long.len());
    }

    #[test]
    fn names_split_into_prefix_when_they_can() {
        let name = format!("nix/store/{}/{}", "a".repeat(60), "b".repeat(80));
        let (n, p) = split_name(name.as_bytes()).unwrap();
        assert_eq!(n, "b".repeat(80).as_bytes());
        assert_eq!(p, format!("nix/store/{}", "a".repeat(60)).as_bytes());
        assert!(split_name("x".repeat(101).as_bytes()).is_none());
    }

    #[test]
    fn a_tree_is_written_the_same_way_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        fs::create_dir_all(root.join("d").join("x".repeat(120))).unwrap();
        fs::write(root.join("f"), vec![7u8; 1000]).unwrap();
        fs::write(root.join("d").join("y".repeat(150)), b"long name").unwrap();
        std::os::unix::fs::symlink("z".repeat(200), root.join("l")).unwrap();
        let id = |p: &Path| p.to_path_buf();
        let write = || {
            let mut w = TarWriter::new(Vec::new());
            w.tree(&root, b"nix/store/t", &id).unwrap();
            let n = w.written();
            let out = w.finish().unwrap();
            assert_eq!(n + 1024, out.len() as u64);
            out
        };
        let first = write();
        assert_eq!(first, write());
        assert_eq!(first.len() % 512, 0);
    }
}
