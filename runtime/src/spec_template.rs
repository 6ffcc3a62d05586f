//! `spec`: writes a starting config.json (runc's defaults: a shell on a read-only busybox-
//! style rootfs, no capabilities beyond three; the standard mounts, masked and read-only
//! paths of `berth-spec`). `--rootless` adds a user namespace mapping the caller and drops
//! what an unprivileged user cannot do.

use crate::cli::{self, flag, opt, Trailing};
use crate::error::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;

pub fn template(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut v = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [berth_spec::DEFAULT_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": berth_spec::standard_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": berth_spec::MASKED_PATHS,
            "readonlyPaths": berth_spec::READONLY_PATHS
        }
    });
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let linux = &mut v["linux"];
        linux["resources"] = json!({});
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux["namespaces"] = json!([
            {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}
        ]);
        let mounts = v["mounts"].as_array_mut().unwrap();
        // Without its own network namespace sysfs can only be bound; cgroups are not delegated.
        mounts.retain(|m| m["destination"] != "/sys/fs/cgroup" && m["destination"] != "/sys");
        mounts.push(
            json!({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
        );
        for m in mounts.iter_mut() {
            if m["destination"] == "/dev/pts" {
                m["options"] = json!([
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620"
                ]);
            }
        }
    }
    v
}

pub fn command(args: &[String]) -> Result<i32> {
    let p = cli::parse(
        args,
        &[flag(&["rootless"]), opt(&["bundle", "b"])],
        Trailing::Flags,
        "spec",
    )?;
    if !p.positional.is_empty() {
        bail!("spec: takes no arguments");
    }
    let dir = PathBuf::from(p.value("bundle").unwrap_or("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("spec: {} exists: remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&template(p.is_set("rootless"))).expect("json");
    std::fs::write(&path, text + "\n").with_ctx(|| format!("spec: writing {}", path.display()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates_are_valid_specs() {
        for rootless in [false, true] {
            let v = super::template(rootless);
            let s: oci_spec::runtime::Spec = serde_json::from_value(v).unwrap();
            assert!(s.process().is_some());
        }
    }
}
