//! cpuset: the CPUs and memory nodes the container may use.

use oci_spec::runtime::LinuxCpu;

use super::At;
use crate::error::FResult;
use crate::fsio;
use crate::stats::CpuSet;

pub(crate) fn wanted(c: &LinuxCpu) -> bool {
    c.cpus().as_deref().is_some_and(|s| !s.is_empty())
        || c.mems().as_deref().is_some_and(|s| !s.is_empty())
}

/// The file names are the same on v1 and v2.
pub(crate) fn apply(at: At, c: &LinuxCpu) -> FResult<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        fsio::write(at.dir(), "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        fsio::write(at.dir(), "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Expands a kernel list ("0-2,5") into numbers.
pub(crate) fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

pub(crate) fn stats(at: At, out: &mut CpuSet) -> FResult<()> {
    let dir = at.dir();
    let (cpus, mems) = match at {
        At::V1(_) => ("cpuset.cpus", "cpuset.mems"),
        At::V2(_) => ("cpuset.cpus.effective", "cpuset.mems.effective"),
    };
    out.cpus = parse_list(&fsio::read(dir, cpus).unwrap_or_default());
    out.mems = parse_list(&fsio::read(dir, mems).unwrap_or_default());
    if let At::V1(_) = at {
        let flag = |f: &str| fsio::read_u64_opt(dir, f).map(|v| v.unwrap_or(0));
        out.cpu_exclusive = flag("cpuset.cpu_exclusive")?;
        out.mem_exclusive = flag("cpuset.mem_exclusive")?;
        out.mem_hardwall = flag("cpuset.mem_hardwall")?;
        out.memory_migrate = flag("cpuset.memory_migrate")?;
        out.memory_spread_page = flag("cpuset.memory_spread_page")?;
        out.memory_spread_slab = flag("cpuset.memory_spread_slab")?;
        out.memory_pressure = flag("cpuset.memory_pressure")?;
        out.sched_load_balance = flag("cpuset.sched_load_balance")?;
        out.sched_relax_domain_level = fsio::read(dir, "cpuset.sched_relax_domain_level")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(parse_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_list(""), Vec::<u16>::new());
    }
}
