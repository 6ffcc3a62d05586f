//! A small HTTP/1.1 client codec: request writing, response heads, body framing
//! (content-length, chunked, until close) and keep-alive reuse. Blocking I/O keeps the
//! CLI's start-up and per-request cost to a few system calls.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use super::stream::Stream;

const BUF_SIZE: usize = 64 * 1024;
const MAX_HEAD: usize = 64 * 1024;

/// A connection with its read buffer.
pub struct Conn {
    stream: Stream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// One CRLF- (or LF-) terminated line without its terminator.
    fn read_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                line.extend_from_slice(&self.buf[self.start..self.start + i]);
                self.start += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 header"));
            }
            line.extend_from_slice(&self.buf[self.start..self.end]);
            self.start = self.end;
            if line.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response header too long",
                ));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection",
                ));
            }
        }
    }

    /// The stream and whatever was read past the response head (for hijacked streams).
    pub fn into_parts(self) -> (Stream, Vec<u8>) {
        let rest = self.buf[self.start..self.end].to_vec();
        (self.stream, rest)
    }
}

impl Read for Conn {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if out.len() >= self.buf.len() {
                return self.stream.read(out);
            }
            if self.fill()? == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// A request body.
pub enum Body {
    Empty,
    /// A complete body with its content type.
    Bytes(Vec<u8>, &'static str),
    /// A streamed body, sent chunked (tar archives from files or stdin).
    Stream(Box<dyn Read + Send>, &'static str),
}

impl Body {
    pub fn json(v: &serde_json::Value) -> Body {
        Body::Bytes(
            serde_json::to_vec(v).expect("JSON values serialize"),
            "application/json",
        )
    }
}

/// Writes one request. `extra` holds additional headers.
pub fn write_request(
    conn: &mut Conn,
    method: &str,
    target: &str,
    extra: &[(&str, String)],
    body: Body,
) -> io::Result<()> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: api\r\nUser-Agent: berth/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in extra {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    match body {
        Body::Empty => {
            if method != "GET" && method != "HEAD" {
                head.push_str("Content-Length: 0\r\n");
            }
            head.push_str("\r\n");
            conn.stream.write_all(head.as_bytes())?;
        }
        Body::Bytes(bytes, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            ));
            let mut all = head.into_bytes();
            all.extend_from_slice(&bytes);
            conn.stream.write_all(&all)?;
        }
        Body::Stream(mut reader, ctype) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
            ));
            conn.stream.write_all(head.as_bytes())?;
            let mut chunk = vec![0u8; BUF_SIZE];
            loop {
                let n = match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(io::Error::new(e.kind(), format!("reading the input: {e}")))
                    }
                };
                let mut piece = format!("{n:x}\r\n").into_bytes();
                piece.extend_from_slice(&chunk[..n]);
                piece.extend_from_slice(b"\r\n");
                conn.stream.write_all(&piece)?;
            }
            conn.stream.write_all(b"0\r\n\r\n")?;
        }
    }
    conn.stream.flush()
}

/// A response's status line and headers.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn read_head(conn: &mut Conn) -> io::Result<Head> {
    let status_line = conn.read_line()?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let status = match (version.starts_with("HTTP/1."), status) {
        (true, Some(s)) => s,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: {status_line:?} (is this the daemon's address?)"),
            ))
        }
    };
    let mut headers = Vec::new();
    loop {
        let line = conn.read_line()?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok(Head { status, headers })
}

/// How the body of a response ends.
enum Framing {
    None,
    Length(u64),
    Chunked { left: u64, done: bool },
    Close,
}

/// Where a finished keep-alive connection goes back for the next request.
pub type Pool = Arc<Mutex<Option<Conn>>>;

/// A response whose body is read through `Read`.
pub struct Response {
    pub head: Head,
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    pool: Pool,
}

impl Response {
    pub fn new(head: Head, conn: Conn, method: &str, pool: Pool) -> Response {
        let framing =
            if method == "HEAD" || head.status == 204 || head.status == 304 || head.status == 101 {
                Framing::None
            } else if head
                .header("transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
            {
                Framing::Chunked {
                    left: 0,
                    done: false,
                }
            } else if let Some(n) = head.header("content-length").and_then(|v| v.parse().ok()) {
                Framing::Length(n)
            } else {
                Framing::Close
            };
        let keep_alive = !head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            && !matches!(framing, Framing::Close)
            && head.status != 101;
        let mut r = Response {
            head,
            conn: Some(conn),
            framing,
            keep_alive,
            pool,
        };
        if matches!(r.framing, Framing::None | Framing::Length(0)) && r.head.status != 101 {
            r.release();
        }
        r
    }

    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The whole body (which returns the connection for reuse).
    pub fn bytes(mut self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_to_end(&mut v)?;
        Ok(v)
    }

    /// The raw connection after a `101 Switching Protocols` (or a 200 on old daemons):
    /// the stream plus any bytes already buffered past the head.
    pub fn into_upgraded(mut self) -> (Stream, Vec<u8>) {
        self.conn
            .take()
            .expect("an unread response still owns its connection")
            .into_parts()
    }

    fn release(&mut self) {
        if let Some(c) = self.conn.take() {
            if self.keep_alive {
                *self.pool.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
            }
        }
    }

    fn read_chunk_size(conn: &mut Conn) -> io::Result<u64> {
        let line = conn.read_line()?;
        let hex = line.split(';').next().unwrap_or("").trim();
        u64::from_str_radix(hex, 16).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidData, "bad chunk size from the daemon")
        })
    }
}

impl Read for Response {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(0);
        };
        if out.is_empty() {
            return Ok(0);
        }
        let n = match &mut self.framing {
            Framing::None => 0,
            Framing::Close => conn.read(out)?,
            Framing::Length(left) => {
                if *left == 0 {
                    0
                } else {
                    let want = out.len().min(*left as usize);
                    let n = conn.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the daemon closed the connection mid-response",
                        ));
                    }
                    *left -= n as u64;
                    if *left == 0 {
                        self.release();
                    }
                    return Ok(n);
                }
            }
            Framing::Chunked { left, done } => {
                if *done {
                    0
                } else {
                    if *left == 0 {
                        let size = Self::read_chunk_size(conn)?;
                        if size == 0 {
                            // Trailers, then the blank line.
                            while !conn.read_line()?.is_empty() {}
                            *done = true;
                            self.release();
                            return Ok(0);
                        }
                        *left = size;
                    }
                    let want = out.len().min(*left as usize);
                    let n = conn.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the daemon closed the connection mid-response",
                        ));
                    }
                    *left -= n as u64;
                    if *left == 0 {
                        let crlf = conn.read_line()?;
                        if !crlf.is_empty() {
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "bad chunk framing from the daemon",
                            ));
                        }
                    }
                    return Ok(n);
                }
            }
        };
        if n == 0 {
            self.release();
        }
        Ok(n)
    }
}

/// Percent-encodes a query component.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A container name or id as a path segment: everything but unreserved characters is
/// percent-encoded, so a name can never reach another endpoint.
pub fn seg(s: &str) -> String {
    encode(s)
}

/// An image reference in a path, written the way docker writes it (`/` and `:` kept, so
/// `/images/host:5000/app/json` works on every daemon); `.` and `..` segments are refused.
pub fn image_seg(s: &str) -> Result<String, String> {
    if s.is_empty() || s.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
        return Err(format!("invalid reference format: {s:?}"));
    }
    let mut out = String::with_capacity(s.len());
    for part in s.split_inclusive(['/', ':', '@']) {
        let (body, sep) = match part.char_indices().last() {
            Some((i, c)) if matches!(c, '/' | ':' | '@') => (&part[..i], Some(c)),
            _ => (part, None),
        };
        out.push_str(&encode(body));
        if let Some(c) = sep {
            out.push(c);
        }
    }
    Ok(out)
}

/// Builds `path?k=v&...`, leaving out empty parameters.
#[derive(Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn set(mut self, k: &str, v: impl Into<String>) -> Query {
        self.0.push((k.to_string(), v.into()));
        self
    }

    pub fn opt(self, k: &str, v: Option<impl Into<String>>) -> Query {
        match v {
            Some(v) => self.set(k, v),
            None => self,
        }
    }

    /// Adds `k=1` when `on`.
    pub fn flag(self, k: &str, on: bool) -> Query {
        if on {
            self.set(k, "1")
        } else {
            self
        }
    }

    pub fn to_target(&self, path: &str) -> String {
        if self.0.is_empty() {
            return path.to_string();
        }
        let q: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("{path}?{}", q.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(seg("../images/x"), "..%2Fimages%2Fx");
        assert_eq!(
            image_seg("127.0.0.1:5000/team/app:v1").unwrap(),
            "127.0.0.1:5000/team/app:v1"
        );
        assert_eq!(image_seg("app@sha256:ab").unwrap(), "app@sha256:ab");
        assert_eq!(image_seg("a b").unwrap(), "a%20b");
        assert!(image_seg("../containers/x").is_err());
        assert!(image_seg("a//b").is_err());
    }

    #[test]
    fn query_encodes_components() {
        let q = Query::new()
            .set("filters", r#"{"a":{"b=c":true}}"#)
            .flag("all", true)
            .flag("size", false)
            .opt("limit", None::<String>);
        assert_eq!(
            q.to_target("/containers/json"),
            "/containers/json?filters=%7B%22a%22%3A%7B%22b%3Dc%22%3Atrue%7D%7D&all=1"
        );
    }
}
