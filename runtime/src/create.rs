//! The runtime's side of `create`: check the bundle, record the container, fork the
//! bootstrap child, put it in its cgroup before it runs anything of the container's,
//! answer its requests (id maps, hooks), and wait until init is parked on the exec fifo.
//! Any failure undoes everything: processes, cgroup, state directory.

use crate::channel::{self, Msg};
use crate::config;
use crate::device_rules;
use crate::error::{bail, Context, Error, Result};
use crate::hooks;
use crate::identity;
use crate::init::{self, InitArgs};
use crate::log;
use crate::ns;
use crate::seccomp_agent;
use crate::state::{self, State};
use crate::sys::Linux;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub struct Global {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
}

pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Undoes a half-made container when dropped, unless disarmed.
struct Undo {
    dir: Option<PathBuf>,
    pids: Vec<i32>,
    cgroup: Option<berth_cgroups::Cgroup>,
}

impl Undo {
    fn disarm(mut self) {
        self.dir = None;
        self.pids.clear();
        self.cgroup = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: kill and waitpid take numbers (a null status pointer is allowed); the pids are our
            // own children, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some(cg) = self.cgroup.take() {
            destroy_cgroup(&cg);
        }
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Kills what is left in a cgroup and removes it, retrying briefly while exits complete.
pub fn destroy_cgroup(cg: &berth_cgroups::Cgroup) {
    for i in 0..200 {
        if cg.destroy().is_ok() {
            return;
        }
        if i == 0 {
            let _ = cg.signal_all(nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    if let Err(e) = cg.destroy() {
        log::warn(&format!(
            "{}: could not remove the cgroup: {e}",
            cg.path().display()
        ));
    }
}

/// The cgroup path a spec asks for; `--systemd-cgroup`'s "slice:prefix:name" form is mapped
/// onto the cgroupfs tree with a warning (the systemd driver is not supported).
pub fn cgroup_path(g: &Global, spec: &Spec, id: &str) -> Option<PathBuf> {
    let p = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    if !g.systemd_cgroup {
        return p;
    }
    let s = p
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parts: Vec<&str> = s.split(':').collect();
    let path = if parts.len() == 3 {
        let slice = if parts[0].is_empty() {
            "system.slice"
        } else {
            parts[0]
        };
        PathBuf::from("/")
            .join(slice)
            .join(format!("{}-{}.scope", parts[1], parts[2]))
    } else {
        PathBuf::from("/system.slice").join(format!("berth-{id}.scope"))
    };
    log::warn(&format!(
        "--systemd-cgroup: the systemd cgroup driver is not supported; using cgroupfs path {}",
        path.display()
    ));
    Some(path)
}

/// Fields of the spec this runtime refuses rather than silently ignores.
fn refuse_unsupported(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        if p.exec_cpu_affinity().is_some() {
            bail!("process.execCPUAffinity is not supported");
        }
    }
    if let Some(l) = spec.linux() {
        if l.intel_rdt().is_some() {
            bail!("linux.intelRdt is not supported");
        }
        if l.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
            bail!("linux.netDevices is not supported");
        }
        if l.personality()
            .as_ref()
            .is_some_and(|p| p.flags().as_ref().is_some_and(|f| !f.is_empty()))
        {
            bail!("linux.personality.flags are not supported (only the LINUX and LINUX32 domains)");
        }
    }
    Ok(())
}

fn connect_console(path: &Path) -> Result<OwnedFd> {
    // sun_path holds 108 bytes: reach long paths through a short /proc/self/fd/N/name.
    // A bare name ("console.sock") has an empty parent: the current directory.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or("--console-socket has no file name")?;
    let d = std::fs::File::open(dir).with_ctx(|| format!("--console-socket {}", path.display()))?;
    let short = PathBuf::from(format!("/proc/self/fd/{}", d.as_raw_fd())).join(name);
    let s = std::os::unix::net::UnixStream::connect(&short)
        .with_ctx(|| format!("connecting to --console-socket {}", path.display()))?;
    Ok(s.into())
}

pub fn state_json(st: &State, status: &str) -> String {
    state_value(st, status).to_string()
}

fn state_value(st: &State, status: &str) -> serde_json::Value {
    let mut v = st.oci_json(crate::state::Status::Running);
    v["status"] = status.into();
    v
}

/// Where the pty master of a `terminal: true` container goes.
pub enum ConsoleTo {
    /// To `--console-socket` (required then).
    Socket,
    /// To the caller: `create` returns the receiving end (foreground `run` relays it).
    Caller,
}

/// Creates the container; on success init waits on the exec fifo and the state is saved.
/// With `ConsoleTo::Caller` and a terminal, also returns the socket the pty master arrives on.
pub fn create(
    g: &Global,
    o: &CreateOpts,
    console_to: ConsoleTo,
) -> Result<(State, Option<OwnedFd>)> {
    state::validate_id(&o.id)?;
    let b = config::load(&o.bundle)?;
    config::validate(&b, true)?;
    refuse_unsupported(&b.spec)?;
    if let Some(p) = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        crate::mempolicy::parse(p)?;
    }
    let spec = &b.spec;
    let process = spec.process().as_ref().expect("validated");
    for w in identity::lsm_warnings(process) {
        log::warn(&w);
    }
    let linux = spec.linux().as_ref().expect("validated");
    if let Some(label) = linux.mount_label().as_deref().filter(|l| !l.is_empty()) {
        if identity::selinux_enabled() {
            bail!("linux.mountLabel {label:?}: SELinux mount labels are not supported");
        }
        log::warn(&format!(
            "linux.mountLabel {label:?} ignored: SELinux is not enabled on this host"
        ));
    }
    let seccomp = match linux.seccomp() {
        Some(s) => Some(
            berth_seccomp::compile(s)
                .map_err(|e| Error(format!("{}: {e}", b.dir.join("config.json").display())))?,
        ),
        None => None,
    };
    state::ensure_root(&g.root)?;
    let dir = state::dir(&g.root, &o.id);
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            bail!(
                "container {} already exists: delete it first or choose another id",
                o.id
            );
        }
        bail!("creating state directory {}: {e}", dir.display());
    }
    let mut undo = Undo {
        dir: Some(dir.clone()),
        pids: Vec::new(),
        cgroup: None,
    };
    state::write_atomic(&dir.join(state::CONFIG_FILE), &b.raw, 0o600)?;
    let fifo_path = dir.join(state::FIFO);
    make_fifo(&fifo_path, spec)?;
    let fifo = nix::fcntl::open(
        &fifo_path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx("opening the exec fifo")?;
    // SAFETY: `fifo` was just opened and is owned by nobody else.
    let fifo = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fifo) };
    let terminal = process.terminal().unwrap_or(false);
    let mut caller_end = None;
    let console = match (&console_to, &o.console_socket) {
        (_, Some(p)) => Some(connect_console(p)?),
        (ConsoleTo::Caller, None) if terminal => {
            let (a, b) = std::os::unix::net::UnixStream::pair().ctx("socketpair")?;
            caller_end = Some(OwnedFd::from(a));
            Some(OwnedFd::from(b))
        }
        _ => None,
    };
    if terminal && console.is_none() {
        bail!("process.terminal is true: --console-socket is required to receive the pty");
    }
    if !terminal && console.is_some() {
        bail!("--console-socket given but process.terminal is false in config.json");
    }
    let hook_exchange = spec.hooks().as_ref().is_some_and(|h| {
        [
            h.prestart(),
            h.create_runtime(),
            h.create_container(),
            h.start_container(),
        ]
        .iter()
        .any(|x| x.as_ref().is_some_and(|v| !v.is_empty()))
    });
    let cg_path = cgroup_path(g, spec, &o.id);
    let cg = berth_cgroups::Cgroup::new(cg_path.as_deref(), &o.id)
        .map_err(|e| Error(format!("container {}: {e}", o.id)))?;
    let cg_rel = cg.path().to_path_buf();
    let mut resources = linux.resources().clone().unwrap_or_default();
    zero_means_unset(&mut resources);
    let resources = device_rules::with_effective_devices(resources);
    let (chan, child_chan) = channel::pair()?;
    let args = InitArgs {
        sys: &Linux,
        id: &o.id,
        spec,
        bundle: &b.dir,
        rootfs: &b.rootfs,
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        preserve_fds: o.preserve_fds,
        fifo: fifo.as_raw_fd(),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        seccomp: seccomp.as_ref(),
        hook_exchange,
        cgroup: &cg,
    };
    // SAFETY: the runtime is single-threaded (no threads, no async runtime), so the child may run
    // any code after fork.
    let c1 = unsafe { libc::fork() };
    if c1 < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if c1 == 0 {
        drop(chan);
        init::bootstrap(&args, &child_chan);
    }
    drop(child_chan);
    drop(console);
    undo.pids.push(c1);

    // Created and limited while the child is young; it moves itself in (cheaply) on Go.
    // Only a cgroup made for us is undone: a refused one (in use by another container,
    // frozen) is someone else's, and `create` already removed what it made on failure.
    cg.create(0, Some(&resources))
        .map_err(|e| Error(format!("container {}: {e}", o.id)))?;
    undo.cgroup = Some(cg);
    if let Err(e) = chan.send(&Msg::Go) {
        // The child may already have failed (e.g. joining a namespace): its reason is queued.
        if let Ok(Some(Msg::Failed(reason))) = chan.recv() {
            bail!("container {}: {reason}", o.id);
        }
        return Err(e);
    }
    let cg = undo.cgroup.as_ref().unwrap();

    let mut st = State {
        id: o.id.clone(),
        pid: 0,
        start_time: 0,
        bundle: b.dir.clone(),
        rootfs: b.rootfs.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        owner: if nix::unistd::geteuid().is_root() {
            "root".into()
        } else {
            nix::unistd::geteuid().to_string()
        },
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup_path: cg_rel,
        own_pid_ns: config::has_new_ns(spec, LinuxNamespaceType::Pid),
        own_user_ns: config::has_new_ns(spec, LinuxNamespaceType::User),
        systemd_cgroup: g.systemd_cgroup,
        cgroup: Some(cg.clone()),
    };
    let mut hooks_pending = false;
    let mut listener_pending = None;
    let mut ready = false;
    let forward_listener = |st: &State, fd: i32| {
        let seccomp = linux
            .seccomp()
            .as_ref()
            .ok_or("a seccomp listener without seccomp")?;
        seccomp_agent::forward(&chan, st.pid, fd, seccomp, state_value(st, "creating"))
    };
    let result: Result<()> = (|| loop {
        match chan.recv()? {
            Some(Msg::MapIds) => {
                ns::write_id_maps(&Linux, c1, spec)?;
                chan.send(&Msg::MapsDone)?;
            }
            Some(Msg::Pid(pid)) => {
                st.pid = pid;
                undo.pids.insert(0, pid);
                // SAFETY: waitpid of our own child with a null status pointer (allowed).
                unsafe { libc::waitpid(c1, std::ptr::null_mut(), 0) };
                undo.pids.retain(|p| *p != c1);
                if hooks_pending {
                    run_runtime_hooks(spec, &st, &chan)?;
                }
                if let Some(fd) = listener_pending.take() {
                    forward_listener(&st, fd)?;
                }
                if ready {
                    return Ok(());
                }
            }
            Some(Msg::RunHooks) if st.pid == 0 => hooks_pending = true,
            Some(Msg::RunHooks) => run_runtime_hooks(spec, &st, &chan)?,
            Some(Msg::SeccompListener(fd)) if st.pid == 0 => listener_pending = Some(fd),
            Some(Msg::SeccompListener(fd)) => forward_listener(&st, fd)?,
            // Init's messages can overtake the bootstrap child's report of init's pid.
            Some(Msg::Ready) if st.pid == 0 => ready = true,
            Some(Msg::Ready) => return Ok(()),
            Some(Msg::Failed(e)) => return Err(e.into()),
            Some(m) => bail!("unexpected message from init: {m:?}"),
            None => bail!("the container's init exited before it was ready"),
        }
    })();
    if let Err(e) = result {
        let oom = cg.oom_kill_count().unwrap_or(0);
        if oom > 0 {
            bail!(
                "container {}: {e} (killed by the OOM killer: the memory limit is too low)",
                o.id
            );
        }
        bail!("container {}: {e}", o.id);
    }
    st.start_time = state::proc_stat(st.pid)
        .map(|s| s.1)
        .ok_or("container init vanished")?;
    st.save(&g.root)?;
    if let Some(pf) = &o.pid_file {
        state::write_atomic(pf, st.pid.to_string().as_bytes(), 0o644)
            .with_ctx(|| format!("--pid-file {}", pf.display()))?;
    }
    undo.disarm();
    Ok((st, caller_end))
}

/// As with runc, a zero CPU share or block I/O weight means "not set" (Docker sends zeros).
pub fn zero_means_unset(r: &mut oci_spec::runtime::LinuxResources) {
    if let Some(cpu) = r.cpu().as_ref().filter(|c| c.shares() == Some(0)) {
        let mut cpu = cpu.clone();
        cpu.set_shares(None);
        r.set_cpu(Some(cpu));
    }
    if let Some(io) = r.block_io().as_ref() {
        let mut io = io.clone();
        if io.weight() == Some(0) {
            io.set_weight(None);
        }
        if io.leaf_weight() == Some(0) {
            io.set_leaf_weight(None);
        }
        r.set_block_io(Some(io));
    }
}

fn run_runtime_hooks(spec: &Spec, st: &State, chan: &channel::Channel) -> Result<()> {
    let creating = state_json(st, "creating");
    if let Some(h) = spec.hooks() {
        let r = hooks::run_all(
            "prestart",
            h.prestart().as_deref().unwrap_or(&[]),
            &creating,
        )
        .and_then(|_| {
            hooks::run_all(
                "createRuntime",
                h.create_runtime().as_deref().unwrap_or(&[]),
                &creating,
            )
        });
        if let Err(e) = r {
            let _ = chan.send(&Msg::Failed(e.0.clone()));
            return Err(e);
        }
    }
    chan.send(&Msg::HooksDone(state_json(st, "created")))
}

/// The exec fifo: writable only by the user the container's process runs as (it opens the
/// fifo after switching to that user), through an fd init already holds.
fn make_fifo(path: &Path, spec: &Spec) -> Result<()> {
    let c = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| "bad state path")?;
    let user = spec
        .process()
        .as_ref()
        .map(|p| p.user().clone())
        .unwrap_or_default();
    let linux = spec.linux().as_ref();
    let uid = host_id(user.uid(), linux.and_then(|l| l.uid_mappings().as_deref()));
    let gid = host_id(user.gid(), linux.and_then(|l| l.gid_mappings().as_deref()));
    // SAFETY: a NUL-terminated path alive for both calls.
    unsafe {
        if libc::mkfifo(c.as_ptr(), 0o200) != 0 {
            bail!(
                "creating the exec fifo: {}",
                std::io::Error::last_os_error()
            );
        }
        if libc::chown(c.as_ptr(), uid, gid) != 0 {
            bail!("chown the exec fifo: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The host id of a container id under the spec's mappings (itself without a user namespace).
fn host_id(id: u32, maps: Option<&[oci_spec::runtime::LinuxIdMapping]>) -> u32 {
    let Some(maps) = maps.filter(|m| !m.is_empty()) else {
        return id;
    };
    maps.iter()
        .find(|m| id >= m.container_id() && id - m.container_id() < m.size())
        .map(|m| m.host_id() + (id - m.container_id()))
        .unwrap_or(65534)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec;
    use serde_json::json;

    fn global(systemd: bool) -> Global {
        Global {
            root: PathBuf::from("/nonexistent"),
            systemd_cgroup: systemd,
        }
    }

    #[test]
    fn systemd_cgroup_paths_are_mapped_onto_cgroupfs() {
        let s = spec(json!({"linux": {"cgroupsPath": "system.slice:docker:abc"}}));
        assert_eq!(
            cgroup_path(&global(true), &s, "abc"),
            Some(PathBuf::from("/system.slice/docker-abc.scope"))
        );
        let s = spec(json!({"linux": {"cgroupsPath": ":berth:x1"}}));
        assert_eq!(
            cgroup_path(&global(true), &s, "x1"),
            Some(PathBuf::from("/system.slice/berth-x1.scope"))
        );
        // not slice:prefix:name: a scope named after the container
        let s = spec(json!({}));
        assert_eq!(
            cgroup_path(&global(true), &s, "c9"),
            Some(PathBuf::from("/system.slice/berth-c9.scope"))
        );
        // without --systemd-cgroup the path is used as it is
        let s = spec(json!({"linux": {"cgroupsPath": "/berth/c1"}}));
        assert_eq!(
            cgroup_path(&global(false), &s, "c1"),
            Some(PathBuf::from("/berth/c1"))
        );
        assert_eq!(cgroup_path(&global(false), &spec(json!({})), "c1"), None);
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        for (over, msg) in [
            (
                json!({"process": {"execCPUAffinity": {"initial": "0"}}}),
                "process.execCPUAffinity is not supported",
            ),
            (
                json!({"linux": {"intelRdt": {"closID": "x"}}}),
                "linux.intelRdt is not supported",
            ),
            (
                json!({"linux": {"personality": {"domain": "LINUX", "flags": ["x"]}}}),
                "linux.personality.flags are not supported (only the LINUX and LINUX32 domains)",
            ),
        ] {
            assert_eq!(refuse_unsupported(&spec(over)).unwrap_err().0, msg);
        }
        refuse_unsupported(&spec(
            json!({"linux": {"personality": {"domain": "LINUX32"}}}),
        ))
        .unwrap();
    }

    #[test]
    fn host_ids_follow_the_mappings_and_unmapped_is_nobody() {
        let maps: Vec<oci_spec::runtime::LinuxIdMapping> = serde_json::from_value(json!([
            {"containerID": 0, "hostID": 100000, "size": 1000},
            {"containerID": 1000, "hostID": 5000, "size": 1}
        ]))
        .unwrap();
        assert_eq!(host_id(0, Some(&maps)), 100000);
        assert_eq!(host_id(999, Some(&maps)), 100999);
        assert_eq!(host_id(1000, Some(&maps)), 5000);
        assert_eq!(host_id(1001, Some(&maps)), 65534);
        assert_eq!(host_id(42, None), 42);
        assert_eq!(host_id(42, Some(&[])), 42);
    }

    #[test]
    fn zero_cpu_shares_and_blkio_weights_mean_unset() {
        let mut r: oci_spec::runtime::LinuxResources = serde_json::from_value(json!({
            "cpu": {"shares": 0, "quota": 5000},
            "blockIO": {"weight": 0, "leafWeight": 0}
        }))
        .unwrap();
        zero_means_unset(&mut r);
        let cpu = r.cpu().as_ref().unwrap();
        assert_eq!((cpu.shares(), cpu.quota()), (None, Some(5000)));
        let io = r.block_io().as_ref().unwrap();
        assert_eq!((io.weight(), io.leaf_weight()), (None, None));
    }

    #[test]
    fn the_state_for_hooks_has_the_status_asked_for() {
        let st = State {
            id: "c1".into(),
            pid: 42,
            start_time: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "t".into(),
            owner: "root".into(),
            annotations: Default::default(),
            cgroup_path: "/c1".into(),
            own_pid_ns: true,
            own_user_ns: false,
            systemd_cgroup: false,
            cgroup: None,
        };
        let v: serde_json::Value = serde_json::from_str(&state_json(&st, "creating")).unwrap();
        assert_eq!(v["status"], "creating");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["id"], "c1");
    }
}
