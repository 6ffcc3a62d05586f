//! Berth's container networking, called by the engine (berthd) through
//! [`NetworkController`]:
//!
//! - IPAM per network ([`ipam`], [`pools`]): subnets, gateways, ranges; addresses persisted
//!   and never handed out twice.
//! - The bridge driver over rtnetlink ([`netlink`]): a Linux bridge per network, a veth pair
//!   per container moved into its network namespace ([`netns`]).
//! - NAT, published ports and isolation in one nftables table ([`nft`], [`portalloc`]).
//! - The embedded DNS server for user-defined networks ([`dns`]) and the container's
//!   `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` ([`files`]).

pub mod controller;
pub mod dns;
pub mod error;
pub mod files;
pub mod ipam;
pub mod mac;
pub mod model;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod pools;
pub mod portalloc;
pub mod ports;
pub mod state;
pub mod subnet;
pub mod time;

pub use controller::{
    ControllerConfig, NetworkController, NetworkView, DEFAULT_NETWORK, HOST_NETWORK, NONE_NETWORK,
};
pub use error::{Error, Result};
pub use mac::MacAddr;
pub use model::{
    CreateRequest, Driver, EndpointInfo, EndpointRequest, LiveContainer, Network, ReconcileReport,
    SandboxSpec,
};
pub use ports::{PortBinding, PortSpec, Proto};
pub use subnet::Ipv4Net;
