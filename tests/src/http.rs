//! Raw HTTP over a unix socket: a tiny HTTP/1.0 GET for fixtures that wait for a daemon to
//! serve, and a keep-alive HTTP/1.1 connection that sends several requests one after the
//! other, to check that an answer leaves the connection usable.

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

/// One HTTP/1.1 connection kept alive across requests.
pub struct KeepAlive {
    stream: UnixStream,
    /// Bytes read past the end of the last answer.
    pending: Vec<u8>,
}

impl KeepAlive {
    pub fn connect(sock: &Path) -> KeepAlive {
        let stream = UnixStream::connect(sock)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", sock.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("set a read timeout");
        KeepAlive {
            stream,
            pending: Vec::new(),
        }
    }

    /// Sends one request with its body and reads one answer (whose length is given by
    /// Content-Length; none means an empty body). Errors say what failed on the
    /// connection: a write error is the server having closed it.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<crate::berthd::Response> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.stream.write_all(req.as_bytes())?;
        self.stream.write_all(body)?;
        let mut raw = std::mem::take(&mut self.pending);
        let head_end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill(&mut raw)?;
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while raw.len() < head_end + length {
            self.fill(&mut raw)?;
        }
        self.pending = raw.split_off(head_end + length);
        Ok(crate::berthd::parse_response(&raw))
    }

    fn fill(&mut self, raw: &mut Vec<u8>) -> std::io::Result<()> {
        let mut buf = [0u8; 8192];
        match self.stream.read(&mut buf)? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            n => {
                raw.extend_from_slice(&buf[..n]);
                Ok(())
            }
        }
    }
}
