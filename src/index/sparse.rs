//! The static sparse index backend: a directory (or `file://` URL) on disk, or the same files
//! served over http(s).
//!
//! Like crates.io's sparse registry, only the files a command needs are read: `add` reads
//! `index.json` and one `packages/<name>.json`, never the whole index, so resolving stays as cheap
//! as starting the process even for an index of hundreds of thousands of versions. `search` and
//! name suggestions read `names.jsonl`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Context as _, Result};

use super::format::{IndexMeta, NameLine, PackageFile, FORMAT};
use super::http::{encode_query, parse_json, CachedHttp, Fetched, HttpOptions};
use super::{closest, Index, SearchHit};
use crate::diagnostic::ResultExt;

enum Source {
    Dir(PathBuf),
    Http { base: String, http: CachedHttp },
}

/// The lock `source` of a directory index whose `index.json` names no `id`.
pub const LOCAL_INDEX_ID: &str = "local-index";

/// A static sparse index.
pub struct SparseIndex {
    source: Source,
    id: String,
    /// Entries left out because they break the lock's rules (see [`super::validate`]).
    warnings: Mutex<Vec<String>>,
}

/// Read a file of a directory index, bounded by [`crate::limits::MAX_INDEX_BYTES`];
/// `None` when it does not exist.
fn read_index_file(path: &Path) -> Result<Option<Vec<u8>>> {
    match crate::fsutil::read_bounded(path, crate::limits::MAX_INDEX_BYTES) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// The id an index names in `index.json` becomes every lock entry's `source`: it must follow the
/// lock's rule for that field.
fn checked_id(id: String, origin: &str) -> Result<String> {
    crate::lock::validate::field("id", crate::lock::validate::source(&id))
        .map_err(|e| anyhow!("{origin}: {e}"))
        .context("the index's `index.json` is not valid")
        .hint("the `id` of an index is a short name such as `team-index`; ask its maintainer to fix it")?;
    Ok(id)
}

impl SparseIndex {
    /// Open the index in directory `dir`, which must hold `index.json`.
    /// Its id is `index.json`'s `id`, or [`LOCAL_INDEX_ID`] when it has none.
    pub fn open_dir(dir: &Path) -> Result<SparseIndex> {
        let meta_path = dir.join("index.json");
        let bytes = match read_index_file(&meta_path)? {
            Some(b) => b,
            None => {
                let what = if dir.is_dir() {
                    "has no `index.json`"
                } else {
                    "does not exist"
                };
                return Err(anyhow!("the index directory `{}` {what}", dir.display()))
                    .hint("point --index (or DEVENV_INDEX) at a directory made by `devenv index build`, or at an http(s) index")
                    .bad_input();
            }
        };
        let meta: IndexMeta = parse_json(&bytes, &meta_path.display().to_string())?;
        check_format(&meta, &meta_path.display().to_string())?;
        // The id lands in every colleague's lock, so it must not depend on where this machine keeps
        // the directory (a path would differ per person and leak home directories into the repo).
        let id = meta
            .extra
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or(LOCAL_INDEX_ID)
            .to_string();
        Ok(SparseIndex {
            source: Source::Dir(dir.to_path_buf()),
            id: checked_id(id, &meta_path.display().to_string())?,
            warnings: Mutex::default(),
        })
    }

    /// Open a static index at an http(s) URL; `index.json` must exist there.
    pub fn open_http(url: &str, cache: &Path, options: HttpOptions) -> Result<SparseIndex> {
        match SparseIndex::probe_http(url, cache, options)? {
            Some(index) => Ok(index),
            None => Err(anyhow!(
                "`{}/index.json` does not exist",
                url.trim_end_matches('/')
            ))
            .hint("check the index URL (--index, DEVENV_INDEX)")
            .bad_input(),
        }
    }

    /// A static index at `url` if it serves `index.json`, `None` if that file is not there.
    pub fn probe_http(
        url: &str,
        cache: &Path,
        options: HttpOptions,
    ) -> Result<Option<SparseIndex>> {
        let base = url.trim_end_matches('/').to_string();
        let http = CachedHttp::new(cache, &base, options);
        let meta_url = format!("{base}/index.json");
        let meta: IndexMeta = match http.get_json(&meta_url)? {
            Fetched::Found(m) => m,
            Fetched::NotFound => return Ok(None),
        };
        check_format(&meta, &meta_url)?;
        let id = meta
            .extra
            .get("id")
            .and_then(|v| v.as_str())
            .map_or_else(|| base.clone(), str::to_string);
        Ok(Some(SparseIndex {
            id: checked_id(id, &meta_url)?,
            source: Source::Http { base, http },
            warnings: Mutex::default(),
        }))
    }

    fn names(&self) -> Result<Vec<NameLine>> {
        self.names_matching(None)
    }

    /// The name lines; with a query, from a local index only those that can match it. A
    /// downloaded list is always read whole, as it is checked before it is cached.
    fn names_matching(&self, query: Option<&str>) -> Result<Vec<NameLine>> {
        match &self.source {
            Source::Dir(dir) => {
                let path = dir.join("names.jsonl");
                let origin = path.display().to_string();
                let missing = || {
                    Err(anyhow!("`{origin}` does not exist"))
                        .hint("the index is incomplete; rebuild it with `devenv index build`")
                };
                if let Some(query) = query {
                    let file = match std::fs::File::open(&path) {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return missing(),
                        other => other.with_context(|| format!("cannot read `{origin}`"))?,
                    };
                    let limit = crate::limits::MAX_INDEX_BYTES;
                    if let Some(lines) = super::name_scan::scan(file, &origin, query, limit)? {
                        return Ok(lines);
                    }
                }
                match read_index_file(&path)? {
                    Some(bytes) => parse_names(&bytes, &origin),
                    None => missing(),
                }
            }
            Source::Http { base, http } => {
                let url = format!("{base}/names.jsonl");
                match http.get_with(&url, |b| parse_names(b, &url))? {
                    Fetched::Found(n) => Ok(n),
                    Fetched::NotFound => Err(anyhow!("`{url}` does not exist"))
                        .hint("the index is incomplete; ask its maintainer to publish names.jsonl"),
                }
            }
        }
    }
}

fn check_format(meta: &IndexMeta, origin: &str) -> Result<()> {
    if meta.format > FORMAT {
        return Err(anyhow!(
            "the index `{origin}` has format {}, newer than this devenv reads ({FORMAT})",
            meta.format
        ))
        .hint("upgrade devenv");
    }
    Ok(())
}

/// Parse `names.jsonl`, naming the line of the first bad entry.
pub(super) fn parse_names(bytes: &[u8], origin: &str) -> Result<Vec<NameLine>> {
    super::http::check_depth(bytes, origin)?;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| anyhow!("{origin}: not UTF-8 ({e})"))
        .context("the index's name list is not valid")?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: NameLine = serde_json::from_str(line).map_err(|e| {
            anyhow!("{origin}:{}:{}: {e}", i + 1, e.column())
                .context(format!("the index file `{origin}` is not valid"))
        })?;
        out.push(entry);
    }
    Ok(out)
}

/// Whether `name` can be a file name under `packages/` (guards against `../` in names).
fn safe_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

impl SparseIndex {
    fn warn(&self, warnings: impl IntoIterator<Item = String>) {
        self.warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(warnings);
    }
}

impl Index for SparseIndex {
    fn id(&self) -> &str {
        &self.id
    }

    fn package(&self, name: &str) -> Result<Option<PackageFile>> {
        if !safe_file_name(name) {
            return Err(anyhow!("`{name}` is not a valid package name"))
                .hint("package names are nixpkgs attribute names such as `ansible` or `python3`")
                .bad_input();
        }
        let file: PackageFile = match &self.source {
            Source::Dir(dir) => {
                let path = dir.join("packages").join(format!("{name}.json"));
                let Some(bytes) = read_index_file(&path)? else {
                    return Ok(None);
                };
                parse_json(&bytes, &path.display().to_string())?
            }
            Source::Http { base, http } => {
                let url = format!("{base}/packages/{}.json", encode_query(name));
                match http.get_json(&url)? {
                    Fetched::Found(f) => f,
                    Fetched::NotFound => return Ok(None),
                }
            }
        };
        let (file, warnings) = super::validate::package(&self.id, name, file)?;
        self.warn(warnings);
        Ok(Some(file))
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let names = self.names_matching(Some(query))?;
        let (hits, warning) = super::validate::hits(&self.id, rank(query, names, usize::MAX));
        self.warn(warning);
        Ok(hits.into_iter().take(limit).collect())
    }

    fn similar_names(&self, name: &str) -> Result<Vec<String>> {
        let names = self.names()?;
        Ok(closest(
            name,
            names
                .iter()
                .map(|n| n.name.as_str())
                .filter(|n| crate::manifest::validate_name(n).is_ok()),
        ))
    }

    fn take_warnings(&self) -> Vec<String> {
        let mut out = match &self.source {
            Source::Dir(_) => Vec::new(),
            Source::Http { http, .. } => http.take_warnings(),
        };
        out.append(&mut self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        out
    }
}

/// Rank name lines for a query: exact name, name prefix, name substring, then summary substring
/// (case-insensitive); ties by shorter name, then alphabetically.
pub fn rank(query: &str, names: Vec<NameLine>, limit: usize) -> Vec<SearchHit> {
    let q = query.to_lowercase();
    let mut scored: Vec<(u8, NameLine)> = names
        .into_iter()
        .filter_map(|n| {
            let name = n.name.to_lowercase();
            let score = if name == q {
                0
            } else if name.starts_with(&q) {
                1
            } else if name.contains(&q) {
                2
            } else if n.summary.to_lowercase().contains(&q) {
                3
            } else {
                return None;
            };
            Some((score, n))
        })
        .collect();
    scored.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.name.len().cmp(&b.1.name.len()))
            .then(a.1.name.cmp(&b.1.name))
    });
    scored
        .into_iter()
        .take(limit)
        .map(|(_, n)| SearchHit {
            name: n.name,
            summary: n.summary,
            latest: n.latest,
            attr_path: n.attr_path,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, summary: &str) -> NameLine {
        NameLine {
            name: name.into(),
            summary: summary.into(),
            latest: "1.0".into(),
            attr_path: String::new(),
        }
    }

    #[test]
    fn search_ranks_exact_then_prefix_then_substring_then_summary() {
        let names = vec![
            line("python-jq", "bindings"),
            line("gojq", "jq in go"),
            line("jq", "JSON processor"),
            line("jqp", "TUI"),
            line("yq", "like jq for yaml"),
        ];
        let hits: Vec<String> = rank("jq", names, 10).into_iter().map(|h| h.name).collect();
        assert_eq!(hits, vec!["jq", "jqp", "gojq", "python-jq", "yq"]);
    }

    #[test]
    fn bad_names_line_is_named() {
        let err = parse_names(
            b"{\"name\":\"a\",\"latest\":\"1\"}\n{oops}\n",
            "idx/names.jsonl",
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("idx/names.jsonl:2:2"),
            "{err:#}"
        );
    }

    #[test]
    fn directory_without_index_json_is_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        let err = SparseIndex::open_dir(tmp.path()).err().unwrap();
        let report = crate::diagnostic::Report::from_error(&err);
        assert_eq!(report.exit_code, crate::diagnostic::EXIT_BAD_INPUT);
        assert!(report.message.contains("index.json"), "{report:?}");
    }

    #[test]
    fn newer_format_asks_for_an_upgrade() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("index.json"), r#"{"format": 7}"#).unwrap();
        let err = SparseIndex::open_dir(tmp.path()).err().unwrap();
        let report = crate::diagnostic::Report::from_error(&err);
        assert!(report.message.contains("format 7"), "{report:?}");
        assert_eq!(report.hints, vec!["upgrade devenv".to_string()]);
    }

    #[test]
    fn path_like_names_are_refused() {
        assert!(!safe_file_name("../etc/passwd"));
        assert!(!safe_file_name("a/b"));
        assert!(safe_file_name("python3.11"));
    }
}
