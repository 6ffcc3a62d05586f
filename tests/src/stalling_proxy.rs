//! A loopback HTTP/1 proxy in front of a test registry that can hold a download mid-way,
//! so a test knows a download is under way (and how far) when it kills a client or a
//! daemon, instead of racing it.
//!
//! Every connection to the proxy gets its own connection to the upstream, and bytes flow
//! through unchanged. The response to a `GET` whose path contains the chosen string (a
//! blob's digest) is held once `after` bytes of its body went through: the proxy forwards
//! nothing more on that connection until the test calls [`StallingProxy::release`] or the
//! client goes away. Requests are parsed only to know which response comes next: the
//! clients used here (hyper, Go's net/http) send one request at a time on a connection, and
//! their requests to a registry's read side carry no body.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct StallingProxy {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    upstream: SocketAddr,
    path: String,
    after: u64,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    released: bool,
    stopping: bool,
    /// Responses held now.
    holding: usize,
    /// Responses held since the start.
    held: usize,
    /// The head of every request forwarded, in order.
    requests: Vec<String>,
    /// Both ends of every connection, shut down when the proxy stops.
    sockets: Vec<TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

/// One client connection: what its two forwarding threads share.
#[derive(Default)]
struct Conn {
    /// The response now coming is to be held.
    armed: bool,
    /// The client closed its side (or the upstream failed): a held response is given up.
    closed: bool,
}

const PATIENCE: Duration = Duration::from_secs(60);

impl StallingProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` ("127.0.0.1:PORT",
    /// loopback only); holds each response to a `GET` whose path contains `path` once `after`
    /// bytes of its body went through, until [`release`](Self::release).
    pub fn start(upstream: &str, path: &str, after: u64) -> StallingProxy {
        let upstream: SocketAddr = upstream.parse().expect("upstream is 127.0.0.1:PORT");
        assert!(
            upstream.ip().is_loopback(),
            "the proxy forwards to loopback only, not {upstream}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy on loopback");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            upstream,
            path: path.to_string(),
            after,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        let accept = std::thread::spawn(move || accept_loop(listener, s));
        StallingProxy {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// "127.0.0.1:PORT", to use in place of the registry's host.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until `n` responses have been held since the start (panics after a minute).
    pub fn wait_held(&self, n: usize) {
        self.wait(&format!("response {n} to be held"), |st| st.held >= n);
    }

    /// Waits until no response is held any more: each held one was released or its client
    /// went away (panics after a minute).
    pub fn wait_none_held(&self) {
        self.wait("the held responses to end", |st| st.holding == 0);
    }

    /// Lets every held response go on, and holds none from now on.
    pub fn release(&self) {
        self.shared.lock().released = true;
        self.shared.changed.notify_all();
    }

    /// The head of every request forwarded so far (request line and headers).
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    fn wait(&self, what: &str, done: impl Fn(&State) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        let mut st = self.shared.lock();
        while !done(&st) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what} (path {:?} after {} bytes); requests seen: {:#?}",
                self.shared.path,
                self.shared.after,
                st.requests
            );
            st = self.shared.changed.wait_timeout(st, left).unwrap().0;
        }
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        let threads = {
            let mut st = self.shared.lock();
            st.stopping = true;
            for s in &st.sockets {
                let _ = s.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut st.threads)
        };
        self.shared.changed.notify_all();
        // Wakes the accept loop, which then sees `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for t in threads {
            let _ = t.join();
        }
        // Connections accepted while stopping.
        let late = std::mem::take(&mut self.shared.lock().threads);
        for t in late {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let upstream = TcpStream::connect(shared.upstream);
        // Checked and registered under one lock, so a stopping proxy shuts down and joins
        // every connection it let in.
        let mut st = shared.lock();
        if st.stopping {
            return;
        }
        let Ok(upstream) = upstream else {
            continue; // the client sees its connection closed
        };
        let conn = Arc::new(Mutex::new(Conn::default()));
        for s in [&client, &upstream] {
            if let Ok(c) = s.try_clone() {
                st.sockets.push(c);
            }
        }
        let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let (s1, s2, k1, k2) = (shared.clone(), shared.clone(), conn.clone(), conn);
        st.threads.push(std::thread::spawn(move || {
            forward_requests(client, upstream, &s1, &k1)
        }));
        st.threads.push(std::thread::spawn(move || {
            forward_responses(u2, c2, &s2, &k2)
        }));
    }
}

/// Client to upstream: records each request head and arms the connection when the
/// response to come is one to hold (before the request goes on, so the upstream cannot
/// answer first). A request body of known length goes through as it is; after a chunked
/// one, everything does (no more holds on that connection).
fn forward_requests(
    mut client: TcpStream,
    mut upstream: TcpStream,
    shared: &Shared,
    conn: &Mutex<Conn>,
) {
    let mut pending = Vec::new();
    let mut body_left = 0u64;
    let mut opaque = false;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        loop {
            let through = if opaque {
                pending.len()
            } else if body_left > 0 {
                let k = body_left.min(pending.len() as u64);
                body_left -= k;
                k as usize
            } else if let Some(end) = head_end(&pending) {
                let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                let mut words = head.split_whitespace();
                let hold = words.next() == Some("GET")
                    && words.next().is_some_and(|p| p.contains(&shared.path));
                body_left = header(&head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                opaque = header(&head, "transfer-encoding").is_some();
                shared.lock().requests.push(head);
                if hold {
                    conn.lock().unwrap().armed = true;
                }
                end
            } else {
                break;
            };
            if through == 0 {
                break;
            }
            if upstream.write_all(&pending[..through]).is_err() {
                return give_up(shared, conn, &upstream);
            }
            pending.drain(..through);
        }
    }
    give_up(shared, conn, &upstream);
}

/// The client is gone: the upstream connection ends, and a held response is given up.
fn give_up(shared: &Shared, conn: &Mutex<Conn>, upstream: &TcpStream) {
    conn.lock().unwrap().closed = true;
    let _ = upstream.shutdown(Shutdown::Both);
    // Taken so the notification cannot slip between a waiter's check and its wait.
    drop(shared.lock());
    shared.changed.notify_all();
}

/// Upstream to client: passes bytes through, an armed response by [`pass_armed`].
fn forward_responses(
    mut upstream: TcpStream,
    mut client: TcpStream,
    shared: &Shared,
    conn: &Mutex<Conn>,
) {
    let mut buf = vec![0u8; 64 << 10];
    let mut armed = Armed::default();
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let passed = if conn.lock().unwrap().armed {
            pass_armed(&buf[..n], &mut armed, shared, conn, &mut client)
        } else {
            client.write_all(&buf[..n]).is_ok()
        };
        if !passed {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// The armed response so far: its head while incomplete, then the body bytes sent.
#[derive(Default)]
struct Armed {
    head: Vec<u8>,
    body_sent: Option<u64>,
}

/// Passes `data`, a piece of the armed response. Its head is read whole first: a response
/// other than 200 or 206, or whose body is no longer than `after`, is not held (the
/// connection is disarmed). False when the connection is over.
fn pass_armed(
    data: &[u8],
    armed: &mut Armed,
    shared: &Shared,
    conn: &Mutex<Conn>,
    client: &mut TcpStream,
) -> bool {
    if armed.body_sent.is_some() {
        return hold_within(data, armed, shared, conn, client);
    }
    armed.head.extend_from_slice(data);
    let Some(end) = head_end(&armed.head) else {
        return true;
    };
    let body = armed.head.split_off(end);
    let head = std::mem::take(&mut armed.head);
    if client.write_all(&head).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&head);
    let ok = matches!(head.split_whitespace().nth(1), Some("200" | "206"));
    let long = header(&head, "content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_none_or(|len| len > shared.after);
    if !ok || !long {
        conn.lock().unwrap().armed = false;
        return client.write_all(&body).is_ok();
    }
    armed.body_sent = Some(0);
    hold_within(&body, armed, shared, conn, client)
}

/// Sends `data`, a piece of the armed response's body; once `after` body bytes went out,
/// holds the connection until released or given up, then disarms it and sends the rest.
/// False when the connection is over.
fn hold_within(
    data: &[u8],
    armed: &mut Armed,
    shared: &Shared,
    conn: &Mutex<Conn>,
    client: &mut TcpStream,
) -> bool {
    let sent = armed.body_sent.unwrap_or(0);
    let room = shared.after.saturating_sub(sent).min(data.len() as u64) as usize;
    if client.write_all(&data[..room]).is_err() {
        return false;
    }
    let sent = sent + room as u64;
    armed.body_sent = Some(sent);
    if sent < shared.after {
        return true;
    }
    let mut st = shared.lock();
    st.holding += 1;
    st.held += 1;
    shared.changed.notify_all();
    while !st.released && !st.stopping && !conn.lock().unwrap().closed {
        st = shared.changed.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    st.holding -= 1;
    let go_on = !st.stopping && !conn.lock().unwrap().closed;
    drop(st);
    shared.changed.notify_all();
    conn.lock().unwrap().armed = false;
    armed.body_sent = None;
    go_on && client.write_all(&data[room..]).is_ok()
}

/// The value of header `name` (lower case) in an HTTP head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Where an HTTP head ends (just past its blank line), if it is complete.
fn head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    /// A tiny upstream answering every request on a connection with `body`.
    fn upstream(body: Vec<u8>) -> (u16, JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    let _ = write!(
                        w,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    let _ = w.write_all(&body);
                }
            }
        });
        (port, t)
    }

    fn get(s: &mut TcpStream, path: &str) {
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    }

    /// Reads until `n` bytes came (the head included).
    fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0u8; n];
        s.read_exact(&mut got).unwrap();
        got
    }

    #[test]
    fn holds_the_chosen_response_after_its_first_bytes_and_passes_others() {
        let body: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let (port, up) = upstream(body.clone());
        let p = StallingProxy::start(&format!("127.0.0.1:{port}"), "/blobs/wanted", 1000);
        let mut c = TcpStream::connect(p.host()).unwrap();
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        // Another path goes through whole.
        get(&mut c, "/v2/other");
        let got = read_n(&mut c, head.len() + body.len());
        assert_eq!(&got[head.len()..], &body[..]);
        // The chosen one stops after 1000 bytes of body, until released.
        get(&mut c, "/v2/r/blobs/wanted");
        p.wait_held(1);
        let got = read_n(&mut c, head.len() + 1000);
        assert_eq!(&got[head.len()..], &body[..1000]);
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut more = [0u8; 1];
        assert!(c.read(&mut more).is_err(), "bytes came while held");
        p.release();
        c.set_read_timeout(None).unwrap();
        let rest = read_n(&mut c, body.len() - 1000);
        assert_eq!(rest, &body[1000..]);
        p.wait_none_held();
        assert_eq!(p.requests().len(), 2);
        assert!(p.requests()[1].starts_with("GET /v2/r/blobs/wanted "));
        drop(c);
        drop(p);
        up.join().unwrap();
    }

    #[test]
    fn a_held_response_ends_when_its_client_goes_away() {
        let (port, up) = upstream(vec![7u8; 10_000]);
        let p = StallingProxy::start(&format!("127.0.0.1:{port}"), "wanted", 10);
        let mut c = TcpStream::connect(p.host()).unwrap();
        get(&mut c, "/wanted");
        p.wait_held(1);
        drop(c);
        p.wait_none_held();
        drop(p);
        up.join().unwrap();
    }
}
