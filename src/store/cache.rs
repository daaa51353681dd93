//! Reading binary caches (`https://`, `http://`, `file://` or a plain directory): their
//! `nix-cache-info`, `.narinfo` lookups (with an on-disk positive/negative cache) and NAR streams.
//!
//! This module only moves bytes and classifies failures; what to trust is decided by `substitute`.
//! Transient failures (connection errors, 5xx, timeouts) are retried with exponential backoff;
//! 404/403 mean "not in this cache", exactly as Nix reads them.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use sha2::{Digest, Sha256};

use crate::diagnostic::ResultExt;
use crate::nix::narinfo::CacheInfo;

/// How long a narinfo found in a cache is reused without asking again.
const POSITIVE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long "not in this cache" is remembered (Nix's `narinfo-cache-negative-ttl`).
const NEGATIVE_TTL: Duration = Duration::from_secs(3600);
/// Attempts for one request before giving up on transient errors.
const ATTEMPTS: u32 = 3;

/// Network settings for all caches of one run.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Connect and per-read timeout.
    pub timeout: Duration,
    /// First retry delay; doubled for each further attempt.
    pub backoff: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(30),
            backoff: Duration::from_millis(200),
        }
    }
}

impl HttpSettings {
    /// Defaults, with the timeout taken from `DEVENV_HTTP_TIMEOUT` (seconds) when set.
    pub fn from_env() -> Result<HttpSettings> {
        let mut s = HttpSettings::default();
        if let Ok(v) = std::env::var("DEVENV_HTTP_TIMEOUT") {
            let secs: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0)
                .with_context(|| format!("invalid DEVENV_HTTP_TIMEOUT `{v}`"))
                .hint("give the timeout in seconds, e.g. DEVENV_HTTP_TIMEOUT=30")
                .bad_input()?;
            s.timeout = Duration::from_secs_f64(secs);
        }
        Ok(s)
    }
}

enum Location {
    Dir(PathBuf),
    Http { base: String, agent: ureq::Agent },
}

/// A binary cache that could not be reached when opened (connection refused, timeout, server
/// errors after retries). Realization skips it and uses the other caches, as Nix does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub url: String,
    pub reason: String,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "binary cache `{}` is unreachable: {}",
            self.url, self.reason
        )
    }
}

impl std::error::Error for Unreachable {}

/// One binary cache, opened (its `nix-cache-info` checked).
pub struct BinaryCache {
    /// The URL as the user gave it.
    pub url: String,
    /// Lower is preferred (from `nix-cache-info`, default 50 like Nix).
    pub priority: i64,
    location: Location,
    settings: HttpSettings,
    narinfo_cache: Option<PathBuf>,
}

/// A NAR download in progress. `failed` is set when the transfer itself broke (as opposed to
/// the bytes being wrong), so the caller can tell a retryable failure from a bad cache.
pub struct Download {
    pub reader: Box<dyn Read + Send>,
    pub transport_failed: Arc<AtomicBool>,
}

impl BinaryCache {
    /// Open `url`, fetch and check its `nix-cache-info`. `narinfo_cache_dir` is where lookups
    /// are remembered (None: do not remember).
    pub fn open(
        url: &str,
        settings: &HttpSettings,
        narinfo_cache_dir: Option<&Path>,
    ) -> Result<BinaryCache> {
        let location = if let Some(rest) = url.strip_prefix("file://") {
            Location::Dir(PathBuf::from(rest))
        } else if url.starts_with("http://") || url.starts_with("https://") {
            Location::Http {
                base: url.trim_end_matches('/').to_string(),
                agent: crate::http::agent(settings.timeout, crate::http::USER_AGENT),
            }
        } else if url.starts_with('/') {
            Location::Dir(PathBuf::from(url))
        } else {
            return Err(anyhow!("unsupported binary cache URL `{url}`"))
                .hint("use https://…, http://…, file:///… or an absolute directory")
                .bad_input();
        };
        let narinfo_cache = narinfo_cache_dir.map(|d| {
            let digest = Sha256::digest(url.as_bytes());
            d.join(hex(&digest[..10]))
        });
        let mut cache = BinaryCache {
            url: url.to_string(),
            priority: 50,
            location,
            settings: settings.clone(),
            narinfo_cache,
        };
        let text = match cache.get_text("nix-cache-info") {
            Ok(text) => text,
            Err(e) => {
                return Err(Unreachable {
                    url: url.to_string(),
                    reason: format!("cannot read its `nix-cache-info`: {e:#}"),
                }
                .into())
            }
        };
        let text = text
            .with_context(|| format!("binary cache `{url}` has no `nix-cache-info`"))
            .hint(
                "check the substituter URL; a binary cache has a `nix-cache-info` file at its root",
            )?;
        let info = CacheInfo::parse(&text)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("invalid `nix-cache-info` in binary cache `{url}`"))?;
        if info.store_dir != crate::store::layout::STORE_DIR {
            bail!(
                "binary cache `{url}` is for Nix stores with prefix `{}`, not `{}` (StoreDir in its nix-cache-info)",
                info.store_dir,
                crate::store::layout::STORE_DIR
            );
        }
        if let Some(p) = info.priority {
            cache.priority = p as i64;
        }
        Ok(cache)
    }

    /// The text of `<hashpart>.narinfo`, or None when the cache does not have it.
    /// Answers from the on-disk lookup cache when fresh.
    pub fn narinfo_text(&self, hash_part: &str) -> Result<Option<String>> {
        if let Some(dir) = &self.narinfo_cache {
            let pos = dir.join(format!("{hash_part}.narinfo"));
            if fresh(&pos, POSITIVE_TTL) {
                if let Ok(text) = read_text_bounded(&pos) {
                    return Ok(Some(text));
                }
            }
            if fresh(&dir.join(format!("{hash_part}.missing")), NEGATIVE_TTL) {
                return Ok(None);
            }
        }
        self.narinfo_text_remote(hash_part)
    }

    /// The text of `<hashpart>.narinfo` as the cache serves it now, bypassing (and refreshing)
    /// the on-disk lookup cache.
    pub fn narinfo_text_remote(&self, hash_part: &str) -> Result<Option<String>> {
        let text = self.get_text(&format!("{hash_part}.narinfo"))?;
        if let Some(dir) = &self.narinfo_cache {
            // The lookup cache is an optimisation: failing to write it is not an error, and an
            // entry lost in a power failure is fetched again, so it is not fsynced.
            let _ = crate::fsutil::create_private_dir_all(dir);
            match &text {
                Some(t) => {
                    let _ = crate::fsutil::replace_cache_file(
                        &dir.join(format!("{hash_part}.narinfo")),
                        t.as_bytes(),
                    );
                    let _ = fs::remove_file(dir.join(format!("{hash_part}.missing")));
                }
                None => {
                    let _ = crate::fsutil::replace_cache_file(
                        &dir.join(format!("{hash_part}.missing")),
                        b"",
                    );
                }
            }
        }
        Ok(text)
    }

    /// Forget a remembered narinfo (it turned out to be unusable).
    pub fn forget_narinfo(&self, hash_part: &str) {
        if let Some(dir) = &self.narinfo_cache {
            let _ = fs::remove_file(dir.join(format!("{hash_part}.narinfo")));
        }
    }

    /// Start downloading `url_field` (the narinfo's `URL`, relative to the cache or absolute).
    /// One attempt: the error says whether it is worth trying again (a connection failure, a
    /// timeout, a 5xx answer), so the caller decides between retrying and another cache.
    pub fn open_nar(
        &self,
        url_field: &str,
    ) -> std::result::Result<Download, (anyhow::Error, bool)> {
        let failed = Arc::new(AtomicBool::new(false));
        let absolute = url_field.starts_with("http://") || url_field.starts_with("https://");
        if !absolute {
            // A remote cache does not get to make us read local files, and no cache may point
            // outside itself with `..` (the hash check would refuse the bytes anyway).
            if url_field.split('/').any(|c| c == "..")
                || (url_field.starts_with("file://")
                    && matches!(self.location, Location::Http { .. }))
            {
                let e = anyhow!(
                    "the narinfo's URL `{url_field}` points outside the binary cache `{}`",
                    self.url
                );
                return Err((e, false));
            }
            let local = match (&self.location, url_field.strip_prefix("file://")) {
                (_, Some(abs)) => Some(PathBuf::from(abs)),
                (Location::Dir(d), None) => Some(d.join(url_field)),
                (Location::Http { .. }, None) => None,
            };
            if let Some(path) = local {
                let f = fs::File::open(&path)
                    .with_context(|| format!("cannot open NAR `{}`", path.display()))
                    .map_err(|e| (e, false))?;
                return Ok(Download {
                    reader: Box::new(io::BufReader::with_capacity(256 * 1024, f)),
                    transport_failed: failed,
                });
            }
        }
        let (agent, url) = match &self.location {
            Location::Http { agent, .. } if absolute => (agent.clone(), url_field.to_string()),
            Location::Http { agent, base } => (agent.clone(), format!("{base}/{url_field}")),
            // A directory cache whose narinfo points at an absolute http(s) URL.
            Location::Dir(_) => (
                crate::http::agent(self.settings.timeout, crate::http::USER_AGENT),
                url_field.to_string(),
            ),
        };
        match self.get_once(&agent, &url) {
            Ok(Some(resp)) => Ok(Download {
                reader: Box::new(NetReader::new(resp, failed.clone(), self.settings.timeout)),
                transport_failed: failed,
            }),
            Ok(None) => Err((anyhow!("`{url}` is missing (404)"), false)),
            Err((why, transient)) => Err((
                anyhow!("{why}").context(format!("GET `{url}` failed")),
                transient,
            )),
        }
    }

    fn get_text(&self, rel: &str) -> Result<Option<String>> {
        match &self.location {
            Location::Dir(d) => {
                let p = d.join(rel);
                match read_text_bounded(&p) {
                    Ok(t) => Ok(Some(t)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("cannot read `{}`", p.display())),
                }
            }
            Location::Http { base, agent } => {
                let url = format!("{base}/{rel}");
                let mut last = None;
                for attempt in 0..ATTEMPTS {
                    if attempt > 0 {
                        std::thread::sleep(self.settings.backoff * 2u32.pow(attempt - 1));
                    }
                    let Some(resp) = self.http_get(agent, &url)? else {
                        return Ok(None);
                    };
                    let reader = NetReader::new(resp, Arc::default(), self.settings.timeout);
                    match crate::fsutil::read_to_end_bounded(reader, MAX_TEXT).and_then(utf8) {
                        Ok(body) => return Ok(Some(body)),
                        // The same answer again would be just as large: not retried.
                        Err(e) if crate::fsutil::too_large(&e).is_some() => {
                            return Err(e).with_context(|| format!("cannot download `{url}`"))
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(anyhow!(last.expect("at least one attempt")))
                    .with_context(|| format!("cannot download `{url}`"))
            }
        }
    }

    /// GET with retries on transient failures; Ok(None) on 404/403.
    fn http_get(&self, agent: &ureq::Agent, url: &str) -> Result<Option<crate::http::Response>> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(self.settings.backoff * 2u32.pow(attempt - 1));
            }
            match self.get_once(agent, url) {
                Ok(resp) => return Ok(resp),
                Err((why, transient)) => {
                    last = why;
                    if !transient {
                        break;
                    }
                }
            }
        }
        Err(anyhow!("{last}")).with_context(|| format!("GET `{url}` failed after retries"))
    }

    /// One GET: Ok(None) on 404/403; otherwise the failure and whether another attempt may
    /// succeed (connection errors, timeouts, 5xx and 429 answers).
    fn get_once(
        &self,
        agent: &ureq::Agent,
        url: &str,
    ) -> std::result::Result<Option<crate::http::Response>, (String, bool)> {
        match agent.get(url).call() {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    Ok(Some(resp))
                } else if status.as_u16() == 404 || status.as_u16() == 403 {
                    Ok(None)
                } else {
                    let transient = status.is_server_error() || status.as_u16() == 429;
                    Err((format!("the server answered {status}"), transient))
                }
            }
            Err(e) => Err((crate::http::describe(&e, self.settings.timeout), true)),
        }
    }
}

/// Reads an HTTP body and flags transport failures: read errors, timeouts and bodies shorter
/// than their Content-Length.
struct NetReader {
    body: ureq::BodyReader<'static>,
    expected: Option<u64>,
    seen: u64,
    failed: Arc<AtomicBool>,
    /// The client's timeout, for the message when a read times out.
    timeout: Duration,
}

impl NetReader {
    fn new(resp: crate::http::Response, failed: Arc<AtomicBool>, timeout: Duration) -> NetReader {
        let body = resp.into_body();
        NetReader {
            expected: body.content_length(),
            body: body.into_reader(),
            seen: 0,
            failed,
            timeout,
        }
    }
}

impl Read for NetReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.body.read(buf) {
            Ok(0) => {
                if let Some(exp) = self.expected {
                    if self.seen < exp {
                        self.failed.store(true, Ordering::SeqCst);
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            format!("download truncated after {} of {exp} bytes", self.seen),
                        ));
                    }
                }
                Ok(0)
            }
            Ok(n) => {
                self.seen += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.failed.store(true, Ordering::SeqCst);
                let cause = crate::http::describe_read(&e, self.timeout);
                let what = match self.expected {
                    Some(exp) if self.seen < exp => {
                        format!("download truncated after {} of {exp} bytes", self.seen)
                    }
                    _ => format!("download failed after {} bytes", self.seen),
                };
                Err(io::Error::new(broken_kind(&e), format!("{what} ({cause})")))
            }
        }
    }
}

/// The kind of a failed body read, except that a body cut short is never `UnexpectedEof`: a NAR
/// reader would take that for an archive that ends early, where the transfer is what broke.
fn broken_kind(e: &io::Error) -> io::ErrorKind {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => io::ErrorKind::ConnectionAborted,
        kind => kind,
    }
}

fn fresh(path: &Path, ttl: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < ttl)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The most read of a narinfo or `nix-cache-info`; [`NarInfo::parse`](crate::nix::narinfo::NarInfo::parse)
/// refuses more anyway, this keeps a cache from making devenv hold more than that in memory.
const MAX_TEXT: u64 = crate::limits::MAX_NARINFO_BYTES;

fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A small text file of a cache directory (or the lookup cache), read with the [`MAX_TEXT`] bound.
fn read_text_bounded(path: &Path) -> io::Result<String> {
    crate::fsutil::read_bounded(path, MAX_TEXT).and_then(utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A server that sends the headers and the first 10 of 100 body bytes, then goes silent.
    fn stalling_server() -> (String, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/nar/x.nar", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                .unwrap();
            conn.flush().unwrap();
            std::thread::sleep(Duration::from_secs(2));
        });
        (url, handle)
    }

    #[test]
    fn a_transfer_that_stalls_midway_fails_naming_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
        let settings = HttpSettings {
            timeout: Duration::from_millis(300),
            backoff: Duration::from_millis(1),
        };
        let cache = BinaryCache::open(dir.path().to_str().unwrap(), &settings, None).unwrap();
        let (url, server) = stalling_server();
        let started = std::time::Instant::now();
        let mut download = cache.open_nar(&url).map_err(|(e, _)| e).unwrap();
        let err = download.reader.read_to_end(&mut Vec::new()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("download truncated after 10 of 100 bytes")
                && text.contains("DEVENV_HTTP_TIMEOUT"),
            "{text}"
        );
        assert!(download.transport_failed.load(Ordering::SeqCst));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        server.join().unwrap();
    }
}
