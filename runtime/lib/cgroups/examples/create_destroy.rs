//! Measures what a container start and delete cost in cgroup work: host detection, then
//! creating a cgroup with memory, cpu, pids and device limits around a process, and
//! removing it again. Run as root: `cargo run --release -p berth-cgroups --example
//! create_destroy [iterations]`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use berth_cgroups::Cgroup;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let t = Instant::now();
    let mode = match berth_cgroups::host_mode() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("create_destroy: {e}");
            std::process::exit(1);
        }
    };
    let detect = t.elapsed();
    let res: oci_spec::runtime::LinuxResources = serde_json::from_str(
        r#"{
            "memory": { "limit": 67108864, "swap": 134217728 },
            "cpu": { "shares": 512, "quota": 50000, "period": 100000 },
            "pids": { "limit": 100 },
            "devices": [
                { "allow": false, "access": "rwm" },
                { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
                { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }
            ]
        }"#,
    )
    .expect("valid resources");
    let parent = format!("/berth-bench-{}", std::process::id());
    let (mut create, mut destroy) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut child = Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let path = format!("{parent}/c{i}");
        let t = Instant::now();
        let cg = Cgroup::new(Some(Path::new(&path)), "bench").expect("cgroup");
        if let Err(e) = cg.create(child.id() as i32, Some(&res)) {
            eprintln!("create_destroy: {e}");
            let _ = child.kill();
            std::process::exit(1);
        }
        create.push(t.elapsed());
        child.kill().expect("kill");
        child.wait().expect("wait");
        let t = Instant::now();
        cg.destroy().expect("destroy");
        destroy.push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "{mode:?} host, {n} runs: detect {:.0}us (once per process), create+limits+join median {:.0}us, destroy median {:.0}us",
        detect.as_secs_f64() * 1e6,
        median(&mut create).as_secs_f64() * 1e6,
        median(&mut destroy).as_secs_f64() * 1e6,
    );
}
