//! Devbox plugins as data: what a plugin adds to a Devbox project's environment (`env`,
//! `init_hook`, scripts, packages, files to create, services), from devenv's own definitions of
//! Devbox's built-in plugins ([`builtin`]) and from the project's local plugin files (`include`:
//! `path:./plugins/x.json`, `./dir` holding `plugin.json`).
//!
//! Local plugin files are read once, with the manifest, by the application layer
//! ([`read_local`]), so the bytes that are trusted are the bytes that are used; [`activate`] is
//! pure: it turns a manifest and those bytes into an [`Activation`]. Only `devbox.json` projects
//! get plugins: Devbox activates them, `devenv.json` never had them.

mod builtin;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::manifest::{Manifest, PackageSpec};

/// A file or directory a plugin asks for, with placeholders in its path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileSpec {
    path: &'static str,
    /// `None`: a directory.
    content: Option<&'static str>,
    executable: bool,
}

/// A built-in plugin.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Definition {
    name: &'static str,
    env: &'static [(&'static str, &'static str)],
    init_hook: &'static [&'static str],
    files: &'static [FileSpec],
    /// Packages with the only platforms they are wanted on (empty = all).
    packages: &'static [(&'static str, &'static [&'static str])],
    service: Option<&'static str>,
}

/// A file or directory to create in the project when its environment is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFile {
    pub path: PathBuf,
    /// `None`: a directory.
    pub content: Option<Vec<u8>>,
    pub executable: bool,
    /// Under `devbox.d`: the user's to edit once created, never overwritten.
    pub keep_existing: bool,
}

/// A service a plugin defines (started by Devbox's `services` command; recorded here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub plugin: String,
}

/// Everything the plugins of a project add, in activation order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activation {
    /// The plugins activated, by name.
    pub plugins: Vec<String>,
    pub env: Vec<(String, String)>,
    pub init_hook: Vec<String>,
    pub scripts: BTreeMap<String, Vec<String>>,
    pub packages: Vec<PackageSpec>,
    pub files: Vec<PluginFile>,
    pub services: Vec<Service>,
    /// Problems, each naming where the plugin came from.
    pub warnings: Vec<String>,
}

/// The built-in plugin a Devbox project gets for a package named `name`, and the service it
/// defines: `("postgresql", Some("postgresql"))` for `postgresql_16`.
pub fn builtin_for_package(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    builtin::for_package(name).map(|d| (d.name, d.service))
}

/// At most this many local plugin files (and files they create from) are read for a project.
const MAX_LOCAL_FILES: usize = 64;

/// Where a local `include` points (relative to `base`, the directory of the file naming it):
/// `path:x`, `./x`, `../x` or `/x`. `None` for built-ins (`plugin:`) and remote plugins.
pub fn local_path(base: &Path, reference: &str) -> Option<PathBuf> {
    let path = reference.strip_prefix("path:").or_else(|| {
        (reference.starts_with("./") || reference.starts_with("../") || reference.starts_with('/'))
            .then_some(reference)
    })?;
    // `./x` and `x` are the same file; messages name it without the `./`.
    let mut path = path;
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    Some(base.join(path))
}

/// The plugin file of a local include: the path itself, or `plugin.json` in it.
fn plugin_file(files: &BTreeMap<PathBuf, Vec<u8>>, path: &Path) -> Option<PathBuf> {
    if files.contains_key(path) {
        return Some(path.to_path_buf());
    }
    let inner = path.join("plugin.json");
    files.contains_key(&inner).then_some(inner)
}

/// Read the local plugin files `includes` name (relative to `root`), the plugins they include,
/// and the files their `create_files` copy, each bounded in size; files that do not exist are
/// left out ([`activate`] says so).
pub fn read_local(root: &Path, includes: &[String]) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = BTreeMap::new();
    let mut queue: Vec<(PathBuf, String)> = includes
        .iter()
        .map(|i| (root.to_path_buf(), i.clone()))
        .collect();
    while let Some((base, reference)) = queue.pop() {
        let Some(path) = local_path(&base, &reference) else {
            continue;
        };
        let path = if path.is_dir() {
            path.join("plugin.json")
        } else {
            path
        };
        if files.contains_key(&path) || files.len() >= MAX_LOCAL_FILES {
            continue;
        }
        let Some(bytes) = read_bounded(&path)? else {
            continue;
        };
        let dir = path.parent().unwrap_or(root).to_path_buf();
        if let Some(value) = std::str::from_utf8(&bytes).ok().and_then(parse_jsonc) {
            for inner in strings(&value["include"]) {
                queue.push((dir.clone(), inner));
            }
            if let Some(create) = value["create_files"].as_object() {
                for source in create.values().filter_map(Value::as_str) {
                    let source = dir.join(source);
                    // Copied into the project from inside it only: a plugin must not be able to
                    // copy `~/.ssh/id_rsa` next to code that could send it away.
                    let inside = source.starts_with(root)
                        && !source.components().any(|c| c.as_os_str() == "..");
                    if inside
                        && source.is_file()
                        && !files.contains_key(&source)
                        && files.len() < MAX_LOCAL_FILES
                    {
                        if let Some(content) = read_bounded(&source)? {
                            files.insert(source, content);
                        }
                    }
                }
            }
        }
        files.insert(path, bytes);
    }
    Ok(files)
}

fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>> {
    crate::fsutil::read_input(path, crate::limits::MAX_MANIFEST_BYTES, "a plugin file")
}

fn parse_jsonc(text: &str) -> Option<Value> {
    crate::limits::check_depth(text.as_bytes(), crate::limits::MAX_DEPTH).ok()?;
    let options = jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_loose_object_property_names: false,
        allow_trailing_commas: true,
    };
    jsonc_parser::parse_to_serde_value(text, &options)
        .ok()
        .flatten()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The values plugin files refer to as `{{ .Name }}`.
struct Vars<'a> {
    root: &'a Path,
    name: &'a str,
}

impl Vars<'_> {
    fn get(&self, key: &str) -> Option<String> {
        let root = self.root;
        let path = |p: PathBuf| p.display().to_string();
        Some(match key {
            "Virtenv" => path(root.join(".devbox/virtenv").join(self.name)),
            "DevboxDir" => path(root.join("devbox.d").join(self.name)),
            "DevboxDirRoot" => path(root.join("devbox.d")),
            "DevboxProjectDir" | "DevboxProjectRoot" => path(root.to_path_buf()),
            // devenv's profile: expanded where the environment is applied.
            "DevboxProfileDefault" => "$DEVBOX_PACKAGES_DIR".to_string(),
            _ => return None,
        })
    }

    /// `text` with every `{{ .Name }}` replaced; unknown names are kept and returned.
    fn expand(&self, text: &str) -> (String, Vec<String>) {
        let mut out = String::with_capacity(text.len());
        let mut unknown = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return (out, unknown);
            };
            let key = after[..end].trim().trim_start_matches('.');
            match self.get(key) {
                Some(value) => out.push_str(&value),
                None => {
                    unknown.push(after[..end].trim().to_string());
                    out.push_str(&rest[start..start + 2 + end + 2]);
                }
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        (out, unknown)
    }
}

/// What the plugins of `manifest` (a Devbox project at `root`) add. `local` holds the local plugin
/// files as [`read_local`] read them; `manifest_name` names the manifest in warnings.
pub fn activate(
    root: &Path,
    manifest_name: &str,
    manifest: &Manifest,
    local: &BTreeMap<PathBuf, Vec<u8>>,
) -> Activation {
    let mut a = Activation::default();
    let mut seen = BTreeSet::new();
    for include in &manifest.include {
        let at = format!("{manifest_name}:{}:{}", include.line, include.column);
        a.include(root, root, &include.reference, &at, local, &mut seen, 0);
    }
    let disabled = &manifest.disabled_plugins;
    for spec in &manifest.packages {
        if disabled.contains(&spec.name) {
            continue;
        }
        if let Some(def) = builtin::for_package(&spec.name) {
            // Devbox names a package's plugin directories after the package.
            if seen.insert(format!("package:{}", spec.name)) {
                a.builtin(root, def, &spec.name);
            }
        }
    }
    a
}

impl Activation {
    #[allow(clippy::too_many_arguments)]
    fn include(
        &mut self,
        root: &Path,
        base: &Path,
        reference: &str,
        at: &str,
        local: &BTreeMap<PathBuf, Vec<u8>>,
        seen: &mut BTreeSet<String>,
        depth: usize,
    ) {
        if let Some(name) = reference.strip_prefix("plugin:") {
            match builtin::by_name(name) {
                Some(def) => {
                    if seen.insert(format!("plugin:{name}")) {
                        self.builtin(root, def, name);
                    }
                }
                None => self.warnings.push(format!(
                    "{at}: the plugin `{reference}` is not one devenv has (it has {}); it is not activated",
                    builtin::BUILTINS.iter().map(|d| d.name).collect::<Vec<_>>().join(", ")
                )),
            }
            return;
        }
        let Some(path) = local_path(base, reference) else {
            self.warnings.push(format!(
                "{at}: the plugin `{reference}` is not supported: devenv reads built-in (`plugin:`) and local (`path:`) plugins, not remote ones; its packages, `env`, files and `init_hook` are not added"
            ));
            return;
        };
        let Some(file) = plugin_file(local, &path) else {
            self.warnings.push(format!(
                "{at}: the plugin `{reference}` was not found (no `{}` or `{}/plugin.json`); it is not activated",
                path.display(),
                path.display()
            ));
            return;
        };
        if !seen.insert(file.display().to_string()) || depth > 8 {
            return;
        }
        let text = String::from_utf8_lossy(&local[&file]).into_owned();
        let shown = file.display().to_string();
        let Some(raw) = parse_jsonc(&text) else {
            self.warnings.push(format!(
                "{at}: the plugin file `{shown}` is not valid JSON; it is not activated"
            ));
            return;
        };
        let name = raw["name"].as_str().unwrap_or("plugin").to_string();
        let (expanded, unknown) = Vars { root, name: &name }.expand(&text);
        for u in unknown {
            self.warnings.push(format!(
                "{shown}: `{{{{ {u} }}}}` is not a value devenv knows; it is left as it is"
            ));
        }
        let Some(v) = parse_jsonc(&expanded) else {
            self.warnings.push(format!(
                "{at}: the plugin file `{shown}` is not valid JSON once its `{{{{ }}}}` values are filled in; it is not activated"
            ));
            return;
        };
        let dir = file.parent().unwrap_or(root).to_path_buf();
        for inner in strings(&v["include"]) {
            self.include(root, &dir, &inner, &shown, local, seen, depth + 1);
        }
        self.plugins.push(name.clone());
        if let Some(env) = v["env"].as_object() {
            for (k, val) in env {
                self.push_env(k, val.as_str().unwrap_or_default(), &shown);
            }
        }
        let shell = &v["shell"];
        match &shell["init_hook"] {
            Value::String(s) => self.init_hook.push(s.clone()),
            other => self.init_hook.extend(strings(other)),
        }
        if let Some(scripts) = shell["scripts"].as_object() {
            for (k, body) in scripts {
                let lines = match body {
                    Value::String(s) => vec![s.clone()],
                    other => strings(other),
                };
                if !lines.is_empty() {
                    self.scripts.entry(k.clone()).or_insert(lines);
                }
            }
        }
        match &v["packages"] {
            Value::Array(list) => {
                for p in list.iter().filter_map(Value::as_str) {
                    let (name, version) = p.rsplit_once('@').unwrap_or((p, "latest"));
                    self.push_package(name, version, &[], &shown);
                }
            }
            Value::Object(map) => {
                for (p, opts) in map {
                    let version = match opts {
                        Value::String(s) => s.as_str(),
                        o => o["version"].as_str().unwrap_or("latest"),
                    };
                    let platforms = strings(&opts["platforms"]);
                    let platforms: Vec<&str> = platforms.iter().map(String::as_str).collect();
                    self.push_package(p, version, &platforms, &shown);
                }
            }
            _ => {}
        }
        if let Some(create) = v["create_files"].as_object() {
            for (target, source) in create {
                let source = source.as_str().unwrap_or_default();
                let content = if source.is_empty() {
                    None
                } else {
                    match local.get(&dir.join(source)) {
                        Some(bytes) => Some(bytes.clone()),
                        None => {
                            self.warnings.push(format!(
                                "{shown}: `{source}` (for `{target}`) was not found next to the plugin; it is not created"
                            ));
                            continue;
                        }
                    }
                };
                self.push_file(root, Path::new(target), content, target.contains("bin/"));
            }
            if create.keys().any(|k| k.ends_with("process-compose.yaml")) {
                self.services.push(Service {
                    name: name.clone(),
                    plugin: name.clone(),
                });
            }
        }
    }

    fn builtin(&mut self, root: &Path, def: &Definition, name: &str) {
        let vars = Vars { root, name };
        let expand = |s: &str| vars.expand(s).0;
        self.plugins.push(def.name.to_string());
        for (k, v) in def.env {
            self.push_env(k, &expand(v), def.name);
        }
        self.init_hook
            .extend(def.init_hook.iter().map(|h| expand(h)));
        for (p, platforms) in def.packages {
            self.push_package(p, "latest", platforms, def.name);
        }
        for f in def.files {
            let content = f.content.map(|c| c.as_bytes().to_vec());
            self.push_file(root, Path::new(&expand(f.path)), content, f.executable);
        }
        if let Some(service) = def.service {
            self.services.push(Service {
                name: service.to_string(),
                plugin: def.name.to_string(),
            });
        }
    }

    fn push_env(&mut self, key: &str, value: &str, from: &str) {
        if let Err(why) = crate::shell::vars::check_name(key) {
            self.warnings
                .push(format!("{from}: `{key}` {why}; the plugin does not set it"));
            return;
        }
        self.env.push((key.to_string(), value.to_string()));
    }

    fn push_package(&mut self, name: &str, version: &str, platforms: &[&str], from: &str) {
        if crate::manifest::validate_name(name).is_err() || name.contains(':') {
            self.warnings.push(format!(
                "{from}: the package `{name}` is a flake or path reference, which devenv does not support; it is not added"
            ));
            return;
        }
        let version = if version.is_empty() {
            "latest"
        } else {
            version
        };
        if self.packages.iter().any(|p| p.name == name) {
            return;
        }
        let mut spec = PackageSpec::new(name, version);
        spec.platforms = platforms.iter().map(|s| s.to_string()).collect();
        self.packages.push(spec);
    }

    fn push_file(&mut self, root: &Path, path: &Path, content: Option<Vec<u8>>, executable: bool) {
        // Plugins write inside the project only.
        if !path.starts_with(root) || path.components().any(|c| c.as_os_str() == "..") {
            self.warnings.push(format!(
                "`{}` is outside the project; the plugin does not create it",
                path.display()
            ));
            return;
        }
        let keep_existing = path.starts_with(root.join("devbox.d"));
        self.files.push(PluginFile {
            path: path.to_path_buf(),
            content,
            executable,
            keep_existing,
        });
    }
}

/// Create the files and directories the plugins ask for: directories always, files under
/// `devbox.d` only when missing (they are the user's to edit), others when they differ.
pub fn create_files(files: &[PluginFile]) -> Result<()> {
    use anyhow::Context as _;
    for f in files {
        let Some(content) = &f.content else {
            std::fs::create_dir_all(&f.path)
                .with_context(|| format!("cannot create `{}`", f.path.display()))?;
            continue;
        };
        if f.keep_existing && f.path.exists() {
            continue;
        }
        if let Some(parent) = f.path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        crate::fsutil::write_if_changed(&f.path, content)
            .with_context(|| format!("cannot write `{}`", f.path.display()))?;
        if f.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&f.path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make `{}` executable", f.path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
