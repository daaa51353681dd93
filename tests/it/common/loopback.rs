//! The HTTP/1.1 server under the tests' loopback servers: one thread per connection, keep-alive,
//! requests with an optional `Content-Length` body, answers with a `Content-Length` body or written
//! raw by the handler (for truncated and stalled transfers).
//!
//! devenv opens several connections at once (its downloads overlap), and every test expects each
//! of them to be answered at once, as any real server does. A pooled server that serves a
//! keep-alive connection per worker for as long as the client holds it open leaves the others
//! unread while the client waits on them, which costs seconds per command; so every connection
//! gets a thread of its own here.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long an idle keep-alive connection is kept before the server closes it.
const IDLE: Duration = Duration::from_secs(30);

/// A request as read from the connection.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target: path and query.
    pub url: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the handler answers.
pub enum Reply {
    /// Status, headers and the whole body; `Content-Length` is added.
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// The handler wrote to the connection itself; it is closed afterwards.
    Raw,
}

type Handler = dyn Fn(Request, &mut TcpStream) -> Reply + Send + Sync;

/// A running server; stops accepting when dropped.
pub struct Loopback {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Loopback {
    /// Listen on 127.0.0.1 (a free port) and answer every request with `handler`.
    pub fn start(
        handler: impl Fn(Request, &mut TcpStream) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let handler = handler.clone();
                    std::thread::spawn(move || serve(conn, &*handler));
                }
            })
        };
        Loopback {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop wakes up for one more connection and sees the stop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, handler: &Handler) {
    let _ = conn.set_read_timeout(Some(IDLE));
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    while let Some((request, keep_alive)) = read_request(&mut reader) {
        let head_only = request.method == "HEAD";
        match handler(request, &mut conn) {
            Reply::Raw => return,
            Reply::Full(status, headers, body) => {
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
                if !keep_alive {
                    head.push_str("Connection: close\r\n");
                }
                head.push_str("\r\n");
                let mut out = head.into_bytes();
                if !head_only {
                    out.extend_from_slice(&body);
                }
                if conn.write_all(&out).and_then(|()| conn.flush()).is_err() || !keep_alive {
                    return;
                }
            }
        }
    }
}

/// The next request, and whether the connection stays open after it; `None` at the end of the
/// connection or on anything that is not a well-formed request.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(Request, bool)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().split(' ');
    let method = parts.next()?.to_string();
    let url = parts.next()?.to_string();
    let version = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut request = Request {
        method,
        url,
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("Content-Length")
        .map_or(Some(0), |v| v.parse().ok())?;
    request.body.resize(length, 0);
    reader.read_exact(&mut request.body).ok()?;
    let connection = request
        .header("Connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    Some((request, keep_alive))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
