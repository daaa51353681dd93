//! SHA-256 digests as Nix writes them, and a streaming hasher.
//!
//! Nix prints the same digest three ways: base16 (`sha256:<64 hex>`, in its SQLite database),
//! nix32 (`sha256:<52 chars>`, in narinfo, CA fields and signature fingerprints) and SRI
//! (`sha256-<base64>`). Like Nix's `Hash::parseAnyPrefixed`, [`Sha256Hash::parse`] infers the
//! encoding from the length of the text after the `sha256:` prefix (64 = hex, 52 = nix32,
//! 44 = base64). Old cache.nixos.org narinfos still carry hex, so all forms must be read.

use std::fmt;
use std::io::{self, Write};

use base64::Engine;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::nixbase32;

/// Why a hash string could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HashError {
    #[error("hash `{0}` does not start with `sha256:` or `sha256-`")]
    UnknownAlgorithm(String),
    #[error("hash `{0}` has a length that is neither hex (64), nix32 (52) nor base64 (44)")]
    BadLength(String),
    #[error("hash `{value}` is not valid {encoding}")]
    BadEncoding {
        value: String,
        encoding: &'static str,
    },
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hash(pub [u8; 32]);

impl Sha256Hash {
    /// Hashes a byte slice.
    pub fn digest(data: impl AsRef<[u8]>) -> Self {
        Sha256Hash(Sha256::digest(data.as_ref()).into())
    }

    /// Lower-case base16.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Nix base32 (52 characters).
    pub fn to_nix32(&self) -> String {
        nixbase32::encode(&self.0)
    }

    /// `sha256:<hex>`, the form Nix stores in its database.
    pub fn display_hex(&self) -> String {
        format!("sha256:{}", self.to_hex())
    }

    /// SRI form `sha256-<base64>`.
    pub fn to_sri(&self) -> String {
        format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }

    /// `sha256:<nix32>`, the form Nix writes in narinfo files and fingerprints.
    pub fn display_nix(&self) -> String {
        format!("sha256:{}", self.to_nix32())
    }

    /// Parses `sha256:<hex|nix32|base64>` or SRI `sha256-<base64>`.
    pub fn parse(s: &str) -> Result<Self, HashError> {
        if let Some(b64) = s.strip_prefix("sha256-") {
            return Self::from_base64(b64).ok_or_else(|| HashError::BadEncoding {
                value: s.to_owned(),
                encoding: "base64",
            });
        }
        let rest = s
            .strip_prefix("sha256:")
            .ok_or_else(|| HashError::UnknownAlgorithm(s.to_owned()))?;
        Self::parse_unprefixed(rest).map_err(|e| match e {
            HashError::BadLength(_) => HashError::BadLength(s.to_owned()),
            HashError::BadEncoding { encoding, .. } => HashError::BadEncoding {
                value: s.to_owned(),
                encoding,
            },
            other => other,
        })
    }

    /// Parses a bare digest in hex, nix32 or base64, inferring the encoding from the length.
    pub fn parse_unprefixed(s: &str) -> Result<Self, HashError> {
        let bad = |encoding| HashError::BadEncoding {
            value: s.to_owned(),
            encoding,
        };
        match s.len() {
            64 => unhex(s).map(Sha256Hash).ok_or_else(|| bad("hex")),
            52 => nixbase32::decode_fixed::<32>(s)
                .map(Sha256Hash)
                .map_err(|_| bad("nix32")),
            44 => Self::from_base64(s).ok_or_else(|| bad("base64")),
            _ => Err(HashError::BadLength(s.to_owned())),
        }
    }

    fn from_base64(s: &str) -> Option<Self> {
        let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        <[u8; 32]>::try_from(v.as_slice()).ok().map(Sha256Hash)
    }
}

impl fmt::Debug for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Hash({})", self.display_nix())
    }
}

impl fmt::Display for Sha256Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_nix())
    }
}

/// Lower-case base16 of any bytes.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for i in 0..32 {
        out[i] = (val(b[2 * i])? << 4) | val(b[2 * i + 1])?;
    }
    Some(out)
}

/// A writer that hashes and counts every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The digest and byte count of everything written, and the inner writer.
    pub fn finish(self) -> (Sha256Hash, u64, W) {
        (
            Sha256Hash(self.hasher.finalize().into()),
            self.count,
            self.inner,
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "03e7f63be30b065d78bcf615f5473545fdb4eb69aa416f43495b4e05cdfb8040";
    const NIX: &str = "0h40zg6hakjv951nyhdad7mv9za56m3za5gnpiw5s1hbwcxzdrq3";

    #[test]
    fn all_encodings_agree() {
        let h = Sha256Hash::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(h.to_hex(), HEX);
        assert_eq!(h.to_nix32(), NIX);
        assert_eq!(Sha256Hash::parse(&format!("sha256:{NIX}")).unwrap(), h);
        assert_eq!(Sha256Hash::parse(&h.to_sri()).unwrap(), h);
        let b64 = h.to_sri().trim_start_matches("sha256-").to_owned();
        assert_eq!(Sha256Hash::parse(&format!("sha256:{b64}")).unwrap(), h);
        assert_eq!(h.display_nix(), format!("sha256:{NIX}"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            Sha256Hash::parse("md5:abc"),
            Err(HashError::UnknownAlgorithm(_))
        ));
        assert!(matches!(
            Sha256Hash::parse("sha256:abc"),
            Err(HashError::BadLength(_))
        ));
        let bad_hex = format!("sha256:{}", "g".repeat(64));
        assert!(matches!(
            Sha256Hash::parse(&bad_hex),
            Err(HashError::BadEncoding {
                encoding: "hex",
                ..
            })
        ));
        assert!(Sha256Hash::parse("sha256-AAAA").is_err());
    }

    #[test]
    fn hashing_writer_hashes_counts_and_passes_through() {
        let data = b"Hello World!";
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(data).unwrap();
        let (h, n, inner) = w.finish();
        assert_eq!(
            (h, n, inner.as_slice()),
            (Sha256Hash::digest(data), 12, &data[..])
        );
    }
}
