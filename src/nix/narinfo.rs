//! `.narinfo` files and `nix-cache-info`, the text metadata of a Nix binary cache.
//!
//! A narinfo is UTF-8 lines `Key: Value\n`; every line, the last included, ends in `\n`.
//! Fields (Nix writes them in this order):
//!
//! | key | value | |
//! |---|---|---|
//! | `StorePath` | `/nix/store/<hash>-<name>` | required |
//! | `URL` | where the (compressed) NAR is, relative to the cache unless absolute | required, opaque |
//! | `Compression` | `xz`, `zstd`, `bzip2`, `none`, `br`, … | missing or empty means `bzip2` |
//! | `FileHash`, `FileSize` | sha256 and size of the downloaded file | optional |
//! | `NarHash` | `sha256:<nix32>` (very old entries: hex) of the NAR | required |
//! | `NarSize` | bytes of the NAR | required, > 0 |
//! | `References` | space-separated base names, may include the path itself | may be empty |
//! | `Deriver` | base name of the `.drv`, or `unknown-deriver` | optional |
//! | `System` | e.g. `x86_64-linux` | optional, legacy |
//! | `Sig` | `<key name>:<base64>` | repeatable |
//! | `CA` | `fixed:[r:]<algo>:<hash>` or `text:sha256:<hash>` | optional |
//!
//! Unknown keys are ignored (so newer caches still parse). A known key given twice is refused,
//! except `Sig`, because two different values would make the file ambiguous.
//!
//! `nix-cache-info` is the same line format with `StoreDir`, `WantMassQuery` (`1`/`0`) and
//! `Priority`; there, lines without `:` and unknown keys are ignored, as Nix does.

use std::fmt::{self, Write as _};

use thiserror::Error;

use super::hash::Sha256Hash;
use super::signature::Signature;
use super::store_path::{StorePath, STORE_DIR};

/// How the NAR behind a narinfo is compressed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Xz,
    Zstd,
    Bzip2,
    Gzip,
    Brotli,
    Lz4,
    Lzip,
    /// Any other name; kept so a narinfo round-trips, though it cannot be decompressed here.
    Other(String),
}

impl Compression {
    pub fn parse(s: &str) -> Self {
        match s {
            "none" => Compression::None,
            "xz" => Compression::Xz,
            "zstd" => Compression::Zstd,
            "bzip2" | "" => Compression::Bzip2,
            "gzip" => Compression::Gzip,
            "br" => Compression::Brotli,
            "lz4" => Compression::Lz4,
            "lzip" => Compression::Lzip,
            other => Compression::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Compression::None => "none",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Gzip => "gzip",
            Compression::Brotli => "br",
            Compression::Lz4 => "lz4",
            Compression::Lzip => "lzip",
            Compression::Other(s) => s,
        }
    }

    /// The file extension Nix gives NARs compressed this way (`.nar` + this).
    pub fn extension(&self) -> &str {
        match self {
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
            Compression::Bzip2 => ".bz2",
            Compression::Gzip => ".gz",
            Compression::Brotli => ".br",
            Compression::Lz4 => ".lz4",
            Compression::Lzip => ".lzip",
            Compression::None | Compression::Other(_) => "",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a narinfo could not be read. `line` is 1-based; 0 means "the file as a whole".
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{}{message}", if *line > 0 { format!("line {line}: ") } else { String::new() })]
pub struct NarInfoError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> NarInfoError {
    NarInfoError {
        line,
        message: message.into(),
    }
}

/// Refuse text no real narinfo or `nix-cache-info` comes near ([`crate::limits`]): a cache must
/// not make devenv hold megabytes of it or check thousands of `Sig:` lines.
fn check_bounds(text: &str) -> Result<(), NarInfoError> {
    let (max_bytes, max_lines) = (
        crate::limits::MAX_NARINFO_BYTES,
        crate::limits::MAX_NARINFO_LINES,
    );
    if text.len() as u64 > max_bytes {
        return Err(err(
            0,
            format!(
                "it is larger than {}, more than any narinfo",
                crate::limits::human_bytes(max_bytes)
            ),
        ));
    }
    if text.bytes().filter(|b| *b == b'\n').count() > max_lines {
        return Err(err(
            max_lines + 1,
            format!("it has more than {max_lines} lines, more than any narinfo"),
        ));
    }
    Ok(())
}

/// The metadata of one store path in a binary cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NarInfo {
    pub store_path: StorePath,
    pub url: String,
    pub compression: Compression,
    pub file_hash: Option<Sha256Hash>,
    pub file_size: Option<u64>,
    pub nar_hash: Sha256Hash,
    pub nar_size: u64,
    /// In file order (old caches did not sort them); [`NarInfo::fingerprint`] sorts.
    pub references: Vec<StorePath>,
    /// Base name of the deriver (`<hash>-<name>.drv`); `None` when absent or `unknown-deriver`.
    pub deriver: Option<String>,
    pub sigs: Vec<Signature>,
    pub ca: Option<String>,
    pub system: Option<String>,
}

impl NarInfo {
    /// Parses narinfo text.
    pub fn parse(text: &str) -> Result<Self, NarInfoError> {
        check_bounds(text)?;
        let mut store_path = None;
        let mut url = None;
        let mut compression = None;
        let mut file_hash = None;
        let mut file_size = None;
        let mut nar_hash = None;
        let mut nar_size = None;
        let mut references = None;
        let mut deriver = None;
        let mut sigs = Vec::new();
        let mut ca = None;
        let mut system = None;

        if !text.is_empty() && !text.ends_with('\n') {
            let n = text.lines().count();
            return Err(err(n, "the last line does not end with a newline"));
        }
        for (idx, line) in text.split_terminator('\n').enumerate() {
            let n = idx + 1;
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| err(n, format!("`{line}` is not of the form `Key: value`")))?;
            let value = match value.strip_prefix(' ') {
                Some(v) => v,
                None if value.is_empty() => value,
                None => return Err(err(n, format!("`{key}:` must be followed by one space"))),
            };
            fn set<T>(slot: &mut Option<T>, v: T, n: usize, key: &str) -> Result<(), NarInfoError> {
                if slot.is_some() {
                    return Err(err(n, format!("`{key}` is given more than once")));
                }
                *slot = Some(v);
                Ok(())
            }
            let hash = |v: &str| Sha256Hash::parse(v).map_err(|e| err(n, format!("`{key}`: {e}")));
            let size = |v: &str| {
                v.parse::<u64>().map_err(|_| {
                    err(
                        n,
                        format!("`{key}` value `{v}` is not a non-negative integer"),
                    )
                })
            };
            match key {
                "StorePath" => {
                    let p = StorePath::parse_absolute(value).map_err(|e| err(n, e.to_string()))?;
                    set(&mut store_path, p, n, key)?
                }
                "URL" => {
                    if value.is_empty() {
                        return Err(err(n, "`URL` is empty"));
                    }
                    set(&mut url, value.to_owned(), n, key)?
                }
                "Compression" => set(&mut compression, Compression::parse(value), n, key)?,
                "FileHash" => set(&mut file_hash, hash(value)?, n, key)?,
                "FileSize" => set(&mut file_size, size(value)?, n, key)?,
                "NarHash" => set(&mut nar_hash, hash(value)?, n, key)?,
                "NarSize" => set(&mut nar_size, size(value)?, n, key)?,
                "References" => {
                    let refs = value
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(|r| {
                            StorePath::parse_base_name(r)
                                .map_err(|e| err(n, format!("`References`: {e}")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    set(&mut references, refs, n, key)?
                }
                "Deriver" => {
                    let d = if value == "unknown-deriver" {
                        None
                    } else {
                        StorePath::parse_base_name(value)
                            .map_err(|e| err(n, format!("`Deriver`: {e}")))?;
                        Some(value.to_owned())
                    };
                    set(&mut deriver, d, n, key)?
                }
                "System" => set(&mut system, value.to_owned(), n, key)?,
                "Sig" => {
                    sigs.push(Signature::parse(value).map_err(|e| err(n, format!("`Sig`: {e}")))?)
                }
                "CA" => set(&mut ca, value.to_owned(), n, key)?,
                _ => {}
            }
        }
        let nar_size = nar_size.ok_or_else(|| err(0, "the required field `NarSize` is missing"))?;
        if nar_size == 0 {
            return Err(err(0, "`NarSize` is 0; a NAR is never empty"));
        }
        Ok(NarInfo {
            store_path: store_path
                .ok_or_else(|| err(0, "the required field `StorePath` is missing"))?,
            url: url.ok_or_else(|| err(0, "the required field `URL` is missing"))?,
            compression: compression.unwrap_or(Compression::Bzip2),
            file_hash,
            file_size,
            nar_hash: nar_hash.ok_or_else(|| err(0, "the required field `NarHash` is missing"))?,
            nar_size,
            references: references.unwrap_or_default(),
            deriver: deriver.flatten(),
            sigs,
            ca,
            system,
        })
    }

    /// What signatures cover:
    /// `1;<path>;sha256:<nar nix32>;<nar size>;<sorted comma-joined reference paths>`.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            &self.store_path,
            &self.nar_hash,
            self.nar_size,
            &self.references,
        )
    }
}

/// The signed fingerprint of a path's metadata (see [`NarInfo::fingerprint`]).
pub fn fingerprint(
    path: &StorePath,
    nar_hash: &Sha256Hash,
    nar_size: u64,
    references: &[StorePath],
) -> String {
    let mut refs: Vec<String> = references.iter().map(StorePath::to_absolute).collect();
    refs.sort();
    format!(
        "1;{};{};{};{}",
        path.to_absolute(),
        nar_hash.display_nix(),
        nar_size,
        refs.join(",")
    )
}

impl fmt::Display for NarInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        let _ = writeln!(s, "StorePath: {}", self.store_path.to_absolute());
        let _ = writeln!(s, "URL: {}", self.url);
        let _ = writeln!(s, "Compression: {}", self.compression);
        if let Some(h) = &self.file_hash {
            let _ = writeln!(s, "FileHash: {}", h.display_nix());
        }
        if let Some(n) = self.file_size {
            let _ = writeln!(s, "FileSize: {n}");
        }
        let _ = writeln!(s, "NarHash: {}", self.nar_hash.display_nix());
        let _ = writeln!(s, "NarSize: {}", self.nar_size);
        let refs: Vec<String> = self.references.iter().map(StorePath::base_name).collect();
        let _ = writeln!(s, "References: {}", refs.join(" "));
        if let Some(d) = &self.deriver {
            let _ = writeln!(s, "Deriver: {d}");
        }
        if let Some(sys) = &self.system {
            let _ = writeln!(s, "System: {sys}");
        }
        for sig in &self.sigs {
            let _ = writeln!(s, "Sig: {sig}");
        }
        if let Some(ca) = &self.ca {
            let _ = writeln!(s, "CA: {ca}");
        }
        f.write_str(&s)
    }
}

/// The `nix-cache-info` file at the root of a binary cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    pub store_dir: String,
    pub want_mass_query: bool,
    pub priority: Option<u32>,
}

impl Default for CacheInfo {
    fn default() -> Self {
        CacheInfo {
            store_dir: STORE_DIR.to_owned(),
            want_mass_query: false,
            priority: None,
        }
    }
}

impl CacheInfo {
    /// Parses `nix-cache-info`. A missing `StoreDir` means `/nix/store`.
    pub fn parse(text: &str) -> Result<Self, NarInfoError> {
        check_bounds(text)?;
        let mut info = CacheInfo::default();
        for (idx, line) in text.lines().enumerate() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "StoreDir" => info.store_dir = value.to_owned(),
                "WantMassQuery" => info.want_mass_query = value == "1",
                "Priority" => {
                    info.priority = Some(value.parse().map_err(|_| {
                        err(
                            idx + 1,
                            format!("`Priority` value `{value}` is not an integer"),
                        )
                    })?)
                }
                _ => {}
            }
        }
        Ok(info)
    }
}

impl fmt::Display for CacheInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "StoreDir: {}", self.store_dir)?;
        if self.want_mass_query {
            writeln!(f, "WantMassQuery: 1")?;
        }
        if let Some(p) = self.priority {
            writeln!(f, "Priority: {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::signature::TrustedKeys;

    const BAZ: &str = "StorePath: /nix/store/5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz
URL: nar/19vz5k9jin5zdn64w5d0872hs4z6kpgbqp6abpjg9jskqgxpx11d.nar.zst
Compression: zstd
FileHash: sha256:19vz5k9jin5zdn64w5d0872hs4z6kpgbqp6abpjg9jskqgxpx11d
FileSize: 125
NarHash: sha256:0m29vxh7maf5ml5dyq7vy0ah53zah45pvy8yk5y8la4nnla95gfi
NarSize: 160
References: vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo
Sig: test-cache-1:d9Xr5j8kq9sGr7C/7zQ/NwLUa2XeFaD9v1ODUNRJGaFUAzhtEDW8Gq95Jr7fkngnT9m1ueLkYnN1tvfdfi4qDQ==
CA: text:sha256:190k5ph58syggimih0bad4nbgklmzwbha6n5d9x66yprq3c9immw
";

    const CURL: &str = "StorePath: /nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin
URL: nar/05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56.nar.xz
Compression: xz
FileHash: sha256:05ra3y72i3qjri7xskf9qj8kb29r6naqy1sqpbs3azi3xcigmj56
FileSize: 68852
NarHash: sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0
NarSize: 196040
References: 0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0 6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115 j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12 yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n
Deriver: 5rwxzi7pal3qhpsyfc16gzkh939q1np6-curl-7.82.0.drv
Sig: cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==
";

    #[test]
    fn nix_written_narinfos_round_trip_exactly() {
        for text in [BAZ, CURL] {
            let info = NarInfo::parse(text).unwrap();
            assert_eq!(info.to_string(), text);
        }
        let curl = NarInfo::parse(CURL).unwrap();
        assert_eq!(curl.compression, Compression::Xz);
        assert_eq!(curl.references.len(), 4);
        assert_eq!(
            curl.deriver.as_deref(),
            Some("5rwxzi7pal3qhpsyfc16gzkh939q1np6-curl-7.82.0.drv")
        );
        assert!(TrustedKeys::nixos_default().verify_narinfo(&curl));
        let baz = NarInfo::parse(BAZ).unwrap();
        let test_key = TrustedKeys::from_strings(&[
            "test-cache-1:L3rcIVChroQPyD4BbqO6127agxjNwWLh2AtUa9mzH1U=".to_owned(),
        ])
        .unwrap();
        assert!(test_key.verify_narinfo(&baz));
        assert!(!TrustedKeys::nixos_default().verify_narinfo(&baz));
    }

    #[test]
    fn legacy_quirks() {
        // Hex NarHash, no Compression, unsorted references, System, unknown key, unknown deriver.
        let text = "StorePath: /nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin
URL: nar/x.nar.bz2
NarHash: sha256:03e7f63be30b065d78bcf615f5473545fdb4eb69aa416f43495b4e05cdfb8040
NarSize: 128
References: yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n 0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0
Deriver: unknown-deriver
System: x86_64-linux
Future: whatever
";
        let info = NarInfo::parse(text).unwrap();
        assert_eq!(info.compression, Compression::Bzip2);
        assert_eq!(info.deriver, None);
        assert_eq!(info.system.as_deref(), Some("x86_64-linux"));
        assert!(info.fingerprint().ends_with(
            ";128;/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0,/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n"
        ));
        assert!(info
            .fingerprint()
            .contains(";sha256:0h40zg6hakjv951nyhdad7mv9za56m3za5gnpiw5s1hbwcxzdrq3;"));
        let again = NarInfo::parse(&info.to_string()).unwrap();
        assert_eq!(again, info);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                BAZ.replace("NarSize: 160", "NarSize: -1"),
                "line 7: `NarSize` value `-1`",
            ),
            (BAZ.replace("URL: nar", "URL nar"), "line 2: `URL nar"),
            (
                BAZ.replace("StorePath: /nix/store/5x", "StorePath: /nix/store/ex"),
                "line 1: ",
            ),
            (
                format!("{BAZ}NarSize: 160\n"),
                "line 11: `NarSize` is given more than once",
            ),
            (BAZ.replace("NarSize: 160\n", ""), "`NarSize` is missing"),
            (BAZ.replace("NarSize: 160", "NarSize: 0"), "`NarSize` is 0"),
            (
                BAZ.trim_end().to_owned(),
                "line 10: the last line does not end",
            ),
            (
                BAZ.replace("Sig: test-cache-1:", "Sig: test-cache-1"),
                "line 9: `Sig`",
            ),
            (
                BAZ.replace("NarHash: sha256:0m", "NarHash: sha256:e"),
                "line 6: `NarHash`",
            ),
            (
                BAZ.replace("References: vx", "References: ex"),
                "line 8: `References`",
            ),
        ];
        for (text, expected) in cases {
            let e = NarInfo::parse(&text).unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        }
    }

    #[test]
    fn oversized_texts_are_refused_before_parsing() {
        let many_sigs = BAZ.to_string() + &"Sig: k:AAAA\n".repeat(2000);
        let e = NarInfo::parse(&many_sigs).unwrap_err();
        assert_eq!(e.line, crate::limits::MAX_NARINFO_LINES + 1);
        assert!(e.to_string().contains("more than 1024 lines"), "{e}");
        let huge = format!("StoreDir: /nix/store\nX: {}\n", "x".repeat(2 << 20));
        let e = CacheInfo::parse(&huge).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is larger than 1 MiB, more than any narinfo"
        );
    }

    #[test]
    fn cache_info() {
        let info =
            CacheInfo::parse("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n").unwrap();
        assert_eq!(
            info,
            CacheInfo {
                store_dir: "/nix/store".into(),
                want_mass_query: true,
                priority: Some(40)
            }
        );
        assert_eq!(CacheInfo::parse(&info.to_string()).unwrap(), info);
        assert_eq!(
            CacheInfo::parse("junk\nStoreDir: /nix/store\n").unwrap(),
            CacheInfo::default()
        );
        assert!(CacheInfo::parse("Priority: high\n")
            .unwrap_err()
            .to_string()
            .contains("line 1"));
    }
}
