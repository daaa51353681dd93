//! Ed25519 signing keys and narinfo signatures, as Nix's `nix-store --generate-binary-cache-key`,
//! `nix store sign` and substitution use them.
//!
//! * Secret key: `<name>:<base64 of 64 bytes>`, the bytes being libsodium's secret key,
//!   i.e. the 32-byte seed followed by the 32-byte public key.
//! * Public key: `<name>:<base64 of 32 bytes>`.
//! * Signature: `<key name>:<base64 of the 64-byte ed25519 signature>` over a path's
//!   fingerprint `1;<path>;sha256:<nar nix32>;<nar size>;<sorted comma-joined references>`
//!   (see [`NarInfo::fingerprint`]).
//!
//! A signature counts only if a trusted key with the *same name* verifies it; signatures by
//! unknown key names are ignored, as Nix does. Verification is strict (RFC 8032 with the
//! small-order and malleability checks libsodium applies).

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use thiserror::Error;

use super::narinfo::NarInfo;

/// The public key of cache.nixos.org, trusted by default.
pub const CACHE_NIXOS_ORG_1: &str =
    "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

/// Why a key or signature string could not be read. The value is never echoed for secret keys.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{what} `{value}` is not of the form `<name>:<base64>`")]
    Shape { what: &'static str, value: String },
    #[error("{what} `{value}` has invalid base64")]
    Base64 { what: &'static str, value: String },
    #[error("{what} `{value}` decodes to {got} bytes, expected {expected}")]
    Length {
        what: &'static str,
        value: String,
        got: usize,
        expected: usize,
    },
    #[error("secret key `{name}:…` is malformed: its public half does not match its seed")]
    Mismatch { name: String },
    #[error("public key `{0}` is not a valid ed25519 point")]
    BadPoint(String),
}

fn split<'a, const N: usize>(
    what: &'static str,
    s: &'a str,
    shown: &str,
) -> Result<(&'a str, [u8; N]), KeyError> {
    let (name, b64) = s.split_once(':').ok_or_else(|| KeyError::Shape {
        what,
        value: shown.to_owned(),
    })?;
    if name.is_empty() || b64.is_empty() {
        return Err(KeyError::Shape {
            what,
            value: shown.to_owned(),
        });
    }
    let bytes = B64.decode(b64.trim_end()).map_err(|_| KeyError::Base64 {
        what,
        value: shown.to_owned(),
    })?;
    let arr = <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length {
        what,
        value: shown.to_owned(),
        got: bytes.len(),
        expected: N,
    })?;
    Ok((name, arr))
}

/// A named ed25519 signature.
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    pub key_name: String,
    pub bytes: [u8; 64],
}

impl Signature {
    /// Parses `<key name>:<base64>`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, bytes) = split::<64>("signature", s, s)?;
        Ok(Signature {
            key_name: name.to_owned(),
            bytes,
        })
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.key_name, B64.encode(self.bytes))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

/// A named signing key.
#[derive(Clone)]
pub struct SecretKey {
    pub name: String,
    key: SigningKey,
}

impl SecretKey {
    /// Parses `<name>:<base64 of seed ‖ public>` (the file `nix-store --generate-binary-cache-key`
    /// writes). Trailing whitespace is tolerated, since key files often end in a newline.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        // Never echo key material: only the name, and nothing at all when there is no `:`
        // to tell the name from the rest.
        let shown = match s.split_once(':') {
            Some((name, _)) => format!("{name}:…"),
            None => "…".to_owned(),
        };
        let (name, bytes) = split::<64>("secret key", s, &shown)?;
        let key = SigningKey::from_keypair_bytes(&bytes).map_err(|_| KeyError::Mismatch {
            name: name.to_owned(),
        })?;
        Ok(SecretKey {
            name: name.to_owned(),
            key,
        })
    }

    /// A fresh random key, its seed straight from the operating system's generator.
    pub fn generate(name: &str) -> Self {
        use rand::TryRng as _;
        let mut seed = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut seed)
            .expect("the operating system's random number generator failed");
        SecretKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
        }
    }

    /// Signs a fingerprint.
    pub fn sign(&self, fingerprint: &str) -> Signature {
        Signature {
            key_name: self.name.clone(),
            bytes: self.key.sign(fingerprint.as_bytes()).to_bytes(),
        }
    }

    /// Signs a narinfo's fingerprint and appends the signature to it.
    pub fn sign_narinfo(&self, info: &mut NarInfo) {
        let sig = self.sign(&info.fingerprint());
        info.sigs.retain(|s| s.key_name != self.name);
        info.sigs.push(sig);
    }

    /// The key file text `<name>:<base64 seed ‖ public>`.
    pub fn to_key_file(&self) -> String {
        format!("{}:{}", self.name, B64.encode(self.key.to_keypair_bytes()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}:…)", self.name)
    }
}

/// A named verifying key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses `<name>:<base64 of 32 bytes>`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let (name, bytes) = split::<32>("public key", s, s)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPoint(s.to_owned()))?;
        Ok(PublicKey {
            name: name.to_owned(),
            key,
        })
    }

    /// Whether `sig` is this key's valid signature of `fingerprint`.
    pub fn verify(&self, fingerprint: &str, sig: &Signature) -> bool {
        sig.key_name == self.name
            && self
                .key
                .verify_strict(
                    fingerprint.as_bytes(),
                    &ed25519_dalek::Signature::from_bytes(&sig.bytes),
                )
                .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, B64.encode(self.key.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// The set of keys whose signatures are accepted, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: BTreeMap<String, PublicKey>,
}

impl TrustedKeys {
    /// Parses each `<name>:<base64>` string; a later key with the same name replaces an earlier one.
    pub fn from_strings(keys: &[String]) -> Result<Self, KeyError> {
        let mut set = TrustedKeys::default();
        for k in keys {
            set.insert(PublicKey::parse(k)?);
        }
        Ok(set)
    }

    /// Only the built-in cache.nixos.org key.
    pub fn nixos_default() -> Self {
        let mut set = TrustedKeys::default();
        set.insert(PublicKey::parse(CACHE_NIXOS_ORG_1).expect("built-in key is valid"));
        set
    }

    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.name.clone(), key);
    }

    /// Whether any of `sigs` is a valid signature of `fingerprint` by a trusted key.
    pub fn verify(&self, fingerprint: &str, sigs: &[Signature]) -> bool {
        sigs.iter().any(|sig| {
            self.keys
                .get(&sig.key_name)
                .is_some_and(|k| k.verify(fingerprint, sig))
        })
    }

    /// Whether the narinfo carries at least one valid signature by a trusted key.
    pub fn verify_narinfo(&self, info: &NarInfo) -> bool {
        self.verify(&info.fingerprint(), &info.sigs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURL_FP: &str = "1;/nix/store/syd87l2rxw8cbsxmxl853h0r6pdwhwjr-curl-7.82.0-bin;sha256:1b4sb93wp679q4zx9k1ignby1yna3z7c4c2ri3wphylbc2dwsys0;196040;/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0,/nix/store/6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115,/nix/store/j5jxw3iy7bbz4a57fh9g2xm2gxmyal8h-zlib-1.2.12,/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n";
    const CURL_SIG: &str = "cache.nixos.org-1:TsTTb3WGTZKphvYdBHXwo6weVILmTytUjLB+vcX89fOjjRicCHmKA4RCPMVLkj6TMJ4GMX3HPVWRdD1hkeKZBQ==";
    const TEST_SK: &str = "test-cache-1:6UI9w9bbqI+8SJtWtgU+FF2051BamHm6fyaROzHa+K4vetwhUKGuhA/IPgFuo7rXbtqDGM3BYuHYC1Rr2bMfVQ==";
    const TEST_PK: &str = "test-cache-1:L3rcIVChroQPyD4BbqO6127agxjNwWLh2AtUa9mzH1U=";

    #[test]
    fn cache_nixos_org_signature_verifies() {
        let keys = TrustedKeys::nixos_default();
        let sig = Signature::parse(CURL_SIG).unwrap();
        assert!(keys.verify(CURL_FP, std::slice::from_ref(&sig)));
        assert!(!keys.verify(
            &CURL_FP.replace("196040", "196041"),
            std::slice::from_ref(&sig)
        ));
        let renamed = Signature {
            key_name: "cache.nixos.org".into(),
            ..sig.clone()
        };
        assert!(!keys.verify(CURL_FP, &[renamed]));
        assert_eq!(sig.to_string(), CURL_SIG);
        let test1 = PublicKey::parse("test1:tLAEn+EeaBUJYqEpTd2yeerr7Ic6+0vWe+aXL/vYUpE=").unwrap();
        let sig1 = Signature::parse("test1:519iiVLx/c4Rdt5DNt6Y2Jm6hcWE9+XY69ygiWSZCNGVcmOcyL64uVAJ3cV8vaTusIZdbTnYo9Y7vDNeTmmMBQ==").unwrap();
        assert!(test1.verify(CURL_FP, &sig1));
    }

    #[test]
    fn signing_reproduces_nix() {
        let sk = SecretKey::parse(TEST_SK).unwrap();
        assert_eq!(sk.public().to_string(), TEST_PK);
        assert_eq!(sk.to_key_file(), TEST_SK);
        let fp = "1;/nix/store/925f1jb1ajrypjbyq7rylwryqwizvhp0-hello.txt;sha256:0h40zg6hakjv951nyhdad7mv9za56m3za5gnpiw5s1hbwcxzdrq3;128;";
        assert_eq!(
            sk.sign(fp).to_string(),
            "test-cache-1:gHqzOnjZctWnfm/zVD+d0fQcNIQ+h2qjvfQOnNhYUQGsrgUsNYythJ0YDikqrM90oW/AwxysKIx6S4UGJ6rrAA=="
        );
    }

    #[test]
    fn generated_keys_round_trip() {
        let sk = SecretKey::generate("mine-1");
        let again = SecretKey::parse(&format!("{}\n", sk.to_key_file())).unwrap();
        let sig = again.sign("hello");
        assert!(sk.public().verify("hello", &sig));
        let pk = PublicKey::parse(&sk.public().to_string()).unwrap();
        assert!(pk.verify("hello", &sig));
        assert!(!pk.verify("hello!", &sig));
    }

    #[test]
    fn rejects_malformed_keys() {
        assert!(matches!(
            PublicKey::parse("nocolon"),
            Err(KeyError::Shape { .. })
        ));
        assert!(matches!(
            PublicKey::parse("n:!!!"),
            Err(KeyError::Base64 { .. })
        ));
        assert!(matches!(
            PublicKey::parse("n:AAAA"),
            Err(KeyError::Length { .. })
        ));
        assert!(matches!(
            Signature::parse(":AAAA"),
            Err(KeyError::Shape { .. })
        ));
        let err = SecretKey::parse("k:AAAA").unwrap_err().to_string();
        assert!(
            !err.contains("AAAA"),
            "secret material must not be echoed: {err}"
        );
        // Without a `:` there is no name to show, and the whole text may be the secret.
        let err = SecretKey::parse("6UI9w9bbqI+8SJtWtgU+FF2051Bam")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("6UI9w9"), "secret material echoed: {err}");
        assert!(err.contains("`<name>:<base64>`"), "{err}");
        // A secret key whose public half was tampered with.
        let mut bytes = B64.decode(TEST_SK.split_once(':').unwrap().1).unwrap();
        bytes[40] ^= 1;
        assert!(matches!(
            SecretKey::parse(&format!("k:{}", B64.encode(bytes))),
            Err(KeyError::Mismatch { .. })
        ));
    }
}
