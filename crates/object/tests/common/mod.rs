//! An S3 server on loopback for the tests: `moto` in server mode (PyPI `moto[server]`),
//! started once per test binary, and a TCP proxy in front of it that a test can take down
//! and bring back to simulate an outage without losing the server's state.
#![allow(dead_code, reason = "each test binary uses part of it")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use strata_object::{ObjectOptions, Remote};

pub(crate) const BUCKET: &str = "strata-test";

/// The running server: its port. It lives as long as the test process: it is started
/// under a shell that kills it when the test process's end of its stdin closes.
pub(crate) struct Moto {
    pub(crate) port: u16,
    _child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn start() -> Result<Moto, String> {
    let probe = Command::new("python3").args(["-c", "import moto.server"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return Err("python3 with moto[server] not found (pip install 'moto[server]')".into());
    }
    let port = free_port();
    // `read` returns when the test process exits (its stdin pipe closes); the server goes
    // with it.
    let script =
        format!("python3 -m moto.server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; read _; kill $pid; wait $pid");
    let child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start moto: {e}"))?;
    let moto = Moto { port, _child: child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("moto did not listen on port {port} within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    http(port, "PUT", &format!("/{BUCKET}"))?;
    Ok(moto)
}

/// Sends one unsigned request (moto accepts them) and checks for a 2xx answer.
fn http(port: u16, method: &str, path: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut status = String::new();
    BufReader::new(s).read_line(&mut status).map_err(|e| e.to_string())?;
    if status.split_whitespace().nth(1).is_some_and(|c| c.starts_with('2')) {
        Ok(())
    } else {
        Err(format!("{method} {path}: {status}"))
    }
}

/// The shared server, or `None` (with a loud message) when moto is not installed. With
/// `CI` set a missing server fails the test instead: CI must run these tests.
pub(crate) fn moto(test: &str) -> Option<&'static Moto> {
    static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
    match MOTO.get_or_init(start) {
        Ok(m) => Some(m),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but the S3 server is missing: {e}");
            eprintln!("\n!!!!!!!! SKIPPED {test}: {e} !!!!!!!!\n");
            None
        }
    }
}

/// A prefix no other test uses.
pub(crate) fn unique_prefix(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{name}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Options to reach a server on `port` of loopback.
pub(crate) fn s3_options(port: u16) -> ObjectOptions {
    ObjectOptions {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        ..ObjectOptions::default()
    }
}

/// A fresh database location in the test bucket.
pub(crate) fn remote(name: &str, options: ObjectOptions) -> (Remote, String) {
    let url = format!("s3://{BUCKET}/{}", unique_prefix(name));
    (Remote::connect(&url, options).expect("connect"), url)
}

/// A TCP proxy to `upstream` that can be taken down (every connection is cut and new ones
/// are refused) and brought back.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub(crate) fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, c) = (Arc::clone(&down), Arc::clone(&conns));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let mut conns = c.lock().expect("proxy connections");
                for s in [&client, &server] {
                    if let Ok(clone) = s.try_clone() {
                        conns.push(clone);
                    }
                }
                drop(conns);
                pipe(client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                pipe(server, client);
            }
        });
        Self { port, down, conns }
    }

    /// Cuts every connection and refuses new ones until [`Proxy::up`].
    pub(crate) fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.conns.lock().expect("proxy connections").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 << 10];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
