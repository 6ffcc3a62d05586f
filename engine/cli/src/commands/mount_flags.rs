//! The mount flags of `create`/`run`: `--mount` (docker's comma-separated fields) into
//! `HostConfig.Mounts`, and `-v` with a relative host path made absolute (docker does the
//! same since 23; the daemon takes absolute paths only).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use berth_api::mount::{BindOptions, Mount, TmpfsOptions, VolumeDriver, VolumeOptions};

use berth_gocompat::units::ram_in_bytes;

/// A boolean field: bare (`readonly`) is true, else true/false/1/0.
fn boolean(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(v) => Err(format!("invalid value for {key}: {v}")),
    }
}

/// One `--mount` value, e.g. `type=bind,source=/srv,target=/data,readonly`.
pub fn parse_mount(flag: &str) -> Result<Mount, String> {
    let mut m = Mount {
        kind: "volume".into(),
        ..Default::default()
    };
    let mut volume = VolumeOptions::default();
    let mut driver = VolumeDriver::default();
    let mut driver_opts = BTreeMap::new();
    let mut labels = BTreeMap::new();
    let mut bind = BindOptions::default();
    let mut tmpfs = TmpfsOptions::default();
    let (mut used_volume, mut used_bind, mut used_tmpfs) = (false, false, false);
    for field in flag.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| -> Result<String, String> {
            v.map(str::to_string)
                .ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))
        };
        match key.as_str() {
            "type" => m.kind = need(value)?.to_ascii_lowercase(),
            "source" | "src" => m.source = need(value)?,
            "target" | "destination" | "dst" => m.target = need(value)?,
            "readonly" | "ro" => m.read_only = boolean(&key, value)?,
            "consistency" => m.consistency = need(value)?,
            "bind-propagation" => {
                used_bind = true;
                bind.propagation = need(value)?;
            }
            "bind-nonrecursive" => {
                used_bind = true;
                bind.non_recursive = boolean(&key, value)?;
            }
            "bind-recursive" => {
                used_bind = true;
                match need(value)?.as_str() {
                    "enabled" => bind.non_recursive = false,
                    "disabled" => bind.non_recursive = true,
                    other => {
                        return Err(format!(
                            "invalid value for bind-recursive: {other} (use enabled or disabled)"
                        ))
                    }
                }
            }
            "volume-driver" => {
                used_volume = true;
                driver.name = need(value)?;
            }
            "volume-subpath" => {
                used_volume = true;
                volume.subpath = need(value)?;
            }
            "volume-nocopy" => {
                used_volume = true;
                volume.no_copy = boolean(&key, value)?;
            }
            "volume-label" => {
                used_volume = true;
                let v = need(value)?;
                let (k, x) = v.split_once('=').unwrap_or((&v, ""));
                labels.insert(k.to_string(), x.to_string());
            }
            "volume-opt" => {
                used_volume = true;
                let v = need(value)?;
                let (k, x) = v
                    .split_once('=')
                    .ok_or_else(|| format!("invalid volume-opt '{v}': expected KEY=VALUE"))?;
                driver_opts.insert(k.to_string(), x.to_string());
            }
            "tmpfs-size" => {
                used_tmpfs = true;
                let v = need(value)?;
                tmpfs.size_bytes =
                    ram_in_bytes(&v).map_err(|e| format!("invalid tmpfs-size: {e}"))?;
            }
            "tmpfs-mode" => {
                used_tmpfs = true;
                let v = need(value)?;
                tmpfs.mode = u32::from_str_radix(&v, 8)
                    .map_err(|_| format!("invalid tmpfs-mode: {v} (an octal mode, e.g. 1770)"))?;
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    for (used, prefix, kind) in [
        (used_volume, "volume", "volume"),
        (used_bind, "bind", "bind"),
        (used_tmpfs, "tmpfs", "tmpfs"),
    ] {
        if used && m.kind != kind {
            return Err(format!(
                "cannot mix '{prefix}-*' options with mount type '{}'",
                m.kind
            ));
        }
    }
    if used_volume {
        if !driver_opts.is_empty() {
            driver.options = Some(driver_opts);
        }
        if !driver.name.is_empty() || driver.options.is_some() {
            volume.driver_config = Some(driver);
        }
        if !labels.is_empty() {
            volume.labels = Some(labels);
        }
        m.volume_options = Some(volume);
    }
    if used_bind {
        m.bind_options = Some(bind);
    }
    if used_tmpfs {
        m.tmpfs_options = Some(tmpfs);
    }
    if m.kind == "bind" {
        m.source = absolute(&m.source);
    }
    Ok(m)
}

/// `path` made absolute against the current directory, lexically cleaned; absolute paths
/// and empty ones stay as they are.
fn absolute(path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        return path.to_string();
    }
    let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out = PathBuf::from("/");
    for c in base.join(Path::new(path)).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out.display().to_string()
}

/// A `-v SRC:DST[:MODE]` whose source starts with `.` binds that host path (made
/// absolute); other sources (absolute paths, volume names) go as given.
pub fn bind_flag(v: &str) -> String {
    match v.split_once(':') {
        Some((src, rest)) if src.starts_with('.') => format!("{}:{rest}", absolute(src)),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_of_each_type() {
        let m = parse_mount("type=bind,source=/srv,target=/data,readonly,bind-propagation=rshared")
            .unwrap();
        assert_eq!(
            (m.kind.as_str(), m.source.as_str(), m.target.as_str()),
            ("bind", "/srv", "/data")
        );
        assert!(m.read_only);
        assert_eq!(m.bind_options.unwrap().propagation, "rshared");
        let m = parse_mount("src=db,dst=/db,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-label=a=b")
            .unwrap();
        assert_eq!(m.kind, "volume");
        let v = m.volume_options.unwrap();
        assert!(v.no_copy);
        assert_eq!(v.labels.unwrap()["a"], "b");
        assert_eq!(v.driver_config.unwrap().options.unwrap()["type"], "tmpfs");
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (64 << 20, 0o1770));
        let m = parse_mount("type=bind,src=.,dst=/here,ro=false").unwrap();
        assert!(m.source.starts_with('/') && !m.read_only);
    }

    #[test]
    fn bad_mounts_like_docker() {
        for (f, want) in [
            ("type=bind,source=/x", "target is required"),
            (
                "type=bind,src=/x,dst=/y,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            ("type=volume,dst=/y,tmpfs-size=1m", "cannot mix 'tmpfs-*'"),
            (
                "type=tmpfs,dst=/y,bind-propagation=shared",
                "cannot mix 'bind-*'",
            ),
            (
                "dst=/y,color=blue",
                "unexpected key 'color' in 'color=blue'",
            ),
            ("dst=/y,source", "must be a key=value pair"),
            ("dst=/y,readonly=maybe", "invalid value for readonly"),
            ("type=tmpfs,dst=/y,tmpfs-size=lots", "invalid tmpfs-size"),
            ("type=tmpfs,dst=/y,tmpfs-mode=999", "invalid tmpfs-mode"),
        ] {
            let e = parse_mount(f).unwrap_err();
            assert!(e.contains(want), "{f}: {e}");
        }
    }

    #[test]
    fn relative_bind_sources_become_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            bind_flag("./data:/d:ro"),
            format!("{}/data:/d:ro", cwd.display())
        );
        assert_eq!(bind_flag("/abs:/d"), "/abs:/d");
        assert_eq!(bind_flag("name:/d"), "name:/d");
        assert_eq!(bind_flag("/anon"), "/anon");
    }
}
