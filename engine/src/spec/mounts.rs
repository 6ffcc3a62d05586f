//! User mounts: `Binds` ("src:dst[:mode]"), `Mounts` (bind, volume, tmpfs) and `Tmpfs`,
//! parsed and checked with dockerd's rules and messages; a container's resolved mounts as
//! they are recorded, shown by inspect and put in the OCI spec.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::HostConfig;
use berth_api::mount::{Mount, MountPoint};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];
const CONSISTENCIES: &[&str] = &["consistent", "cached", "delegated", "default"];

/// The kinds of user mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Volume,
    Tmpfs,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bind => "bind",
            Kind::Volume => "volume",
            Kind::Tmpfs => "tmpfs",
        }
    }
}

/// A mount as the request asks for it, checked but not resolved: the engine looks up or
/// creates its volume (see `volumes`).
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    pub kind: Kind,
    /// The host path of a bind; the volume's name (empty: an anonymous volume); empty for
    /// tmpfs.
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// What inspect shows as `Mode`: the mode string of `-v`.
    pub mode: String,
    /// A bind's propagation (inspect shows none for volumes and tmpfs).
    pub propagation: String,
    /// OCI options of a bind or tmpfs (a volume's are made when it is resolved).
    pub options: Vec<String>,
    /// Copy the image's content at the destination into the volume when it is empty.
    pub copy_data: bool,
    /// `-v` (and `CreateMountpoint`): a missing host directory is made at start.
    pub create_source: bool,
    /// Shown in inspect's `Mounts` (`--tmpfs` mounts are not, as with dockerd).
    pub listed: bool,
    /// What a volume this mount creates is made with (`--mount volume-opt=`, `volume-label=`).
    pub volume_driver: String,
    pub volume_options: Option<BTreeMap<String, String>>,
    pub volume_labels: Option<BTreeMap<String, String>>,
}

impl Requested {
    fn new(kind: Kind, source: &str, destination: String) -> Requested {
        Requested {
            kind,
            source: source.to_string(),
            destination,
            rw: true,
            mode: String::new(),
            propagation: String::new(),
            options: Vec::new(),
            copy_data: kind == Kind::Volume,
            create_source: false,
            listed: true,
            volume_driver: String::new(),
            volume_options: None,
            volume_labels: None,
        }
    }
}

/// One mount of a container as recorded with it: what inspect shows, plus what the OCI
/// spec and the volume bookkeeping need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerMount {
    #[serde(flatten)]
    pub point: MountPoint,
    /// OCI mount options ("rbind", "rprivate", "ro", "nosuid", "size=...").
    pub options: Vec<String>,
    /// A volume made without a name for this container: `rm -v` and `--rm` remove it.
    pub anonymous: bool,
    /// A missing host directory of a bind is made at start.
    pub create_source: bool,
    /// Shown in inspect's `Mounts`.
    pub listed: bool,
}

impl ContainerMount {
    /// A resolved bind or tmpfs mount (volumes are resolved by the engine).
    pub fn from_requested(r: &Requested) -> ContainerMount {
        ContainerMount {
            point: MountPoint {
                kind: r.kind.as_str().into(),
                source: r.source.clone(),
                destination: r.destination.clone(),
                mode: r.mode.clone(),
                rw: r.rw,
                propagation: r.propagation.clone(),
                ..Default::default()
            },
            options: r.options.clone(),
            anonymous: false,
            create_source: r.create_source,
            listed: r.listed,
        }
    }

    /// The volume's name, when this is a volume mount.
    pub fn volume(&self) -> Option<&str> {
        (self.point.kind == "volume").then_some(self.point.name.as_str())
    }

    /// The OCI mount.
    pub fn oci(&self) -> oci_spec::runtime::Mount {
        let (kind, source) = if self.point.kind == "tmpfs" {
            ("tmpfs", "tmpfs")
        } else {
            ("bind", self.point.source.as_str())
        };
        oci_mount(&self.point.destination, kind, source, &self.options)
    }
}

/// An OCI mount of `source` (of type `kind`) at `destination`.
pub fn oci_mount(
    destination: &str,
    kind: &str,
    source: &str,
    options: &[String],
) -> oci_spec::runtime::Mount {
    let mut m = oci_spec::runtime::Mount::default();
    m.set_destination(destination.into())
        .set_typ(Some(kind.to_string()))
        .set_source(Some(source.into()))
        .set_options(Some(options.to_vec()));
    m
}

fn invalid_spec(raw: &str) -> Error {
    Error::invalid(format!("invalid volume specification: '{raw}'"))
}

fn mount_config(kind: &str, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid mount config for type \"{kind}\": {why}"))
}

/// A container path, cleaned like Go's `path.Clean` (".." cannot climb above "/").
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Checks a mount's target: absolute, not "/".
fn destination(kind: &str, target: &str) -> Result<String> {
    if target.is_empty() {
        return Err(mount_config(kind, "field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(mount_config(
            kind,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    let d = clean(target);
    if d == "/" {
        return Err(mount_config(
            kind,
            "invalid specification: destination can't be '/'",
        ));
    }
    Ok(d)
}

/// The parts of a `-v` mode string ("ro,z,rshared,nocopy"); `None` when it is not a valid
/// mode (an unknown word, or two of one kind).
#[derive(Debug, Default)]
struct Mode {
    rw: Option<bool>,
    propagation: Option<String>,
    nocopy: Option<bool>,
}

fn parse_mode(mode: &str) -> Option<Mode> {
    let mut m = Mode::default();
    if mode.is_empty() {
        return Some(m);
    }
    let (mut label, mut consistency) = (0, 0);
    for o in mode.split(',') {
        match o {
            "ro" | "rw" if m.rw.is_none() => m.rw = Some(o == "rw"),
            "z" | "Z" if label == 0 => label += 1,
            "nocopy" if m.nocopy.is_none() => m.nocopy = Some(true),
            p if PROPAGATIONS.contains(&p) && m.propagation.is_none() => {
                m.propagation = Some(p.to_string())
            }
            c if CONSISTENCIES.contains(&c) && consistency == 0 => consistency += 1,
            _ => return None,
        }
    }
    Some(m)
}

/// One `-v`/`Binds` entry: `dst` (an anonymous volume), `src:dst` or `src:dst:mode`, where
/// an absolute `src` is a host path and anything else a volume name.
pub fn parse_bind(raw: &str) -> Result<Requested> {
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid_spec(raw));
    }
    let (source, target, mode) = match arr.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => {
            if parse_mode(d).is_some() {
                // A destination and a mode: "/foo:rw" names no volume.
                return Err(invalid_spec(raw));
            }
            (*s, *d, "")
        }
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid_spec(raw)),
    };
    let m = parse_mode(mode).ok_or_else(|| Error::invalid(format!("invalid mode: {mode}")))?;
    let kind = if source.starts_with('/') {
        Kind::Bind
    } else {
        Kind::Volume
    };
    let wrap = |e: Error| Error::invalid(format!("{}: {}", invalid_spec(raw), e.message));
    let dest = destination(kind.as_str(), target).map_err(wrap)?;
    let mut r = Requested::new(kind, source, dest);
    r.rw = m.rw.unwrap_or(true);
    r.mode = mode.to_string();
    match kind {
        Kind::Bind => {
            if m.nocopy.is_some() {
                return Err(wrap(mount_config(
                    "bind",
                    "field VolumeOptions must not be specified",
                )));
            }
            r.source = clean(source);
            r.propagation = m.propagation.unwrap_or_else(|| "rprivate".into());
            r.create_source = true;
            r.options = bind_options(true, &r.propagation, r.rw);
        }
        _ => {
            if m.propagation.is_some() {
                return Err(wrap(mount_config(
                    "volume",
                    "field BindOptions must not be specified",
                )));
            }
            r.copy_data = m.nocopy.is_none();
        }
    }
    Ok(r)
}

fn bind_options(recursive: bool, propagation: &str, rw: bool) -> Vec<String> {
    let mut o = vec![
        if recursive { "rbind" } else { "bind" }.to_string(),
        propagation.to_string(),
    ];
    if !rw {
        o.push("ro".into());
    }
    o
}

/// The tmpfs options docker gives every tmpfs (`noexec`, `nosuid`, `nodev`), with the
/// user's after them; a user's `exec`, `suid` or `dev` drops the matching default.
fn tmpfs_options(user: &[String]) -> Vec<String> {
    let mut o: Vec<String> = ["noexec", "nosuid", "nodev"]
        .iter()
        .filter(|d| !user.iter().any(|u| u.as_str() == &d[2..]))
        .map(|d| d.to_string())
        .collect();
    o.extend(user.iter().filter(|u| !u.is_empty()).cloned());
    o
}

/// `size=` as dockerd writes it: the largest of g, m, k that divides the size.
fn tmpfs_size(bytes: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes % div == 0 {
            return format!("size={}{suffix}", bytes / div);
        }
    }
    format!("size={bytes}")
}

/// One `HostConfig.Mounts` entry.
pub fn parse_mount(mount: &Mount) -> Result<Requested> {
    let kind = match mount.kind.as_str() {
        "bind" => Kind::Bind,
        "volume" => Kind::Volume,
        "tmpfs" => Kind::Tmpfs,
        other => {
            return Err(mount_config(other, "mount type unknown"));
        }
    };
    let k = kind.as_str();
    let dest = destination(k, &mount.target)?;
    if !mount.consistency.is_empty() && !CONSISTENCIES.contains(&mount.consistency.as_str()) {
        return Err(mount_config(
            k,
            format!("invalid consistency: {}", mount.consistency),
        ));
    }
    let mut r = Requested::new(kind, &mount.source, dest);
    r.rw = !mount.read_only;
    match kind {
        Kind::Bind => {
            if mount.source.is_empty() {
                return Err(mount_config(k, "field Source must not be empty"));
            }
            if mount.volume_options.is_some() {
                return Err(mount_config(k, "field VolumeOptions must not be specified"));
            }
            if mount.tmpfs_options.is_some() {
                return Err(mount_config(k, "field TmpfsOptions must not be specified"));
            }
            if !mount.source.starts_with('/') {
                return Err(mount_config(
                    k,
                    format!(
                        "invalid mount path: '{}' mount path must be absolute",
                        mount.source
                    ),
                ));
            }
            let opts = mount.bind_options.clone().unwrap_or_default();
            let prop = if opts.propagation.is_empty() {
                "rprivate".to_string()
            } else {
                opts.propagation.clone()
            };
            if !PROPAGATIONS.contains(&prop.as_str()) {
                return Err(mount_config(k, format!("invalid propagation mode: {prop}")));
            }
            r.source = clean(&mount.source);
            if !opts.create_mountpoint && !Path::new(&r.source).exists() {
                return Err(mount_config(
                    k,
                    format!("bind mount source path does not exist: {}", r.source),
                ));
            }
            r.create_source = opts.create_mountpoint;
            r.propagation = prop;
            r.options = bind_options(!opts.non_recursive, &r.propagation, r.rw);
        }
        Kind::Volume => {
            if mount.bind_options.is_some() {
                return Err(mount_config(k, "field BindOptions must not be specified"));
            }
            if mount.tmpfs_options.is_some() {
                return Err(mount_config(k, "field TmpfsOptions must not be specified"));
            }
            if mount.read_only && mount.source.is_empty() {
                return Err(mount_config(
                    k,
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            if let Some(v) = &mount.volume_options {
                if !v.subpath.is_empty() {
                    return Err(mount_config(
                        k,
                        "volume subpaths are not supported by this engine: mount the whole volume",
                    ));
                }
                r.copy_data = !v.no_copy;
                r.volume_labels = v.labels.clone();
                if let Some(d) = &v.driver_config {
                    r.volume_driver = d.name.clone();
                    r.volume_options = d.options.clone();
                }
            }
        }
        Kind::Tmpfs => {
            if !mount.source.is_empty() {
                return Err(mount_config(k, "field Source must not be specified"));
            }
            if mount.bind_options.is_some() {
                return Err(mount_config(k, "field BindOptions must not be specified"));
            }
            if mount.volume_options.is_some() {
                return Err(mount_config(k, "field VolumeOptions must not be specified"));
            }
            let mut user = Vec::new();
            if mount.read_only {
                user.push("ro".to_string());
            }
            if let Some(t) = &mount.tmpfs_options {
                if t.mode != 0 {
                    user.push(format!("mode={:o}", t.mode));
                }
                if t.size_bytes < 0 {
                    return Err(mount_config(k, "invalid tmpfs size: must not be negative"));
                }
                if t.size_bytes != 0 {
                    user.push(tmpfs_size(t.size_bytes));
                }
                for o in t.options.iter().flatten() {
                    match o.as_slice() {
                        [f] if f == "exec" || f == "noexec" => user.push(f.clone()),
                        [f, v] if f == "exec" || f == "noexec" => user.push(format!("{f}={v}")),
                        [f, ..] => return Err(mount_config(k, format!("invalid option: {f}"))),
                        [] => return Err(mount_config(k, "invalid option array length")),
                    }
                }
            }
            r.options = tmpfs_options(&user);
        }
    }
    Ok(r)
}

/// One `--tmpfs` (`HostConfig.Tmpfs`) entry.
fn parse_tmpfs(dest: &str, data: &str) -> Result<Requested> {
    let d = destination("tmpfs", dest)?;
    let user: Vec<String> = data
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    let mut r = Requested::new(Kind::Tmpfs, "", d);
    r.rw = !user.iter().any(|o| o == "ro");
    r.options = tmpfs_options(&user);
    r.listed = false;
    Ok(r)
}

/// Parses and checks every user mount `hc` names itself (`Binds`, `Mounts`, `Tmpfs`); two on
/// one destination are refused. Nothing is created or looked up here.
pub fn parse(hc: &HostConfig) -> Result<Vec<Requested>> {
    let mut out: Vec<Requested> = Vec::new();
    let mut add = |r: Requested| -> Result<()> {
        if out.iter().any(|o| o.destination == r.destination) {
            return Err(Error::invalid(format!(
                "Duplicate mount point: {}",
                r.destination
            )));
        }
        out.push(r);
        Ok(())
    };
    for b in hc.binds.iter().flatten() {
        add(parse_bind(b)?)?;
    }
    for m in hc.mounts.iter().flatten() {
        add(parse_mount(m)?)?;
    }
    for (dest, data) in hc.tmpfs.iter().flatten() {
        add(parse_tmpfs(dest, data)?)?;
    }
    Ok(out)
}

/// The anonymous volume of a `Config.Volumes` entry (the image's `VOLUME`, `-v /path`).
pub fn parse_config_volume(dest: &str) -> Result<Requested> {
    let mut r = parse_bind(dest)?;
    if r.kind != Kind::Volume || !r.source.is_empty() {
        return Err(Error::invalid(format!(
            "invalid volume specification: '{dest}': Config.Volumes takes container paths; bind host paths with HostConfig.Binds"
        )));
    }
    r.mode.clear();
    Ok(r)
}

/// A `--volumes-from` entry: the container and the mode (`rw` by default; `ro` or `rw`,
/// with an optional `z`/`Z`).
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool)> {
    if spec.is_empty() {
        return Err(Error::invalid(
            "volumes-from specification cannot be an empty string",
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, "rw"));
    let m = parse_mode(mode)
        .filter(|m| m.propagation.is_none() && m.nocopy.is_none())
        .ok_or_else(|| Error::invalid(format!("invalid mode: {mode}")))?;
    Ok((id.to_string(), m.rw.unwrap_or(true)))
}

/// Creates the missing host directories of binds that ask for it, as docker does when a
/// container starts.
pub fn create_bind_sources(mounts: &[ContainerMount]) -> Result<()> {
    for m in mounts.iter().filter(|m| m.create_source) {
        let src = &m.point.source;
        if !Path::new(src).exists() {
            std::fs::create_dir_all(src).map_err(|e| {
                Error::invalid(format!(
                    "error while creating mount source path '{src}': {e}"
                ))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::mount::{BindOptions, TmpfsOptions, VolumeOptions};

    #[test]
    fn binds_mounts_and_tmpfs() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("data");
        let hc = HostConfig {
            binds: Some(vec![
                format!("{}:/data:ro", src.display()),
                "cache:/cache".into(),
                "/anon".into(),
            ]),
            tmpfs: Some([("/run".to_string(), "size=1m,exec".to_string())].into()),
            mounts: Some(vec![
                Mount {
                    kind: "bind".into(),
                    source: d.path().display().to_string(),
                    target: "/host/".into(),
                    ..Default::default()
                },
                Mount {
                    kind: "tmpfs".into(),
                    target: "/t".into(),
                    tmpfs_options: Some(TmpfsOptions {
                        size_bytes: 2 << 20,
                        mode: 0o700,
                        options: None,
                    }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let m = parse(&hc).unwrap();
        assert!(!src.exists(), "nothing is created while checking");
        assert_eq!(m.len(), 6);
        assert_eq!(
            (m[0].kind, m[0].rw, m[0].mode.as_str()),
            (Kind::Bind, false, "ro")
        );
        assert_eq!(m[0].options, ["rbind", "rprivate", "ro"]);
        assert!(m[0].create_source);
        assert_eq!((m[1].kind, m[1].source.as_str()), (Kind::Volume, "cache"));
        assert!(m[1].copy_data);
        assert_eq!((m[2].kind, m[2].source.as_str()), (Kind::Volume, ""));
        assert_eq!(m[3].destination, "/host");
        assert!(!m[3].create_source, "--mount binds must exist");
        assert_eq!(
            m[4].options,
            ["noexec", "nosuid", "nodev", "mode=700", "size=2m"]
        );
        assert_eq!(m[5].options, ["nosuid", "nodev", "size=1m", "exec"]);
        assert!(!m[5].listed, "--tmpfs is not in inspect's Mounts");
        let cm = ContainerMount::from_requested(&m[0]);
        create_bind_sources(std::slice::from_ref(&cm)).unwrap();
        assert!(src.is_dir(), "missing -v sources are created at start");
        let oci = cm.oci();
        assert_eq!(oci.typ().as_deref(), Some("bind"));
    }

    #[test]
    fn bad_mounts_are_refused_with_dockerds_words() {
        for (b, want) in [
            (
                "/x:rel",
                "invalid mount path: 'rel' mount path must be absolute",
            ),
            ("/x:/a:bogus", "invalid mode: bogus"),
            ("/x:/a:ro,rw", "invalid mode: ro,rw"),
            ("/x:rw", "invalid volume specification: '/x:rw'"),
            (":/x", "invalid volume specification: ':/x'"),
            ("/x:/", "destination can't be '/'"),
            ("/x:/a:nocopy", "field VolumeOptions must not be specified"),
            ("vol:/a:rshared", "field BindOptions must not be specified"),
            ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
        ] {
            let hc = HostConfig {
                binds: Some(vec![b.into()]),
                ..Default::default()
            };
            let e = parse(&hc).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::InvalidParameter, "{b}");
            assert!(e.message.contains(want), "{b}: {}", e.message);
        }
        let bind = |source: &str, opts: Option<BindOptions>| HostConfig {
            mounts: Some(vec![Mount {
                kind: "bind".into(),
                source: source.into(),
                target: "/x".into(),
                bind_options: opts,
                ..Default::default()
            }]),
            ..Default::default()
        };
        let e = parse(&bind("/nonexistent/berth/path", None)).unwrap_err();
        assert_eq!(e.message, "invalid mount config for type \"bind\": bind mount source path does not exist: /nonexistent/berth/path");
        let create = BindOptions {
            create_mountpoint: true,
            ..Default::default()
        };
        assert!(parse(&bind("/nonexistent/berth/path", Some(create))).is_ok());
        assert!(parse(&bind("rel", None))
            .unwrap_err()
            .message
            .contains("must be absolute"));
        let hc = HostConfig {
            mounts: Some(vec![Mount {
                kind: "volume".into(),
                target: "/x".into(),
                read_only: true,
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(parse(&hc)
            .unwrap_err()
            .message
            .contains("anonymous volumes"));
        let hc = HostConfig {
            mounts: Some(vec![Mount {
                kind: "volume".into(),
                source: "v".into(),
                target: "/x".into(),
                volume_options: Some(VolumeOptions {
                    no_copy: true,
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert!(!parse(&hc).unwrap()[0].copy_data);
        let hc = HostConfig {
            mounts: Some(vec![Mount {
                kind: "nfs".into(),
                target: "/x".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            parse(&hc).unwrap_err().message,
            "invalid mount config for type \"nfs\": mount type unknown"
        );
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/a".into()]),
            tmpfs: Some([("/a/".to_string(), String::new())].into()),
            ..Default::default()
        };
        assert_eq!(parse(&hc).unwrap_err().message, "Duplicate mount point: /a");
    }

    #[test]
    fn volumes_from_and_config_volumes() {
        assert_eq!(parse_volumes_from("db").unwrap(), ("db".into(), true));
        assert_eq!(parse_volumes_from("db:ro").unwrap(), ("db".into(), false));
        assert_eq!(parse_volumes_from("db:ro,z").unwrap(), ("db".into(), false));
        assert!(parse_volumes_from("db:rshared").is_err());
        assert!(parse_volumes_from("db:nocopy").is_err());
        assert!(parse_volumes_from("").is_err());
        let r = parse_config_volume("/data/../var/x/").unwrap();
        assert_eq!((r.destination.as_str(), r.source.as_str()), ("/var/x", ""));
        assert!(parse_config_volume("data").is_err());
        assert!(parse_config_volume("/h:/c").is_err());
    }
}
