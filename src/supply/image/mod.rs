//! OCI images of an environment, written without a container runtime: an OCI image layout as one
//! tar archive (`oci`), or the same archive with Docker's `manifest.json` so `docker load` reads
//! it (`docker`).
//!
//! Layers are uncompressed tars of store paths: one layer per store path, most referenced paths
//! first, and past [`MAX_LAYERS`] the least referenced paths share the last store layer (the
//! [`plan`] rule). On top comes the environment layer: the profile (a symlink farm with Nix's
//! `buildenv` rules) at `/env`, `/bin` pointing at `/env/bin` so `#!/bin/sh` scripts find the
//! environment's shell, and an empty `/tmp`. Every byte is fixed by the closure and the manifest
//! (mtimes, owners, order: see `supply::tar`), so two builds are identical.
//!
//! Memory does not grow with the closure: each layer is written twice, once into a hash to learn
//! its digest and size (the archive names a blob by its digest before its bytes) and once into
//! the archive, streaming files from the store both times.

use std::collections::BTreeMap;

use super::closure::Closure;

mod archive;

pub use archive::{write, LayerSource, Written};

/// At most this many layers, the environment layer included.
pub const MAX_LAYERS: usize = 100;

/// The archive layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An OCI image layout in a tar (`skopeo`'s `oci-archive:`, `podman load`).
    Oci,
    /// The OCI layout plus Docker's `manifest.json` (`docker load`, `skopeo`'s `docker-archive:`).
    Docker,
}

/// What the image's configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    /// `name:tag`.
    pub reference: String,
    /// The Nix system, for the OCI architecture.
    pub system: String,
    /// `NAME=value`, in order.
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// RFC 3339; from the lock, never the clock.
    pub created: String,
}

/// The OCI architecture (and variant) of a Nix system; `None` for systems that are not Linux.
pub fn oci_platform(system: &str) -> Option<(&'static str, Option<&'static str>)> {
    match system {
        "x86_64-linux" => Some(("amd64", None)),
        "aarch64-linux" => Some(("arm64", Some("v8"))),
        "i686-linux" => Some(("386", None)),
        "armv7l-linux" => Some(("arm", Some("v7"))),
        _ => None,
    }
}

/// The store layers: groups of store paths, one layer each. Paths are ordered by how many paths
/// of the closure refer to them (most first, then by path); when there are more than
/// `MAX_LAYERS - 1` (one layer is the environment's), the first `MAX_LAYERS - 2` get a layer
/// each and all the others share the last one. Popular paths (a C library) are then in layers
/// of their own, which other images of the same nixpkgs share.
pub fn plan(closure: &Closure) -> Vec<Vec<String>> {
    let counts = closure.referrer_counts();
    let mut order: Vec<(&str, usize)> = counts.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let budget = MAX_LAYERS - 1;
    if order.len() <= budget {
        return order.iter().map(|(p, _)| vec![p.to_string()]).collect();
    }
    let mut layers: Vec<Vec<String>> = order[..budget - 1]
        .iter()
        .map(|(p, _)| vec![p.to_string()])
        .collect();
    let mut rest: Vec<String> = order[budget - 1..]
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    rest.sort();
    layers.push(rest);
    layers
}

/// The configuration's environment: `PATH` with `/env/bin` first (before the manifest's `PATH`,
/// if it sets one), then the manifest's variables in its order.
pub fn environment(manifest_env: &[(String, String)]) -> Vec<String> {
    let manifest_path = manifest_env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let path = match manifest_path {
        Some(v) if !v.is_empty() => format!("PATH=/env/bin:{v}"),
        _ => "PATH=/env/bin".to_string(),
    };
    let mut seen = BTreeMap::new();
    for (k, v) in manifest_env.iter().filter(|(k, _)| k != "PATH") {
        seen.insert(k.clone(), v.clone());
    }
    let mut out = vec![path];
    let mut written = std::collections::BTreeSet::new();
    for (k, _) in manifest_env.iter().filter(|(k, _)| k != "PATH") {
        if written.insert(k.clone()) {
            out.push(format!("{k}={}", seen[k]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::hash::Sha256Hash;
    use crate::supply::closure::{Facts, Origin};

    fn closure(n: usize) -> Closure {
        let path = |i: usize| format!("/nix/store/{:0>32}-p{i}", i % 10);
        let mut paths = BTreeMap::new();
        for i in 0..n {
            // Everything refers to p0; every even path refers to p1.
            let mut references = std::collections::BTreeSet::new();
            if i > 0 {
                references.insert(path(0));
            }
            if i > 1 && i % 2 == 0 {
                references.insert(path(1));
            }
            paths.insert(
                path(i),
                Facts {
                    nar_hash: Sha256Hash::digest([i as u8]),
                    nar_size: 1,
                    references,
                    sigs: Vec::new(),
                    deriver: None,
                    origin: Origin::Store,
                },
            );
        }
        Closure {
            system: "x86_64-linux".into(),
            roots: Vec::new(),
            paths,
        }
    }

    #[test]
    fn one_layer_per_path_up_to_the_budget_then_the_rest_shares_one() {
        let small = plan(&closure(99));
        assert_eq!(small.len(), 99);
        assert!(small.iter().all(|l| l.len() == 1));
        assert!(small[0][0].ends_with("-p0"), "the most referenced first");
        assert!(small[1][0].ends_with("-p1"));
        let big = plan(&closure(250));
        assert_eq!(big.len(), MAX_LAYERS - 1);
        assert!(big[..98].iter().all(|l| l.len() == 1));
        assert_eq!(big[98].len(), 250 - 98);
        let mut all: Vec<String> = big.into_iter().flatten().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 250);
    }

    #[test]
    fn path_comes_first_and_extends_the_manifests() {
        let env = environment(&[
            ("A".into(), "1".into()),
            ("PATH".into(), "/opt/bin".into()),
            ("A".into(), "2".into()),
        ]);
        assert_eq!(env, vec!["PATH=/env/bin:/opt/bin", "A=2"]);
        assert_eq!(environment(&[]), vec!["PATH=/env/bin"]);
    }
}
