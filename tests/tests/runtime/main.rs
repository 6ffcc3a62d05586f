//! Integration tests of berth-runtime: real containers from a busybox rootfs, driven
//! through the runtime's command line, and the clients that use it in place of runc
//! (containerd, dockerd).
//! One test binary per area (one link instead of one per file); the modules are the topics.

mod bad_input;
mod cgroups;
mod cli_surface;
mod clients;
mod container;
mod exec;
mod hardening;
mod hooks;
mod lifecycle;
mod mounts;
mod process;
mod seccomp;
mod seccomp_notify;
