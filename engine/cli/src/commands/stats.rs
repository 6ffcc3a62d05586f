//! `stats`: live resource usage. One stream per container on its own thread; the table is
//! redrawn twice a second on a terminal (like docker), or printed once with --no-stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use berth_api::stats::StatsResponse;
use serde_json::{json, Value};

use crate::cli::StatsArgs;
use crate::client::http::{Body, Query};
use crate::client::{jsonlines, Client};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::listing::ListFormat;
use crate::output::{print, short_id};
use crate::term::is_tty;
use berth_gocompat::units::{bytes_size, human_size_with_precision};

const DEFAULT: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn headers() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

/// One stats sample as a table row, computed the way docker computes it.
pub fn row(label: &str, s: &StatsResponse, no_trunc: bool) -> Value {
    let (cpu, pre) = (&s.cpu_stats, &s.precpu_stats);
    let cpu_delta = cpu.cpu_usage.total_usage as f64 - pre.cpu_usage.total_usage as f64;
    let sys_delta =
        cpu.system_cpu_usage.unwrap_or(0) as f64 - pre.system_cpu_usage.unwrap_or(0) as f64;
    let cpus = match cpu.online_cpus {
        Some(n) if n > 0 => f64::from(n),
        _ => cpu
            .cpu_usage
            .percpu_usage
            .as_ref()
            .map_or(0.0, |v| v.len() as f64),
    };
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    };

    let usage = s.memory_stats.usage.unwrap_or(0);
    // Page cache that can be reclaimed is not counted as used (cgroup v1, then v2 names).
    let cache = s
        .memory_stats
        .stats
        .as_ref()
        .and_then(|m| {
            m.get("total_inactive_file")
                .or_else(|| m.get("inactive_file"))
        })
        .copied()
        .filter(|c| *c < usage)
        .unwrap_or(0);
    let mem = (usage - cache) as f64;
    let limit = s.memory_stats.limit.unwrap_or(0) as f64;
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };

    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|m| m.values()) {
        rx += n.get("rx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
        tx += n.get("tx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s.blkio_stats.io_service_bytes_recursive.iter().flatten() {
        match e.op.to_ascii_lowercase().as_str() {
            "read" => read += e.value as f64,
            "write" => write += e.value as f64,
            _ => {}
        }
    }
    json!({
        "Container": label,
        "ID": if no_trunc { s.id.clone() } else { short_id(&s.id) },
        "Name": s.name.trim_start_matches('/'),
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size_with_precision(rx, 3), human_size_with_precision(tx, 3)),
        "BlockIO": format!("{} / {}", human_size_with_precision(read, 3), human_size_with_precision(write, 3)),
        "PIDs": s.pids_stats.current.unwrap_or(0).to_string(),
    })
}

/// Decodes one sample.
fn sample(v: Value) -> Result<StatsResponse, CliError> {
    serde_json::from_value(v)
        .map_err(|e| CliError::new(format!("unreadable stats from the daemon: {e}")))
}

fn stats_path(name: &str, stream: bool) -> String {
    Query::new()
        .set("stream", if stream { "1" } else { "0" })
        .to_target(&super::cpath(name, "stats"))
}

/// The containers to show when none are named: running ones, or all with -a.
fn listed(client: &Client, all: bool) -> Result<Vec<String>, CliError> {
    let v = client.get(&Query::new().flag("all", all).to_target("/containers/json"))?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("Id").and_then(Value::as_str))
        .map(short_id)
        .collect())
}

type Rows = Arc<Mutex<HashMap<String, Value>>>;

/// Follows one container's stream into the shared rows; drops the row when the stream ends
/// if `forget` (containers found by listing come and go).
fn follow(client: Client, name: String, rows: Rows, no_trunc: bool, forget: bool) {
    thread::spawn(move || {
        let result = client.call("GET", &stats_path(&name, true), &[], Body::Empty);
        if let Ok(resp) = result {
            for sample in jsonlines::values(resp) {
                let Ok(Ok(sample)) = sample.map(self::sample) else {
                    break;
                };
                let r = row(&name, &sample, no_trunc);
                rows.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.clone(), r);
            }
        }
        if forget {
            rows.lock().unwrap_or_else(|e| e.into_inner()).remove(&name);
        }
    });
}

pub fn stats(ctx: &Ctx, a: &StatsArgs) -> CmdResult {
    let client = ctx.client()?;
    let format = ListFormat::parse(a.format.as_deref(), DEFAULT)?;
    let named = !a.containers.is_empty();
    let names = if named {
        a.containers.clone()
    } else {
        listed(client, a.all)?
    };

    if a.no_stream {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let (c, n) = (client.clone(), n.clone());
                thread::spawn(move || c.get(&stats_path(&n, false)).map(|s| (n, s)))
            })
            .collect();
        let mut rows = Vec::new();
        for h in handles {
            let (n, s) = h
                .join()
                .map_err(|_| CliError::new("stats worker failed"))??;
            rows.push(row(&n, &sample(s)?, a.no_trunc));
        }
        print(&format.render(&headers(), &rows)?);
        return Ok(0);
    }

    if named {
        // Named containers must exist; fail early with the daemon's message.
        for n in &names {
            client.get(&super::cpath(n, "json"))?;
        }
    }
    let rows: Rows = Arc::new(Mutex::new(HashMap::new()));
    let mut following: Vec<String> = Vec::new();
    let tty = is_tty(libc::STDOUT_FILENO);
    let mut last_list = Instant::now();
    let mut to_follow = names;
    loop {
        for n in to_follow.drain(..) {
            if !following.contains(&n) {
                follow(client.clone(), n.clone(), rows.clone(), a.no_trunc, !named);
                following.push(n);
            }
        }
        thread::sleep(Duration::from_millis(500));
        let snapshot: Vec<Value> = {
            let map = rows.lock().unwrap_or_else(|e| e.into_inner());
            following
                .iter()
                .filter_map(|n| map.get(n).cloned())
                .collect()
        };
        let table = format.render(&headers(), &snapshot)?;
        if tty {
            print(&format!("\x1b[2J\x1b[H{table}"));
        } else {
            print(&table);
        }
        if !named && last_list.elapsed() > Duration::from_secs(2) {
            last_list = Instant::now();
            let current = listed(client, a.all)?;
            following.retain(|n| current.contains(n));
            to_follow = current;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_like_docker() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3_145_728, "limit": 1_073_741_824, "stats": {"total_inactive_file": 1_048_576}},
            "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 2000}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3},
        });
        let r = row("web", &sample(s).unwrap(), false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 1GiB");
        assert_eq!(r["MemPerc"], "0.20%");
        assert_eq!(r["NetIO"], "1kB / 2kB");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
