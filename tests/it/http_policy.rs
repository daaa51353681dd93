//! The one HTTP policy as the user meets it: a request without an answer shows what it waits
//! for, a network that is not there is told apart from a slow server (with the hint that fixes
//! each), and transient failures are retried a bounded number of times.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::http::Silent;
use crate::common::index::{write_fixture_index, FnServer};
use crate::common::TestContext;

/// A URL where nothing listens (bound, then closed).
fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// On a terminal, a request that has had no answer for 2 s shows what it waits for, counting
/// up, on stderr; it is gone when the command ends.
#[test]
fn a_hung_server_shows_a_waiting_line_on_the_terminal_within_three_seconds() {
    let t = TestContext::new();
    let silent = Silent::start();
    let socket = t.root().join("tmux.sock");
    let q = |s: &str| shell_words::quote(s).into_owned();
    let out = t.root().join("stdout");
    let h = t.home.to_str().unwrap();
    let script = format!(
        "env -i PATH=/usr/bin:/bin TERM=xterm HOME={h} XDG_CONFIG_HOME={h}/.config \
         XDG_CACHE_HOME={h}/.cache XDG_DATA_HOME={h}/.local/share XDG_STATE_HOME={h}/.local/state \
         DEVENV_INDEX={idx} DEVENV_HTTP_TIMEOUT=6 DEVENV_HTTP_RETRIES=0 \
         sh -c '{bin} search jq >{out}; echo EXIT=$?; sleep 60'",
        h = q(h),
        idx = q(&silent.url),
        bin = q(env!("CARGO_BIN_EXE_devenv")),
        out = q(out.to_str().unwrap()),
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .output()
            .expect("tmux is installed")
    };
    let started = Instant::now();
    let run = tmux(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        "150",
        "-y",
        "20",
        &script,
    ]);
    assert!(run.status.success(), "{run:?}");
    let pane = || String::from_utf8(tmux(&["capture-pane", "-p"]).stdout).unwrap();
    let wait_for = |needle: &str, within: Duration| -> String {
        loop {
            let screen = pane();
            if screen.contains(needle) {
                return screen;
            }
            if started.elapsed() > within {
                tmux(&["kill-server"]);
                panic!("{needle:?} not shown within {within:?}:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let waiting = format!("waiting for {}/index.json", silent.url);
    wait_for(&format!("{waiting} (2 s)"), Duration::from_millis(3500));
    wait_for(&format!("{waiting} (4 s)"), Duration::from_millis(5500));
    let screen = wait_for("EXIT=", Duration::from_secs(20));
    tmux(&["kill-server"]);
    assert!(screen.contains("EXIT=1"), "{screen}");
    assert!(
        screen.contains("no answer within 6s (DEVENV_HTTP_TIMEOUT)"),
        "{screen}"
    );
    assert!(
        !screen.contains("waiting for"),
        "the line is cleared:\n{screen}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "",
        "stdout is data only"
    );
}

/// Without a terminal the waiting line is quiet, unless `-v` asks: then it is a plain line on
/// stderr, never on stdout.
#[test]
fn without_a_terminal_waiting_is_reported_with_verbose_only() {
    let t = TestContext::new();
    let silent = Silent::start();
    let run = |args: &[&str]| {
        let out = t
            .cmd()
            .env("DEVENV_INDEX", &silent.url)
            .env("DEVENV_HTTP_TIMEOUT", "2.5")
            .env("DEVENV_HTTP_RETRIES", "0")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = run(&["-v", "search", "jq"]);
    assert!(
        err.contains(&format!("waiting for {}/index.json (2 s)\n", silent.url)),
        "{err}"
    );
    let err = run(&["search", "jq"]);
    assert!(!err.contains("waiting for"), "{err}");
    assert!(err.contains("no answer within 2.5s"), "{err}");
    assert!(err.contains("raise DEVENV_HTTP_TIMEOUT"), "{err}");
    assert!(!err.contains("Offline quickstart"), "{err}");
}

/// A closed port and a host name that does not resolve are a network that is not there: the
/// message says so and points at a local index and cache, not at the timeout.
#[test]
fn an_unreachable_index_points_at_the_offline_quickstart_not_the_timeout() {
    let t = TestContext::new();
    t.ok(&["init"]);
    let closed = closed_port();
    for (index, host) in [
        (
            closed.clone(),
            closed.trim_start_matches("http://").to_string(),
        ),
        (
            "http://nonexistent.invalid".to_string(),
            "nonexistent.invalid".to_string(),
        ),
    ] {
        let before = t.read("devenv.json");
        let started = Instant::now();
        let out = t
            .cmd()
            .env("DEVENV_INDEX", &index)
            .args(["add", "ansible@2.16.5"])
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "cannot reach {host}: the network is unreachable (or the host does not exist)"
            )),
            "{err}"
        );
        let hint = err
            .lines()
            .find(|l| l.starts_with("hint:"))
            .unwrap_or_else(|| panic!("no hint in:\n{err}"));
        assert!(
            hint.contains("DEVENV_INDEX")
                && hint.contains("DEVENV_SUBSTITUTERS")
                && hint.contains("Offline quickstart"),
            "{err}"
        );
        assert!(!err.contains("DEVENV_HTTP_TIMEOUT"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(t.read("devenv.json"), before, "nothing is half-done");
    }
}

/// `doctor` says the same about an index it cannot reach.
#[test]
fn doctor_points_an_unreachable_index_at_the_offline_quickstart() {
    let t = TestContext::new();
    let out = t
        .cmd()
        .env("DEVENV_INDEX", closed_port())
        .env("DEVENV_SUBSTITUTERS", "file:///nonexistent")
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let index = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "index")
        .unwrap();
    assert_eq!(index["status"], "fail");
    assert!(
        index["summary"]
            .as_str()
            .unwrap()
            .contains("the network is unreachable"),
        "{index:#}"
    );
    assert!(
        index["details"].to_string().contains("Offline quickstart"),
        "{index:#}"
    );
}

/// A static index over HTTP whose package files answer 503 `failures` times before serving.
fn flaky_index(t: &TestContext, failures: usize) -> (FnServer, Arc<AtomicUsize>) {
    let dir = t.root().join("index");
    write_fixture_index(&dir);
    let failed = Arc::new(AtomicUsize::new(0));
    let count = failed.clone();
    let server = FnServer::start(move |seen| {
        let path = seen.url.split('?').next().unwrap().trim_start_matches('/');
        if path.starts_with("packages/") && count.fetch_add(1, Ordering::SeqCst) < failures {
            return (503, vec![], b"busy".to_vec());
        }
        match std::fs::read(dir.join(path)) {
            Ok(body) => (200, vec![], body),
            Err(_) => (404, vec![], vec![]),
        }
    });
    (server, failed)
}

/// A server failing twice with 503 and then answering is asked three times (the default
/// policy: two retries), and the command succeeds; `-v` tells each retry and why.
#[test]
fn a_server_failing_twice_with_503_is_retried_and_succeeds() {
    let t = TestContext::new();
    let (server, _) = flaky_index(&t, 2);
    let out = t
        .cmd()
        .env("DEVENV_INDEX", &server.url)
        .args(["-v", "info", "jq", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{err}");
    let asked = server
        .seen()
        .iter()
        .filter(|s| s.url.starts_with("/packages/jq.json"))
        .count();
    assert_eq!(asked, 3, "{:?}", server.seen());
    let url = format!("{}/packages/jq.json", server.url);
    for attempt in [2, 3] {
        assert!(
            err.contains(&format!(
                "retrying {url} (attempt {attempt} of 3): the server answered 503"
            )),
            "{err}"
        );
    }
}

/// `DEVENV_HTTP_RETRIES` sets how often: with one retry, two 503s are the answer.
#[test]
fn the_number_of_retries_is_a_setting() {
    let t = TestContext::new();
    let (server, _) = flaky_index(&t, 2);
    let out = t
        .cmd()
        .env("DEVENV_INDEX", &server.url)
        .env("DEVENV_HTTP_RETRIES", "1")
        .args(["info", "jq"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("answered HTTP 503"), "{err}");
    let asked = server
        .seen()
        .iter()
        .filter(|s| s.url.starts_with("/packages/jq.json"))
        .count();
    assert_eq!(asked, 2);
}
