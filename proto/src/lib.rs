//! The wire of Berth: shimd's gRPC API (`berth.v1`) and the shim protocol (`berth.shim.v1`).
//!
//! The `.proto` files under `berth/v1/` are the source of truth; clients in other languages
//! can be generated from them.

/// shimd's gRPC services and their messages.
#[cfg(feature = "grpc")]
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("berth.v1");

    /// The encoded file descriptor set of every Berth proto, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/berth_descriptor.bin"));
}

/// The messages of the shim protocol (length-prefixed prost on the shim's unix socket).
pub mod shim {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/berth.shim.v1.rs"));
}

/// The gRPC metadata key that carries the namespace of a call.
pub const NAMESPACE_HEADER: &str = "berth-namespace";

/// The gRPC metadata key naming a lease (Leases.Create) that the content a call writes
/// (Content.Write, Snapshots.Diff) is added to, so it stays until the caller is done.
pub const LEASE_HEADER: &str = "berth-lease";

/// The namespace of calls that carry none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A snapshot label (value "true") for a throwaway writable snapshot, such as an image
/// build step's: its overlay mount is `volatile` where the kernel has that (5.10), so
/// unmounting it does not sync the files written to disk. After a host crash such a
/// snapshot's files may be incomplete.
pub const SNAPSHOT_VOLATILE_LABEL: &str = "berth.io/snapshot.volatile";

/// Connecting to shimd over its unix socket, with the namespace on every call.
#[cfg(feature = "grpc")]
pub mod client {
    use std::path::{Path, PathBuf};

    use hyper_util::rt::TokioIo;
    use tonic::metadata::AsciiMetadataValue;
    use tonic::service::interceptor::InterceptedService;
    use tonic::transport::{Channel, Endpoint};

    /// The largest answer a client of shimd accepts. tonic's default (4 MiB) is reached by
    /// listing about 400 containers with their specs: an engine with 1000 containers
    /// could not reconcile with shimd at start-up.
    pub const MAX_RESPONSE: usize = 256 << 20;

    /// A channel to shimd on `socket`. Connects at once, so a missing daemon is reported here.
    pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
        let path: PathBuf = socket.to_path_buf();
        // The URI is required by tonic but unused: the connector dials the socket.
        Endpoint::from_static("http://shimd.sock")
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
    }

    /// Adds the `berth-namespace` header to every request.
    #[derive(Clone)]
    pub struct Namespace(AsciiMetadataValue);

    impl Namespace {
        pub fn new(ns: &str) -> Result<Self, tonic::Status> {
            ns.parse()
                .map(Namespace)
                .map_err(|_| tonic::Status::invalid_argument(format!("invalid namespace {ns:?}")))
        }
    }

    impl tonic::service::Interceptor for Namespace {
        fn call(
            &mut self,
            mut req: tonic::Request<()>,
        ) -> Result<tonic::Request<()>, tonic::Status> {
            req.metadata_mut()
                .insert(crate::NAMESPACE_HEADER, self.0.clone());
            Ok(req)
        }
    }

    /// A channel whose every call carries a namespace.
    pub type NsChannel = InterceptedService<Channel, Namespace>;

    /// Wraps a channel so every call carries `ns`.
    pub fn with_namespace(ch: Channel, ns: &str) -> Result<NsChannel, tonic::Status> {
        Ok(InterceptedService::new(ch, Namespace::new(ns)?))
    }
}

/// The servers' side of a unix socket: shimd's gRPC socket and berthd's API socket.
pub mod socket {
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::Path;

    /// Binds `path` for root alone (mode 0600 in a 0711 directory, made if missing). A
    /// stale socket file left by a dead server is replaced; one that still answers is not:
    /// the error says so and names `flag`, the option that picks another path. The listener
    /// is non-blocking, ready for an async runtime.
    pub fn bind_root_only(path: &Path, flag: &str) -> io::Result<UnixListener> {
        let with =
            |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(parent)
                .map_err(with(format!("creating {}", parent.display())))?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{} is in use by another server; stop it or pick another {flag}",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)
                .map_err(with(format!("removing stale {}", path.display())))?;
        }
        // Connecting needs write permission; under the servers' umask (022) the socket is
        // never writable by others, before the chmod too.
        let l = UnixListener::bind(path).map_err(with(format!("binding {}", path.display())))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        l.set_nonblocking(true)?;
        Ok(l)
    }
}
