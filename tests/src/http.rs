//! A tiny HTTP/1.0 GET over a unix socket, for fixtures that wait for a daemon to serve.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The whole response (status line, headers and body) of `GET path`, or None when the
/// socket does not answer.
pub fn unix_get(sock: &Path, path: &str) -> Option<String> {
    let mut s = UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: d\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
