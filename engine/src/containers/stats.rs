//! `GET /containers/{id}/stats`: shimd's Tasks.Stats in docker's (cgroup v1 shaped) form,
//! with the previous sample as `precpu_stats` so clients can compute CPU percentages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_api::stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, PidsStats, StatsResponse,
    ThrottlingData,
};
use berth_proto::v1;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::util::{rfc3339_nano, ZERO_TIME};

/// Between two samples of a stream (docker's interval).
const INTERVAL: Duration = Duration::from_secs(1);
/// Between the two samples of a one-off answer with CPU deltas.
const PRIME: Duration = Duration::from_millis(500);

/// Total CPU time of the host in nanoseconds, from /proc/stat.
fn system_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|x| x.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1) as u64;
    Some(ticks * (1_000_000_000 / hz))
}

/// The host's memory in bytes.
fn host_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn convert(s: &v1::TaskStats) -> (CpuStats, MemoryStats, PidsStats, BlkioStats) {
    let cpu = s.cpu.clone().unwrap_or_default();
    let mem = s.memory.clone().unwrap_or_default();
    let pids = s.pids.unwrap_or_default();
    let cpu = CpuStats {
        cpu_usage: CpuUsage {
            total_usage: cpu.usage_total_ns,
            percpu_usage: (!cpu.per_cpu_ns.is_empty()).then_some(cpu.per_cpu_ns.clone()),
            usage_in_kernelmode: cpu.usage_kernel_ns,
            usage_in_usermode: cpu.usage_user_ns,
        },
        system_cpu_usage: system_cpu_ns(),
        online_cpus: Some(if cpu.online_cpus > 0 {
            cpu.online_cpus
        } else {
            crate::spec::resources::num_cpus() as u32
        }),
        throttling_data: ThrottlingData {
            periods: cpu.periods,
            throttled_periods: cpu.throttled_periods,
            throttled_time: cpu.throttled_time_ns,
        },
    };
    let memory = MemoryStats {
        usage: Some(mem.usage),
        max_usage: Some(mem.max_usage),
        stats: Some(mem.stats.clone().into_iter().collect()),
        failcnt: Some(mem.failcnt),
        // An unlimited cgroup reports a huge limit; docker shows the host's memory then.
        limit: Some(match host_memory() {
            Some(total) if mem.limit == 0 || mem.limit > total => total,
            _ => mem.limit,
        }),
    };
    let pids = PidsStats {
        current: Some(pids.current),
        limit: (pids.limit > 0).then_some(pids.limit),
    };
    let entries: Vec<BlkioEntry> = s
        .blkio
        .iter()
        .map(|b| BlkioEntry {
            major: b.major,
            minor: b.minor,
            op: b.op.clone(),
            value: b.value,
        })
        .collect();
    let blkio = BlkioStats {
        io_service_bytes_recursive: Some(entries),
        ..Default::default()
    };
    (cpu, memory, pids, blkio)
}

impl Engine {
    async fn sample(&self, id: &str) -> Result<v1::TaskStats> {
        Ok(self
            .shimd
            .tasks()
            .stats(v1::TaskRequest {
                container_id: id.to_string(),
            })
            .await
            .map_err(Error::from)?
            .into_inner())
    }

    /// Streams stats (one JSON object per line) or answers once.
    pub async fn container_stats(
        self: &Arc<Self>,
        c: &Arc<Container>,
        stream: bool,
        one_shot: bool,
    ) -> Result<mpsc::Receiver<Bytes>> {
        let (tx, rx) = mpsc::channel(4);
        let name = c.with(|r| r.name.clone());
        let id = c.id.clone();
        let zero = StatsResponse {
            name: name.clone(),
            id: id.clone(),
            read: ZERO_TIME.into(),
            preread: ZERO_TIME.into(),
            ..Default::default()
        };
        if !c.with(|r| r.state.running) {
            // docker answers with zeroes for a container that does not run
            let _ = tx.send(line(&zero)).await;
            return Ok(rx);
        }
        let first = self.sample(&id).await?;
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            let mut prev: Option<(v1::TaskStats, chrono::DateTime<chrono::Utc>, CpuStats)> = None;
            let mut current = Some(first);
            if !stream && !one_shot {
                // prime the CPU deltas so the one answer has a meaningful precpu_stats
                if let Some(s) = current.take() {
                    let (cpu, ..) = convert(&s);
                    prev = Some((s, chrono::Utc::now(), cpu));
                }
                tokio::time::sleep(PRIME).await;
            }
            loop {
                let s = match current.take() {
                    Some(s) => s,
                    None => match engine.sample(&id).await {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                };
                let now = chrono::Utc::now();
                let (cpu, memory, pids, blkio) = convert(&s);
                let mut out = StatsResponse {
                    name: name.clone(),
                    id: id.clone(),
                    read: rfc3339_nano(&now),
                    preread: ZERO_TIME.into(),
                    pids_stats: pids,
                    blkio_stats: blkio,
                    num_procs: 0,
                    storage_stats: Default::default(),
                    cpu_stats: cpu.clone(),
                    precpu_stats: CpuStats::default(),
                    memory_stats: memory,
                    networks: c
                        .with(|r| (r.host_config.network_mode != "host").then_some(r.state.pid))
                        .and_then(network_stats),
                };
                if let Some((_, t, pcpu)) = &prev {
                    out.preread = rfc3339_nano(t);
                    out.precpu_stats = pcpu.clone();
                }
                if tx.send(line(&out)).await.is_err() || !stream {
                    break;
                }
                prev = Some((s, now, cpu));
                tokio::time::sleep(INTERVAL).await;
                if !c.with(|r| r.state.running) {
                    break;
                }
            }
        });
        Ok(rx)
    }
}

/// Per-interface counters of the network namespace of process `pid`, in docker's form
/// (`{"eth0": {"rx_bytes": ...}}`, loopback left out), from `/proc/<pid>/net/dev`.
fn network_stats(pid: u32) -> Option<BTreeMap<String, serde_json::Value>> {
    if pid == 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(parse_net_dev(&text))
}

fn parse_net_dev(text: &str) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    // Two header lines, then "  eth0: rx_bytes rx_packets rx_errs rx_drop fifo frame
    // compressed multicast tx_bytes tx_packets tx_errs tx_drop ...".
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let n: Vec<u64> = counters
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        if name == "lo" || n.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            serde_json::json!({
                "rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                "tx_bytes": n[8], "tx_packets": n[9], "tx_errors": n[10], "tx_dropped": n[11],
            }),
        );
    }
    out
}

fn line(s: &StatsResponse) -> Bytes {
    let mut v = serde_json::to_vec(s).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn net_dev_counters_by_interface_without_loopback() {
        let text = "Inter-|   Receive                            |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0\n  \
eth0:    1500      10    1    2    0     0          0         0      700       5    3    4    0     0       0          0\n";
        let m = super::parse_net_dev(text);
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["eth0"]);
        let e = &m["eth0"];
        assert_eq!(
            (e["rx_bytes"].as_u64(), e["rx_packets"].as_u64()),
            (Some(1500), Some(10))
        );
        assert_eq!(
            (e["rx_errors"].as_u64(), e["rx_dropped"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(
            (e["tx_bytes"].as_u64(), e["tx_packets"].as_u64()),
            (Some(700), Some(5))
        );
        assert_eq!(
            (e["tx_errors"].as_u64(), e["tx_dropped"].as_u64()),
            (Some(3), Some(4))
        );
    }
}
