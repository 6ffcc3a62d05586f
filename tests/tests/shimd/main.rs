//! Integration tests of shimd, berth-shim and berthctl: images against a loopback registry,
//! the content store and snapshots, tasks with berth-runtime, runc and crun, and faults
//! (kill -9, hostile layers).
//! One test binary per area (one link instead of one per file); the modules are the topics.

mod images;
mod images_create;
mod images_hostile;
mod images_registry;
mod images_store;
mod tasks;
mod tasks_crun;
mod tasks_deep_state;
mod tasks_errors;
mod tasks_init;
mod tasks_kill;
mod tasks_recovery;
mod tasks_user;
