//! Default OCI runtime specs for Berth containers, in one place for every client of shimd
//! (berthctl, the engine).
//!
//! [`default_spec`] is the base: namespaces, the usual mounts, the default capability set,
//! masked and read-only paths and device rules, like containerd's and docker's defaults.
//! [`spec_for_image`] applies an image config (Env, Entrypoint, Cmd, WorkingDir) and the
//! caller's overrides on top. Who the process runs as is not in the spec: it needs the
//! container's rootfs, so the caller gives shimd the user ([`user_for_image`]) in the
//! container record and shimd derives the identity at task creation ([`user::identity`]).

mod image;
pub mod signal;
pub mod user;

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

pub use image::ImageConfig;

/// The PATH a container gets when its image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image config: {0}")]
    ImageConfig(String),
    #[error(
        "the container has nothing to run: the image sets no Entrypoint or Cmd and none was given"
    )]
    NoCommand,
    /// A process identity that cannot be derived (the message says why).
    #[error("{0}")]
    Identity(String),
    #[error("building the OCI spec: {0}")]
    Spec(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What the caller overrides of the image's defaults.
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    /// Replaces the image's Cmd (the arguments after the image name).
    pub args: Option<Vec<String>>,
    /// Replaces the image's Entrypoint (an empty list clears it).
    pub entrypoint: Option<Vec<String>>,
    /// `NAME=value` entries added to the image's Env (same names replace).
    pub env: Vec<String>,
    /// Replaces the image's WorkingDir.
    pub cwd: Option<String>,
    /// Replaces the image's User (`user`, `uid`, `user:group`, `uid:gid`); see
    /// [`user_for_image`].
    pub user: Option<String>,
    /// Allocate a terminal (also sets TERM=xterm unless the env has TERM).
    pub terminal: bool,
}

/// Linux capabilities a container gets by default (docker's set).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The cgroup a container of `namespace` gets by default (relative to each hierarchy).
pub fn default_cgroups_path(namespace: &str, id: &str) -> String {
    format!("/berth/{namespace}/{id}")
}

/// The base spec of a container: runs `sh` as root in `/`, in new pid, ipc, uts, mount and
/// network namespaces, with the standard mounts and defaults. Resource limits (rlimits)
/// are inherited from shimd, as docker's containers inherit dockerd's.
pub fn default_spec(namespace: &str, id: &str) -> Spec {
    let caps: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
    let hostname: String = id.chars().take(63).collect();
    let v = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": [DEFAULT_PATH],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps
            },
            "noNewPrivileges": false
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": hostname,
        "mounts": default_mounts(),
        "linux": {
            "cgroupsPath": default_cgroups_path(namespace, id),
            "namespaces": [
                { "type": "pid" }, { "type": "ipc" }, { "type": "uts" },
                { "type": "mount" }, { "type": "network" }
            ],
            "resources": { "devices": default_device_rules() },
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS
        }
    });
    // The literal above is a valid spec; a failure here is a bug caught by the unit tests.
    serde_json::from_value(v).unwrap_or_default()
}

/// Paths of /proc and /sys a container must not read: masked (an empty file or directory
/// is mounted over them), as docker masks them.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths of /proc a container may read but not write.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The kernel filesystems every Linux container mounts, in order: /proc, /dev (tmpfs),
/// /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only), /sys/fs/cgroup (read-only).
pub fn standard_mounts() -> Vec<Value> {
    vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc",
          "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
          "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
          "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
          "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
        json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
          "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs",
          "options": ["nosuid", "noexec", "nodev", "ro"] }),
        json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
          "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }),
    ]
}

/// The standard mounts and a tmpfs on /run.
fn default_mounts() -> Value {
    let mut m = standard_mounts();
    m.push(
        json!({ "destination": "/run", "type": "tmpfs", "source": "tmpfs",
          "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
    );
    Value::Array(m)
}

/// Deny every device, then allow the standard ones (docker's list).
fn default_device_rules() -> Value {
    let rule = |t: &str, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = json!({ "allow": true, "type": t, "access": access });
        if let Some(m) = major {
            r["major"] = json!(m);
        }
        if let Some(m) = minor {
            r["minor"] = json!(m);
        }
        r
    };
    json!([
        { "allow": false, "access": "rwm" },
        rule("c", None, None, "m"),
        rule("b", None, None, "m"),
        rule("c", Some(1), Some(3), "rwm"),
        rule("c", Some(1), Some(5), "rwm"),
        rule("c", Some(1), Some(7), "rwm"),
        rule("c", Some(1), Some(8), "rwm"),
        rule("c", Some(1), Some(9), "rwm"),
        rule("c", Some(5), Some(0), "rwm"),
        rule("c", Some(5), Some(1), "rwm"),
        rule("c", Some(5), Some(2), "rwm"),
        rule("c", Some(136), None, "rwm"),
        rule("c", Some(10), Some(200), "rwm")
    ])
}

/// The spec of a container running `image` with the caller's overrides.
pub fn spec_for_image(
    namespace: &str,
    id: &str,
    image: &ImageConfig,
    opts: &ProcessOptions,
) -> Result<Spec> {
    let mut v = serde_json::to_value(default_spec(namespace, id))
        .map_err(|e| Error::Spec(e.to_string()))?;
    let entrypoint = opts.entrypoint.as_ref().unwrap_or(&image.entrypoint);
    // Docker's rule: a new entrypoint drops the image's Cmd unless args are given.
    let cmd = match (&opts.args, &opts.entrypoint) {
        (Some(a), _) => a.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => image.cmd.clone(),
    };
    let args: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if args.is_empty() {
        return Err(Error::NoCommand);
    }
    let mut env = merge_env(&image.env, &opts.env);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    if opts.terminal && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_string());
    }
    let cwd = opts
        .cwd
        .clone()
        .or_else(|| image.working_dir.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(Error::Spec(format!(
            "the working directory must be absolute, not {cwd:?}"
        )));
    }
    let p = &mut v["process"];
    p["args"] = json!(args);
    p["env"] = json!(env);
    p["cwd"] = json!(cwd);
    p["terminal"] = json!(opts.terminal);
    serde_json::from_value(v).map_err(|e| Error::Spec(e.to_string()))
}

/// Who the process of a container running `image` runs as: the caller's user, else the
/// image's (empty: root). Resolved by shimd against the rootfs ([`user::identity`]).
pub fn user_for_image(image: &ImageConfig, opts: &ProcessOptions) -> String {
    opts.user
        .clone()
        .or_else(|| image.user.clone())
        .unwrap_or_default()
}

/// `base` with `overrides` applied: an override replaces the entry of the same name.
pub fn merge_env(base: &[String], overrides: &[String]) -> Vec<String> {
    let name = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let mut out: Vec<String> = base
        .iter()
        .filter(|b| !overrides.iter().any(|o| name(o) == name(b)))
        .cloned()
        .collect();
    out.extend(overrides.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_complete() {
        let s = default_spec("default", "web");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["hostname"], "web");
        assert_eq!(v["root"]["path"], "rootfs");
        assert_eq!(v["linux"]["cgroupsPath"], "/berth/default/web");
        assert_eq!(v["linux"]["namespaces"].as_array().unwrap().len(), 5);
        assert_eq!(v["mounts"][0]["destination"], "/proc");
        assert!(v["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_KILL")));
        assert_eq!(v["linux"]["resources"]["devices"][0]["allow"], false);
    }

    #[test]
    fn image_config_and_overrides() {
        let img = ImageConfig::from_json(
            br#"{"config":{"Env":["PATH=/bin","A=1"],"Entrypoint":["/bin/ep"],"Cmd":["x"],
                "WorkingDir":"/srv","User":"1000:1000"}}"#,
        )
        .unwrap();
        let s = spec_for_image("ns", "c1", &img, &ProcessOptions::default()).unwrap();
        let p = serde_json::to_value(s.process().as_ref().unwrap()).unwrap();
        assert_eq!(p["args"], json!(["/bin/ep", "x"]));
        assert_eq!(p["env"], json!(["PATH=/bin", "A=1"]));
        assert_eq!(p["cwd"], "/srv");

        let opts = ProcessOptions {
            args: Some(vec!["echo".into(), "hi".into()]),
            entrypoint: Some(vec![]),
            env: vec!["A=2".into()],
            terminal: true,
            user: Some("nobody".into()),
            ..Default::default()
        };
        let s = spec_for_image("ns", "c1", &img, &opts).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["process"]["args"], json!(["echo", "hi"]));
        assert_eq!(
            v["process"]["env"],
            json!(["PATH=/bin", "A=2", "TERM=xterm"])
        );
        assert_eq!(v["process"]["terminal"], true);
        // The user is not in the spec: shimd resolves it.
        assert_eq!(v["process"]["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(user_for_image(&img, &opts), "nobody");
        assert_eq!(
            user_for_image(&img, &ProcessOptions::default()),
            "1000:1000"
        );
        let rootless = ImageConfig::default();
        assert_eq!(user_for_image(&rootless, &ProcessOptions::default()), "");
    }

    #[test]
    fn new_entrypoint_drops_image_cmd_and_empty_is_refused() {
        let img = ImageConfig::from_json(br#"{"config":{"Cmd":["/bin/sh"]}}"#).unwrap();
        let opts = ProcessOptions {
            entrypoint: Some(vec!["/bin/true".into()]),
            ..Default::default()
        };
        let s = spec_for_image("n", "c", &img, &opts).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["process"]["args"], json!(["/bin/true"]));
        assert_eq!(v["process"]["env"], json!([DEFAULT_PATH]));
        let empty = ImageConfig::from_json(b"{}").unwrap();
        assert!(matches!(
            spec_for_image("n", "c", &empty, &ProcessOptions::default()),
            Err(Error::NoCommand)
        ));
    }
}
