//! Texts that Berth's peers (runc, containerd, dockerd, the docker CLI) read and write
//! through Go's standard library and docker's `go-units`, parsed and printed here the same
//! way, so every layer answers a value exactly as its peer does. Pure functions, no I/O.
//!
//! - [`duration`]: Go's `time.ParseDuration` and `Duration.String` (`1h2m3.5s`).
//! - [`glob`]: Go's `filepath.Match` (`*.go`, `[a-z]?`), and the plain `*` wildcard of
//!   filter languages.
//! - [`path`]: Go's `filepath.Clean`, `Join` and `Dir` on slash paths.
//! - [`quote`]: Go's `strconv.Quote` and `fmt`'s `%q`/`%v` of string lists.
//! - [`units`]: docker's size units: `RAMInBytes` (`64m`, binary) and `FromHumanSize`
//!   (`64MB`, decimal) parsing, `HumanSize` (`1.24MB`) and `BytesSize` (`1.5MiB`) printing.

pub mod duration;
pub mod glob;
pub mod path;
pub mod quote;
pub mod units;
