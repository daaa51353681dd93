//! A loopback HTTP server for tests: serves files from a directory, counts requests, honours
//! `If-None-Match`, and can be told to fail (status codes, garbage, truncation, stalls).

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    server: Arc<tiny_http::Server>,
}

impl Server {
    /// Serve the files under `root` on 127.0.0.1 (random port).
    pub fn serve_dir(root: &Path) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let addr = server.server_addr().to_ip().expect("ip address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let root: PathBuf = root.to_path_buf();
        let mut threads = Vec::new();
        for _ in 0..8 {
            let server = server.clone();
            let state = state.clone();
            let stop = stop.clone();
            let root = root.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match server.recv_timeout(Duration::from_millis(50)) {
                        Ok(Some(req)) => handle(req, &root, &state),
                        Ok(None) => continue,
                        Err(_) => break,
                    }
                }
            }));
        }
        Server {
            addr,
            state,
            stop,
            threads,
            server,
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

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
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

fn handle(mut req: tiny_http::Request, root: &Path, state: &Mutex<State>) {
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("").to_string();
    let fault = {
        let mut st = state.lock().unwrap();
        st.requests.push(url.clone());
        st.faults
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(_, f)| f.clone())
    };
    let mut body = Vec::new();
    let _ = req.as_reader().read_to_end(&mut body);
    if let Some(Fault::Stall(d)) = &fault {
        std::thread::sleep(*d);
    }
    if let Some(Fault::Gate(gate)) = &fault {
        gate.wait();
    }
    match fault {
        Some(Fault::Status(code)) => {
            let _ = req.respond(tiny_http::Response::empty(code));
            return;
        }
        Some(Fault::Body(bytes)) => {
            let _ = req.respond(tiny_http::Response::from_data(bytes));
            return;
        }
        _ => {}
    }
    let rel = path.trim_start_matches('/');
    let file = root.join(percent_decode(rel));
    if rel.split('/').any(|c| c == "..") || !file.is_file() {
        let _ = req.respond(tiny_http::Response::empty(404));
        return;
    }
    let data = std::fs::read(&file).unwrap_or_default();
    let etag = etag_of(&data);
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.to_string(),
            )
        })
        .collect();
    if headers.get("if-none-match") == Some(&etag) {
        let _ = req.respond(tiny_http::Response::empty(304).with_header(header("ETag", &etag)));
        return;
    }
    if let Some(Fault::StallAfter(n, pause)) = fault {
        // Written straight to the socket, so the first bytes leave before the pause.
        let mut w = req.into_writer();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            data.len()
        );
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(&data[..n.min(data.len())]);
        let _ = w.flush();
        std::thread::sleep(pause);
        return;
    }
    if let Some(Fault::Truncate(n)) = fault {
        let len = data.len();
        let cut = data[..n.min(len)].to_vec();
        let resp = tiny_http::Response::new(
            200.into(),
            vec![header("ETag", &etag), header("Connection", "close")],
            std::io::Cursor::new(cut),
            Some(len),
            None,
        )
        // Never chunked (tiny_http chunks large bodies), so the Content-Length promises more.
        .with_chunked_threshold(usize::MAX);
        let _ = req.respond(resp);
        return;
    }
    let _ = req.respond(tiny_http::Response::from_data(data).with_header(header("ETag", &etag)));
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
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
