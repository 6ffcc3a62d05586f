//! The local driver's options (`-o`): `type`, `device`, `o` (mount options) and `size`.
//! With `type` and `device` the volume's directory is a mount point: a tmpfs
//! (`type=tmpfs,device=tmpfs,o=size=64m`), a host directory (`type=none,o=bind,
//! device=/srv/data`) or a filesystem on a device (`type=ext4,device=/dev/sdb1`), mounted
//! while containers use the volume.

use std::collections::BTreeMap;

use nix::mount::MsFlags;

use crate::error::{Error, Result};

const KEYS: &[&str] = &["type", "o", "device", "size"];

/// What to mount on the volume's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    pub fstype: String,
    pub device: String,
    pub flags: MsFlags,
    /// Filesystem-specific options (`size=64m,uid=1000`).
    pub data: String,
}

impl MountSpec {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Splits mount(8)-style options (`o=`, comma-separated) into flags (with MS_BIND for
/// binds) and filesystem data.
fn split_options(o: &str) -> (MsFlags, Vec<String>) {
    let s = berth_fs::mount_options::split(o.split(',').filter(|x| !x.is_empty()));
    (MsFlags::from_bits_truncate(s.mount_flags()), s.data)
}

/// Checks a volume's driver options: dockerd's rules (known keys; `type`, `device` and `o`
/// need each other; `size` needs quota support, which this engine does not have), then
/// what makes a mount fail later for a reason that can be told now.
pub fn validate(opts: &BTreeMap<String, String>) -> Result<()> {
    if opts.is_empty() {
        return Ok(());
    }
    if let Some(k) = opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Error::invalid(format!(
            "invalid option: {k:?} (the local driver takes type, device, o and size)"
        )));
    }
    if let Some(size) = opts.get("size") {
        let n =
            berth_gocompat::units::ram_in_bytes(size).map_err(|e| Error::invalid(e.to_string()))?;
        if n > 0 {
            return Err(Error::invalid(
                "quota size requested but no quota support (use type=tmpfs with o=size=... for a size-limited volume)",
            ));
        }
    }
    for (opt, needs) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(opt) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(Error::invalid(format!(
                    "missing required option: {missing:?}"
                )));
            }
        }
    }
    let Some(spec) = mount_spec(opts) else {
        return Ok(());
    };
    if spec.fstype.is_empty() {
        return Err(Error::invalid(
            "invalid option type=\"\": name a filesystem type (tmpfs, none with o=bind, ext4, ...)",
        ));
    }
    if spec.fstype == "none" && !spec.is_bind() {
        return Err(Error::invalid(
            "invalid options: type=none mounts nothing without o=bind (use type=none,o=bind,device=/host/dir)",
        ));
    }
    if spec.is_bind() {
        if !spec.device.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid option device={:?}: a bind mount's device must be an absolute host path",
                spec.device
            )));
        }
        if !std::path::Path::new(&spec.device).is_dir() {
            return Err(Error::invalid(format!(
                "invalid option device={:?}: no such host directory (create it first)",
                spec.device
            )));
        }
    }
    Ok(())
}

/// What to mount for a volume with these options; `None` when the volume is a plain
/// directory.
pub fn mount_spec(opts: &BTreeMap<String, String>) -> Option<MountSpec> {
    let fstype = opts.get("type");
    let device = opts.get("device");
    if fstype.is_none() && device.is_none() {
        return None;
    }
    let (flags, data) = split_options(opts.get("o").map(String::as_str).unwrap_or(""));
    Some(MountSpec {
        fstype: fstype.cloned().unwrap_or_default(),
        device: device.cloned().unwrap_or_default(),
        flags,
        data: data.join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tmpfs_and_bind_options() {
        let t = opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m,uid=1000,noexec"),
        ]);
        validate(&t).unwrap();
        let s = mount_spec(&t).unwrap();
        assert_eq!(
            (s.fstype.as_str(), s.data.as_str()),
            ("tmpfs", "size=1m,uid=1000")
        );
        assert!(s.flags.contains(MsFlags::MS_NOEXEC) && !s.is_bind());
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().display().to_string();
        let b = opts(&[("type", "none"), ("o", "bind,ro"), ("device", &dev)]);
        validate(&b).unwrap();
        let s = mount_spec(&b).unwrap();
        assert!(s.is_bind() && s.flags.contains(MsFlags::MS_RDONLY));
        assert_eq!(mount_spec(&opts(&[])), None);
    }

    #[test]
    fn bad_options_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope").display().to_string();
        for (o, want) in [
            (opts(&[("foo", "bar")]), "invalid option: \"foo\""),
            (
                opts(&[("type", "tmpfs")]),
                "missing required option: \"device\"",
            ),
            (
                opts(&[("device", "tmpfs")]),
                "missing required option: \"type\"",
            ),
            (
                opts(&[("o", "size=1m"), ("type", "tmpfs")]),
                "missing required option: \"device\"",
            ),
            (
                opts(&[("size", "10m")]),
                "quota size requested but no quota support",
            ),
            (opts(&[("size", "lots")]), "invalid size"),
            (
                opts(&[("type", "none"), ("device", "/tmp")]),
                "without o=bind",
            ),
            (
                opts(&[("type", "none"), ("o", "bind"), ("device", "rel")]),
                "absolute host path",
            ),
            (
                opts(&[("type", "none"), ("o", "bind"), ("device", &missing)]),
                "no such host directory",
            ),
        ] {
            let e = validate(&o).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::InvalidParameter);
            assert!(e.message.contains(want), "{o:?}: {}", e.message);
        }
    }
}
