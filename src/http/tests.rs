use super::*;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Mutex;

/// Records what the client tells its watcher.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Watch for Recorder {
    fn started(&self, url: &str, attempts: u32) -> u64 {
        self.events
            .lock()
            .unwrap()
            .push(format!("started {url} {attempts}"));
        7
    }
    fn retrying(&self, id: u64, attempt: u32, reason: &str) {
        self.events
            .lock()
            .unwrap()
            .push(format!("retrying {id} {attempt}: {reason}"));
    }
    fn finished(&self, id: u64) {
        self.events.lock().unwrap().push(format!("finished {id}"));
    }
}

fn policy(timeout_ms: u64) -> Policy {
    Policy {
        timeout: Duration::from_millis(timeout_ms),
        retries: 2,
        backoff: Duration::from_millis(1),
    }
}

/// A loopback server that answers each connection with the next of `answers` (raw HTTP
/// responses; `None` = accept, read the request and never answer) and counts requests.
fn server(answers: Vec<Option<&'static str>>) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/thing", listener.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for answer in answers {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            *seen.lock().unwrap() += 1;
            match answer {
                Some(text) => {
                    let _ = conn.write_all(text.as_bytes());
                }
                None => held.push(conn),
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    (url, count)
}

const UNAVAILABLE: &str =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
const MISSING: &str = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[test]
fn a_server_failing_twice_with_503_is_asked_three_times_and_its_answer_used() {
    let (url, count) = server(vec![Some(UNAVAILABLE), Some(UNAVAILABLE), Some(OK)]);
    let recorder = Arc::new(Recorder::default());
    let client = Client::new(policy(2000)).watched_by(recorder.clone());
    let reply = client.get(&url, &[], 1 << 20).unwrap();
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(reply.body, b"hello");
    assert_eq!(*count.lock().unwrap(), 3);
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![
            format!("started {url} 3"),
            "retrying 7 2: the server answered 503".to_string(),
            "retrying 7 3: the server answered 503".to_string(),
            "finished 7".to_string(),
        ]
    );
}

#[test]
fn the_last_5xx_is_returned_once_the_retries_are_spent() {
    let (url, count) = server(vec![Some(UNAVAILABLE); 3]);
    let reply = Client::new(policy(2000)).get(&url, &[], 1 << 20).unwrap();
    assert_eq!(reply.status.as_u16(), 503);
    assert_eq!(*count.lock().unwrap(), 3);
}

#[test]
fn a_404_is_an_answer_and_not_retried() {
    let (url, count) = server(vec![Some(MISSING), Some(OK)]);
    let reply = Client::new(policy(2000)).get(&url, &[], 1 << 20).unwrap();
    assert_eq!(reply.status.as_u16(), 404);
    assert_eq!(*count.lock().unwrap(), 1);
}

#[test]
fn an_answer_larger_than_asked_for_is_refused_and_not_retried() {
    let (url, count) = server(vec![Some(OK), Some(OK)]);
    let err = Client::new(policy(2000)).get(&url, &[], 4).unwrap_err();
    assert_eq!(err, Error::TooLarge { limit: 4 });
    assert_eq!(*count.lock().unwrap(), 1);
}

#[test]
fn a_closed_port_is_unreachable_with_the_network_hint() {
    // Bind, note the port, close: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/index.json");
    let err = Client::new(policy(2000))
        .get(&url, &[], 1 << 20)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unreachable { host, transient: true, .. } if *host == format!("127.0.0.1:{port}")),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach 127.0.0.1:{port}: the network is unreachable (or the host does not exist)"
        )),
        "{text}"
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("DEVENV_INDEX")
            && hint.contains("DEVENV_SUBSTITUTERS")
            && hint.contains("Offline quickstart")
            && !hint.contains("DEVENV_HTTP_TIMEOUT"),
        "{hint}"
    );
}

#[test]
fn a_name_that_does_not_resolve_is_unreachable_and_not_retried() {
    let recorder = Arc::new(Recorder::default());
    let client = Client::new(policy(5000)).watched_by(recorder.clone());
    let err = client
        .get("http://nonexistent.invalid/index.json", &[], 1 << 20)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unreachable { host, transient: false, .. } if host == "nonexistent.invalid"),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("Offline quickstart"));
    let events = recorder.events.lock().unwrap().clone();
    assert!(
        !events.iter().any(|e| e.starts_with("retrying")),
        "{events:?}"
    );
}

#[test]
fn a_server_that_never_answers_times_out_with_the_timeout_hint() {
    let (url, count) = server(vec![None, None, None]);
    let started = std::time::Instant::now();
    let err = Client::new(policy(300))
        .get(&url, &[], 1 << 20)
        .unwrap_err();
    assert_eq!(
        err,
        Error::Timeout {
            timeout: Duration::from_millis(300)
        }
    );
    assert_eq!(
        err.to_string(),
        "no answer within 0.3s (DEVENV_HTTP_TIMEOUT)"
    );
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("DEVENV_HTTP_TIMEOUT") && !hint.contains("DEVENV_INDEX"),
        "{hint}"
    );
    assert_eq!(*count.lock().unwrap(), 3, "timeouts are retried");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn backoff_doubles_and_jitter_stays_within_half_and_one_and_a_half() {
    let p = Policy {
        timeout: Duration::from_secs(1),
        retries: 3,
        backoff: Duration::from_millis(200),
    };
    assert_eq!(p.attempts(), 4);
    assert_eq!(p.delay(1, 1.0), Duration::from_millis(200));
    assert_eq!(p.delay(2, 1.0), Duration::from_millis(400));
    assert_eq!(p.delay(3, 1.0), Duration::from_millis(800));
    assert_eq!(p.delay(2, 0.5), Duration::from_millis(200));
    assert_eq!(p.delay(2, 9.0), Duration::from_millis(600));
    assert_eq!(p.delay(1, 0.0), Duration::from_millis(100));
}

#[test]
fn only_answers_that_may_change_are_retried() {
    for s in [408, 429, 500, 502, 503, 504] {
        assert!(is_transient_status(s), "{s}");
    }
    for s in [200, 304, 400, 403, 404, 501, 505] {
        assert!(!is_transient_status(s), "{s}");
    }
}

#[test]
fn hosts_are_taken_from_urls() {
    assert_eq!(
        host_of("http://127.0.0.1:80/packages/a.json"),
        "127.0.0.1:80"
    );
    assert_eq!(host_of("https://example.org"), "example.org");
    assert_eq!(host_of("https://u:p@example.org/x?y"), "example.org");
    assert_eq!(host_of("https://example.org?q=1"), "example.org");
}
