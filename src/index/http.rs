//! HTTP access for remote indexes, with an on-disk cache that keeps a fetched index usable offline.
//!
//! Every successful response body is stored under the cache directory together with its `ETag` and
//! `Last-Modified`; the next request for the same URL revalidates with `If-None-Match` /
//! `If-Modified-Since` and a `304` answer is served from disk. When the server cannot be reached
//! (connection refused, timeout, 5xx after the client's retries) a cached copy is used instead and
//! a warning is recorded once per host, so a team can keep working on a train. Bodies are parsed
//! before they are cached: a server that sends garbage never poisons the cache.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Context as _, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::ResultExt;
use crate::http::Reply;

/// The largest answer read (and cached).
const MAX_BODY: u64 = crate::limits::MAX_INDEX_BYTES;

/// How index requests go: the invocation's HTTP client, and whether the network may be used.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub client: crate::http::Client,
    /// Never touch the network; answer from the cache only.
    pub offline: bool,
}

impl HttpOptions {
    /// The `http_timeout`, `http_retries` and `offline` settings.
    pub fn from_settings(settings: &crate::settings::Settings) -> HttpOptions {
        HttpOptions {
            client: settings.http.clone(),
            offline: settings.offline.value,
        }
    }
}

/// The result of a GET that may legitimately find nothing.
#[derive(Debug)]
pub enum Fetched<T> {
    Found(T),
    NotFound,
}

/// What is stored next to a cached body.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    /// `true` when the server answered 404 the last time (so offline lookups stay "not found").
    not_found: bool,
}

/// A blocking HTTP client with a revalidating disk cache for one index base URL.
pub struct CachedHttp {
    dir: PathBuf,
    options: HttpOptions,
    warnings: Mutex<Vec<String>>,
}

impl CachedHttp {
    /// A client whose cache for `base_url` lives under `cache_root/<hash of base_url>/`.
    pub fn new(cache_root: &Path, base_url: &str, options: HttpOptions) -> CachedHttp {
        let dir = cache_root.join(short_hash(base_url));
        CachedHttp {
            dir,
            options,
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// Warnings collected so far (e.g. "using the cached copy"), each once.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn warn_once(&self, message: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&message) {
            w.push(message);
        }
    }

    /// GET `url` and parse the body as JSON. 404 is [`Fetched::NotFound`]. Invalid JSON is an
    /// error naming the URL and line:column.
    pub fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<Fetched<T>> {
        self.get_with(url, |body| parse_json(body, url))
    }

    /// GET `url` and turn the body into a value with `parse`; only bodies that parse are cached.
    pub fn get_with<T>(&self, url: &str, parse: impl Fn(&[u8]) -> Result<T>) -> Result<Fetched<T>> {
        let key = short_hash(url);
        let body_path = self.dir.join(format!("{key}.body"));
        let meta_path = self.dir.join(format!("{key}.meta"));
        let cached_meta: Option<CacheMeta> = crate::fsutil::read_bounded(&meta_path, 64 << 10)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let cached = || -> Option<Fetched<T>> {
            let meta = cached_meta.as_ref()?;
            if meta.not_found {
                return Some(Fetched::NotFound);
            }
            let body = crate::fsutil::read_bounded(&body_path, MAX_BODY).ok()?;
            parse(&body).ok().map(Fetched::Found)
        };

        if self.options.offline {
            return cached()
                .ok_or_else(|| anyhow!("`{url}` is not in the index cache and devenv is offline"))
                .hint("unset DEVENV_OFFLINE (or drop --offline, or `offline` in config.json) to fetch it");
        }

        let response = match self.send(url, cached_meta.as_ref()) {
            Ok(r) => r,
            Err(err) => {
                if let Some(value) = cached() {
                    self.warn_once(format!(
                        "the index at {} did not answer ({}); using the cached copy",
                        host_of(url),
                        first_line(&err)
                    ));
                    return Ok(value);
                }
                return Err(err);
            }
        };

        let status = response.status;
        if status == ureq::http::StatusCode::NOT_MODIFIED {
            if let Some(value) = cached() {
                return Ok(value);
            }
            return Err(anyhow!(
                "`{url}` answered 304 Not Modified but the cached copy is unreadable"
            ))
            .hint("delete devenv's index cache directory and try again");
        }
        if status == ureq::http::StatusCode::NOT_FOUND {
            self.store(&meta_path, &body_path, url, None, None, None);
            return Ok(Fetched::NotFound);
        }
        if !status.is_success() {
            return Err(anyhow!("the index at `{url}` answered HTTP {status}"))
                .hint("check the index URL (--index, DEVENV_INDEX) or try again later");
        }
        let value = parse(&response.body)?;
        self.store(
            &meta_path,
            &body_path,
            url,
            Some(&response.body),
            response.header(ureq::http::header::ETAG),
            response.header(ureq::http::header::LAST_MODIFIED),
        );
        Ok(Fetched::Found(value))
    }

    /// GET with conditional headers; the client retries connection failures, timeouts, cut-off
    /// bodies and 5xx answers. A 5xx that remains, and a failure, become errors with the hint
    /// that can fix them (a longer timeout cannot fix a network that is not there).
    fn send(&self, url: &str, cached: Option<&CacheMeta>) -> Result<Reply> {
        let mut headers = Vec::new();
        if let Some(meta) = cached.filter(|m| !m.not_found) {
            if let Some(etag) = &meta.etag {
                headers.push(("If-None-Match", etag.as_str()));
            }
            if let Some(lm) = &meta.last_modified {
                headers.push(("If-Modified-Since", lm.as_str()));
            }
        }
        match self.options.client.get(url, &headers, MAX_BODY) {
            Ok(r) if r.status.is_server_error() => {
                Err(anyhow!("the index at `{url}` answered HTTP {}", r.status))
                    .hint("the index server has a problem; try again later")
            }
            Ok(r) => Ok(r),
            // Asking again would get the same answer: the client does not retry it.
            Err(crate::http::Error::TooLarge { limit }) => Err(anyhow!(
                "the answer is larger than {}, the most devenv reads from an index",
                crate::limits::human_bytes(limit)
            ))
            .with_context(|| format!("cannot fetch `{url}`"))
            .hint("check the index URL (--index, DEVENV_INDEX); an index answer is a small JSON document"),
            Err(e) => {
                let hint = e.hint();
                let err =
                    Err(anyhow::Error::new(e)).with_context(|| format!("cannot fetch `{url}`"));
                match hint {
                    Some(hint) => err.hint(hint),
                    None => err,
                }
            }
        }
    }

    /// Cache a response. Failures to cache are not errors: the answer itself is fine.
    fn store(
        &self,
        meta_path: &Path,
        body_path: &Path,
        url: &str,
        body: Option<&[u8]>,
        etag: Option<String>,
        last_modified: Option<String>,
    ) {
        let meta = CacheMeta {
            url: url.to_string(),
            etag,
            last_modified,
            not_found: body.is_none(),
        };
        let _ = crate::fsutil::create_private_dir_all(&self.dir);
        if let Some(body) = body {
            if crate::fsutil::write_private(body_path, body).is_err() {
                return;
            }
        }
        if let Ok(bytes) = serde_json::to_vec(&meta) {
            let _ = crate::fsutil::write_private(meta_path, &bytes);
        }
    }
}

/// Parse JSON, naming `origin` (a path or URL) and the line:column of the first problem; nesting
/// deeper than [`crate::limits::MAX_DEPTH`] is refused before parsing.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], origin: &str) -> Result<T> {
    check_depth(bytes, origin)?;
    serde_json::from_slice(bytes).map_err(|e| {
        anyhow!("{origin}:{}:{}: {e}", e.line(), e.column())
            .context(format!("the index file `{origin}` is not valid"))
    })
}

/// Refuse an index document nesting deeper than [`crate::limits::MAX_DEPTH`], naming `origin` and
/// the line:column where it does.
pub fn check_depth(bytes: &[u8], origin: &str) -> Result<()> {
    crate::limits::check_depth(bytes, crate::limits::MAX_DEPTH).map_err(|e| {
        anyhow!("{origin}:{}:{}: {e}", e.line, e.column)
            .context(format!("the index file `{origin}` is not valid"))
    })
}

fn short_hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn host_of(url: &str) -> &str {
    crate::http::host_of(url)
}

fn first_line(err: &anyhow::Error) -> String {
    err.chain()
        .last()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// Percent-encode a query value (RFC 3986 unreserved characters pass through).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode_query("^2.16 <3"), "%5E2.16%20%3C3");
        assert_eq!(encode_query("python3.11"), "python3.11");
    }

    #[test]
    fn garbage_names_origin_line_and_column() {
        let err =
            parse_json::<serde_json::Value>(b"{\n  \"a\": ,\n}", "http://x/p.json").unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("http://x/p.json:2:8"), "{text}");
    }

    #[test]
    fn hosts_are_extracted_for_warnings() {
        assert_eq!(
            host_of("http://127.0.0.1:80/packages/a.json"),
            "127.0.0.1:80"
        );
        assert_eq!(host_of("https://example.org"), "example.org");
    }
}
