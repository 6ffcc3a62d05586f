//! `list`, `ps`, `pause`, `resume`, `update` and `events`: commands that read or change a
//! running container through its state and cgroup.

use crate::cli::{self, flag, opt, Trailing};
use crate::create::Global;
use crate::error::{bail, Context, Error, Result};
use crate::state::{self, Status};
use serde_json::{json, Value};
use std::time::Duration;

pub fn dispatch(g: &Global, cmd: &str, args: &[String]) -> Result<i32> {
    match cmd {
        "list" => list(g, args),
        "ps" => ps(g, args),
        "pause" | "resume" => pause_resume(g, cmd, args),
        "update" => update(g, args),
        "events" => events(g, args),
        _ => unreachable!("dispatched by main"),
    }
}

fn cg_err(id: &str) -> impl Fn(berth_cgroups::Error) -> Error + '_ {
    move |e| Error(format!("container {id}: {e}"))
}

fn one_id(p: &cli::Parsed, what: &str) -> Result<String> {
    match p.positional.first() {
        Some(id) => Ok(id.clone()),
        None => bail!("{what}: container id is required"),
    }
}

fn list(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(
        args,
        &[opt(&["format", "f"]), flag(&["quiet", "q"])],
        Trailing::Flags,
        "list",
    )?;
    let ids = state::list_ids(&g.root)?;
    if p.is_set("quiet") {
        for id in ids {
            println!("{id}");
        }
        return Ok(0);
    }
    let mut rows = Vec::new();
    for id in &ids {
        let Ok(st) = state::load(&g.root, id) else {
            continue;
        };
        let status = st.status(&g.root);
        rows.push(st.oci_json(status));
    }
    match p.value("format").unwrap_or("table") {
        "json" => println!("{}", Value::Array(rows)),
        "table" => {
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for r in rows {
                println!(
                    "{:<20} {:<8} {:<10} {:<40} {:<32} {}",
                    r["id"].as_str().unwrap_or(""),
                    r["pid"].to_string(),
                    r["status"].as_str().unwrap_or(""),
                    r["bundle"].as_str().unwrap_or(""),
                    r["created"].as_str().unwrap_or(""),
                    r["owner"].as_str().unwrap_or("")
                );
            }
        }
        f => bail!("list: unknown --format {f:?} (table or json)"),
    }
    Ok(0)
}

fn ps(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(
        args,
        &[opt(&["format", "f"])],
        Trailing::VerbatimAfter(1),
        "ps",
    )?;
    let id = one_id(&p, "ps")?;
    let st = state::load(&g.root, &id)?;
    if st.status(&g.root) == Status::Stopped {
        bail!("container {id} is not running");
    }
    let pids = st.cgroup()?.pids().map_err(cg_err(&id))?;
    match p.value("format").unwrap_or("table") {
        "json" => {
            println!("{}", json!(pids));
            Ok(0)
        }
        "table" => {
            let ps_args: Vec<String> = match &p.positional[1..] {
                [] => vec!["-ef".into()],
                rest => rest.iter().filter(|a| *a != "--").cloned().collect(),
            };
            let out = std::process::Command::new("ps")
                .args(&ps_args)
                .output()
                .ctx("ps: running the host's ps")?;
            if !out.status.success() {
                bail!(
                    "ps {}: {}",
                    ps_args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or("ps: the ps output has no PID column")?;
            println!("{header}");
            for l in lines {
                if let Some(pid) = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|s| s.parse::<i32>().ok())
                {
                    if pids.contains(&pid) {
                        println!("{l}");
                    }
                }
            }
            Ok(0)
        }
        f => bail!("ps: unknown --format {f:?} (table or json)"),
    }
}

fn pause_resume(g: &Global, cmd: &str, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, &[], Trailing::Flags, cmd)?;
    let id = one_id(&p, cmd)?;
    let st = state::load(&g.root, &id)?;
    let status = st.status(&g.root);
    let cg = st.cgroup()?;
    if cmd == "pause" {
        if status != Status::Running {
            bail!(
                "container {id} is {}: only a running container can be paused",
                status.as_str()
            );
        }
        cg.freeze().map_err(cg_err(&id))?;
    } else {
        if status != Status::Paused {
            bail!(
                "container {id} is {}: only a paused container can be resumed",
                status.as_str()
            );
        }
        cg.thaw().map_err(cg_err(&id))?;
    }
    Ok(0)
}

const UPDATE_FLAGS: &[cli::FlagSpec] = &[
    opt(&["resources", "r"]),
    opt(&["memory"]),
    opt(&["memory-reservation"]),
    opt(&["memory-swap"]),
    opt(&["kernel-memory"]),
    opt(&["kernel-memory-tcp"]),
    opt(&["cpu-quota"]),
    opt(&["cpu-period"]),
    opt(&["cpu-share"]),
    opt(&["cpu-rt-period"]),
    opt(&["cpu-rt-runtime"]),
    opt(&["cpuset-cpus"]),
    opt(&["cpuset-mems"]),
    opt(&["pids-limit"]),
    opt(&["blkio-weight"]),
    opt(&["l3-cache-schema"]),
    opt(&["mem-bw-schema"]),
];

/// Sizes as runc's update takes them: bytes, or with a k/m/g suffix; -1 for unlimited.
fn parse_size(flag: &str, s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("update --{flag}: not a size: {s:?}"))?;
    Ok((n * mult as f64) as i64)
}

fn num<T: std::str::FromStr>(flag: &str, s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| format!("update --{flag}: not a number: {s:?}").into())
}

/// The resources an `update` command line asks for, as the OCI LinuxResources JSON.
fn update_resources(p: &cli::Parsed) -> Result<Value> {
    let mut r = match p.value("resources") {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .ctx("update: reading resources from stdin")?;
            serde_json::from_str(&s).ctx("update: resources JSON on stdin")?
        }
        Some(f) => {
            let s = std::fs::read_to_string(f).with_ctx(|| format!("update: reading {f}"))?;
            serde_json::from_str(&s).with_ctx(|| format!("update: resources JSON in {f}"))?
        }
        None => json!({}),
    };
    let mut set = |section: &str, key: &str, v: Value| {
        if !r[section].is_object() {
            r[section] = json!({});
        }
        r[section][key] = v;
    };
    for (f, section, key) in [
        ("memory", "memory", "limit"),
        ("memory-reservation", "memory", "reservation"),
        ("memory-swap", "memory", "swap"),
        ("kernel-memory", "memory", "kernel"),
        ("kernel-memory-tcp", "memory", "kernelTCP"),
    ] {
        if let Some(v) = p.value(f) {
            set(section, key, json!(parse_size(f, v)?));
        }
    }
    if let Some(v) = p.value("cpu-quota") {
        set("cpu", "quota", json!(num::<i64>("cpu-quota", v)?));
    }
    for (f, key) in [
        ("cpu-period", "period"),
        ("cpu-share", "shares"),
        ("cpu-rt-period", "realtimePeriod"),
    ] {
        if let Some(v) = p.value(f) {
            set("cpu", key, json!(num::<u64>(f, v)?));
        }
    }
    if let Some(v) = p.value("cpu-rt-runtime") {
        set(
            "cpu",
            "realtimeRuntime",
            json!(num::<i64>("cpu-rt-runtime", v)?),
        );
    }
    if let Some(v) = p.value("cpuset-cpus") {
        set("cpu", "cpus", json!(v));
    }
    if let Some(v) = p.value("cpuset-mems") {
        set("cpu", "mems", json!(v));
    }
    if let Some(v) = p.value("pids-limit") {
        set("pids", "limit", json!(num::<i64>("pids-limit", v)?));
    }
    if let Some(v) = p.value("blkio-weight") {
        set("blockIO", "weight", json!(num::<u16>("blkio-weight", v)?));
    }
    if p.value("l3-cache-schema").is_some() || p.value("mem-bw-schema").is_some() {
        bail!("update: Intel RDT is not supported");
    }
    Ok(r)
}

fn update(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, UPDATE_FLAGS, Trailing::Flags, "update")?;
    let id = one_id(&p, "update")?;
    let st = state::load(&g.root, &id)?;
    if st.status(&g.root) == Status::Stopped {
        bail!("container {id} is not running: nothing to update");
    }
    let r = update_resources(&p)?;
    let mut res: oci_spec::runtime::LinuxResources =
        serde_json::from_value(r).ctx("update: invalid resources")?;
    crate::create::zero_means_unset(&mut res);
    st.cgroup()?.update(&res).map_err(cg_err(&id))?;
    Ok(0)
}

/// A positive Go duration (`5s`, `500ms`, `1m30s`), as runc's `time.ParseDuration` reads it.
fn parse_duration(s: &str) -> Result<Duration> {
    match berth_gocompat::duration::parse(s) {
        Ok(nanos) if nanos > 0 => Ok(Duration::from_nanos(nanos as u64)),
        _ => Err(Error(format!(
            "events --interval: not a duration: {s:?} (e.g. 5s, 500ms)"
        ))),
    }
}

fn events(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(
        args,
        &[flag(&["stats"]), opt(&["interval"])],
        Trailing::Flags,
        "events",
    )?;
    let id = one_id(&p, "events")?;
    let st = state::load(&g.root, &id)?;
    if st.status(&g.root) == Status::Stopped {
        bail!("container {id} is not running");
    }
    let cg = st.cgroup()?;
    let stats_event = || -> Result<Value> {
        let s = cg.stats().map_err(cg_err(&id))?;
        Ok(json!({"type": "stats", "id": id, "data": s}))
    };
    if p.is_set("stats") {
        println!("{}", stats_event()?);
        return Ok(0);
    }
    let interval = parse_duration(p.value("interval").unwrap_or("5s"))?;
    let mut ooms = cg.oom_kill_count().unwrap_or(0);
    let mut next = std::time::Instant::now();
    while st.init_alive() {
        let now_ooms = cg.oom_kill_count().unwrap_or(ooms);
        if now_ooms > ooms {
            println!("{}", json!({"type": "oom", "id": id}));
            ooms = now_ooms;
        }
        if std::time::Instant::now() >= next {
            println!("{}", stats_event()?);
            next += interval;
        }
        std::thread::sleep(Duration::from_millis(100).min(interval));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("memory", "10m").unwrap(), 10 << 20);
        assert_eq!(parse_size("memory", "1024").unwrap(), 1024);
        assert_eq!(parse_size("memory", "-1").unwrap(), -1);
        assert!(parse_size("memory", "lots").is_err());
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn update_flags_become_resources() {
        let args: Vec<String> = [
            "--memory",
            "64m",
            "--pids-limit",
            "10",
            "--cpu-quota",
            "5000",
            "x",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = cli::parse(&args, UPDATE_FLAGS, Trailing::Flags, "t").unwrap();
        let r = update_resources(&p).unwrap();
        assert_eq!(r["memory"]["limit"], 64 << 20);
        assert_eq!(r["pids"]["limit"], 10);
        assert_eq!(r["cpu"]["quota"], 5000);
        let _: oci_spec::runtime::LinuxResources = serde_json::from_value(r).unwrap();
    }
}
