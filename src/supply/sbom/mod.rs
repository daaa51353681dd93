//! Software bills of materials of a [`Closure`]: CycloneDX 1.6 JSON ([`cyclonedx`]) and SPDX 2.3
//! JSON ([`spdx`]).
//!
//! Both list one component per store path of the closure (name and version split from the store
//! name as Nix does, the NAR's SHA-256, licence and homepage where the index says), the nixpkgs
//! revision and attribute of the top-level packages, and the dependency graph from the store's
//! references. Nothing in them comes from the clock or the machine: the timestamp is the newest
//! nixpkgs commit date of the lock, and the document's identifier is a hash of its content, so
//! the same lock and store give the same bytes.

use sha2::{Digest, Sha256};

use super::closure::Closure;

pub mod cyclonedx;
pub mod spdx;

/// The SBOM formats `devenv sbom` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    CycloneDx,
    Spdx,
}

/// The SBOM of `closure` for the environment called `subject`, as pretty JSON with a final
/// newline.
pub fn render(closure: &Closure, subject: &str, format: Format) -> String {
    let value = match format {
        Format::CycloneDx => cyclonedx::document(closure, subject),
        Format::Spdx => spdx::document(closure, subject),
    };
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values always serialize");
    text.push('\n');
    text
}

/// A name-based UUID (version 5 layout) from everything the document says, so it changes exactly
/// when the content does.
fn content_uuid(closure: &Closure, subject: &str, format: &str) -> String {
    let mut h = Sha256::new();
    h.update(format.as_bytes());
    h.update([0]);
    h.update(subject.as_bytes());
    h.update([0]);
    h.update(closure.system.as_bytes());
    for r in &closure.roots {
        h.update([0]);
        h.update(r.key.as_bytes());
        h.update([0]);
        h.update(r.path.to_absolute().as_bytes());
        h.update([0]);
        h.update(r.resolved.as_bytes());
        h.update([0]);
        h.update(r.license.join(",").as_bytes());
        h.update([0]);
        h.update(r.homepage.as_deref().unwrap_or("").as_bytes());
    }
    for (path, facts) in &closure.paths {
        h.update([1]);
        h.update(path.as_bytes());
        h.update(facts.nar_hash.0);
        for r in &facts.references {
            h.update([2]);
            h.update(r.as_bytes());
        }
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Whether `s` reads as an SPDX licence identifier (letters, digits, `.`, `-`, `+`).
fn spdx_id_like(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}
