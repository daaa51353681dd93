//! Bounded reads for every file devenv parses but did not write itself: a huge or endless file
//! (a 1 GiB sparse manifest, a FIFO, `/dev/zero`) is refused instead of filling memory. The
//! limits live in [`crate::limits`].

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::Path;

use anyhow::Context as _;

use crate::diagnostic::ResultExt as _;
use crate::limits::human_bytes;

/// The error inside an [`io::Error`] (kind `InvalidData`) for a file or answer over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub limit: u64,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it is larger than {}, the most devenv reads from such a file",
            human_bytes(self.limit)
        )
    }
}

impl std::error::Error for TooLarge {}

/// The form a bounded read returns it in: kind `InvalidData`, found again with [`too_large`].
impl From<TooLarge> for io::Error {
    fn from(e: TooLarge) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Whether `err` is the [`TooLarge`] error of a bounded read.
pub fn too_large(err: &io::Error) -> Option<TooLarge> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<TooLarge>())
        .copied()
}

/// Read everything from `reader`, at most `limit` bytes; more is a [`TooLarge`] error, found
/// after reading one byte past the limit, never the rest.
pub fn read_to_end_bounded(reader: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    read_sized(reader, limit, 0)
}

/// [`read_to_end_bounded`] into a buffer sized for `expected` bytes up front: an index's name
/// list is megabytes, and growing a buffer by doubling copies it several times over.
fn read_sized(reader: impl Read, limit: u64, expected: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(expected.min(limit) as usize + 1);
    reader.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(TooLarge { limit }.into());
    }
    Ok(buf)
}

/// Read the file at `path`, at most `limit` bytes. A regular file over the limit is refused from
/// its size before a byte is read; anything else (a file growing, a FIFO) stops one byte past it.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > limit {
        return Err(TooLarge { limit }.into());
    }
    read_sized(file, limit, len)
}

/// [`read_bounded`] for a file a person or a server provides: `Ok(None)` when it does not exist;
/// over the limit it is bad input naming the file, `what` it is (`the manifest`) and the limit.
pub fn read_input(path: &Path, limit: u64, what: &str) -> anyhow::Result<Option<Vec<u8>>> {
    match read_bounded(path, limit) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if too_large(&e).is_some() => Err(e)
            .with_context(|| format!("{what} `{}` is too large to read", path.display()))
            .hint(format!(
                "check that `{}` is the file you meant",
                path.display()
            ))
            .bad_input(),
        Err(e) => Err(e).with_context(|| format!("could not read {what} `{}`", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_refuse_big_files_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let f = fs::File::create(&path).unwrap();
        f.set_len(1 << 30).unwrap(); // sparse: costs no disk, but 1 GiB if read
        let err = read_bounded(&path, 8 << 20).unwrap_err();
        assert_eq!(too_large(&err), Some(TooLarge { limit: 8 << 20 }));
        assert_eq!(
            err.to_string(),
            "it is larger than 8 MiB, the most devenv reads from such a file"
        );
        fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        assert!(too_large(&read_bounded(&path, 4).unwrap_err()).is_some());
        // A stream without a size stops one byte past the limit.
        let endless = io::repeat(b'x');
        assert!(too_large(&read_to_end_bounded(endless, 100).unwrap_err()).is_some());
    }

    #[test]
    fn inputs_over_the_limit_are_bad_input_naming_file_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devenv.json");
        assert!(read_input(&path, 10, "the manifest").unwrap().is_none());
        fs::write(&path, b"{\"packages\": []}").unwrap();
        let err = read_input(&path, 10, "the manifest").unwrap_err();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        assert!(
            report.message.contains("devenv.json` is too large"),
            "{report:?}"
        );
        assert_eq!(
            report.causes,
            vec!["it is larger than 10 bytes, the most devenv reads from such a file".to_string()]
        );
    }
}
