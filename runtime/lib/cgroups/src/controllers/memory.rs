//! memory: limit, reservation, swap, swappiness, OOM killer; usage stats and the OOM counter.

use oci_spec::runtime::LinuxMemory;

use super::{limit_value, At};
use crate::error::{FResult, Fault};
use crate::fsio;
use crate::stats::{Memory, MemoryEntry};

/// True when the block asks for anything this controller must write.
pub(crate) fn wanted(m: &LinuxMemory) -> bool {
    m.limit().is_some_and(|v| v != 0)
        || m.reservation().is_some_and(|v| v != 0)
        || m.swap().is_some_and(|v| v != 0)
        || m.kernel_tcp().is_some_and(|v| v != 0)
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
}

pub(crate) fn apply(at: At, m: &LinuxMemory, update: bool) -> FResult<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    if update && m.check_before_update() == Some(true) && limit > 0 {
        let usage_file = match at {
            At::V1(_) => "memory.usage_in_bytes",
            At::V2(_) => "memory.current",
        };
        let usage = fsio::read_u64(at.dir(), usage_file)?;
        if (limit as u64) < usage {
            return Err(Fault::invalid(format!(
                "memory limit {limit} is below the current usage {usage} \
                 (checkBeforeUpdate is set): not changed"
            )));
        }
    }
    if m.kernel().is_some_and(|v| v != 0) {
        tracing::warn!("linux.resources.memory.kernel is obsolete and ignored by the kernel");
    }
    match at {
        At::V1(dir) => apply_v1(dir, m, limit, swap),
        At::V2(dir) => apply_v2(dir, m, limit, swap),
    }
}

fn apply_v1(dir: &std::path::Path, m: &LinuxMemory, limit: i64, mut swap: i64) -> FResult<()> {
    let at = At::V1(dir);
    let has_memsw = fsio::exists(dir, "memory.memsw.limit_in_bytes");
    // Lifting the memory limit needs memory+swap lifted too, or the kernel refuses.
    if limit < 0 && swap == 0 && has_memsw {
        swap = -1;
    }
    if swap != 0 && !has_memsw {
        return Err(Fault::invalid(
            "a swap limit needs swap accounting, which this kernel has off \
             (no memory.memsw.limit_in_bytes): boot with swapaccount=1 or drop linux.resources.memory.swap",
        ));
    }
    if swap > 0 && limit > 0 && swap < limit {
        return Err(Fault::invalid(format!(
            "memory+swap limit {swap} is below the memory limit {limit}: swap must be >= limit"
        )));
    }
    let write_limit = || fsio::write(dir, "memory.limit_in_bytes", &limit_value(limit, at));
    let write_swap = || fsio::write(dir, "memory.memsw.limit_in_bytes", &limit_value(swap, at));
    match (limit != 0, swap != 0) {
        (true, true) => {
            // memory.limit must stay <= memsw.limit at every step: raise memsw first when
            // growing, lower memory first when shrinking.
            let current = fsio::read_u64(dir, "memory.limit_in_bytes")?;
            if swap < 0 || current < swap as u64 {
                write_swap()?;
                write_limit()?;
            } else {
                write_limit()?;
                write_swap()?;
            }
        }
        (true, false) => write_limit()?,
        (false, true) => write_swap()?,
        (false, false) => {}
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        fsio::write(dir, "memory.soft_limit_in_bytes", &limit_value(r, at))?;
    }
    if let Some(t) = m.kernel_tcp().filter(|v| *v != 0) {
        fsio::write(dir, "memory.kmem.tcp.limit_in_bytes", &limit_value(t, at))?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Fault::invalid(format!(
                "memory swappiness {s} is out of range (0-100)"
            )));
        }
        fsio::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        fsio::write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// OCI swap is memory+swap; cgroup v2's memory.swap.max is swap alone.
pub(crate) fn v2_swap_value(swap: i64, limit: i64) -> Result<Option<String>, String> {
    if swap < 0 {
        return Ok(Some("max".into()));
    }
    if swap == 0 {
        // lifting the memory limit lifts swap with it, as on v1
        return Ok((limit < 0).then(|| "max".into()));
    }
    if limit <= 0 {
        return Err("a swap limit needs a memory limit on cgroup v2".into());
    }
    if swap < limit {
        return Err(format!(
            "memory+swap limit {swap} is below the memory limit {limit}: swap must be >= limit"
        ));
    }
    Ok(Some((swap - limit).to_string()))
}

fn apply_v2(dir: &std::path::Path, m: &LinuxMemory, limit: i64, swap: i64) -> FResult<()> {
    let at = At::V2(dir);
    let unsupported = |what: &str| {
        Fault::invalid(format!(
            "{what} is not available on cgroup v2: remove it from linux.resources.memory"
        ))
    };
    if m.kernel_tcp().is_some_and(|v| v != 0) {
        return Err(unsupported("kernelTCP"));
    }
    if m.swappiness().is_some() {
        return Err(unsupported("swappiness"));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported("disableOOMKiller"));
    }
    let swap_max = v2_swap_value(swap, limit).map_err(Fault::invalid)?;
    if let Some(s) = &swap_max {
        if !fsio::exists(dir, "memory.swap.max") {
            return Err(Fault::invalid(
                "a swap limit needs swap accounting, which this kernel has off (no memory.swap.max)",
            ));
        }
        // Order does not matter on v2: the two limits are independent.
        fsio::write(dir, "memory.swap.max", s)?;
    }
    if limit != 0 {
        fsio::write(dir, "memory.max", &limit_value(limit, at))?;
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        fsio::write(dir, "memory.low", &limit_value(r, at))?;
    }
    Ok(())
}

/// How many processes of the cgroup the OOM killer killed.
pub(crate) fn oom_kill_count(at: At) -> FResult<u64> {
    let file = match at {
        At::V1(_) => "memory.oom_control",
        At::V2(_) => "memory.events",
    };
    match fsio::read_key(at.dir(), file, "oom_kill")? {
        Some(n) => Ok(n),
        None if at.dir().exists() => Ok(0),
        None => Err(Fault::io(
            "reading",
            &at.dir().join(file),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )),
    }
}

pub(crate) fn stats(at: At, out: &mut Memory) -> FResult<()> {
    let dir = at.dir();
    let raw = fsio::read(dir, "memory.stat")?;
    out.raw = fsio::parse_keyed(&raw)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    match at {
        At::V1(_) => {
            out.cache = out.raw.get("cache").copied().unwrap_or(0);
            out.usage = v1_entry(dir, "memory")?;
            if fsio::exists(dir, "memory.memsw.usage_in_bytes") {
                out.swap = v1_entry(dir, "memory.memsw")?;
            }
            if fsio::exists(dir, "memory.kmem.usage_in_bytes") {
                out.kernel = v1_entry(dir, "memory.kmem")?;
            }
            if fsio::exists(dir, "memory.kmem.tcp.usage_in_bytes") {
                out.kernel_tcp = v1_entry(dir, "memory.kmem.tcp")?;
            }
        }
        At::V2(_) => {
            out.cache = out.raw.get("file").copied().unwrap_or(0);
            let usage = fsio::read_u64(dir, "memory.current")?;
            let limit = fsio::read_u64(dir, "memory.max")?;
            out.usage = MemoryEntry {
                usage,
                limit,
                max: fsio::read_u64_opt(dir, "memory.peak")?.unwrap_or(0),
                failcnt: fsio::read_key(dir, "memory.events", "max")?.unwrap_or(0),
            };
            // runc reports memory+swap under "swap" on v2 too, for v1 compatibility
            if let Some(swap) = fsio::read_u64_opt(dir, "memory.swap.current")? {
                let swap_max = fsio::read_u64(dir, "memory.swap.max")?;
                out.swap = MemoryEntry {
                    usage: usage.saturating_add(swap),
                    limit: limit.saturating_add(swap_max),
                    max: 0,
                    failcnt: fsio::read_key(dir, "memory.swap.events", "max")?.unwrap_or(0),
                };
            }
        }
    }
    Ok(())
}

fn v1_entry(dir: &std::path::Path, prefix: &str) -> FResult<MemoryEntry> {
    Ok(MemoryEntry {
        usage: fsio::read_u64(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: fsio::read_u64(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        limit: fsio::read_u64(dir, &format!("{prefix}.limit_in_bytes"))?,
        failcnt: fsio::read_u64(dir, &format!("{prefix}.failcnt"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxMemoryBuilder;

    #[test]
    fn swap_conversion_for_v2() {
        assert_eq!(v2_swap_value(0, 100).unwrap(), None);
        assert_eq!(v2_swap_value(-1, 100).unwrap().as_deref(), Some("max"));
        assert_eq!(v2_swap_value(0, -1).unwrap().as_deref(), Some("max"));
        assert_eq!(v2_swap_value(300, 100).unwrap().as_deref(), Some("200"));
        assert_eq!(v2_swap_value(100, 100).unwrap().as_deref(), Some("0"));
        assert!(v2_swap_value(50, 100).is_err());
        assert!(v2_swap_value(50, 0).is_err());
    }

    #[test]
    fn v2_files() {
        let d = tempfile::tempdir().unwrap();
        for f in ["memory.max", "memory.swap.max", "memory.low"] {
            std::fs::write(d.path().join(f), "max").unwrap();
        }
        let m = LinuxMemoryBuilder::default()
            .limit(64 << 20)
            .swap(96 << 20)
            .reservation(32 << 20)
            .build()
            .unwrap();
        apply(At::V2(d.path()), &m, false).unwrap();
        let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
        assert_eq!(read("memory.max"), (64u64 << 20).to_string());
        assert_eq!(read("memory.swap.max"), (32u64 << 20).to_string());
        assert_eq!(read("memory.low"), (32u64 << 20).to_string());
        let bad = LinuxMemoryBuilder::default()
            .swappiness(10u64)
            .build()
            .unwrap();
        assert!(apply(At::V2(d.path()), &bad, false).is_err());
    }

    #[test]
    fn v1_order_when_growing() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("memory.limit_in_bytes"), "1000").unwrap();
        std::fs::write(d.path().join("memory.memsw.limit_in_bytes"), "1000").unwrap();
        let m = LinuxMemoryBuilder::default()
            .limit(2000)
            .swap(3000)
            .build()
            .unwrap();
        apply(At::V1(d.path()), &m, false).unwrap();
        let read = |f: &str| std::fs::read_to_string(d.path().join(f)).unwrap();
        assert_eq!(read("memory.limit_in_bytes"), "2000");
        assert_eq!(read("memory.memsw.limit_in_bytes"), "3000");
        let below = LinuxMemoryBuilder::default()
            .limit(2000)
            .swap(1000)
            .build()
            .unwrap();
        assert!(apply(At::V1(d.path()), &below, false).is_err());
    }
}
