//! Representative create requests for the spec generator's tests: each one exercises a
//! different part of the spec (resources, devices, security options, host modes, mounts).

use berth_api::container::{Config, HostConfig};
use serde_json::json;

use super::mounts::ContainerMount;

/// One request: its config, host config, whether it has a network namespace of its own,
/// the user's mounts and the engine's default ulimits.
pub struct Sample {
    pub name: &'static str,
    pub config: Config,
    pub host: HostConfig,
    pub netns: bool,
    pub mounts: Vec<ContainerMount>,
    pub default_ulimits: Vec<crate::config::UlimitSpec>,
}

fn mount(kind: &str, source: &str, destination: &str, options: &[&str]) -> ContainerMount {
    ContainerMount {
        point: berth_api::mount::MountPoint {
            kind: kind.into(),
            source: source.into(),
            destination: destination.into(),
            ..Default::default()
        },
        options: options.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn sample(name: &'static str, config: serde_json::Value, host: serde_json::Value) -> Sample {
    Sample {
        name,
        config: serde_json::from_value(config).expect("a valid Config"),
        host: serde_json::from_value(host).expect("a valid HostConfig"),
        netns: true,
        mounts: Vec::new(),
        default_ulimits: Vec::new(),
    }
}

/// The samples.
pub fn all() -> Vec<Sample> {
    let mut out = vec![
        sample("default", json!({"Cmd": ["sh"]}), json!({})),
        sample(
            "process",
            json!({"Entrypoint": ["/bin/entry"], "Cmd": ["a", "b"], "Env": ["A=1", "PATH=/x"],
                   "WorkingDir": "/srv", "Tty": true, "Domainname": "example.org",
                   "Hostname": "abc"}),
            json!({"ConsoleSize": [30, 100], "OomScoreAdj": 200, "ReadonlyRootfs": true,
                   "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200},
                               {"Name": "core", "Soft": -1, "Hard": -1}],
                   "Annotations": {"org.example/a": "1", "b": "2"},
                   "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"},
                   "GroupAdd": ["audio"]}),
        ),
        sample(
            "resources",
            json!({"Cmd": ["sh"]}),
            json!({"Memory": 67108864, "MemoryReservation": 33554432, "MemorySwappiness": 10,
                   "OomKillDisable": true, "CpuShares": 512, "NanoCpus": 500000000,
                   "CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 500,
                   "CpusetCpus": "0", "CpusetMems": "0", "PidsLimit": 64, "BlkioWeight": 300,
                   "BlkioWeightDevice": [{"Path": "/dev/null", "Weight": 200}],
                   "BlkioDeviceReadBps": [{"Path": "/dev/null", "Rate": 1048576}],
                   "BlkioDeviceWriteBps": [{"Path": "/dev/zero", "Rate": 2097152}],
                   "BlkioDeviceReadIOps": [{"Path": "/dev/null", "Rate": 100}],
                   "BlkioDeviceWriteIOps": [{"Path": "/dev/null", "Rate": 200}],
                   "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull",
                                "CgroupPermissions": "rw"},
                               {"PathOnHost": "/dev/zero"}],
                   "DeviceCgroupRules": ["c 1:3 rwm", "b *:* m", "c 136:* rw", "a *:* r"]}),
        ),
        sample(
            "cpu-quota",
            json!({"Cmd": ["sh"]}),
            json!({"Memory": 67108864, "MemorySwap": 134217728, "CpuPeriod": 50000,
                   "CpuQuota": 25000, "MemorySwappiness": -1, "PidsLimit": -1}),
        ),
        sample(
            "security",
            json!({"Cmd": ["sh"]}),
            json!({"CapAdd": ["NET_ADMIN", "sys_time"], "CapDrop": ["CHOWN", "CAP_KILL"],
                   "SecurityOpt": ["no-new-privileges", "systempaths=unconfined"],
                   "MaskedPaths": ["/proc/x"]}),
        ),
        sample(
            "seccomp-profile",
            json!({"Cmd": ["sh"]}),
            json!({"CapDrop": ["ALL"], "CapAdd": ["CHOWN"],
                   "SecurityOpt": [r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#],
                   "ReadonlyPaths": []}),
        ),
        sample(
            "unconfined",
            json!({"Cmd": ["sh"]}),
            json!({"SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"]}),
        ),
        sample(
            "privileged",
            json!({"Cmd": ["sh"]}),
            json!({"Privileged": true, "PidMode": "host", "IpcMode": "host",
                   "CgroupnsMode": "private", "CgroupParent": "custom/parent/",
                   "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2"}]}),
        ),
        sample(
            "host-uts",
            json!({"Cmd": ["sh"], "Hostname": "abc"}),
            json!({"UTSMode": "host", "ShmSize": 1048576, "CgroupParent": "/p"}),
        ),
    ];
    out[1].default_ulimits = vec![crate::config::UlimitSpec {
        name: "nproc".into(),
        soft: 10,
        hard: 20,
    }];
    out[7].netns = false;
    out[8].netns = false;
    out[1].mounts = vec![
        mount("bind", "/srv/data", "/data", &["rbind", "ro", "rprivate"]),
        mount("tmpfs", "", "/run/t", &["nosuid", "size=65536k"]),
        mount("volume", "/v/etc", "/etc", &["rbind"]),
        mount("bind", "/host/shm", "/dev/shm", &["rbind"]),
    ];
    out
}
