//! Errors of the networking library. Every message names the object, the cause and, where
//! there is one, what the user can do about it.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user: a subnet that does not parse, a gateway outside its subnet,
    /// an unknown driver option. The message says what to fix.
    #[error("{0}")]
    InvalidArgument(String),

    #[error("network {0} not found")]
    NetworkNotFound(String),

    /// A driver that is not one of docker's built-in ones (dockerd looks for a plugin).
    #[error(
        "plugin {0:?} not found: berth creates bridge networks (host and none are predefined)"
    )]
    UnknownDriver(String),

    #[error("network with name {0} already exists")]
    NetworkExists(String),

    /// The name or id prefix matches several networks.
    #[error("network {0} is ambiguous ({1} matches): use the full id")]
    AmbiguousNetwork(String, usize),

    #[error("error while removing network {name}: network {name} id {id} has active endpoints ({containers}): disconnect or remove them first")]
    NetworkInUse {
        name: String,
        id: String,
        containers: String,
    },

    #[error("network {0} is a predefined network and cannot be removed")]
    Predefined(String),

    /// A subnet overlaps another network's subnet.
    #[error("invalid pool request: subnet {subnet} overlaps with network {other} ({other_subnet}): choose another --subnet")]
    PoolOverlap {
        subnet: String,
        other: String,
        other_subnet: String,
    },

    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network: pass --subnet or remove unused networks")]
    NoFreePool,

    #[error("no available IPv4 addresses on network {network} ({range}): remove containers from it or create a larger network")]
    PoolExhausted { network: String, range: String },

    #[error("address {ip} is already in use on network {network}: choose another --ip")]
    AddressInUse { ip: String, network: String },

    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },

    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },

    #[error("bind for {addr} failed: port is already allocated: pick another host port or free this one")]
    PortInUse { addr: String },

    #[error("no free host port for {proto} in {range} on {ip}: free some ports or publish a specific one")]
    NoFreePort {
        proto: String,
        range: String,
        ip: String,
    },

    #[error("network namespace {path}: {cause}")]
    Netns { path: PathBuf, cause: String },

    /// A netlink request failed.
    #[error("{what}: {cause}")]
    Netlink { what: String, cause: String },

    /// `nft` failed or is missing.
    #[error("nftables: {0}")]
    Nft(String),

    /// Reading or writing the persisted state.
    #[error("network state {path}: {cause}")]
    State { path: PathBuf, cause: String },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn netlink(what: impl Into<String>, cause: impl std::fmt::Display) -> Self {
        Error::Netlink {
            what: what.into(),
            cause: cause.to_string(),
        }
    }

    /// True for errors the caller caused (bad input, conflicts, missing objects): the
    /// engine maps these to 4xx answers, everything else to 500.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Netns { .. }
                | Error::Netlink { .. }
                | Error::Nft(_)
                | Error::State { .. }
                | Error::Io { .. }
        )
    }

    /// True when the error means "no such object" (404 in the engine API).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::NetworkNotFound(_) | Error::NotConnected { .. } | Error::UnknownDriver(_)
        )
    }

    /// True where dockerd answers 403: the request is valid but the network's state or
    /// kind forbids it (in use, predefined, overlapping, address taken, already connected).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            Error::NetworkInUse { .. }
                | Error::Predefined(_)
                | Error::PoolOverlap { .. }
                | Error::AddressInUse { .. }
                | Error::AlreadyConnected { .. }
        )
    }

    /// True for conflicts with existing objects (409 in the engine API).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::NetworkExists(_) | Error::AmbiguousNetwork(..))
    }
}
