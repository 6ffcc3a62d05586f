//! Loopback ports for servers a test starts (registries, daemons on TCP).
//!
//! Asking the kernel for port 0 and handing the number to a server started later is a race:
//! the number comes from the ephemeral range, where the kernel hands ports to every `connect`
//! and `bind(0)` on the host, so it may be gone before the server binds it. These ports come
//! from just below the ephemeral range, which the kernel never hands out on its own; within
//! one test process a counter keeps two tests from picking the same one, and a bind probe
//! skips any a program holds.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU16, Ordering};

/// How many ports below the ephemeral range are used.
const SPAN: u16 = 2000;

/// A loopback TCP port no other program holds and no other test of this process gets.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = ephemeral_start().saturating_sub(SPAN).max(1024);
    // Processes started one after another begin at different places.
    let offset = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = base + (offset.wrapping_add(i) % SPAN);
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {base}..{}", base + SPAN);
}

fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        assert!(a < ephemeral_start() && b < ephemeral_start());
        TcpListener::bind((Ipv4Addr::LOCALHOST, a)).unwrap();
    }
}
