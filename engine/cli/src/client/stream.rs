//! The byte stream to the daemon: a unix socket, plain TCP, or TCP with TLS.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::endpoint::Endpoint;

pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// The socket, to poll it.
impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Unix(s) => s.as_fd(),
            Stream::Tcp(s) => s.as_fd(),
            Stream::Tls(s) => s.sock.as_fd(),
        }
    }
}

impl Stream {
    /// Connects to the daemon; `tls` is set for `--tls`/`--tlsverify` on a TCP endpoint.
    pub fn connect(ep: &Endpoint, tls: Option<&Arc<ClientConfig>>) -> io::Result<Stream> {
        match ep {
            Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
            Endpoint::Tcp { host, port } => {
                let tcp = TcpStream::connect((host.as_str(), *port))?;
                tcp.set_nodelay(true)?;
                match tls {
                    None => Ok(Stream::Tcp(tcp)),
                    Some(cfg) => {
                        let name = ServerName::try_from(host.clone()).map_err(|e| {
                            io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}"))
                        })?;
                        let conn = ClientConnection::new(cfg.clone(), name)
                            .map_err(|e| io::Error::other(e.to_string()))?;
                        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
                    }
                }
            }
        }
    }

    /// Closes the sending half: the daemon sees end of input (stdin closed) while the
    /// output keeps flowing back.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                // Everything pending goes out first, whatever the socket's mode.
                let nonblocking = s.sock.set_nonblocking(false);
                s.flush()?;
                if nonblocking.is_ok() {
                    s.sock.set_nonblocking(true)?;
                }
                s.sock.shutdown(Shutdown::Write)
            }
        }
    }

    /// For a poll loop: reads what is available after the socket polled readable.
    /// `Ok(None)` means nothing for the caller yet (a TLS record is still incomplete);
    /// `Ok(Some(0))` is the end of the stream.
    pub fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let would_block = |r: io::Result<usize>| match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            r => r.map(Some),
        };
        match self {
            Stream::Unix(s) => would_block(s.read(buf)),
            Stream::Tcp(s) => would_block(s.read(buf)),
            Stream::Tls(s) => {
                let mut pulled = false;
                loop {
                    match s.conn.reader().read(buf) {
                        Ok(n) => return Ok(Some(n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            if pulled {
                                return Ok(None);
                            }
                            pulled = true;
                            match s.conn.read_tls(&mut s.sock) {
                                Ok(0) => return Ok(Some(0)),
                                Ok(_) => {}
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                                Err(e) => return Err(e),
                            }
                            s.conn
                                .process_new_packets()
                                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Some(0)),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_nonblocking(on),
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Tls(s) => s.sock.set_nonblocking(on),
        }
    }

    /// For a poll loop on a non-blocking stream: sends what the socket takes now.
    /// `Ok(None)` means it takes nothing now (wait for POLLOUT).
    pub fn write_ready(&mut self, data: &[u8]) -> io::Result<Option<usize>> {
        let r = match self {
            Stream::Unix(s) => s.write(data),
            Stream::Tcp(s) => s.write(data),
            Stream::Tls(s) => {
                // rustls buffers up to its limit and says 0 when full.
                let n = s.conn.writer().write(data)?;
                if n == 0 && !data.is_empty() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            }
        };
        if matches!(self, Stream::Tls(_)) {
            self.flush_ready()?;
        }
        match r {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends encrypted records TLS still holds, as far as the socket takes them now;
    /// true when nothing is left.
    pub fn flush_ready(&mut self) -> io::Result<bool> {
        if let Stream::Tls(s) = self {
            while s.conn.wants_write() {
                match s.conn.write_tls(&mut s.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    }

    /// True when decrypted bytes wait in the TLS buffers, which a poll on the socket
    /// would not report.
    pub fn has_buffered(&mut self) -> bool {
        match self {
            Stream::Tls(s) => s
                .conn
                .process_new_packets()
                .map(|st| st.plaintext_bytes_to_read() > 0)
                .unwrap_or(false),
            _ => false,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => match s.read(buf) {
                // A daemon that closes without close_notify still ended the stream.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
