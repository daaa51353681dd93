//! The supply-chain operations behind `sbom`, `image` and `provenance`: the project's locked
//! packages for one system as the roots of a closure, whose facts come from the store database
//! for installed paths and from the binary caches' signed narinfos for the rest.
//!
//! Works on the [`Inputs`] read once; the lock must cover the manifest (nothing is resolved or
//! written here), so the outputs describe exactly what the lock says.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use super::{Context, Inputs, Project};
use crate::diagnostic::ResultExt as _;
use crate::nix::hash::Sha256Hash;
use crate::nix::store_path::StorePath;
use crate::store::substitute::Substituters;
use crate::store::LocalStore;
use crate::supply::closure::{Closure, Facts, Origin, PathFacts, Root, Unknown};

/// The environment's closure, and what the documents call it.
pub struct Environment {
    /// The project directory's name: what the documents call the environment.
    pub subject: String,
    pub closure: Closure,
}

/// The closure of the project's locked packages for the configured system: facts from the
/// store's database for installed paths, from the binary caches' signed narinfos for the rest.
pub fn environment(ctx: &Context, project: &Project, inputs: &Inputs) -> Result<Environment> {
    let roots = roots(ctx, inputs)?;
    let store = match crate::store::LocalStore::open(&ctx.settings) {
        Ok(store) => Some(store),
        Err(e) => {
            // The Nix daemon's store, or none yet: the binary caches know the paths.
            tracing::debug!(error = %e, "no store of devenv's own; asking the binary caches");
            None
        }
    };
    let facts = StoreOrCaches {
        store: store.as_ref(),
        caches: OnceCell::new(),
    };
    let system = &ctx.settings.system.value;
    let closure = match Closure::compute(system, roots, &facts)? {
        Ok(c) => c,
        Err(unknown) => return Err(unknown_paths(&unknown, &facts, inputs)),
    };
    Ok(Environment {
        subject: subject(project),
        closure,
    })
}

/// The environment after realizing, and where its paths are.
pub struct Realized {
    pub env: Environment,
    /// Each closure path and its directory on disk.
    pub on_disk: Vec<(String, PathBuf)>,
    /// The physical store directory when it is not `/nix/store` itself.
    pub physical_store_dir: Option<PathBuf>,
}

/// Where each closure path is on disk, after realizing the lock (fetching what is missing,
/// never building): what an image is made of.
pub fn realized(ctx: &Context, project: &Project, inputs: &Inputs) -> Result<Realized> {
    let progress = crate::printer::TerminalProgress::new(&ctx.printer);
    let result = super::realize(ctx, project, inputs, super::BuildPolicy::Never, &progress);
    progress.finish();
    result?;
    let env = environment(ctx, project, inputs)?;
    let store = super::store::open(&ctx.settings)?;
    let on_disk = env
        .closure
        .paths
        .keys()
        .map(|p| {
            let parsed = StorePath::parse_absolute(p).map_err(|e| anyhow!("{e}"))?;
            Ok((p.clone(), store.real_path(&parsed)))
        })
        .collect::<Result<Vec<_>>>()?;
    // Symlinks in a store under another root point into it; images name `/nix/store`.
    let physical_store_dir = crate::store::choose_root(&ctx.settings)
        .ok()
        .flatten()
        .map(|root| crate::store::layout::StoreLayout::new(root).store_dir());
    Ok(Realized {
        env,
        on_disk,
        physical_store_dir,
    })
}

fn subject(project: &Project) -> String {
    project
        .root
        .canonicalize()
        .unwrap_or_else(|_| project.root.clone())
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "environment".to_string())
}

/// The lock's outputs of the manifest's packages for the configured system, with what the index
/// says about licence and homepage (when it answers).
fn roots(ctx: &Context, inputs: &Inputs) -> Result<Vec<Root>> {
    let system = &ctx.settings.system.value;
    let manifest = &inputs.manifest()?.manifest;
    let lock = inputs
        .lock()?
        .ok_or_else(|| anyhow!("`{}` does not exist", inputs.lock_name()))
        .hint("run `devenv install` to lock the manifest")
        .bad_input()?;
    let locked_systems: std::collections::BTreeSet<&str> = lock
        .packages
        .values()
        .flat_map(|p| p.systems.keys().map(String::as_str))
        .collect();
    if !lock.packages.is_empty() && !locked_systems.contains(system.as_str()) {
        return Err(anyhow!(
            "`{}` has no packages for system `{system}` (from {})",
            inputs.lock_name(),
            ctx.settings.system.source
        ))
        .hint(format!(
            "the lock covers {}; pass one of them with --system",
            locked_systems.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .bad_input();
    }
    let index = super::packages::open_index(ctx).ok();
    let mut roots = Vec::new();
    for spec in manifest.packages_for(system) {
        let key = spec.lock_key();
        let entry = super::lock::entry(inputs, lock, &key).bad_input()?;
        let outputs = entry.outputs_for(system, &spec.outputs);
        if outputs.is_empty() {
            return Err(anyhow!(
                "`{}` has no outputs of `{key}` for system `{system}`",
                inputs.lock_name()
            ))
            .hint(
                "restrict the package to the systems it has with `platforms` in the manifest, \
                 or pass another --system",
            )
            .bad_input();
        }
        let (license, homepage) = match index.as_ref().map(|i| i.package(&spec.name)) {
            Some(Ok(Some(pkg))) => (pkg.license, Some(pkg.homepage).filter(|h| !h.is_empty())),
            Some(Err(e)) => {
                tracing::debug!(package = %spec.name, error = %e, "no licence from the index");
                (Vec::new(), None)
            }
            _ => (Vec::new(), None),
        };
        for o in outputs {
            let path = StorePath::parse_absolute(&o.path)
                .map_err(|e| anyhow!("{e}"))
                .with_context(|| {
                    format!(
                        "`{}` has an invalid store path for output `{}` of `{key}`",
                        inputs.lock_name(),
                        o.name
                    )
                })
                .bad_input()?;
            roots.push(Root {
                name: spec.name.clone(),
                key: key.clone(),
                version: entry.version.clone(),
                output: o.name.clone(),
                path,
                resolved: entry.resolved.clone(),
                rev: entry.rev().map(str::to_string),
                attr: entry.attr_path().map(str::to_string),
                last_modified: entry.last_modified.clone(),
                source: entry.source.clone(),
                license: license.clone(),
                homepage: homepage.clone(),
            });
        }
    }
    if let Some(index) = index {
        super::packages::flush_warnings(ctx, index.as_ref());
    }
    Ok(roots)
}

/// Facts from the store database, else from the first cache with a valid signed narinfo.
struct StoreOrCaches<'a> {
    store: Option<&'a LocalStore>,
    /// Opened on the first path the store does not have.
    caches: OnceCell<Option<Substituters>>,
}

impl StoreOrCaches<'_> {
    fn caches(&self) -> Result<Option<&Substituters>> {
        if let Some(c) = self.caches.get() {
            return Ok(c.as_ref());
        }
        let subs = match self.store {
            Some(store) => Some(store.substituters()?),
            None => None,
        };
        Ok(self.caches.get_or_init(|| subs).as_ref())
    }

    fn describe(&self) -> (String, Vec<String>) {
        let store = match self.store {
            Some(s) => format!("the store at `{}`", s.layout().store_dir().display()),
            None => "a store of devenv's own".to_string(),
        };
        let urls = self
            .store
            .map(|s| s.substituter_urls().to_vec())
            .unwrap_or_default();
        (store, urls)
    }
}

impl PathFacts for StoreOrCaches<'_> {
    fn facts(&self, path: &StorePath) -> Result<Option<Facts>> {
        let abs = path.to_absolute();
        if let Some(store) = self.store {
            if let Some(info) = store.path_info(&abs)? {
                let nar_hash = Sha256Hash::parse(&info.nar_hash_hex)
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| format!("the store's record of `{abs}` is damaged"))?;
                return Ok(Some(Facts {
                    nar_hash,
                    nar_size: info.nar_size,
                    references: info.references.into_iter().collect(),
                    sigs: info.sigs,
                    deriver: info.deriver,
                    origin: Origin::Store,
                }));
            }
        }
        let Some(caches) = self.caches()? else {
            return Ok(None);
        };
        let Some(found) = caches.query(path)? else {
            return Ok(None);
        };
        let info = found.info;
        Ok(Some(Facts {
            nar_hash: info.nar_hash,
            nar_size: info.nar_size,
            references: info.references.iter().map(StorePath::to_absolute).collect(),
            sigs: info.sigs.iter().map(ToString::to_string).collect(),
            deriver: info.deriver,
            origin: Origin::Cache(caches.caches[found.cache].url.clone()),
        }))
    }
}

fn unknown_paths(unknown: &Unknown, facts: &StoreOrCaches<'_>, inputs: &Inputs) -> anyhow::Error {
    let (store, urls) = facts.describe();
    let caches = if urls.is_empty() {
        "nor in a binary cache (none is configured)".to_string()
    } else {
        format!("nor in any binary cache asked ({})", urls.join(", "))
    };
    let listed: Vec<String> = unknown
        .0
        .iter()
        .map(|(path, referrer)| match referrer {
            None => format!("{path} (locked in `{}`)", inputs.lock_name()),
            Some(r) => format!("{path} (referred to by {r})"),
        })
        .collect();
    Err::<(), _>(anyhow!(
        "{} store path(s) are neither in {store} {caches}: {}",
        listed.len(),
        listed.join(", ")
    ))
    .context("cannot know the environment's closure")
    .hint(
        "add a binary cache that has them with --substituters / DEVENV_SUBSTITUTERS (and its key \
         with --trusted-public-keys), or run `devenv install` where they can be built",
    )
    .unwrap_err()
}

/// The logical `/nix/store/…` for a symlink target under the store's physical root.
pub fn logical_target(physical_store_dir: Option<&Path>, target: &Path) -> PathBuf {
    match physical_store_dir.and_then(|dir| target.strip_prefix(dir).ok()) {
        Some(rest) => Path::new("/nix/store").join(rest),
        None => target.to_path_buf(),
    }
}

/// What `devenv image` was asked for.
pub struct ImageRequest<'a> {
    pub output: &'a Path,
    /// `name:tag`; the project's name and `latest` when not given.
    pub reference: Option<String>,
    /// A manifest script to run as the image's command, instead of a shell.
    pub script: Option<String>,
    pub format: crate::supply::image::ArchiveFormat,
}

/// The image written, and what it was made of.
pub struct ImageBuilt {
    pub written: crate::supply::image::Written,
    pub reference: String,
    pub store_paths: usize,
}

/// Realize the lock (fetching, never building), then write the image archive of the closure
/// with the environment layer on top to `request.output`, atomically.
pub fn image(
    ctx: &Context,
    project: &Project,
    inputs: &Inputs,
    request: &ImageRequest<'_>,
) -> Result<ImageBuilt> {
    use crate::supply::image::{self, ImageConfig, LayerSource};
    let system = &ctx.settings.system.value;
    if image::oci_platform(system).is_none() {
        return Err(anyhow!(
            "cannot make an image for `{system}`: images are Linux only"
        ))
        .hint("pass a Linux system the lock covers with --system, e.g. x86_64-linux")
        .bad_input();
    }
    let manifest = &inputs.manifest()?.manifest;
    let script = match &request.script {
        None => None,
        Some(name) => Some(
            manifest
                .scripts
                .get(name)
                .ok_or_else(|| {
                    anyhow!(
                        "`{}` has no script `{name}`",
                        inputs.manifest_name()
                    )
                })
                .with_hint(|| {
                    let names: Vec<&str> = manifest.scripts.keys().map(String::as_str).collect();
                    if names.is_empty() {
                        "add it under `scripts` in the manifest, or leave out --script to start a shell".to_string()
                    } else {
                        format!("its scripts are: {}", names.join(", "))
                    }
                })
                .bad_input()?
                .join("\n"),
        ),
    };
    // Before anything is fetched: an output nobody can write fails at once.
    probe_output(request.output)?;
    let Realized {
        env,
        on_disk,
        physical_store_dir: store_dir,
    } = realized(ctx, project, inputs)?;
    let physical: std::collections::BTreeMap<String, PathBuf> = on_disk.into_iter().collect();
    let profile_dir = tempfile::Builder::new()
        .prefix("devenv-image-")
        .tempdir()
        .context("cannot create a temporary directory for the image's profile")?;
    let profile = profile_dir.path().join("env");
    let elements: Vec<crate::profile::buildenv::Element> = env
        .closure
        .roots
        .iter()
        .map(|r| crate::profile::buildenv::Element {
            package: r.key.clone(),
            path: physical[&r.path.to_absolute()].clone(),
            priority: crate::profile::DEFAULT_PRIORITY,
        })
        .collect();
    crate::profile::buildenv::build(&profile, &elements)
        .context("cannot build the image's profile")
        .hint("remove one of the two packages from the manifest, or ask for other outputs")?;
    let has = |name: &str| std::fs::symlink_metadata(profile.join("bin").join(name)).is_ok();
    let cmd = match script {
        Some(body) if has("sh") => Some(vec!["/env/bin/sh".to_string(), "-c".to_string(), body]),
        Some(_) => {
            return Err(anyhow!(
                "script `{}` needs a shell, and the environment has no `bin/sh`",
                request.script.as_deref().unwrap_or_default()
            ))
            .hint("add a package that provides `sh` (bash, busybox) to the manifest")
            .bad_input()
        }
        None if has("bash") => Some(vec!["/env/bin/bash".to_string()]),
        None if has("sh") => Some(vec!["/env/bin/sh".to_string()]),
        None => {
            ctx.printer.warn(
                "the environment has no shell (`bin/bash` or `bin/sh`): the image has no \
                 default command",
            );
            None
        }
    };
    let reference = request
        .reference
        .clone()
        .unwrap_or_else(|| format!("{}:latest", image_name(&env.subject)));
    let config = ImageConfig {
        reference: reference.clone(),
        system: system.clone(),
        env: image::environment(&manifest.env),
        cmd,
        created: env.closure.timestamp(),
    };
    let mut layers: Vec<LayerSource<'_>> = image::plan(&env.closure)
        .into_iter()
        .map(|group| {
            LayerSource::StorePaths(
                group
                    .into_iter()
                    .map(|p| {
                        let on_disk = physical[&p].clone();
                        (p, on_disk)
                    })
                    .collect(),
            )
        })
        .collect();
    layers.push(LayerSource::Environment { profile: &profile });
    let link_target = |t: &Path| logical_target(store_dir.as_deref(), t);
    let written = crate::fsutil::write_atomic_streamed(request.output, |out| {
        image::write(out, &layers, &config, request.format, &link_target).map_err(Failed::Image)
    })
    .map_err(|e| match e {
        Failed::Image(e) => e.context("cannot write the image"),
        Failed::Output(e) => unwritable(request.output, e),
    })?;
    Ok(ImageBuilt {
        written,
        reference,
        store_paths: physical.len(),
    })
}

/// A valid image name from a project directory's name (lower case, `[a-z0-9._-]`).
fn image_name(subject: &str) -> String {
    let name: String = subject
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "environment".to_string()
    } else {
        name.to_string()
    }
}

/// Why writing the image failed: its own content, or the output file.
enum Failed {
    Image(anyhow::Error),
    Output(std::io::Error),
}

impl From<std::io::Error> for Failed {
    fn from(e: std::io::Error) -> Failed {
        Failed::Output(e)
    }
}

fn unwritable(output: &Path, e: std::io::Error) -> anyhow::Error {
    Err::<(), _>(e)
        .with_context(|| format!("cannot write `{}`", output.display()))
        .hint("pass --output a path in a directory that exists and you can write")
        .unwrap_err()
}

/// Fail now if no file can be created next to `output` (outputs are written to a temp file
/// there and renamed), before any work is done for it.
pub fn probe_output(output: &Path) -> Result<()> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if output.is_dir() {
        return Err(unwritable(
            output,
            std::io::Error::other("it is a directory"),
        ));
    }
    // A file of this process's own, made and removed at once; the error is the OS's, and
    // names no temp file.
    let probe = dir.join(format!(".devenv-tmp-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| unwritable(output, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The in-toto statement with SLSA provenance of the environment (and of `image`, an archive
/// `devenv image` wrote), as pretty JSON; with `key`, a DSSE envelope signing it.
pub fn provenance(
    ctx: &Context,
    project: &Project,
    inputs: &Inputs,
    image: Option<&Path>,
    key: Option<&crate::nix::signature::SecretKey>,
) -> Result<Vec<u8>> {
    use crate::supply::provenance::{self, FileSubject};
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| crate::nix::hash::hex(&Sha256::digest(b));
    let files = match image {
        None => Vec::new(),
        Some(path) => {
            let mut file = std::fs::File::open(path)
                .with_context(|| format!("cannot read the image `{}`", path.display()))
                .hint("pass --image the archive `devenv image` wrote")
                .bad_input()?;
            let mut sha = Sha256::new();
            std::io::copy(&mut file, &mut sha)
                .with_context(|| format!("cannot read the image `{}`", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| path.display().to_string());
            vec![FileSubject {
                name,
                sha256_hex: crate::nix::hash::hex(&sha.finalize()),
            }]
        }
    };
    let trusted =
        crate::nix::signature::TrustedKeys::from_strings(&ctx.settings.trusted_public_keys.value)
            .map_err(|e| anyhow!("{e}"))
            .context("invalid trusted public key")
            .hint("keys look like `name:base64`")
            .bad_input()?;
    let env = environment(ctx, project, inputs)?;
    let base = |p: PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let files_in = provenance::Inputs {
        manifest_name: base(project.manifest_path()),
        manifest_sha256_hex: hex(&inputs.manifest),
        lock_name: base(project.lock_path()),
        lock_sha256_hex: hex(inputs.lock.as_deref().unwrap_or_default()),
    };
    let statement = provenance::statement(&env.closure, &files_in, &trusted, &files);
    let mut text = serde_json::to_vec_pretty(&statement)?;
    if let Some(key) = key {
        // The envelope signs the compact statement it carries.
        let compact = serde_json::to_vec(&statement)?;
        text = serde_json::to_vec_pretty(&provenance::envelope(&compact, key))?;
    }
    text.push(b'\n');
    Ok(text)
}
