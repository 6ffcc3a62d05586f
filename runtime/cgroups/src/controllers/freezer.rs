//! Freezing and thawing every process of the cgroup: v1 freezer.state, v2 cgroup.freeze.

use std::time::{Duration, Instant};

use super::At;
use crate::error::{FResult, Fault};
use crate::fsio;

const PATIENCE: Duration = Duration::from_secs(5);

pub(crate) fn freeze(at: At) -> FResult<()> {
    if let At::V2(dir) = at {
        fsio::write(dir, "cgroup.freeze", "1")?;
    }
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        // v1: FREEZING can stall on a task that is just forking; writing FROZEN again
        // restarts the attempt.
        if let At::V1(dir) = at {
            fsio::write(dir, "freezer.state", "FROZEN")?;
        }
        if is_frozen(at)? {
            return Ok(());
        }
        if start.elapsed() > PATIENCE {
            let _ = thaw(at);
            return Err(Fault::invalid(format!(
                "the processes did not freeze within {}s; the cgroup was thawed again",
                PATIENCE.as_secs()
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

pub(crate) fn thaw(at: At) -> FResult<()> {
    match at {
        At::V1(dir) => fsio::write(dir, "freezer.state", "THAWED"),
        At::V2(dir) => fsio::write(dir, "cgroup.freeze", "0"),
    }
}

pub(crate) fn is_frozen(at: At) -> FResult<bool> {
    match at {
        At::V1(dir) => Ok(fsio::read(dir, "freezer.state")?.trim() == "FROZEN"),
        At::V2(dir) => Ok(fsio::read_key(dir, "cgroup.events", "frozen")? == Some(1)),
    }
}

/// Frozen or on the way to it: v1 anything but THAWED (a child of a frozen parent reads
/// FROZEN too); v2 asked to freeze itself, or frozen through a parent.
pub(crate) fn is_frozen_or_freezing(at: At) -> FResult<bool> {
    match at {
        At::V1(dir) => Ok(fsio::read(dir, "freezer.state")?.trim() != "THAWED"),
        At::V2(dir) => Ok(fsio::read(dir, "cgroup.freeze")?.trim() == "1" || is_frozen(at)?),
    }
}
