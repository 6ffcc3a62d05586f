//! Container networking, the seam between containers and network drivers.
//!
//! On start, `attach` prepares the container's network namespace and returns the
//! `NetworkSettings` inspect reports; after the container stops (or when it is removed),
//! `detach` releases them. The spec joins the namespace at `netns_path`, known in advance,
//! so the OCI spec is fixed at create time.
//!
//! Modes: `none` (a private namespace with only loopback, up), `host` (the host's
//! namespace), and bridge networks — `bridge`/`default` or a user-defined network's name —
//! whose veths, addresses, ports and DNS the engine's network controller sets up
//! (`crate::networking`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::network::{EndpointSettings, NetworkSettings};

use crate::containers::model::Record;
use crate::engine::Engine;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    None,
    Host,
    /// A bridge network: the default one (docker's "bridge") or a user-defined one.
    Bridge,
}

impl Mode {
    /// Parses `HostConfig.NetworkMode`.
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "none" => Ok(Mode::None),
            "host" => Ok(Mode::Host),
            "" | "default" | "bridge" => Ok(Mode::Bridge),
            m if m.starts_with("container:") => Err(Error::invalid(format!(
                "network mode {m:?} (sharing another container's network) is not supported"
            ))),
            // A user-defined network: the controller checks that it exists.
            _ => Ok(Mode::Bridge),
        }
    }

    /// The key under `NetworkSettings.Networks`.
    pub fn network_name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Host => "host",
            Mode::Bridge => "bridge",
        }
    }
}

/// Where a container's network namespace is kept (`None` for host networking).
pub fn netns_path(exec_root: &Path, id: &str, mode: Mode) -> Option<PathBuf> {
    match mode {
        Mode::Host => None,
        Mode::None | Mode::Bridge => Some(exec_root.join("netns").join(id)),
    }
}

/// Creates the container's network namespace (loopback up), the first half of attaching:
/// the runtime joins it when the task is created.
pub async fn prepare(engine: &Engine, id: &str, mode: Mode) -> Result<()> {
    prepare_netns(&engine.settings.exec_root, id, mode)
        .await
        .map(|_| ())
}

/// Connects the prepared namespace to the container's networks, publishes its ports and
/// writes its hosts and resolv.conf — the second half, which may run while the task is
/// being created (the files are rewritten in place, so their bind mounts see the change).
/// Everything is released again on failure.
pub async fn connect(engine: &Engine, rec: &Record, mode: Mode) -> Result<NetworkSettings> {
    let exec_root = &engine.settings.exec_root;
    let netns = netns_path(exec_root, &rec.id, mode);
    match engine.networks.attach(rec, netns.as_deref()).await {
        Ok(s) => Ok(s),
        Err(e) => {
            remove_netns_of(exec_root, &rec.id).await;
            Err(e)
        }
    }
}

/// Releases what `attach` prepared. Safe to call more than once.
pub async fn detach(engine: &Engine, id: &str) {
    engine.networks.detach(id).await;
    remove_netns_of(&engine.settings.exec_root, id).await;
}

/// Removes the namespace files of containers the engine does not know (left by a create
/// interrupted before its record was written).
pub async fn remove_orphan_netns(engine: &Engine, known: &std::collections::HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(engine.settings.exec_root.join("netns")) else {
        return;
    };
    for e in entries.flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if !known.contains(&id) {
            tracing::info!(container = %id, "removing the network namespace of an interrupted create");
            detach(engine, &id).await;
        }
    }
}

/// Creates the container's namespace (loopback up) unless it uses the host's.
async fn prepare_netns(exec_root: &Path, id: &str, mode: Mode) -> Result<NetworkSettings> {
    let mut settings = NetworkSettings::default();
    if let Some(path) = netns_path(exec_root, id, mode) {
        let p = path.clone();
        tokio::task::spawn_blocking(move || create_netns(&p))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| {
                Error::internal(format!(
                    "creating the network namespace of container {id}: {e}"
                ))
            })?;
        settings.sandbox_key = path.display().to_string();
        settings.sandbox_id = id.to_string();
    }
    let mut networks = BTreeMap::new();
    networks.insert(mode.network_name().to_string(), EndpointSettings::default());
    settings.networks = networks;
    Ok(settings)
}

/// Removes the container's namespace file.
async fn remove_netns_of(exec_root: &Path, id: &str) {
    let path = exec_root.join("netns").join(id);
    let _ = tokio::task::spawn_blocking(move || remove_netns(&path)).await;
}

/// A new network namespace with loopback up, kept alive by a bind mount on `path` (like
/// `ip netns add`). The namespace is made by a short-lived thread of its own, so no thread
/// of the daemon ever changes namespace.
fn create_netns(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if is_mountpoint(path) {
        return Ok(()); // left from a run the engine did not see end; reuse it
    }
    std::fs::File::create(path)?;
    let target = path.to_path_buf();
    let r = std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || -> std::io::Result<()> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
            loopback_up()?;
            let tid = nix::unistd::gettid();
            let src = format!("/proc/self/task/{tid}/ns/net");
            nix::mount::mount(
                Some(src.as_str()),
                &target,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )?;
            Ok(())
        })?
        .join()
        .map_err(|_| std::io::Error::other("the namespace thread panicked"))?;
    if r.is_err() {
        let _ = std::fs::remove_file(path);
    }
    r
}

fn remove_netns(path: &Path) {
    if path.exists() {
        let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(path);
    }
}

fn is_mountpoint(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // An nsfs bind mount has a different device than the directory holding it.
    match (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Sets `lo` up in the calling thread's network namespace.
fn loopback_up() -> std::io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain C data (a name array and a union of integers and socket
    // addresses), for which all zeros is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo\0".iter().enumerate() {
        ifr.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the NUL-terminated name of the ifreq and writes its flags
    // into it, through a pointer to our live `ifr`; `sock` is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the flags are the union member SIOCGIFFLAGS just filled in.
    unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads the name and flags of our live `ifr`; `sock` is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("none").unwrap(), Mode::None);
        assert_eq!(Mode::parse("default").unwrap(), Mode::Bridge);
        assert_eq!(Mode::parse("").unwrap(), Mode::Bridge);
        assert_eq!(Mode::parse("host").unwrap(), Mode::Host);
        assert_eq!(Mode::parse("mynet").unwrap(), Mode::Bridge);
        assert!(Mode::parse("container:x").is_err());
        assert!(netns_path(Path::new("/r"), "a", Mode::Host).is_none());
        assert_eq!(
            netns_path(Path::new("/r"), "a", Mode::None).unwrap(),
            PathBuf::from("/r/netns/a")
        );
    }

    #[tokio::test]
    async fn namespaces_have_loopback_up() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let s = prepare_netns(d.path(), "t1", Mode::None).await.unwrap();
        let p = d.path().join("netns/t1");
        assert_eq!(s.sandbox_key, p.display().to_string());
        assert!(is_mountpoint(&p));
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", p.display()))
            .args(["ip", "-o", "link", "show"])
            .output()
            .unwrap();
        let links = String::from_utf8_lossy(&out.stdout);
        assert_eq!(links.lines().count(), 1, "only loopback: {links}");
        assert!(links.contains("lo: <LOOPBACK,UP"), "lo is up: {links}");
        remove_netns_of(d.path(), "t1").await;
        assert!(!p.exists());
    }
}
