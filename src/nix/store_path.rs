//! Store paths: `/nix/store/<hash32>-<name>`, how to parse them and how Nix computes them.
//!
//! The hash part is 20 bytes printed as 32 nix32 characters. The name is 1..=211 bytes from
//! `[A-Za-z0-9+-._?=]`, and (like current Nix) neither `.`/`..` nor starting with `.-`/`..-`.
//!
//! Computing a path (`makeStorePath`): the digest is the XOR-fold to 20 bytes of
//! `sha256("<type>:sha256:<inner hex>:/nix/store:<name>")`, where
//!
//! | kind | type | inner digest |
//! |---|---|---|
//! | `nix-store --add`, NAR-hash CA | `source` + `:<ref>`… + `:self` | sha256 of the NAR |
//! | `builtins.toFile`, `.drv`, text CA | `text` + `:<ref>`… | sha256 of the contents |
//! | flat fixed output | `output:out` | sha256 of `fixed:out:sha256:<hex>:` |
//! | recursive fixed output, sha256 | `source` (no refs) | the NAR sha256 |
//! | input-addressed output `id` | `output:<id>` | the derivation's hash modulo |
//!
//! References are full printed paths, sorted. The logical store directory is always
//! `/nix/store`: hashes depend on it, so a store rooted elsewhere keeps these names.

use std::cmp::Ordering;
use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;

use super::hash::Sha256Hash;
use super::nixbase32;

/// The logical store directory every path is computed against.
pub const STORE_DIR: &str = "/nix/store";
/// Length of the printed hash part.
pub const HASH_PART_LEN: usize = 32;
/// Longest allowed name, in bytes.
pub const MAX_NAME_LEN: usize = 211;

/// Why a string is not a store path.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StorePathError {
    #[error("store path `{0}` is not inside `/nix/store/`")]
    NotInStore(String),
    #[error("store path `{0}` is too short to hold a 32-character hash and a name")]
    TooShort(String),
    #[error("store path `{0}` has an invalid hash part: {1}")]
    BadHash(String, String),
    #[error("store path `{0}` must have `-` after the 32-character hash")]
    MissingDash(String),
    #[error("store path name `{name}` is invalid: {reason}")]
    BadName { name: String, reason: &'static str },
}

/// A path directly inside the store, without the store directory.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StorePath {
    pub digest: [u8; 20],
    pub name: String,
}

impl StorePath {
    /// Builds a path from a digest and a name, validating the name.
    pub fn new(digest: [u8; 20], name: &str) -> Result<Self, StorePathError> {
        validate_name(name)?;
        Ok(StorePath {
            digest,
            name: name.to_owned(),
        })
    }

    /// Parses `/nix/store/<hash>-<name>`. A trailing sub-path is not allowed.
    pub fn parse_absolute(s: &str) -> Result<Self, StorePathError> {
        let base = s
            .strip_prefix(STORE_DIR)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| StorePathError::NotInStore(s.to_owned()))?;
        if base.contains('/') {
            return Err(StorePathError::BadName {
                name: base.to_owned(),
                reason: "it contains `/`",
            });
        }
        Self::parse_base_name(base)
    }

    /// Parses `<hash>-<name>`.
    pub fn parse_base_name(s: &str) -> Result<Self, StorePathError> {
        if s.len() < HASH_PART_LEN + 2 || !s.is_char_boundary(HASH_PART_LEN) {
            return Err(StorePathError::TooShort(s.to_owned()));
        }
        let (hash, rest) = s.split_at(HASH_PART_LEN);
        let digest = nixbase32::decode_fixed::<20>(hash)
            .map_err(|e| StorePathError::BadHash(s.to_owned(), e.to_string()))?;
        let name = rest
            .strip_prefix('-')
            .ok_or_else(|| StorePathError::MissingDash(s.to_owned()))?;
        Self::new(digest, name)
    }

    /// `/nix/store/<hash>-<name>`.
    pub fn to_absolute(&self) -> String {
        format!("{STORE_DIR}/{}", self.base_name())
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> String {
        format!("{}-{}", self.hash_part(), self.name)
    }

    /// The 32-character nix32 hash part (the narinfo file name in a binary cache).
    pub fn hash_part(&self) -> String {
        nixbase32::encode(&self.digest)
    }

    /// A path added with `nix-store --add` (or any NAR-hash content address): type `source`.
    pub fn make_source(
        name: &str,
        nar_hash: &Sha256Hash,
        references: &[StorePath],
        self_ref: bool,
    ) -> Result<Self, StorePathError> {
        let ty = make_type("source", references, self_ref);
        make_store_path(&ty, nar_hash, name)
    }

    /// A text path (`builtins.toFile`, `.drv` files): type `text`, never self-referencing.
    pub fn make_text(
        name: &str,
        content_hash: &Sha256Hash,
        references: &[StorePath],
    ) -> Result<Self, StorePathError> {
        let ty = make_type("text", references, false);
        make_store_path(&ty, content_hash, name)
    }

    /// A fixed-output path (`nix-store --add-fixed [--recursive] sha256`). `hash` is the sha256
    /// of the file (flat) or of its NAR (recursive).
    pub fn make_fixed_output(
        name: &str,
        hash: &Sha256Hash,
        recursive: bool,
    ) -> Result<Self, StorePathError> {
        if recursive {
            return make_store_path("source", hash, name);
        }
        let inner = Sha256Hash::digest(format!("fixed:out:sha256:{}:", hash.to_hex()));
        make_store_path("output:out", &inner, name)
    }

    /// An input-addressed derivation output: `output_id` of the derivation named `drv_name`
    /// (without `.drv`), whose hash modulo is `drv_hash`. Outputs other than `out` get the
    /// output id appended to the name.
    pub fn make_output(
        drv_name: &str,
        output_id: &str,
        drv_hash: &Sha256Hash,
    ) -> Result<Self, StorePathError> {
        let name = if output_id == "out" {
            drv_name.to_owned()
        } else {
            format!("{drv_name}-{output_id}")
        };
        make_store_path(&format!("output:{output_id}"), drv_hash, &name)
    }
}

fn make_type(kind: &str, references: &[StorePath], self_ref: bool) -> String {
    let mut refs: Vec<String> = references.iter().map(StorePath::to_absolute).collect();
    refs.sort();
    refs.dedup();
    let mut ty = kind.to_owned();
    for r in refs {
        ty.push(':');
        ty.push_str(&r);
    }
    if self_ref {
        ty.push_str(":self");
    }
    ty
}

fn make_store_path(ty: &str, inner: &Sha256Hash, name: &str) -> Result<StorePath, StorePathError> {
    validate_name(name)?;
    let fingerprint = format!("{ty}:sha256:{}:{STORE_DIR}:{name}", inner.to_hex());
    let h: [u8; 32] = Sha256::digest(fingerprint.as_bytes()).into();
    Ok(StorePath {
        digest: compress_hash(&h),
        name: name.to_owned(),
    })
}

/// Nix's `compressHash`: XOR-fold a digest to 20 bytes.
pub fn compress_hash(h: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in h.iter().enumerate() {
        out[i % 20] ^= b;
    }
    out
}

/// Checks the store-path name rules.
pub fn validate_name(name: &str) -> Result<(), StorePathError> {
    let bad = |reason| {
        Err(StorePathError::BadName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 211 bytes");
    }
    if let Some(c) = name
        .bytes()
        .find(|c| !(c.is_ascii_alphanumeric() || b"+-._?=".contains(c)))
    {
        let _ = c;
        return bad("it may only contain letters, digits and `+ - . _ ? =`");
    }
    let first = name.split('-').next().unwrap_or("");
    if first == "." || first == ".." {
        return bad("it may not be `.` or `..` or start with `.-` or `..-`");
    }
    Ok(())
}

// Nix orders store paths by their printed base name; fingerprints and `References:` rely on it.
impl Ord for StorePath {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hash_part()
            .cmp(&other.hash_part())
            .then_with(|| self.name.cmp(&other.name))
    }
}

impl PartialOrd for StorePath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_absolute())
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({})", self.to_absolute())
    }
}

impl std::str::FromStr for StorePath {
    type Err = StorePathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_absolute(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn print_parse_round_trip(digest in any::<[u8; 20]>(), name in "[a-zA-Z0-9+_?=][a-zA-Z0-9+._?=-]{0,210}") {
            let p = StorePath::new(digest, &name).unwrap();
            prop_assert_eq!(StorePath::parse_absolute(&p.to_absolute()).unwrap(), p.clone());
            prop_assert_eq!(StorePath::parse_base_name(&p.base_name()).unwrap(), p);
        }
    }

    fn sp(s: &str) -> StorePath {
        StorePath::parse_absolute(s).unwrap()
    }

    fn h(s: &str) -> Sha256Hash {
        Sha256Hash::parse(s).unwrap()
    }

    #[test]
    fn parse_and_print() {
        let p = StorePath::parse_base_name(
            "00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432",
        )
        .unwrap();
        assert_eq!(
            crate::nix::hash::hex(&p.digest),
            "8a12321522fd91efbd60ebb2481af88580f61600"
        );
        assert_eq!(p.name, "net-tools-1.60_p20170221182432");
        assert_eq!(
            p.to_absolute(),
            "/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432"
        );
        assert!(StorePath::parse_base_name("fli4bwscgna7lpm7v5xgnjxrxh0yc7ra-.gitignore").is_ok());
    }

    #[test]
    fn rejects_bad_paths() {
        let base = "00bgd045z0d4icpbc2yyz4gx48ak44la";
        for bad in [
            format!("/tmp/{base}-x"),
            format!("/nix/store/{base}-x/bin"),
            format!("/nix/store/{base}x"),
            format!("/nix/store/{base}-"),
            format!("/nix/store/{base}-a b"),
            format!("/nix/store/{base}-.."),
            format!("/nix/store/{base}-.-foo"),
            format!("/nix/store/{}-{}", base, "a".repeat(212)),
            "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x".to_owned(),
            "/nix/store/short-x".to_owned(),
        ] {
            assert!(StorePath::parse_absolute(&bad).is_err(), "{bad}");
        }
        assert!(
            StorePath::parse_absolute(&format!("/nix/store/{}-{}", base, "a".repeat(211))).is_ok()
        );
    }

    #[test]
    fn text_paths() {
        let foo = StorePath::make_text("foo", &Sha256Hash::digest("bar"), &[]).unwrap();
        assert_eq!(
            foo.to_absolute(),
            "/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo"
        );
        let baz = StorePath::make_text(
            "baz",
            &Sha256Hash::digest(foo.to_absolute()),
            std::slice::from_ref(&foo),
        )
        .unwrap();
        assert_eq!(
            baz.to_absolute(),
            "/nix/store/5xd714cbfnkz02h2vbsj4fm03x3f15nf-baz"
        );
    }

    #[test]
    fn source_and_fixed_paths() {
        let nar = h("sha256:03e7f63be30b065d78bcf615f5473545fdb4eb69aa416f43495b4e05cdfb8040");
        assert_eq!(
            StorePath::make_source("hello.txt", &nar, &[], false)
                .unwrap()
                .to_absolute(),
            "/nix/store/925f1jb1ajrypjbyq7rylwryqwizvhp0-hello.txt"
        );
        let flat = h("sha256:7f83b1657ff1fc53b92dc18148a1d65dfc2d4b1fa3d677284addd200126d9069");
        assert_eq!(
            StorePath::make_fixed_output("hello.txt", &flat, false)
                .unwrap()
                .to_absolute(),
            "/nix/store/z304n4ccbya3lf8bq20sl2zhmzd3lx1a-hello.txt"
        );
        let tree = h("sha256:b3991d7ca43d752310297e75c57839f182875d3bf4cc78271f92e85211585908");
        assert_eq!(
            StorePath::make_source("tree", &tree, &[], false)
                .unwrap()
                .to_absolute(),
            "/nix/store/lhqvsq9vrmc8ff27d57x28y0hfviaybr-tree"
        );
        let baz = StorePath::make_source(
            "baz",
            &h("sha256:1xqkzcb3909fp07qngljr4wcdnrh1gdam1m2n29i6hhrxlmkgkv1"),
            &[sp("/nix/store/dxwkwjzdaq7ka55pkk252gh32bgpmql4-foo")],
            false,
        )
        .unwrap();
        assert_eq!(
            baz.to_absolute(),
            "/nix/store/s89y431zzhmdn3k8r96rvakryddkpv2v-baz"
        );
        let foo = StorePath::make_source(
            "foo",
            &h("sha256:1lr187v6dck1rjh2j6svpikcfz53wyl3qrlcbb405zlh13x0khhh"),
            &[sp("/nix/store/g1w7hy3qg1w7hy3qg1w7hy3qg1w7hy3q-bar")],
            true,
        )
        .unwrap();
        assert_eq!(
            foo.to_absolute(),
            "/nix/store/n5wkd9frr45pa74if5gpz9j7mifg27fh-foo"
        );
    }

    #[test]
    fn output_names() {
        let d = Sha256Hash::digest("x");
        assert_eq!(
            StorePath::make_output("hello", "out", &d).unwrap().name,
            "hello"
        );
        assert_eq!(
            StorePath::make_output("hello", "man", &d).unwrap().name,
            "hello-man"
        );
    }

    #[test]
    fn ordering_is_by_base_name() {
        let a = sp("/nix/store/0jqd0rlxzra1rs38rdxl43yh6rxchgc6-curl-7.82.0");
        let b = sp("/nix/store/6w8g7njm4mck5dmjxws0z1xnrxvl81xa-glibc-2.34-115");
        let z = sp("/nix/store/yxvjs9drzsphm9pcf42a4byzj1kb9m7k-openssl-1.1.1n");
        let mut v = vec![z.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, vec![a, b, z]);
    }
}
