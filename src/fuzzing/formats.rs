//! Binary-cache texts and the encodings inside them: narinfo (with signatures), nix-cache-info,
//! nixbase32, hashes and store paths. Whatever parses prints back to text that parses to the
//! same value, and printing is canonical (a second round changes nothing).

use crate::nix::hash::Sha256Hash;
use crate::nix::narinfo::{CacheInfo, NarInfo};
use crate::nix::nixbase32;
use crate::nix::signature::{PublicKey, SecretKey, Signature, TrustedKeys};
use crate::nix::store_path::{self, StorePath};

/// A fixed signing key, so a run is reproducible (the key of the signature unit tests).
const FUZZ_KEY: &str = "test-cache-1:6UI9w9bbqI+8SJtWtgU+FF2051BamHm6fyaROzHa+K4vetwhUKGuhA/IPgFuo7rXbtqDGM3BYuHYC1Rr2bMfVQ==";

/// Parse `data` as a narinfo, as `nix-cache-info` and each line as a key or signature.
pub fn narinfo(data: &[u8]) {
    let text = super::text(data);
    match NarInfo::parse(&text) {
        Ok(info) => accepted_narinfo(&info),
        Err(e) => {
            assert!(
                e.line <= text.lines().count() + 1,
                "line {} of {text:?}",
                e.line
            );
            assert!(!e.message.is_empty());
        }
    }
    if let Ok(info) = CacheInfo::parse(&text) {
        let written = info.to_string();
        assert_eq!(
            CacheInfo::parse(&written).as_ref(),
            Ok(&info),
            "{written:?}"
        );
    }
    for line in text.lines() {
        let value = line.split_once(": ").map_or(line, |(_, v)| v);
        if let Ok(sig) = Signature::parse(value) {
            assert_eq!(Signature::parse(&sig.to_string()).as_ref(), Ok(&sig));
        }
        if let Ok(key) = PublicKey::parse(value) {
            assert_eq!(PublicKey::parse(&key.to_string()).as_ref(), Ok(&key));
        }
    }
}

fn accepted_narinfo(info: &NarInfo) {
    assert!(info.nar_size > 0, "an empty NAR was accepted");
    let written = info.to_string();
    let again = NarInfo::parse(&written)
        .unwrap_or_else(|e| panic!("what devenv writes does not parse: {e}\n{written}"));
    assert_eq!(&again, info, "the text round trip changed the narinfo");
    assert_eq!(again.to_string(), written, "writing is not canonical");

    let fingerprint = info.fingerprint();
    let head = format!(
        "1;{};{};{};",
        info.store_path.to_absolute(),
        info.nar_hash.display_nix(),
        info.nar_size
    );
    assert!(fingerprint.starts_with(&head), "{fingerprint}");
    let mut refs: Vec<String> = info.references.iter().map(|r| r.to_absolute()).collect();
    refs.sort();
    assert_eq!(fingerprint[head.len()..], refs.join(","));

    // A signature covers exactly the fingerprint: it survives the text round trip, and any
    // change to what the fingerprint covers breaks it.
    let key = SecretKey::parse(FUZZ_KEY).expect("the fuzz key parses");
    let mut trusted = TrustedKeys::default();
    trusted.insert(key.public());
    let mut signed = info.clone();
    key.sign_narinfo(&mut signed);
    assert!(trusted.verify_narinfo(&signed));
    let reread = NarInfo::parse(&signed.to_string()).expect("a signed narinfo parses");
    assert!(
        trusted.verify_narinfo(&reread),
        "the signature did not survive writing"
    );
    let mut changed = signed.clone();
    changed.nar_size = changed.nar_size.wrapping_add(1);
    assert!(
        !trusted.verify_narinfo(&changed),
        "a changed size still verifies"
    );
    let mut changed = signed.clone();
    changed.nar_hash.0[0] ^= 1;
    assert!(
        !trusted.verify_narinfo(&changed),
        "a changed hash still verifies"
    );
    // Whatever signatures the input carried, checking them is a clean yes or no; one by a key
    // nobody trusts never counts.
    let _ = trusted.verify_narinfo(info);
    assert!(!TrustedKeys::default().verify_narinfo(&signed));
}

/// nixbase32, hashes and store paths, both from the bytes (encoded) and from the text (parsed).
pub fn store_path(data: &[u8]) {
    let encoded = nixbase32::encode(data);
    assert_eq!(encoded.len(), nixbase32::encode_len(data.len()));
    assert_eq!(nixbase32::decode(&encoded).as_deref(), Ok(data));

    let text = super::text(data);
    // Decoding refuses non-zero carry bits, so every string has at most one decoding and
    // encoding it again gives the same string.
    if let Ok(bytes) = nixbase32::decode(&text) {
        assert_eq!(nixbase32::encode(&bytes), text);
    }
    if let Ok(h) = Sha256Hash::parse(&text) {
        for form in [h.display_nix(), h.display_hex(), h.to_sri()] {
            assert_eq!(Sha256Hash::parse(&form).as_ref(), Ok(&h), "{form}");
        }
    }
    for candidate in [
        text.to_string(),
        format!("{}/{text}", store_path::STORE_DIR),
    ] {
        if let Ok(p) = StorePath::parse_absolute(&candidate) {
            assert_eq!(p.to_absolute(), candidate);
            assert_eq!(StorePath::parse_base_name(&p.base_name()).as_ref(), Ok(&p));
            assert!(store_path::validate_name(&p.name).is_ok());
        }
    }
    if let Ok(p) = StorePath::parse_base_name(&text) {
        assert_eq!(p.base_name(), text);
        assert_eq!(p.hash_part().len(), store_path::HASH_PART_LEN);
    }
    // Any digest with the text as a name: valid exactly when the name is.
    let mut digest = [0u8; 20];
    let n = data.len().min(20);
    digest[..n].copy_from_slice(&data[..n]);
    match StorePath::new(digest, &text) {
        Ok(p) => {
            assert_eq!(StorePath::parse_absolute(&p.to_absolute()).as_ref(), Ok(&p));
        }
        Err(_) => assert!(store_path::validate_name(&text).is_err()),
    }
}
