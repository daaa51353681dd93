//! One evaluation: the package set of one exported nixpkgs revision, for one system, listed by the
//! real Nix evaluator (`nix-env -qaP --json --meta --out-path`), reduced to what the index keeps.
//!
//! Evaluation never builds and never writes to a store (`--store dummy://`): output paths are
//! computed, not realized. The package set is wrapped by `eval.nix`, which drops attributes that
//! throw and names them on stderr, so one broken package costs one entry, not the revision. An
//! `abort` still ends nix-env's listing; then the top-level attributes are listed in groups, and a
//! failing group is halved until the attributes that abort are found: a few aborting attributes
//! cost a few dozen evaluator runs, not one per attribute.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::lock::Output;

/// The wrapper expression handed to `nix-env -f`.
pub const WRAPPER: &str = include_str!("eval.nix");

/// The trace line prefix `eval.nix` prints for an attribute it left out.
const SKIP_PREFIX: &str = "trace: devenv-skip: ";

/// Everything the index needs from one (revision, system) evaluation. This is also the format of
/// the resumable per-evaluation cache files, so it is versioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalResult {
    pub rev: String,
    pub last_modified: String,
    pub system: String,
    /// Sorted by attribute path.
    pub packages: Vec<EvalPackage>,
    /// Attributes that failed to evaluate, sorted.
    pub failed: Vec<String>,
}

/// One derivation as listed by nix-env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalPackage {
    pub attr_path: String,
    /// `pname`, as Nix parses it from the derivation name.
    pub name: String,
    pub version: String,
    /// Default outputs first, then by name; `default` marks `meta.outputsToInstall` (or the first output).
    pub outputs: Vec<Output>,
    pub summary: String,
    pub homepage: String,
    pub license: Vec<String>,
}

/// What nix-env prints per attribute (only the fields used). Everything else, most of `meta` in
/// nixpkgs (`platforms`, `maintainers`, `position`, …), is skipped while parsing, never built
/// into values: parsing the listing is work the evaluator loop this replaces does not do.
#[derive(Debug, Deserialize)]
struct NixEnvItem {
    #[serde(default)]
    pname: String,
    #[serde(default)]
    version: String,
    #[serde(rename = "outputName", default)]
    output_name: String,
    #[serde(default)]
    outputs: BTreeMap<String, Option<String>>,
    #[serde(default)]
    meta: NixEnvMeta,
}

/// The `meta` fields the index keeps. They stay loosely typed: nixpkgs has strings, lists and
/// attribute sets in each of them, and an unexpected shape must not cost the whole listing.
#[derive(Debug, Default, Deserialize)]
struct NixEnvMeta {
    #[serde(default)]
    description: Option<serde_json::Value>,
    #[serde(default)]
    homepage: Option<serde_json::Value>,
    #[serde(default)]
    license: Option<serde_json::Value>,
    #[serde(rename = "outputsToInstall", default)]
    outputs_to_install: Option<serde_json::Value>,
}

/// One nix-env listing: the packages (`attr_path` as listed) and the attributes the wrapper left
/// out, or why the listing as a whole failed.
/// Skipped attributes are `(system, attribute)`.
type Listing = Result<(Vec<EvalPackage>, Vec<(String, String)>), String>;

/// nix-env's JSON listing, reduced to index packages item by item as it is read, so neither the
/// whole text nor its items are ever held at once.
struct Listed(Vec<EvalPackage>);

impl<'de> Deserialize<'de> for Listed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items;
        impl<'de> serde::de::Visitor<'de> for Items {
            type Value = Listed;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of attribute paths")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Listed, A::Error> {
                let mut packages = Vec::new();
                while let Some((attr_path, item)) = map.next_entry::<String, NixEnvItem>()? {
                    packages.extend(package(attr_path, item));
                }
                Ok(Listed(packages))
            }
        }
        deserializer.deserialize_map(Items)
    }
}

/// Parse a listing as nix-env prints it. nix-env prints while it still evaluates, so parsing
/// the pipe as it fills runs alongside the evaluator instead of after it.
fn parse_listing(reader: impl std::io::Read) -> serde_json::Result<Vec<EvalPackage>> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let Listed(packages) = Listed::deserialize(&mut de)?;
    de.end()?;
    Ok(packages)
}

/// What one evaluator run lists: one system (attribute paths as in the package set) or several
/// (attribute paths prefixed with `<system>.`).
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    One(&'a str),
    Many(&'a [String]),
}

/// How to run the evaluator.
#[derive(Debug, Clone)]
pub struct Evaluator {
    /// The `nix-env` program.
    pub nix_env: String,
    /// Where `eval.nix` has been written.
    pub wrapper: std::path::PathBuf,
}

impl Evaluator {
    fn command(&self, tree: &Path, target: Target<'_>, only: Option<&Path>) -> Command {
        let mut cmd = Command::new(&self.nix_env);
        cmd.args([
            "--store",
            "dummy://",
            "-qaP",
            "--json",
            "--meta",
            "--out-path",
        ])
        .arg("-f")
        .arg(&self.wrapper)
        .arg("--argstr")
        .arg("path")
        .arg(tree);
        match target {
            Target::One(system) => cmd.args(["--argstr", "system", system]),
            Target::Many(systems) => cmd.args(["--argstr", "systems", &systems.join(",")]),
        };
        if let Some(file) = only {
            cmd.arg("--argstr").arg("only").arg(file);
        }
        cmd.stdin(Stdio::null())
            .env("NIX_CONFIG", "substituters =\nexperimental-features =");
        cmd
    }

    /// Run one listing: the parsed items and the attributes the wrapper skipped, or the error text.
    fn list(
        &self,
        tree: &Path,
        target: Target<'_>,
        only: Option<&Path>,
    ) -> anyhow::Result<Listing> {
        use std::io::Read;
        let mut child = self
            .command(tree, target, only)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not run {}", self.nix_env))?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            bail!("{} has no output pipes", self.nix_env);
        };
        let (parsed, stderr, status) = std::thread::scope(|scope| {
            // stderr is read on its own so that neither pipe fills up and stalls nix-env.
            let errors = scope.spawn(move || {
                let mut text = Vec::new();
                stderr.read_to_end(&mut text).map(|_| text)
            });
            let mut stdout = std::io::BufReader::with_capacity(1 << 16, stdout);
            let parsed = parse_listing(&mut stdout);
            // A listing cut short (an `abort`) or followed by junk leaves output unread: drain
            // it, or nix-env would wait on a full pipe forever.
            let drained = std::io::copy(&mut stdout, &mut std::io::sink());
            let errors = errors.join().expect("stderr reader");
            let status = child.wait();
            (parsed, errors, drained.and(status))
        });
        let status = status.with_context(|| format!("could not run {}", self.nix_env))?;
        let stderr = stderr.with_context(|| format!("could not read from {}", self.nix_env))?;
        let stderr = String::from_utf8_lossy(&stderr);
        let skipped = stderr
            .lines()
            .filter_map(|l| l.strip_prefix(SKIP_PREFIX))
            .filter_map(|l| l.split_once(' '))
            .map(|(system, attr)| (system.to_owned(), attr.to_owned()))
            .collect();
        if !status.success() {
            return Ok(Err(stderr.trim().to_owned()));
        }
        match parsed {
            Ok(packages) => Ok(Ok((packages, skipped))),
            Err(e) => Ok(Err(format!("nix-env printed invalid JSON ({e})"))),
        }
    }

    /// The top-level attribute names of the package set, called as the wrapper calls it (the
    /// values are not forced).
    fn attr_names(&self, tree: &Path, system: &str) -> anyhow::Result<Vec<String>> {
        let nix_instantiate = Path::new(&self.nix_env).with_file_name("nix-instantiate");
        let program = if self.nix_env.contains('/') {
            nix_instantiate.into_os_string()
        } else {
            "nix-instantiate".into()
        };
        let out = Command::new(program)
            .args(["--store", "dummy://", "--eval", "--json"])
            .arg(&self.wrapper)
            .arg("--argstr")
            .arg("path")
            .arg(tree)
            .args(["--argstr", "system", system, "--arg", "namesOnly", "true"])
            .stdin(Stdio::null())
            .output()
            .context("could not run nix-instantiate")?;
        if !out.status.success() {
            bail!(
                "the package set does not evaluate: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// List `names` as one group; when the group fails, list each half, down to single attributes.
    fn bisect(
        &self,
        tree: &Path,
        system: &str,
        names: &[String],
        scratch: &Path,
        items: &mut Vec<EvalPackage>,
        failed: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let file = scratch.join("only.json");
        std::fs::write(&file, serde_json::to_vec(names)?)?;
        match self.list(tree, Target::One(system), Some(&file))? {
            Ok((group, skipped)) => {
                items.extend(group);
                failed.extend(skipped.into_iter().map(|(_, attr)| attr));
            }
            Err(_) if names.len() == 1 => failed.push(names[0].clone()),
            Err(_) => {
                let (a, b) = names.split_at(names.len() / 2);
                self.bisect(tree, system, a, scratch, items, failed)?;
                self.bisect(tree, system, b, scratch, items, failed)?;
            }
        }
        Ok(())
    }

    /// Evaluate `tree` (an exported revision) for `system`. Broken attributes are skipped and
    /// listed in [`EvalResult::failed`]; an error means the package set as a whole does not evaluate.
    pub fn evaluate(
        &self,
        tree: &Path,
        rev: &str,
        last_modified: &str,
        system: &str,
    ) -> anyhow::Result<EvalResult> {
        let (items, mut failed) = match self.list(tree, Target::One(system), None)? {
            Ok((items, skipped)) => (items, skipped.into_iter().map(|(_, a)| a).collect()),
            Err(_whole_listing_failed) => {
                let names = self.attr_names(tree, system)?;
                let scratch = tempfile::tempdir()?;
                let mut items = Vec::new();
                let mut failed = Vec::new();
                self.bisect(
                    tree,
                    system,
                    &names,
                    scratch.path(),
                    &mut items,
                    &mut failed,
                )?;
                (items, failed)
            }
        };
        failed.sort();
        Ok(result(rev, last_modified, system, items, failed))
    }

    /// Evaluate `tree` for several systems in one evaluator run. `None` when that run fails as a
    /// whole (an `abort`, say): the caller then evaluates each system on its own.
    pub fn evaluate_many(
        &self,
        tree: &Path,
        rev: &str,
        last_modified: &str,
        systems: &[String],
    ) -> anyhow::Result<Option<Vec<EvalResult>>> {
        let Ok((items, skipped)) = self.list(tree, Target::Many(systems), None)? else {
            return Ok(None);
        };
        let mut by_system: BTreeMap<&str, (Vec<EvalPackage>, Vec<String>)> = systems
            .iter()
            .map(|s| (s.as_str(), Default::default()))
            .collect();
        for mut package in items {
            let Some((system, attr)) = package.attr_path.split_once('.') else {
                continue;
            };
            if let Some((items, _)) = by_system.get_mut(system) {
                package.attr_path = attr.to_owned();
                items.push(package);
            }
        }
        for (system, attr) in skipped {
            if let Some((_, failed)) = by_system.get_mut(system.as_str()) {
                failed.push(attr);
            }
        }
        Ok(Some(
            by_system
                .into_iter()
                .map(|(system, (items, mut failed))| {
                    failed.sort();
                    result(rev, last_modified, system, items, failed)
                })
                .collect(),
        ))
    }
}

fn result(
    rev: &str,
    last_modified: &str,
    system: &str,
    mut packages: Vec<EvalPackage>,
    mut failed: Vec<String>,
) -> EvalResult {
    packages.sort_by(|a, b| a.attr_path.cmp(&b.attr_path));
    packages.dedup_by(|a, b| a.attr_path == b.attr_path);
    failed.dedup();
    EvalResult {
        rev: rev.to_owned(),
        last_modified: last_modified.to_owned(),
        system: system.to_owned(),
        packages,
        failed,
    }
}

/// Reduce one nix-env item to an index package; `None` for items without a version or outputs,
/// which a version index cannot offer.
fn package(attr_path: String, item: NixEnvItem) -> Option<EvalPackage> {
    if item.version.is_empty() || item.pname.is_empty() {
        return None;
    }
    let meta = item.meta;
    let to_install: Vec<String> = meta
        .outputs_to_install
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| vec![item.output_name.clone()]);
    let mut outputs: Vec<Output> = item
        .outputs
        .into_iter()
        .filter_map(|(name, path)| {
            let path = path?;
            Some(Output {
                default: to_install.contains(&name),
                name,
                path,
            })
        })
        .collect();
    if outputs.is_empty() {
        return None;
    }
    // Default outputs first: a consumer taking `outputs[0]` gets what `nix-env -i` would install.
    outputs.sort_by(|a, b| (!a.default, &a.name).cmp(&(!b.default, &b.name)));
    let text = |value: Option<serde_json::Value>| match value {
        Some(serde_json::Value::String(s)) => s,
        Some(serde_json::Value::Array(list)) => list
            .first()
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    Some(EvalPackage {
        attr_path,
        name: item.pname,
        version: item.version,
        outputs,
        summary: text(meta.description),
        homepage: text(meta.homepage),
        license: licenses(meta.license.as_ref()),
    })
}

/// `meta.license` is a string, a license attrset or a list of either; keep SPDX ids where known.
fn licenses(value: Option<&serde_json::Value>) -> Vec<String> {
    fn one(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(m) => ["spdxId", "shortName", "fullName"]
                .iter()
                .find_map(|k| m.get(*k).and_then(|v| v.as_str()).map(str::to_owned)),
            _ => None,
        }
    }
    match value {
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(json: serde_json::Value) -> NixEnvItem {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn package_marks_outputs_to_install_as_default() {
        let p = package(
            "ansible".into(),
            item(serde_json::json!({
                "name": "ansible-2.16.5", "pname": "ansible", "version": "2.16.5",
                "outputName": "out",
                "outputs": {"man": "/nix/store/a-ansible-2.16.5-man", "out": "/nix/store/b-ansible-2.16.5"},
                "meta": {"description": "IT automation", "homepage": ["https://a", "https://b"],
                         "license": [{"spdxId": "GPL-3.0-or-later"}, "custom"],
                         "outputsToInstall": ["out", "man"]}
            })),
        )
        .unwrap();
        assert_eq!(p.outputs.len(), 2);
        assert!(p.outputs.iter().all(|o| o.default));
        assert_eq!(p.homepage, "https://a");
        assert_eq!(p.license, vec!["GPL-3.0-or-later", "custom"]);
    }

    #[test]
    fn package_defaults_to_the_first_output_and_needs_a_version() {
        let p = package(
            "x".into(),
            item(serde_json::json!({
                "pname": "x", "version": "1", "outputName": "bin",
                "outputs": {"bin": "/nix/store/a-x-1-bin", "out": "/nix/store/b-x-1"}, "meta": {}
            })),
        )
        .unwrap();
        let defaults: Vec<_> = p
            .outputs
            .iter()
            .filter(|o| o.default)
            .map(|o| &o.name)
            .collect();
        assert_eq!(defaults, vec!["bin"]);
        assert!(package(
            "y".into(),
            item(serde_json::json!({"pname": "y", "version": "", "outputs": {"out": "/nix/store/c-y"}}))
        )
        .is_none());
    }

    #[test]
    fn a_listing_parses_with_the_meta_fields_the_index_does_not_keep() {
        // Shaped like real nixpkgs output: large `meta` fields of every JSON type, and a
        // description that is not a string (kept as an empty summary, not a failed listing).
        let listing = br#"{
          "git": {"name": "git-2.44.0", "pname": "git", "version": "2.44.0", "system": "x86_64-linux",
            "outputName": "out", "outputs": {"doc": "/nix/store/d-git-doc", "out": "/nix/store/o-git"},
            "meta": {"available": true, "broken": false, "position": "pkgs/git/default.nix:1",
              "platforms": ["x86_64-linux", "aarch64-linux"], "maintainers": [{"name": "A", "github": "a", "githubId": 1}],
              "description": "Distributed \"version\" control", "homepage": "https://git-scm.com/",
              "license": {"spdxId": "GPL-2.0-only", "free": true}, "outputsToInstall": ["out"],
              "timeout": 3600.5, "nested": {"deeper": [[1, null], {"x": "y"}]}}},
          "odd": {"pname": "odd", "version": "1", "outputName": "out",
            "outputs": {"out": "/nix/store/o-odd"}, "meta": {"description": 42, "license": null}}
        }"#;
        let items: BTreeMap<String, NixEnvItem> = serde_json::from_slice(listing).unwrap();
        let git = package("git".into(), items.into_iter().next().unwrap().1).unwrap();
        assert_eq!(git.summary, "Distributed \"version\" control");
        assert_eq!(git.homepage, "https://git-scm.com/");
        assert_eq!(git.license, vec!["GPL-2.0-only"]);
        let defaults: Vec<_> = git
            .outputs
            .iter()
            .map(|o| (o.name.as_str(), o.default))
            .collect();
        assert_eq!(defaults, vec![("out", true), ("doc", false)]);

        let items: BTreeMap<String, NixEnvItem> = serde_json::from_slice(listing).unwrap();
        let odd = package("odd".into(), items.into_iter().nth(1).unwrap().1).unwrap();
        assert_eq!((odd.summary.as_str(), odd.license.len()), ("", 0));

        // Read as a stream, the listing gives the same packages; cut short or followed by
        // anything, it is an error, never a shorter listing.
        let streamed = parse_listing(&listing[..]).unwrap();
        assert_eq!(streamed, vec![git, odd]);
        for len in 0..listing.len() - 1 {
            assert!(parse_listing(&listing[..len]).is_err(), "cut at {len}");
        }
        assert!(parse_listing(&[&listing[..], b" {}"].concat()[..]).is_err());
    }
}
