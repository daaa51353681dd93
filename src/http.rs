//! The HTTP client setup every part of devenv shares (binary caches, remote indexes, `doctor`'s
//! probes), and one way of turning its failures into sentences.
//!
//! `ureq` reads the socket on the calling thread. A NAR stream therefore flows from the socket
//! through the decompressor and the hasher into files on one worker thread; a blocking
//! `reqwest` client relays every chunk through its runtime thread instead, which on a small
//! machine cost about 5% of an install's CPU, and its buffers 9 MiB of memory with six streams.

use std::io;
use std::time::Duration;

/// A response whose body has not been read yet.
pub type Response = ureq::http::Response<ureq::Body>;

/// A client where `timeout` bounds connecting, waiting for the response head and each read
/// (a stalled transfer fails, a long one does not), every status is returned to the caller
/// to classify, and proxies come from the usual environment variables.
pub fn agent(timeout: Duration, user_agent: &str) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .http_status_as_error(false)
        // Lookups and downloads run in parallel against one host; keep their connections.
        .max_idle_connections_per_host(16)
        .user_agent(user_agent)
        .build()
        .into()
}

/// The `User-Agent` devenv sends.
pub const USER_AGENT: &str = concat!("devenv/", env!("CARGO_PKG_VERSION"));

/// One sentence for a failed request: a timeout names `DEVENV_HTTP_TIMEOUT`, a refused or failed
/// connection says so, anything else gives its innermost cause.
pub fn describe(e: &ureq::Error, timeout: Duration) -> String {
    match e {
        ureq::Error::Timeout(_) => timed_out(timeout),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
            format!("cannot connect: {}", chain(e))
        }
        ureq::Error::Io(io) if is_connect_error(io) => format!("cannot connect: {}", chain(e)),
        _ => chain(e),
    }
}

/// [`describe`] for an error met while reading a response body: a timeout names
/// `DEVENV_HTTP_TIMEOUT`, anything else means the body was cut off.
pub fn describe_read(e: &io::Error, timeout: Duration) -> String {
    if is_timeout(e) {
        timed_out(timeout)
    } else {
        format!("the response was cut off: {}", chain(e))
    }
}

/// Whether a body read failed because the server sent nothing for the timeout.
fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)))
}

fn timed_out(timeout: Duration) -> String {
    format!(
        "no answer within {}s (DEVENV_HTTP_TIMEOUT)",
        timeout.as_secs_f64()
    )
}

fn is_connect_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::NotConnected
            | io::ErrorKind::AddrNotAvailable
    )
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
