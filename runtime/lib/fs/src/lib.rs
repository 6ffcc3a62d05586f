//! berth-fs: the one place where Berth resolves paths inside a root (a container's rootfs,
//! an image layer, a mounted snapshot) without ever leaving it, opens only regular files of
//! untrusted trees, and reads mountinfo.
//!
//! - [`inroot`]: open, resolve, create and look at paths inside a root directory. The kernel
//!   does it with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`; where the kernel lacks
//!   openat2 (before 5.6) the same rules run in userspace ([`walk`]).
//! - [`regular`]: open a file for reading only if it is a regular file (a FIFO would block
//!   the reader, a device node's open reaches its driver).
//! - [`mountinfo`]: `/proc/<pid>/mountinfo` parsed, its octal escapes decoded.
//! - [`lock`]: one process per directory (an exclusive `flock`).
//! - [`mount_options`]: mount option words (`ro`, `rbind`, `rslave`, `size=1m`) split into
//!   mount(2) flags, propagation and filesystem data.
//! - [`pidfd`]: process descriptors (pidfd_open, pidfd_getfd).

pub mod inroot;
pub mod lock;
pub mod mount_options;
pub mod mountinfo;
pub mod pidfd;
pub mod regular;
mod sys;
pub mod walk;

pub use inroot::{fd_path, host_path, open_root, Entry, InRoot, Kind, Resolver};
pub use regular::{open_regular, open_regular_at, reopen_regular};
