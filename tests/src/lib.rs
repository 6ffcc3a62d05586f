//! Berth integration tests: real processes, kernel features, registry and clients
