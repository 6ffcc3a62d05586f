//! The embedded DNS server for user-defined networks (docker's 127.0.0.11).

pub mod message;
pub mod server;
pub mod table;

pub use server::DNS_ADDR;
pub use table::{short_id, DnsEntry, NameTable};
