//! User mounts: `Binds` ("src:dst[:opts]"), `Mounts` (bind and tmpfs) and `Tmpfs`, as OCI
//! mounts plus the `Mounts` docker reports in inspect.

use std::path::Path;

use berth_api::container::HostConfig;
use berth_api::mount::MountPoint;
use serde_json::{json, Value};

use crate::error::{Error, Result};

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// The OCI mounts and the inspect view of a container's user mounts.
#[derive(Debug, Default)]
pub struct UserMounts {
    pub oci: Vec<Value>,
    pub points: Vec<MountPoint>,
}

impl UserMounts {
    fn check_duplicate(&self, dest: &str) -> Result<()> {
        if self.points.iter().any(|p| p.destination == dest) {
            return Err(Error::invalid(format!("Duplicate mount point: {dest}")));
        }
        Ok(())
    }
}

fn clean_dest(dest: &str) -> Result<String> {
    if !dest.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid mount config: mount path must be absolute: {dest}"
        )));
    }
    if dest.split('/').any(|c| c == "..") {
        return Err(Error::invalid(format!(
            "invalid mount config: mount path must not contain '..': {dest}"
        )));
    }
    let t = dest.trim_end_matches('/');
    Ok(if t.is_empty() {
        "/".into()
    } else {
        t.to_string()
    })
}

/// Parses and checks every user mount of `hc`. Bind sources given with `-v` may be missing
/// (they are created at start, see [`create_bind_sources`]); `--mount type=bind` sources
/// must exist.
pub fn parse(hc: &HostConfig) -> Result<UserMounts> {
    let mut m = UserMounts::default();
    for b in hc.binds.iter().flatten() {
        bind_spec(&mut m, b)?;
    }
    for mount in hc.mounts.iter().flatten() {
        let dest = clean_dest(&mount.target)?;
        m.check_duplicate(&dest)?;
        match mount.kind.as_str() {
            "bind" => {
                if !mount.source.starts_with('/') {
                    return Err(Error::invalid(format!(
                        "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                        mount.source
                    )));
                }
                if !Path::new(&mount.source).exists() {
                    return Err(Error::invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        mount.source
                    )));
                }
                let prop = mount
                    .bind_options
                    .as_ref()
                    .map(|o| o.propagation.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".into());
                if !PROPAGATIONS.contains(&prop.as_str()) {
                    return Err(Error::invalid(format!("invalid propagation mode: {prop}")));
                }
                let recursive = !mount.bind_options.as_ref().map(|o| o.non_recursive).unwrap_or(false);
                let mut opts = vec![if recursive { "rbind" } else { "bind" }.to_string(), prop.clone()];
                if mount.read_only {
                    opts.push("ro".into());
                }
                m.oci.push(json!({"destination": dest, "type": "bind", "source": mount.source, "options": opts}));
                m.points.push(MountPoint {
                    kind: "bind".into(),
                    source: mount.source.clone(),
                    destination: dest,
                    mode: String::new(),
                    rw: !mount.read_only,
                    propagation: prop,
                    ..Default::default()
                });
            }
            "tmpfs" => {
                if !mount.source.is_empty() {
                    return Err(Error::invalid("invalid mount config for type \"tmpfs\": source must not be specified"));
                }
                let mut opts = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
                if let Some(t) = &mount.tmpfs_options {
                    if t.size_bytes > 0 {
                        opts.push(format!("size={}", t.size_bytes));
                    }
                    if t.mode != 0 {
                        opts.push(format!("mode={:o}", t.mode));
                    }
                }
                if mount.read_only {
                    opts.push("ro".into());
                }
                m.oci.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}));
                m.points.push(MountPoint {
                    kind: "tmpfs".into(),
                    destination: dest,
                    rw: !mount.read_only,
                    ..Default::default()
                });
            }
            "volume" => {
                return Err(Error::invalid(format!(
                    "invalid mount config for type \"volume\": volumes are not supported by this engine; use a bind mount (type=bind,source=/host/dir,target={dest})"
                )))
            }
            other => {
                return Err(Error::invalid(format!(
                    "invalid mount config: mount type unknown: \"{other}\""
                )))
            }
        }
    }
    for (dest, options) in hc.tmpfs.iter().flatten() {
        let dest = clean_dest(dest)?;
        m.check_duplicate(&dest)?;
        let mut opts = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
        opts.extend(
            options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string),
        );
        m.oci.push(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
        m.points.push(MountPoint {
            kind: "tmpfs".into(),
            destination: dest,
            rw: !options.split(',').any(|o| o == "ro"),
            ..Default::default()
        });
    }
    Ok(m)
}

/// One `-v src:dst[:opts]`.
fn bind_spec(m: &mut UserMounts, spec: &str) -> Result<()> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        [_] => {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{spec}': anonymous volumes are not supported by this engine; bind a host directory (/host/dir:{spec})"
            )))
        }
        _ => return Err(Error::invalid(format!("invalid volume specification: '{spec}'"))),
    };
    if !src.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{spec}': named volumes are not supported by this engine; bind a host directory instead (an absolute path)"
        )));
    }
    let dest = clean_dest(dst)?;
    m.check_duplicate(&dest)?;
    let mut rw = true;
    let mut prop = "rprivate".to_string();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => rw = false,
            "rw" => rw = true,
            "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            p if PROPAGATIONS.contains(&p) => prop = p.to_string(),
            _ => {
                return Err(Error::invalid(format!(
                    "invalid mode: {o} (in volume specification '{spec}')"
                )))
            }
        }
    }
    let mut o = vec!["rbind".to_string(), prop.clone()];
    if !rw {
        o.push("ro".into());
    }
    m.oci
        .push(json!({"destination": dest, "type": "bind", "source": src, "options": o}));
    m.points.push(MountPoint {
        kind: "bind".into(),
        source: src.to_string(),
        destination: dest,
        mode: opts.to_string(),
        rw,
        propagation: prop,
        ..Default::default()
    });
    Ok(())
}

/// Creates the missing host directories of `-v` binds, as docker does when a container starts.
pub fn create_bind_sources(hc: &HostConfig) -> Result<()> {
    for b in hc.binds.iter().flatten() {
        if let Some(src) = b.split(':').next().filter(|s| s.starts_with('/')) {
            if !Path::new(src).exists() {
                std::fs::create_dir_all(src).map_err(|e| {
                    Error::invalid(format!(
                        "error while creating mount source path '{src}': {e}"
                    ))
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::mount::Mount;

    #[test]
    fn binds_mounts_and_tmpfs() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("data");
        let hc = HostConfig {
            binds: Some(vec![format!("{}:/data:ro", src.display())]),
            tmpfs: Some([("/run".to_string(), "size=1m".to_string())].into()),
            mounts: Some(vec![Mount {
                kind: "bind".into(),
                source: d.path().display().to_string(),
                target: "/host".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let m = parse(&hc).unwrap();
        assert!(!src.exists(), "nothing is created while checking");
        create_bind_sources(&hc).unwrap();
        assert!(src.is_dir(), "missing -v sources are created at start");
        assert_eq!(m.points.len(), 3);
        assert_eq!(m.oci[0]["options"], json!(["rbind", "rprivate", "ro"]));
        assert!(!m.points[0].rw);
        assert_eq!(m.oci[2]["type"], "tmpfs");
    }

    #[test]
    fn bad_mounts_are_refused() {
        for b in ["vol:/data", "/x:rel", "/x:/a:bogus", "/x", "/x:/../y"] {
            let hc = HostConfig {
                binds: Some(vec![b.into()]),
                ..Default::default()
            };
            let e = parse(&hc).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::InvalidParameter, "{b}");
        }
        let hc = HostConfig {
            mounts: Some(vec![Mount {
                kind: "bind".into(),
                source: "/nonexistent/berth/path".into(),
                target: "/x".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(parse(&hc).unwrap_err().message.contains("does not exist"));
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/a".into(), "/tmp:/a".into()]),
            ..Default::default()
        };
        assert!(parse(&hc)
            .unwrap_err()
            .message
            .contains("Duplicate mount point"));
    }
}
