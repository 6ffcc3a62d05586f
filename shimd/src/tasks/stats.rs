//! A task's resource usage, read from its cgroup.

use berth_proto::v1::{BlkioEntry, CpuStats, MemoryStats, PidsStats, TaskStats};

pub fn to_proto(s: &berth_cgroups::Stats) -> TaskStats {
    let online = if s.cpuset.cpus.is_empty() {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    } else {
        s.cpuset.cpus.len() as u32
    };
    TaskStats {
        read_at: Some(crate::events::now()),
        cpu: Some(CpuStats {
            usage_total_ns: s.cpu.usage.total,
            usage_kernel_ns: s.cpu.usage.kernel,
            usage_user_ns: s.cpu.usage.user,
            per_cpu_ns: s.cpu.usage.percpu.clone(),
            throttled_periods: s.cpu.throttling.throttled_periods,
            throttled_time_ns: s.cpu.throttling.throttled_time,
            periods: s.cpu.throttling.periods,
            online_cpus: online,
        }),
        memory: Some(MemoryStats {
            usage: s.memory.usage.usage,
            max_usage: s.memory.usage.max,
            limit: s.memory.usage.limit,
            failcnt: s.memory.usage.failcnt,
            stats: s.memory.raw.clone().into_iter().collect(),
        }),
        pids: Some(PidsStats {
            current: s.pids.current,
            limit: s.pids.limit,
        }),
        blkio: s
            .blkio
            .io_service_bytes_recursive
            .iter()
            .map(|e| BlkioEntry {
                major: e.major,
                minor: e.minor,
                op: e.op.clone(),
                value: e.value,
            })
            .collect(),
    }
}

/// Reads the stats of the cgroup at `cgroups_path` (as the spec names it).
pub async fn read(cgroups_path: Option<String>, id: String) -> Result<TaskStats, String> {
    tokio::task::spawn_blocking(move || {
        let cg = berth_cgroups::Cgroup::new(cgroups_path.as_deref().map(std::path::Path::new), &id)
            .map_err(|e| e.to_string())?;
        cg.stats().map(|s| to_proto(&s)).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("reading cgroup stats: {e}"))?
}

/// Whether the kernel's OOM killer struck in the cgroup (false when unknown).
pub async fn oom_killed(cgroups_path: Option<String>, id: String) -> bool {
    tokio::task::spawn_blocking(move || {
        berth_cgroups::Cgroup::new(cgroups_path.as_deref().map(std::path::Path::new), &id)
            .and_then(|cg| cg.oom_kill_count())
            .is_ok_and(|n| n > 0)
    })
    .await
    .unwrap_or(false)
}
