//! HTTP access for remote indexes, with an on-disk cache that keeps a fetched index usable offline.
//!
//! Every successful response body is stored under the cache directory together with its `ETag` and
//! `Last-Modified`; the next request for the same URL revalidates with `If-None-Match` /
//! `If-Modified-Since` and a `304` answer is served from disk. When the server cannot be reached
//! (connection refused, timeout, 5xx after retries) a cached copy is used instead and a warning is
//! recorded once per host, so a team can keep working on a train. Bodies are parsed before they are
//! cached: a server that sends garbage never poisons the cache.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::ResultExt;

/// Default connect and read timeout in seconds (`DEVENV_HTTP_TIMEOUT` overrides it).
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// How many times a request is retried after a timeout, connection failure or 5xx answer.
const RETRIES: u32 = 2;
/// The largest answer read (and cached).
const MAX_BODY: u64 = crate::limits::MAX_INDEX_BYTES;

/// How the HTTP client behaves; read once from the environment by [`HttpOptions::from_env`].
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub timeout: Duration,
    /// Never touch the network; answer from the cache only.
    pub offline: bool,
}

impl HttpOptions {
    /// `DEVENV_HTTP_TIMEOUT` (seconds, may be fractional) and `DEVENV_OFFLINE` (`1`/`true`).
    pub fn from_env() -> Result<HttpOptions> {
        let timeout = match std::env::var("DEVENV_HTTP_TIMEOUT") {
            Ok(v) => {
                let secs: f64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| anyhow!("DEVENV_HTTP_TIMEOUT=`{v}` is not a number of seconds"))
                    .hint("set it to a positive number such as 30")
                    .bad_input()?;
                Duration::from_secs_f64(secs)
            }
            Err(_) => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        };
        let offline = matches!(
            std::env::var("DEVENV_OFFLINE").as_deref(),
            Ok("1") | Ok("true") | Ok("yes")
        );
        Ok(HttpOptions { timeout, offline })
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

/// A fully read answer.
struct Reply {
    status: ureq::http::StatusCode,
    etag: Option<String>,
    last_modified: Option<String>,
    body: Vec<u8>,
}

/// A blocking HTTP client with a revalidating disk cache for one index base URL.
pub struct CachedHttp {
    dir: PathBuf,
    options: HttpOptions,
    client: OnceLock<ureq::Agent>,
    warnings: Mutex<Vec<String>>,
}

impl CachedHttp {
    /// A client whose cache for `base_url` lives under `cache_root/<hash of base_url>/`.
    pub fn new(cache_root: &Path, base_url: &str, options: HttpOptions) -> CachedHttp {
        let dir = cache_root.join(short_hash(base_url));
        CachedHttp {
            dir,
            options,
            client: OnceLock::new(),
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

    fn client(&self) -> &ureq::Agent {
        self.client
            .get_or_init(|| crate::http::agent(self.options.timeout, crate::http::USER_AGENT))
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
                .hint("unset DEVENV_OFFLINE to fetch it");
        }

        let response = match self.send(url, cached_meta.as_ref()) {
            Ok(r) => r,
            Err(err) => {
                if let Some(value) = cached() {
                    self.warn_once(format!(
                        "cannot reach the index at {} ({}); using the cached copy",
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
            response.etag,
            response.last_modified,
        );
        Ok(Fetched::Found(value))
    }

    /// Send with bounded retries on connection failures, timeouts, cut-off bodies and 5xx answers.
    fn send(&self, url: &str, cached: Option<&CacheMeta>) -> Result<Reply> {
        let client = self.client();
        let timeout = self.options.timeout;
        let mut attempt = 0;
        loop {
            let mut req = client.get(url);
            if let Some(meta) = cached.filter(|m| !m.not_found) {
                if let Some(etag) = &meta.etag {
                    req = req.header(ureq::http::header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = &meta.last_modified {
                    req = req.header(ureq::http::header::IF_MODIFIED_SINCE, lm);
                }
            }
            let result = match req.call() {
                Ok(r) => {
                    let status = r.status();
                    let etag = header(&r, ureq::http::header::ETAG);
                    let last_modified = header(&r, ureq::http::header::LAST_MODIFIED);
                    let reader = r.into_body().into_reader();
                    match crate::fsutil::read_to_end_bounded(reader, MAX_BODY) {
                        Ok(body) => Ok(Reply {
                            status,
                            etag,
                            last_modified,
                            body,
                        }),
                        // Asking again would get the same answer: not retried.
                        Err(e) if crate::fsutil::too_large(&e).is_some() => {
                            return Err(anyhow!(
                                "the answer is larger than {}, the most devenv reads from an index",
                                crate::limits::human_bytes(MAX_BODY)
                            ))
                            .with_context(|| format!("cannot fetch `{url}`"))
                            .hint("check the index URL (--index, DEVENV_INDEX); an index answer is a small JSON document");
                        }
                        Err(e) => Err(crate::http::describe_read(&e, timeout)),
                    }
                }
                Err(e) => Err(crate::http::describe(&e, timeout)),
            };
            let retryable = match &result {
                Ok(r) => r.status.is_server_error(),
                Err(_) => true,
            };
            if !retryable || attempt >= RETRIES {
                return match result {
                    Ok(r) if r.status.is_server_error() => {
                        Err(anyhow!("the index at `{url}` answered HTTP {}", r.status))
                            .hint("the index server has a problem; try again later")
                    }
                    Ok(r) => Ok(r),
                    Err(e) => Err(anyhow!(e))
                        .with_context(|| format!("cannot fetch `{url}`"))
                        .hint("check the network, or raise DEVENV_HTTP_TIMEOUT for a slow index"),
                };
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(150 * u64::from(attempt)));
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

fn header(r: &crate::http::Response, name: ureq::http::header::HeaderName) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn short_hash(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
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
