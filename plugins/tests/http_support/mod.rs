//! Test support: one HTTP request to `segstream run --metrics` (`/metrics`, `/healthz`).
//! Hand-written: a test needs no HTTP client crate for one request line.
use std::io::{Read, Write};
use std::time::Duration;

/// `GET path` over HTTP/1.0 on the loopback `port`: (status, body).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split_once("\r\n\r\n")?.1.to_string()))
}
