//! The one HTTP client every part of devenv shares (binary caches, remote indexes, `doctor`'s
//! probes): its timeouts, its one retry policy, who is told while a request waits, and one way
//! of turning failures into sentences with a hint that can actually fix them.
//!
//! Only GET exists, so every request may be repeated: a connection refused or reset, a timeout,
//! a body cut off and a 5xx/408/429 answer are retried ([`Policy`]: exponential backoff with
//! jitter, so parallel downloads do not retry in lockstep). A name that does not resolve is not
//! retried: the answer will not change in a second. While a request waits, a [`Watch`] (the
//! printer's "waiting for <url>" line) is told, so a hung server is never silent.
//!
//! `ureq` reads the socket on the calling thread. A NAR stream therefore flows from the socket
//! through the decompressor and the hasher into files on one worker thread; a blocking
//! `reqwest` client relays every chunk through its runtime thread instead, which on a small
//! machine cost about 5% of an install's CPU, and its buffers 9 MiB of memory with six streams.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt as _;

/// A response whose body has not been read yet.
pub type Response = ureq::http::Response<ureq::Body>;

/// The `User-Agent` devenv sends.
pub const USER_AGENT: &str = concat!("devenv/", env!("CARGO_PKG_VERSION"));

/// The hint for a host that cannot be reached at all: a longer timeout cannot help, a local
/// index and cache can.
pub const UNREACHABLE_HINT: &str = "check the network connection; to work without one, point \
     DEVENV_INDEX and DEVENV_SUBSTITUTERS at a local index and binary cache (see \"Offline \
     quickstart\" in the README)";

/// How long a request may wait and how often it is tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Bounds connecting, waiting for the response head and each read (a stalled transfer
    /// fails, a long one does not).
    pub timeout: Duration,
    /// Further attempts after a transient failure.
    pub retries: u32,
    /// The pause before the first retry; doubled for each further one, then jittered.
    pub backoff: Duration,
}

impl Policy {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_RETRIES: u32 = 2;
    pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(200);

    /// Attempts in all.
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The pause before retry `retry` (1 = the first): `backoff · 2^(retry-1)`, scaled by
    /// `jitter` (clamped to 0.5..=1.5).
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        doubled.mul_f64(jitter.clamp(0.5, 1.5))
    }

    /// Sleep before retry `retry`, with a random jitter.
    pub fn pause_before(&self, retry: u32) {
        std::thread::sleep(self.delay(retry, rand::rng().random_range(0.5..1.5)));
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: Policy::DEFAULT_TIMEOUT,
            retries: Policy::DEFAULT_RETRIES,
            backoff: Policy::DEFAULT_BACKOFF,
        }
    }
}

/// Told about requests while they wait, so a person can see what devenv is waiting for.
pub trait Watch: Send + Sync {
    /// A request for `url` starts; it may take up to `attempts` attempts. Returns its id.
    fn started(&self, url: &str, attempts: u32) -> u64;
    /// Request `id` is tried again (attempt number `attempt`) because of `reason`.
    fn retrying(&self, id: u64, attempt: u32, reason: &str);
    /// Request `id` has its answer, or gave up.
    fn finished(&self, id: u64);
}

/// The client: one connection pool, one policy, one watcher. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    policy: Policy,
    watch: Option<Arc<dyn Watch>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("policy", &self.policy)
            .field("watched", &self.watch.is_some())
            .finish()
    }
}

/// A fully read answer (any status).
#[derive(Debug)]
pub struct Reply {
    pub status: ureq::http::StatusCode,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, if present and text.
    pub fn header(&self, name: ureq::http::header::HeaderName) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl Client {
    pub fn new(policy: Policy) -> Client {
        Client {
            agent: agent(policy.timeout),
            policy,
            watch: None,
        }
    }

    /// The same client, with `watch` told about every request.
    pub fn watched_by(mut self, watch: Arc<dyn Watch>) -> Client {
        self.watch = Some(watch);
        self
    }

    /// A client whose timeout is at most `cap` (doctor must answer even when the network does
    /// not); same policy and watcher otherwise.
    pub fn with_timeout_at_most(&self, cap: Duration) -> Client {
        if self.policy.timeout <= cap {
            return self.clone();
        }
        let policy = Policy {
            timeout: cap,
            ..self.policy.clone()
        };
        Client {
            agent: agent(cap),
            policy,
            watch: self.watch.clone(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// GET `url` with `headers` and read the whole body, at most `max_body` bytes, retrying
    /// transient failures. Any status is returned (after retries, a 5xx is the last answer) for
    /// the caller to classify; a body over the limit is [`Error::TooLarge`], not retried.
    pub fn get(&self, url: &str, headers: &[(&str, &str)], max_body: u64) -> Result<Reply, Error> {
        self.with_retries(
            url,
            || {
                let response = self.send(url, headers)?;
                let status = response.status();
                let headers = response.headers().clone();
                let reader = response.into_body().into_reader();
                let body = crate::fsutil::read_to_end_bounded(reader, max_body).map_err(|e| {
                    match crate::fsutil::too_large(&e) {
                        Some(_) => Error::TooLarge { limit: max_body },
                        None => Error::from_read(&e, self.policy.timeout),
                    }
                })?;
                Ok(Reply {
                    status,
                    headers,
                    body,
                })
            },
            |r| r.status.as_u16(),
        )
    }

    /// One GET of `url`, returned as soon as the response head is there, without retries: a
    /// NAR is streamed by the caller, which retries a transfer that breaks (or asks another
    /// cache) by the same [`Policy`]. The watcher still shows it while it waits.
    pub fn open_once(&self, url: &str) -> Result<Response, Error> {
        let _pending = Pending::start(self.watch.as_deref(), url, 1);
        self.send(url, &[])
    }

    fn send(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
        let mut request = self.agent.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .call()
            .map_err(|e| Error::from_ureq(&e, url, self.policy.timeout))
    }

    fn with_retries<T>(
        &self,
        url: &str,
        mut attempt: impl FnMut() -> Result<T, Error>,
        status: impl Fn(&T) -> u16,
    ) -> Result<T, Error> {
        let attempts = self.policy.attempts();
        let pending = Pending::start(self.watch.as_deref(), url, attempts);
        let mut n = 1;
        loop {
            let outcome = attempt();
            let reason = match &outcome {
                Ok(answer) if is_transient_status(status(answer)) => {
                    format!("the server answered {}", status(answer))
                }
                Err(e) if e.is_transient() => e.to_string(),
                _ => return outcome,
            };
            if n >= attempts {
                return outcome;
            }
            n += 1;
            pending.retrying(n, &reason);
            self.policy.pause_before(n - 1);
        }
    }
}

/// A request a [`Watch`] was told about; tells it the request finished when dropped.
struct Pending<'a> {
    watch: Option<(&'a dyn Watch, u64)>,
}

impl<'a> Pending<'a> {
    fn start(watch: Option<&'a dyn Watch>, url: &str, attempts: u32) -> Pending<'a> {
        Pending {
            watch: watch.map(|w| (w, w.started(url, attempts))),
        }
    }

    fn retrying(&self, attempt: u32, reason: &str) {
        if let Some((w, id)) = self.watch {
            w.retrying(id, attempt, reason);
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some((w, id)) = self.watch {
            w.finished(id);
        }
    }
}

/// Answers worth asking again: server errors that are not "never" (501, 505), request timeout
/// and rate limiting.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        // Name resolution gets the same bound: a resolver that never answers is a network
        // that is not there, not something to wait on forever.
        .timeout_resolve(Some(timeout))
        .http_status_as_error(false)
        // Lookups and downloads run in parallel against one host; keep their connections.
        .max_idle_connections_per_host(16)
        .user_agent(USER_AGENT)
        .build()
        .into()
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Nothing answered at all: the name does not resolve, the connection is refused, there is
    /// no route. More time cannot help.
    #[error(
        "cannot reach {host}: the network is unreachable (or the host does not exist): {cause}"
    )]
    Unreachable {
        host: String,
        cause: String,
        /// Worth trying again (a refused or timed-out connection), unlike a name that does not
        /// resolve.
        transient: bool,
    },
    /// Connected, but no answer (or no further bytes) within the timeout.
    #[error("no answer within {}s (DEVENV_HTTP_TIMEOUT)", .timeout.as_secs_f64())]
    Timeout { timeout: Duration },
    /// The connection broke while the answer was being read.
    #[error("the response was cut off: {cause}")]
    CutOff { cause: String },
    /// The answer is larger than the caller reads; asking again would get the same.
    #[error("the answer is larger than {}, the most devenv reads here", crate::limits::human_bytes(*.limit))]
    TooLarge { limit: u64 },
    /// Anything else (TLS, protocol errors, a malformed URL).
    #[error("{cause}")]
    Other { cause: String },
}

impl Error {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { transient, .. } => *transient,
            Error::Timeout { .. } | Error::CutOff { .. } => true,
            Error::TooLarge { .. } | Error::Other { .. } => false,
        }
    }

    /// The hint that can fix it, if there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Unreachable { .. } => Some(UNREACHABLE_HINT.to_string()),
            Error::Timeout { timeout } => Some(format!(
                "the server accepted the connection but did not answer within {}s; try again \
                 later, or raise DEVENV_HTTP_TIMEOUT (seconds) for a slow server",
                timeout.as_secs_f64()
            )),
            Error::CutOff { .. } => Some(
                "the server (or a proxy in between) closed the connection before the whole \
                 answer arrived, on every try; try again later, or check the server's logs"
                    .to_string(),
            ),
            Error::TooLarge { .. } | Error::Other { .. } => None,
        }
    }

    /// Classify a failed request to `url`.
    pub fn from_ureq(e: &ureq::Error, url: &str, timeout: Duration) -> Error {
        let unreachable = |cause: String, transient: bool| Error::Unreachable {
            host: host_of(url).to_string(),
            cause,
            transient,
        };
        match e {
            ureq::Error::Timeout(ureq::Timeout::Resolve) => unreachable(
                format!(
                    "the host name did not resolve within {}s",
                    timeout.as_secs_f64()
                ),
                false,
            ),
            ureq::Error::Timeout(ureq::Timeout::Connect) => unreachable(
                format!("connecting took longer than {}s", timeout.as_secs_f64()),
                true,
            ),
            ureq::Error::Timeout(_) => Error::Timeout { timeout },
            ureq::Error::HostNotFound => {
                unreachable("the host name does not resolve".into(), false)
            }
            ureq::Error::ConnectionFailed => unreachable(chain(e), true),
            ureq::Error::Io(io) if is_resolve_error(io) => unreachable(chain(io), false),
            ureq::Error::Io(io) if is_connect_error(io) => unreachable(chain(io), true),
            ureq::Error::Io(io) => Error::from_read(io, timeout),
            _ => Error::Other { cause: chain(e) },
        }
    }

    /// Classify an error met while reading a response body.
    pub fn from_read(e: &io::Error, timeout: Duration) -> Error {
        let timed_out = e.kind() == io::ErrorKind::TimedOut
            || e.get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
        if timed_out {
            Error::Timeout { timeout }
        } else {
            Error::CutOff { cause: chain(e) }
        }
    }
}

/// `getaddrinfo` failures reach us as plain I/O errors carrying the resolver's words.
fn is_resolve_error(e: &io::Error) -> bool {
    e.to_string()
        .contains("failed to lookup address information")
}

fn is_connect_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::NotConnected
            | io::ErrorKind::AddrNotAvailable
    ) || matches!(
        rustix::io::Errno::from_io_error(e),
        Some(
            rustix::io::Errno::NETUNREACH
                | rustix::io::Errno::HOSTUNREACH
                | rustix::io::Errno::NETDOWN
                | rustix::io::Errno::HOSTDOWN
        )
    )
}

/// The `host[:port]` of a URL, for messages.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority.rsplit('@').next().unwrap_or(authority)
}

/// The error and its causes, `: `-joined, without repeating a cause already in the text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(&format!(": {part}"));
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests;
