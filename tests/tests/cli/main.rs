//! Integration tests of berth, the CLI: each scenario against berthd (and, where it tells
//! something, Debian's dockerd).
//! One test binary per area (one link instead of one per file); the modules are the topics.

mod completion;
mod containers;
mod contexts;
mod cp;
mod errors;
mod images;
mod images_reference;
mod interactive;
mod networks;
mod output;
mod port;
mod run_flags;
mod system;
mod tls;
mod volumes;
