//! Talking to one berth-shim over its unix socket: 4-byte big-endian length + prost
//! message (proto/berth/v1/shim.proto). One connection per call; `wait` and `attach`
//! keep theirs.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_proto::shim::shim_request::Kind as Req;
use berth_proto::shim::{shim_response, ShimRequest, ShimResponse};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// The longest frame accepted from a shim.
const MAX_FRAME: usize = 4 << 20;
/// How long a shim may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum ShimError {
    /// The shim could not be reached or its connection broke: it is gone.
    Unavailable(String),
    /// The shim answered with an error (code in gRPC's numbering).
    Failed { code: u32, message: String },
}

impl std::fmt::Display for ShimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShimError::Unavailable(m) => write!(f, "the shim is not reachable: {m}"),
            ShimError::Failed { message, .. } => f.write_str(message),
        }
    }
}

impl ShimError {
    pub fn into_status(self, what: &str) -> tonic::Status {
        match self {
            ShimError::Unavailable(m) => {
                tonic::Status::unavailable(format!("{what}: the shim is not reachable ({m})"))
            }
            ShimError::Failed { code, message } => {
                tonic::Status::new(tonic::Code::from(code as i32), format!("{what}: {message}"))
            }
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> ShimError {
    ShimError::Unavailable(e.to_string())
}

/// Connects to a unix socket, also when its path is longer than `sun_path` allows: then
/// through `/proc/self/fd/<dir fd>/<name>`.
pub fn connect_std(path: &Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    if path.as_os_str().len() < 100 {
        return std::os::unix::net::UnixStream::connect(path);
    }
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => return std::os::unix::net::UnixStream::connect(path),
    };
    let dirfd = std::fs::File::open(dir)?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", dirfd.as_raw_fd())).join(name);
    std::os::unix::net::UnixStream::connect(short)
}

async fn connect(path: &Path) -> Result<UnixStream, ShimError> {
    let path = path.to_path_buf();
    let std = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::task::spawn_blocking(move || connect_std(&path)),
    )
    .await
    .map_err(|_| unavailable("connecting timed out"))?
    .map_err(unavailable)?
    .map_err(unavailable)?;
    std.set_nonblocking(true).map_err(unavailable)?;
    UnixStream::from_std(std).map_err(unavailable)
}

pub async fn write_frame<W: AsyncWriteExt + Unpin, M: Message>(
    w: &mut W,
    m: &M,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4 + m.encoded_len());
    buf.extend_from_slice(&(m.encoded_len() as u32).to_be_bytes());
    m.encode(&mut buf)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    w.write_all(&buf).await
}

/// Reads one frame; Ok(None) at a clean end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin, M: Message + Default>(
    r: &mut R,
) -> std::io::Result<Option<M>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "frame of {len} bytes is too large"
        )));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    M::decode(buf.as_slice())
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("undecodable message: {e}")))
}

fn into_result(resp: ShimResponse) -> Result<shim_response::Kind, ShimError> {
    if !resp.error.is_empty() || resp.kind.is_none() {
        return Err(ShimError::Failed {
            code: if resp.code == 0 { 13 } else { resp.code },
            message: if resp.error.is_empty() {
                "the shim sent an empty answer".into()
            } else {
                resp.error
            },
        });
    }
    Ok(resp
        .kind
        .unwrap_or(shim_response::Kind::Ok(Default::default())))
}

/// A shim, by its socket.
#[derive(Clone, Debug)]
pub struct ShimClient {
    socket: PathBuf,
}

/// An attached connection: frames both ways.
pub struct Attached {
    pub reader: OwnedReadHalf,
    pub writer: OwnedWriteHalf,
}

impl ShimClient {
    pub fn new(socket: PathBuf) -> ShimClient {
        ShimClient { socket }
    }

    /// One request, one response. No timeout: runtime commands may take a while, and a
    /// `wait` lasts as long as the process.
    pub async fn call(&self, req: Req) -> Result<shim_response::Kind, ShimError> {
        let mut conn = connect(&self.socket).await?;
        write_frame(&mut conn, &ShimRequest { kind: Some(req) })
            .await
            .map_err(unavailable)?;
        match read_frame::<_, ShimResponse>(&mut conn).await {
            Ok(Some(resp)) => into_result(resp),
            Ok(None) => Err(unavailable("the shim closed the connection")),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Like `call`, but gives up after `limit` (used to probe shims after a restart).
    pub async fn call_within(
        &self,
        req: Req,
        limit: Duration,
    ) -> Result<shim_response::Kind, ShimError> {
        tokio::time::timeout(limit, self.call(req))
            .await
            .map_err(|_| unavailable("no answer in time"))?
    }

    /// Attaches to a process's stdio; after the shim's ok, frames flow both ways.
    pub async fn attach(
        &self,
        req: berth_proto::shim::AttachRequest,
    ) -> Result<Attached, ShimError> {
        let mut conn = connect(&self.socket).await?;
        write_frame(
            &mut conn,
            &ShimRequest {
                kind: Some(Req::Attach(req)),
            },
        )
        .await
        .map_err(unavailable)?;
        match read_frame::<_, ShimResponse>(&mut conn).await {
            Ok(Some(resp)) => into_result(resp)?,
            Ok(None) => return Err(unavailable("the shim closed the connection")),
            Err(e) => return Err(unavailable(e)),
        };
        let (reader, writer) = conn.into_split();
        Ok(Attached { reader, writer })
    }
}
