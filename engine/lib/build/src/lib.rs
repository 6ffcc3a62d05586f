//! The foundation of Berth's image builder (the classic, docker-build v1 builder of
//! dockerd): everything that needs no root and no I/O beyond what it is handed.
//!
//! - [`dockerfile`]: the Dockerfile parser, a typed AST with each instruction's source,
//!   dockerd's error texts, and the texts dockerd prints in `Step N/M` lines and records
//!   in image history.
//! - [`expand`]: variable substitution as the builder applies it to instruction arguments.
//! - [`buildargs`]: which build arguments are in effect at each step.
//! - [`ignore`]: `.dockerignore` files and their matching.
//!
//! Go's own functions it builds on (durations, `filepath.Match`, `filepath.Clean`,
//! `strconv.Quote`) come from `berth-gocompat`.

pub mod buildargs;
pub mod dockerfile;
pub mod expand;
pub mod ignore;
