//! A loopback HTTP server for tests: serves files from a directory, counts requests, honours
//! `If-None-Match`, and can be told to fail (status codes, garbage, truncation, stalls).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::loopback::{Loopback, Reply, Request};

/// What to do for requests whose path starts with a prefix.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and an empty body.
    Status(u16),
    /// Answer 200 with this body instead of the file.
    Body(Vec<u8>),
    /// Send only the first N bytes of the file, then close (a Content-Length larger than sent).
    Truncate(usize),
    /// Wait this long before answering.
    Stall(Duration),
    /// Send the headers (with the file's full Content-Length) and its first N bytes, then
    /// nothing for this long, then close: a transfer that stalls midway.
    StallAfter(usize, Duration),
    /// Hold the request until the test opens the gate, then answer normally.
    Gate(Arc<Gate>),
}

/// A gate requests wait at ([`Fault::Gate`]): lets a test act at an exact point of a download.
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// Let every waiting and later request through.
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }
}

#[derive(Default)]
struct State {
    faults: Vec<(String, Fault)>,
    requests: Vec<String>,
}

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _server: Loopback,
}

impl Server {
    /// Serve the files under `root` on 127.0.0.1 (random port).
    pub fn serve_dir(root: &Path) -> Server {
        let state = Arc::new(Mutex::new(State::default()));
        let root: PathBuf = root.to_path_buf();
        let server = {
            let state = state.clone();
            Loopback::start(move |req, conn| handle(req, conn, &root, &state))
        };
        Server {
            addr: server.addr,
            state,
            _server: server,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Inject a fault for every request whose path starts with `prefix` (first match wins).
    pub fn fault(&self, prefix: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push((prefix.to_string(), fault));
    }

    /// Remove all faults.
    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// Wait (up to a minute) until a request whose path starts with `prefix` has arrived.
    pub fn wait_for_request(&self, prefix: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.requests().iter().any(|r| r.starts_with(prefix)) {
            assert!(
                std::time::Instant::now() < deadline,
                "no request for {prefix} arrived; requests: {:?}",
                self.requests()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The paths requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
}

/// A loopback server that accepts connections, reads the request and never answers (a hung
/// server, which no [`Fault`] of [`Server`] can stand for: those answer in the end).
pub struct Silent {
    pub url: String,
    stop: Arc<AtomicBool>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_millis(200)))
                            .unwrap();
                        let _ = conn.read(&mut [0u8; 4096]);
                        held.push(conn);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Silent { url, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn etag_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    format!(
        "\"{}\"",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn handle(req: Request, conn: &mut TcpStream, root: &Path, state: &Mutex<State>) -> Reply {
    let url = req.url.clone();
    let path = url.split('?').next().unwrap_or("").to_string();
    let fault = {
        let mut st = state.lock().unwrap();
        st.requests.push(url.clone());
        st.faults
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(_, f)| f.clone())
    };
    if let Some(Fault::Stall(d)) = &fault {
        std::thread::sleep(*d);
    }
    if let Some(Fault::Gate(gate)) = &fault {
        gate.wait();
    }
    match fault {
        Some(Fault::Status(code)) => return Reply::Full(code, Vec::new(), Vec::new()),
        Some(Fault::Body(bytes)) => return Reply::Full(200, Vec::new(), bytes),
        _ => {}
    }
    let rel = path.trim_start_matches('/');
    let file = root.join(percent_decode(rel));
    if rel.split('/').any(|c| c == "..") || !file.is_file() {
        return Reply::Full(404, Vec::new(), Vec::new());
    }
    let data = std::fs::read(&file).unwrap_or_default();
    let etag = etag_of(&data);
    if req.header("If-None-Match") == Some(etag.as_str()) {
        return Reply::Full(304, vec![("ETag".to_string(), etag)], Vec::new());
    }
    match fault {
        Some(Fault::StallAfter(n, pause)) => {
            // The first bytes leave before the pause.
            send_part(conn, &data, n);
            std::thread::sleep(pause);
            Reply::Raw
        }
        // The Content-Length promises more than is sent before the connection closes.
        Some(Fault::Truncate(n)) => {
            send_part(conn, &data, n);
            Reply::Raw
        }
        _ => Reply::Full(200, vec![("ETag".to_string(), etag)], data),
    }
}

/// The headers of the whole of `data`, then only its first `n` bytes.
fn send_part(conn: &mut TcpStream, data: &[u8], n: usize) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&data[..n.min(data.len())]);
    let _ = conn.flush();
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
