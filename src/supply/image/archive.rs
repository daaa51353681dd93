//! Writing the image archive: layer blobs (hashed in a first pass, streamed in a second), the
//! configuration, the manifest and the index, in a fixed order.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{oci_platform, ArchiveFormat, ImageConfig};
use crate::supply::tar::{Kind, TarWriter};

const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// One layer's content: store paths (logical name and where they are on disk), or the
/// environment (the profile directory on disk).
pub enum LayerSource<'a> {
    StorePaths(Vec<(String, PathBuf)>),
    Environment { profile: &'a Path },
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `sha256:<hex>` of the manifest: the image's identity.
    pub manifest_digest: String,
    pub config_digest: String,
    /// Digest and size of each layer, bottom first.
    pub layers: Vec<(String, u64)>,
}

/// A writer that only hashes and counts.
struct Hasher {
    sha: Sha256,
    n: u64,
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sha.update(buf);
        self.n += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", crate::nix::hash::hex(&Sha256::digest(data)))
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Write one layer's tar to `out`; returns its size.
fn write_layer(
    source: &LayerSource<'_>,
    out: impl Write,
    link_target: &dyn Fn(&Path) -> PathBuf,
) -> io::Result<u64> {
    let mut tar = TarWriter::new(out);
    match source {
        LayerSource::StorePaths(paths) => {
            tar.header(b"nix/", &Kind::Dir, 0o755)?;
            tar.header(b"nix/store/", &Kind::Dir, 0o755)?;
            for (logical, physical) in paths {
                let name = logical.trim_start_matches('/');
                tar.tree(physical, name.as_bytes(), link_target)?;
            }
        }
        LayerSource::Environment { profile } => {
            tar.header(b"bin", &Kind::Symlink(b"env/bin".to_vec()), 0o777)?;
            if profile.exists() {
                tar.tree(profile, b"env", link_target)?;
            } else {
                tar.header(b"env/", &Kind::Dir, 0o555)?;
            }
            tar.header(b"tmp/", &Kind::Dir, 0o1777)?;
        }
    }
    let n = tar.written() + 1024;
    tar.finish()?;
    Ok(n)
}

/// Write the image archive of `layers` (bottom first) with `config` to `out`.
pub fn write(
    out: impl Write,
    layers: &[LayerSource<'_>],
    config: &ImageConfig,
    format: ArchiveFormat,
    link_target: &dyn Fn(&Path) -> PathBuf,
) -> Result<Written> {
    let (arch, variant) = oci_platform(&config.system)
        .ok_or_else(|| anyhow!("images are Linux only; `{}` is not", config.system))?;
    let mut tar = TarWriter::new(out);
    tar.file(b"oci-layout", 0o644, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.header(b"blobs/", &Kind::Dir, 0o755)?;
    tar.header(b"blobs/sha256/", &Kind::Dir, 0o755)?;
    let mut written_layers = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for layer in layers {
        let mut hasher = Hasher {
            sha: Sha256::new(),
            n: 0,
        };
        let size = write_layer(layer, &mut hasher, link_target).context("cannot read a layer")?;
        let digest = format!(
            "sha256:{}",
            crate::nix::hash::hex(&std::mem::take(&mut hasher.sha).finalize())
        );
        if seen.insert(digest.clone()) {
            let name = blob_name(&digest);
            tar.header(
                name.as_bytes(),
                &Kind::File {
                    size,
                    executable: false,
                },
                0o644,
            )?;
            let before = tar.written();
            write_layer(layer, tar.body(), link_target).context("cannot read a layer")?;
            let again = tar.written() - before;
            if again != size {
                return Err(anyhow!(
                    "a store path changed while the image was written ({again} bytes instead of {size})"
                ));
            }
            tar.pad(size)?;
        }
        written_layers.push((digest, size));
    }
    let diff_ids: Vec<&str> = written_layers.iter().map(|(d, _)| d.as_str()).collect();
    let mut image_config = serde_json::Map::new();
    image_config.insert("Env".into(), json!(config.env));
    if let Some(cmd) = &config.cmd {
        image_config.insert("Cmd".into(), json!(cmd));
    }
    image_config.insert("WorkingDir".into(), json!("/"));
    let mut config_doc = json!({
        "created": config.created,
        "architecture": arch,
        "os": "linux",
        "config": Value::Object(image_config),
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": written_layers.iter().map(|_| json!({
            "created": config.created,
            "created_by": "devenv image",
        })).collect::<Vec<_>>(),
    });
    if let Some(v) = variant {
        config_doc["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config_doc)?;
    let config_digest = digest_of(&config_bytes);
    tar.file(blob_name(&config_digest).as_bytes(), 0o644, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": written_layers.iter().map(|(d, s)| json!({
            "mediaType": LAYER_MEDIA_TYPE,
            "digest": d,
            "size": s,
        })).collect::<Vec<_>>(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = digest_of(&manifest_bytes);
    tar.file(
        blob_name(&manifest_digest).as_bytes(),
        0o644,
        &manifest_bytes,
    )?;
    let tag = config
        .reference
        .rsplit_once(':')
        .map_or("latest", |(_, t)| t);
    let mut platform = json!({ "architecture": arch, "os": "linux" });
    if let Some(v) = variant {
        platform["variant"] = json!(v);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "platform": platform,
            "annotations": {
                "io.containerd.image.name": config.reference,
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    tar.file(b"index.json", 0o644, &serde_json::to_vec(&index)?)?;
    if format == ArchiveFormat::Docker {
        let docker = json!([{
            "Config": blob_name(&config_digest),
            "RepoTags": [config.reference],
            "Layers": written_layers.iter().map(|(d, _)| blob_name(d)).collect::<Vec<_>>(),
        }]);
        tar.file(b"manifest.json", 0o644, &serde_json::to_vec(&docker)?)?;
    }
    tar.finish()?;
    Ok(Written {
        manifest_digest,
        config_digest,
        layers: written_layers,
    })
}
