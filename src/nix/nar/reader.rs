//! Reads NARs: [`validate`] checks one without writing anything, [`unpack`] restores it into a
//! new directory (`nix-store --restore`, plus the permission and time canonicalisation Nix's
//! store applies).
//!
//! Only canonical NARs are accepted (rules in [`super`]); anything else is refused with the
//! rule that failed, the path inside the archive and the byte offset. The reader streams with
//! a fixed buffer, so memory does not depend on the NAR's size, and reads its input to the end:
//! bytes after the archive are an error.
//!
//! Unpacking never writes outside its target: every node is created relative to an open
//! handle of its parent directory, by a single validated name component, with `O_EXCL` and
//! `O_NOFOLLOW`, so symlinks in the archive are created but never followed, and a name can
//! never be created twice. If unpacking fails, the partial target is removed.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    fchmod, futimens, mkdirat, openat, symlinkat, utimensat, AtFlags, Mode, OFlags, Timespec,
    Timestamps, CWD, UTIME_OMIT,
};
use thiserror::Error;

use super::wire::*;

/// Read buffer. 128 KiB keeps each chunk in the L2 cache between decompression, hashing and
/// the write that copies it out.
const BUF: usize = 1 << 17;

/// Which canonical-form rule a NAR broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    BadMagic,
    UnexpectedTag {
        expected: &'static str,
        found: String,
    },
    InvalidName(String),
    NameTooLong(u64),
    NotSorted {
        previous: String,
        name: String,
    },
    EmptyTarget,
    TargetHasNul,
    TargetTooLong(u64),
    TooDeep,
    NonZeroPadding,
    Truncated,
    TrailingData,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::BadMagic => f.write_str("the input does not start like a Nix archive"),
            Rule::UnexpectedTag { expected, found } => {
                write!(f, "expected {expected} but found `{found}`")
            }
            Rule::InvalidName(n) => write!(
                f,
                "entry name `{n}` is not allowed (empty, `.`, `..`, or containing `/` or NUL)"
            ),
            Rule::NameTooLong(n) => {
                write!(f, "an entry name is {n} bytes, longer than {MAX_NAME_LEN}")
            }
            Rule::NotSorted { previous, name } => write!(
                f,
                "directory entries are not sorted and unique: `{name}` comes after `{previous}`"
            ),
            Rule::EmptyTarget => f.write_str("a symlink has an empty target"),
            Rule::TargetHasNul => f.write_str("a symlink target contains a NUL byte"),
            Rule::TargetTooLong(n) => {
                write!(
                    f,
                    "a symlink target is {n} bytes, longer than {MAX_TARGET_LEN}"
                )
            }
            Rule::TooDeep => write!(f, "directories nest deeper than {MAX_DEPTH}"),
            Rule::NonZeroPadding => f.write_str("padding bytes are not zero"),
            Rule::Truncated => f.write_str("the archive ends early (truncated)"),
            Rule::TrailingData => f.write_str("there are bytes after the end of the archive"),
        }
    }
}

/// Why reading or unpacking a NAR failed.
#[derive(Debug, Error)]
pub enum NarError {
    #[error("invalid NAR at {}: {rule} (byte offset {offset})", show_path(path))]
    Invalid {
        rule: Rule,
        path: String,
        offset: u64,
    },
    #[error("could not read the NAR at byte offset {offset}")]
    Read {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("could not {action} `{}` while unpacking", path.display())]
    Write {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unpack target `{}` already exists", .0.display())]
    TargetExists(PathBuf),
}

impl NarError {
    /// The broken rule, if the archive itself is at fault.
    pub fn rule(&self) -> Option<&Rule> {
        match self {
            NarError::Invalid { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

fn show_path(p: &str) -> String {
    if p.is_empty() {
        "the archive root".to_owned()
    } else {
        format!("`{p}`")
    }
}

fn show_bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).escape_debug().to_string()
}

/// What an unpack or validation saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    /// Bytes of file contents.
    pub content_bytes: u64,
    /// Bytes of the archive itself.
    pub nar_size: u64,
}

/// Checks that `input` is one canonical NAR and nothing more, without writing anything.
pub fn validate(input: impl Read) -> Result<UnpackStats, NarError> {
    let mut p = Parser::new(input);
    p.parse(&mut Discard)?;
    Ok(p.stats)
}

/// Restores the NAR read from `input` at `target`, which must not exist yet.
pub fn unpack(input: impl Read, target: &Path) -> Result<UnpackStats, NarError> {
    if fs::symlink_metadata(target).is_ok() {
        return Err(NarError::TargetExists(target.to_owned()));
    }
    let mut p = Parser::new(input);
    let mut sink = Restore {
        target,
        chmod_files: !umask_keeps_canonical_modes(),
    };
    match p.parse(&mut sink) {
        Ok(()) => Ok(p.stats),
        Err(e) => {
            remove_partial(target);
            Err(e)
        }
    }
}

/// Removes a half-unpacked tree; its directories are read-only by then, so open them first.
fn remove_partial(target: &Path) {
    let Ok(meta) = fs::symlink_metadata(target) else {
        return;
    };
    if meta.is_dir() {
        for entry in walkdir::WalkDir::new(target)
            .follow_links(false)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_dir() {
                let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o755));
            }
        }
        let _ = fs::remove_dir_all(target);
    } else {
        let _ = fs::remove_file(target);
    }
}

/// Where a node goes: the archive root, or a name inside an already created directory.
type Loc<'a, D> = Option<(&'a D, &'a [u8])>;

/// Receives the nodes of a NAR as the parser reads them, parents before children.
trait Sink {
    type Dir;
    type File;
    fn directory(&mut self, at: Loc<Self::Dir>, path: &[u8]) -> Result<Self::Dir, NarError>;
    fn finish_directory(&mut self, dir: Self::Dir, path: &[u8]) -> Result<(), NarError>;
    fn file(&mut self, at: Loc<Self::Dir>, exec: bool, path: &[u8])
        -> Result<Self::File, NarError>;
    fn write(&mut self, file: &mut Self::File, data: &[u8], path: &[u8]) -> Result<(), NarError>;
    fn finish_file(&mut self, file: Self::File, exec: bool, path: &[u8]) -> Result<(), NarError>;
    fn symlink(&mut self, at: Loc<Self::Dir>, target: &[u8], path: &[u8]) -> Result<(), NarError>;
}

struct Discard;

impl Sink for Discard {
    type Dir = ();
    type File = ();
    fn directory(&mut self, _: Loc<()>, _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
    fn finish_directory(&mut self, _: (), _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
    fn file(&mut self, _: Loc<()>, _: bool, _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
    fn write(&mut self, _: &mut (), _: &[u8], _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
    fn finish_file(&mut self, _: (), _: bool, _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
    fn symlink(&mut self, _: Loc<()>, _: &[u8], _: &[u8]) -> Result<(), NarError> {
        Ok(())
    }
}

struct Parser<R> {
    r: BufReader<R>,
    offset: u64,
    /// Offset where the field being read started, for error messages.
    field: u64,
    /// Archive path of the current node, `/`-joined.
    path: Vec<u8>,
    depth: usize,
    stats: UnpackStats,
}

impl<R: Read> Parser<R> {
    fn new(input: R) -> Self {
        Parser {
            r: BufReader::with_capacity(BUF, input),
            offset: 0,
            field: 0,
            path: Vec::new(),
            depth: 0,
            stats: UnpackStats::default(),
        }
    }

    fn invalid(&self, rule: Rule) -> NarError {
        NarError::Invalid {
            rule,
            path: show_bytes(&self.path),
            offset: self.field,
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), NarError> {
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.invalid(Rule::Truncated))
            }
            Err(source) => Err(NarError::Read {
                offset: self.offset,
                source,
            }),
        }
    }

    fn read_u64(&mut self) -> Result<u64, NarError> {
        let mut b = [0u8; 8];
        self.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn read_padding(&mut self, len: u64) -> Result<(), NarError> {
        let mut pad = [0u8; 8];
        let n = padding(len);
        self.read_exact(&mut pad[..n])?;
        if pad[..n].iter().any(|&b| b != 0) {
            return Err(self.invalid(Rule::NonZeroPadding));
        }
        Ok(())
    }

    /// Reads `str(s)` whose length may be at most `max`; `too_long` names the rule otherwise.
    fn read_str(
        &mut self,
        max: usize,
        too_long: impl Fn(u64) -> Rule,
    ) -> Result<Vec<u8>, NarError> {
        self.field = self.offset;
        let len = self.read_u64()?;
        if len > max as u64 {
            return Err(self.invalid(too_long(len)));
        }
        let mut s = vec![0u8; len as usize];
        self.read_exact(&mut s)?;
        self.read_padding(len)?;
        Ok(s)
    }

    fn read_tag(&mut self) -> Result<Vec<u8>, NarError> {
        self.read_str(MAX_TAG_LEN, |n| Rule::UnexpectedTag {
            expected: "a NAR tag",
            found: format!("<{n} bytes>"),
        })
    }

    fn expect(&mut self, tag: &[u8], expected: &'static str) -> Result<(), NarError> {
        let got = self.read_tag()?;
        if got != tag {
            return Err(self.invalid(Rule::UnexpectedTag {
                expected,
                found: show_bytes(&got),
            }));
        }
        Ok(())
    }

    fn parse<S: Sink>(&mut self, sink: &mut S) -> Result<(), NarError> {
        let magic = self.read_str(MAX_TAG_LEN, |_| Rule::BadMagic);
        if !matches!(&magic, Ok(m) if m == MAGIC) {
            return Err(match magic {
                Err(NarError::Read { offset, source }) => NarError::Read { offset, source },
                _ => self.invalid(Rule::BadMagic),
            });
        }
        self.node(sink, None)?;
        match self.r.fill_buf() {
            Ok([]) => {}
            Ok(_) => {
                self.field = self.offset;
                return Err(self.invalid(Rule::TrailingData));
            }
            Err(source) => {
                return Err(NarError::Read {
                    offset: self.offset,
                    source,
                })
            }
        }
        self.stats.nar_size = self.offset;
        Ok(())
    }

    fn node<S: Sink>(&mut self, sink: &mut S, at: Loc<S::Dir>) -> Result<(), NarError> {
        self.expect(OPEN, "`(`")?;
        self.expect(TYPE, "`type`")?;
        let ty = self.read_tag()?;
        match ty.as_slice() {
            REGULAR => {
                let mut tag = self.read_tag()?;
                let exec = tag == EXECUTABLE;
                if exec {
                    self.expect(b"", "an empty string after `executable`")?;
                    tag = self.read_tag()?;
                }
                if tag != CONTENTS {
                    return Err(self.invalid(Rule::UnexpectedTag {
                        expected: "`contents`",
                        found: show_bytes(&tag),
                    }));
                }
                self.field = self.offset;
                let len = self.read_u64()?;
                let mut file = sink.file(at, exec, &self.path)?;
                let mut left = len;
                while left > 0 {
                    let buf = match self.r.fill_buf() {
                        Ok(b) => b,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(source) => {
                            return Err(NarError::Read {
                                offset: self.offset,
                                source,
                            })
                        }
                    };
                    if buf.is_empty() {
                        return Err(self.invalid(Rule::Truncated));
                    }
                    let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    sink.write(&mut file, &buf[..n], &self.path)?;
                    self.r.consume(n);
                    self.offset += n as u64;
                    left -= n as u64;
                }
                self.read_padding(len)?;
                sink.finish_file(file, exec, &self.path)?;
                self.stats.files += 1;
                self.stats.content_bytes += len;
                self.expect(CLOSE, "`)`")
            }
            SYMLINK => {
                self.expect(TARGET, "`target`")?;
                let target = self.read_str(MAX_TARGET_LEN, Rule::TargetTooLong)?;
                if target.is_empty() {
                    return Err(self.invalid(Rule::EmptyTarget));
                }
                if target.contains(&0) {
                    return Err(self.invalid(Rule::TargetHasNul));
                }
                sink.symlink(at, &target, &self.path)?;
                self.stats.symlinks += 1;
                self.expect(CLOSE, "`)`")
            }
            DIRECTORY => {
                if self.depth >= MAX_DEPTH {
                    return Err(self.invalid(Rule::TooDeep));
                }
                let dir = sink.directory(at, &self.path)?;
                self.stats.directories += 1;
                self.depth += 1;
                let mut prev: Option<Vec<u8>> = None;
                loop {
                    let tag = self.read_tag()?;
                    if tag == CLOSE {
                        break;
                    }
                    if tag != ENTRY {
                        return Err(self.invalid(Rule::UnexpectedTag {
                            expected: "`entry` or `)`",
                            found: show_bytes(&tag),
                        }));
                    }
                    self.expect(OPEN, "`(`")?;
                    self.expect(NAME, "`name`")?;
                    let name = self.read_str(MAX_NAME_LEN, Rule::NameTooLong)?;
                    if name.is_empty()
                        || name == b"."
                        || name == b".."
                        || name.contains(&b'/')
                        || name.contains(&0)
                    {
                        return Err(self.invalid(Rule::InvalidName(show_bytes(&name))));
                    }
                    if let Some(p) = &prev {
                        if name <= *p {
                            return Err(self.invalid(Rule::NotSorted {
                                previous: show_bytes(p),
                                name: show_bytes(&name),
                            }));
                        }
                    }
                    self.expect(NODE, "`node`")?;
                    let parent_len = self.path.len();
                    if parent_len > 0 {
                        self.path.push(b'/');
                    }
                    self.path.extend_from_slice(&name);
                    self.node(sink, Some((&dir, &name)))?;
                    self.path.truncate(parent_len);
                    self.expect(CLOSE, "`)`")?;
                    prev = Some(name);
                }
                self.depth -= 1;
                sink.finish_directory(dir, &self.path)
            }
            _ => Err(self.invalid(Rule::UnexpectedTag {
                expected: "`regular`, `symlink` or `directory`",
                found: show_bytes(&ty),
            })),
        }
    }
}

/// Creates the nodes on disk, each relative to its parent's open handle.
struct Restore<'a> {
    target: &'a Path,
    /// Whether files need an explicit chmod because the umask would strip bits from 0444/0555.
    chmod_files: bool,
}

/// Whether the process umask leaves modes 0444 and 0555 intact, so files created with those
/// modes need no extra `fchmod` (one syscall per file less when unpacking many small files).
/// Read from `/proc/self/status`, because `umask(2)` can only be read by also setting it; where
/// that file is unavailable, assume it does not.
fn umask_keeps_canonical_modes() -> bool {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|umask| umask & 0o555 == 0)
}

/// mtime 1, atime left as is: what Nix's `canonicalisePathMetaData` sets.
const TIMES: Timestamps = Timestamps {
    last_access: Timespec {
        tv_sec: 0,
        tv_nsec: UTIME_OMIT,
    },
    last_modification: Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    },
};

/// Flags of every node opened while unpacking: a name that is (or was swapped for) a symlink
/// fails instead of being followed.
const NO_FOLLOW: OFlags = OFlags::NOFOLLOW.union(OFlags::CLOEXEC);

impl Restore<'_> {
    fn fail(&self, action: &'static str, path: &[u8], source: io::Error) -> NarError {
        NarError::Write {
            action,
            path: if path.is_empty() {
                self.target.to_owned()
            } else {
                self.target.join(std::ffi::OsStr::from_bytes(path))
            },
            source,
        }
    }

    fn check<T>(
        &self,
        result: rustix::io::Result<T>,
        action: &'static str,
        path: &[u8],
    ) -> Result<T, NarError> {
        result.map_err(|errno| self.fail(action, path, errno.into()))
    }

    /// The directory and the name to create a node at: one component inside its parent's
    /// handle, or the target path itself for the root.
    fn place<'a>(&'a self, at: Loc<'a, OwnedFd>) -> (BorrowedFd<'a>, &'a [u8]) {
        match at {
            Some((parent, name)) => (parent.as_fd(), name),
            None => (CWD, self.target.as_os_str().as_bytes()),
        }
    }
}

impl Sink for Restore<'_> {
    type Dir = OwnedFd;
    type File = File;

    fn directory(&mut self, at: Loc<OwnedFd>, path: &[u8]) -> Result<OwnedFd, NarError> {
        let (dirfd, name) = self.place(at);
        let created = mkdirat(dirfd, name, Mode::from_raw_mode(0o755));
        self.check(created, "create directory", path)?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | NO_FOLLOW;
        let opened = openat(dirfd, name, flags, Mode::empty());
        self.check(opened, "open directory", path)
    }

    fn finish_directory(&mut self, dir: OwnedFd, path: &[u8]) -> Result<(), NarError> {
        let chmod = fchmod(&dir, Mode::from_raw_mode(0o555));
        self.check(chmod, "set permissions of", path)?;
        self.check(futimens(&dir, &TIMES), "set the time of", path)
    }

    fn file(&mut self, at: Loc<OwnedFd>, exec: bool, path: &[u8]) -> Result<File, NarError> {
        let mode = Mode::from_raw_mode(if exec { 0o555 } else { 0o444 });
        let (dirfd, name) = self.place(at);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | NO_FOLLOW;
        let created = openat(dirfd, name, flags, mode);
        self.check(created, "create file", path).map(File::from)
    }

    fn write(&mut self, file: &mut File, data: &[u8], path: &[u8]) -> Result<(), NarError> {
        file.write_all(data)
            .map_err(|e| self.fail("write", path, e))
    }

    fn finish_file(&mut self, file: File, exec: bool, path: &[u8]) -> Result<(), NarError> {
        if self.chmod_files {
            let mode = Mode::from_raw_mode(if exec { 0o555 } else { 0o444 });
            self.check(fchmod(&file, mode), "set permissions of", path)?;
        }
        self.check(futimens(&file, &TIMES), "set the time of", path)
    }

    fn symlink(&mut self, at: Loc<OwnedFd>, target: &[u8], path: &[u8]) -> Result<(), NarError> {
        let (dirfd, name) = self.place(at);
        // symlinkat never follows anything; utimensat must not follow the link it just made.
        let created = symlinkat(target, dirfd, name);
        self.check(created, "create symlink", path)?;
        let timed = utimensat(dirfd, name, &TIMES, AtFlags::SYMLINK_NOFOLLOW);
        self.check(timed, "set the time of", path)
    }
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
