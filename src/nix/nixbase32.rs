//! Nix's own base32 ("nix32"), used in store-path hash parts and in `sha256:` strings.
//!
//! Alphabet (no `e o u t`): `0123456789abcdfghijklmnpqrsvwxyz`; no padding; `n` bytes encode to
//! `ceil(8n/5)` characters. The bit order is Nix's: output character `k` (counting from the
//! *end* of the string) holds bits `5k..5k+5` of the input read as a little-endian bit string,
//! so the first character encodes the highest bits of the last byte.
//!
//! Decoding is strict, like Nix's `Hash` parser: a character outside the alphabet is rejected,
//! and so is an encoding whose leftover high bits (the "carry" past the last byte) are not zero,
//! because such a string has no canonical byte form and accepting it would let two strings name
//! the same hash.

use thiserror::Error;

/// The 32 characters of nix32, in value order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Why a string is not valid nix32.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("character `{ch}` at position {pos} is not in the nix32 alphabet")]
    InvalidChar { ch: char, pos: usize },
    #[error("nix32 string has non-zero bits past the last byte")]
    NonZeroCarry,
    #[error("nix32 string has length {got}, expected {expected}")]
    InvalidLength { got: usize, expected: usize },
}

/// Number of nix32 characters needed for `len` bytes.
pub const fn encode_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len * 8 - 1) / 5 + 1
    }
}

/// Number of bytes an `len`-character nix32 string decodes to (the inverse of [`encode_len`]).
pub const fn decode_len(len: usize) -> usize {
    len * 5 / 8
}

/// Encodes bytes as nix32.
pub fn encode(input: &[u8]) -> String {
    let len = encode_len(input.len());
    let mut out = String::with_capacity(len);
    for k in (0..len).rev() {
        let b = k * 5;
        let i = b / 8;
        let j = b % 8;
        let lo = input[i] >> j;
        let hi = if i + 1 < input.len() {
            // j may be 0, where the shift is 8 and contributes nothing after masking.
            ((input[i + 1] as u16) << (8 - j)) as u8
        } else {
            0
        };
        out.push(ALPHABET[((lo | hi) & 0x1f) as usize] as char);
    }
    out
}

fn digit(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Decodes a nix32 string into `decode_len(s.len())` bytes, strictly.
pub fn decode(s: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = s.as_bytes();
    let out_len = decode_len(bytes.len());
    if encode_len(out_len) != bytes.len() {
        return Err(DecodeError::InvalidLength {
            got: bytes.len(),
            expected: encode_len(out_len),
        });
    }
    // Check characters first, so an error names a whole (possibly multi-byte) character.
    let invalid = s
        .char_indices()
        .find(|&(_, c)| !c.is_ascii() || digit(c as u8).is_none());
    if let Some((pos, ch)) = invalid {
        return Err(DecodeError::InvalidChar { ch, pos });
    }
    let mut out = vec![0u8; out_len];
    for (n, &c) in bytes.iter().rev().enumerate() {
        let d = digit(c).unwrap_or(0);
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        out[i] |= d << j;
        let carry = ((d as u16) >> (8 - j)) as u8;
        if i + 1 < out_len {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return Err(DecodeError::NonZeroCarry);
        }
    }
    Ok(out)
}

/// Decodes a nix32 string that must encode exactly `N` bytes.
pub fn decode_fixed<const N: usize>(s: &str) -> Result<[u8; N], DecodeError> {
    if s.len() != encode_len(N) {
        return Err(DecodeError::InvalidLength {
            got: s.len(),
            expected: encode_len(N),
        });
    }
    let v = decode(s)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&v);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn vectors() {
        let cases = [
            ("", ""),
            ("1f", "0z"),
            (
                "8a12321522fd91efbd60ebb2481af88580f61600",
                "00bgd045z0d4icpbc2yyz4gx48ak44la",
            ),
            (
                "b3a24de97a8fdbc835b9833169501030b8977031bcb54b3b3ac13740f846ab30",
                "0c5b8vw40dy178xlpddw65q9gf1h2186jcc3p4swinwggbllv8mk",
            ),
        ];
        for (hex, nix) in cases {
            assert_eq!(encode(&unhex(hex)), nix);
            assert_eq!(decode(nix).unwrap(), unhex(hex));
        }
    }

    #[test]
    fn rejects_carry_length_and_chars() {
        assert_eq!(decode("zz"), Err(DecodeError::NonZeroCarry));
        assert_eq!(decode("c0"), Err(DecodeError::NonZeroCarry));
        assert!(matches!(
            decode("0"),
            Err(DecodeError::InvalidLength { .. })
        ));
        assert!(matches!(
            decode("0zz"),
            Err(DecodeError::InvalidLength { .. })
        ));
        assert_eq!(
            decode("0e"),
            Err(DecodeError::InvalidChar { ch: 'e', pos: 1 })
        );
        assert_eq!(
            decode("\u{e9}"),
            Err(DecodeError::InvalidChar {
                ch: '\u{e9}',
                pos: 0
            })
        );
        assert!(decode_fixed::<20>("00bgd045z0d4icpbc2yyz4gx48ak44la").is_ok());
        assert!(decode_fixed::<32>("00bgd045z0d4icpbc2yyz4gx48ak44la").is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let s = encode(&bytes);
            prop_assert_eq!(s.len(), encode_len(bytes.len()));
            prop_assert_eq!(decode(&s).unwrap(), bytes);
        }
    }
}
