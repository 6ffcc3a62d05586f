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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_or_freezing_from_the_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for (state, want) in [
            ("THAWED\n", false),
            ("FREEZING\n", true),
            ("FROZEN\n", true),
        ] {
            std::fs::write(p.join("freezer.state"), state).unwrap();
            assert_eq!(is_frozen_or_freezing(At::V1(p)).unwrap(), want, "{state}");
        }
        // v2: asked to freeze itself, or frozen through a parent (cgroup.freeze stays 0)
        for (freeze, events, want) in [
            ("0\n", "populated 0\nfrozen 0\n", false),
            ("1\n", "populated 1\nfrozen 0\n", true),
            ("0\n", "populated 0\nfrozen 1\n", true),
        ] {
            std::fs::write(p.join("cgroup.freeze"), freeze).unwrap();
            std::fs::write(p.join("cgroup.events"), events).unwrap();
            assert_eq!(
                is_frozen_or_freezing(At::V2(p)).unwrap(),
                want,
                "{freeze} {events}"
            );
        }
    }
}
