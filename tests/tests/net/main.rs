//! Integration tests of Networks: bridges, addresses, DNS, published ports and
//! reconciliation, in network namespaces the tests create, and through berthd.
//! One test binary per area (one link instead of one per file); the modules are the topics.

mod bridge;
mod dns;
mod engine;
mod ports;
mod reconcile;
