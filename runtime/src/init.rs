//! The container side of `create`: the bootstrap child joins and creates namespaces and
//! forks the container's init (a sibling, so it is the runtime's child and, with a new PID
//! namespace, its PID 1). Init builds the rootfs, takes on the process's identity, reports
//! "ready" and parks on the exec fifo until `start`, then execs the program.

use crate::channel::{Channel, Msg};
use crate::config::namespaces;
use crate::console;
use crate::error::{bail, Context, Result};
use crate::execve;
use crate::hooks;
use crate::identity;
use crate::ns;
use crate::rootfs::{self, Rootfs};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// Everything init needs, prepared by the runtime before forking.
pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// O_PATH fd of the exec fifo.
    pub fifo: RawFd,
    pub console: Option<RawFd>,
    pub seccomp: Option<&'a berth_seccomp::Filter>,
    /// Whether the runtime runs hooks for us (prestart/createRuntime) and sends state.
    pub hook_exchange: bool,
    /// The container's cgroup (created by the runtime; the bootstrap child joins it).
    pub cgroup: &'a berth_cgroups::Cgroup,
}

fn exit(code: i32) -> ! {
    unsafe { libc::_exit(code) }
}

/// The bootstrap child: never returns.
pub fn bootstrap(a: &InitArgs, chan: &Channel) -> ! {
    match bootstrap_inner(a, chan) {
        Ok(true) => exit(0),
        Ok(false) => init(a, chan),
        Err(e) => {
            let _ = chan.send(&Msg::Failed(e.0));
            exit(1)
        }
    }
}

/// Returns false in the forked init, true in the bootstrap child once init is forked.
fn bootstrap_inner(a: &InitArgs, chan: &Channel) -> Result<bool> {
    let nss = namespaces(a.spec);
    let new: Vec<_> = nss
        .iter()
        .filter(|n| n.path().is_none())
        .map(|n| n.typ())
        .collect();
    let userns = nss.iter().any(|n| n.typ() == LinuxNamespaceType::User);
    // Creating namespaces runs no code of the container's: without a user namespace it
    // overlaps with the runtime making the cgroup. (In a user namespace the host's cgroup
    // files would no longer be writable, so the cgroup comes first there.)
    if !userns {
        join_and_unshare(a, &new, chan)?;
    }
    // In the cgroup before init exists, so it and everything it forks are counted and limited.
    chan.expect(Msg::Go)?;
    a.cgroup
        .join_self()
        .map_err(|e| format!("joining the container's cgroup: {e}"))?;
    if userns {
        join_and_unshare(a, &new, chan)?;
    }
    // The cgroup namespace is rooted at the cgroup the process is in when it is made.
    if new.contains(&LinuxNamespaceType::Cgroup) {
        ns::unshare(libc::CLONE_NEWCGROUP)?;
    }
    if new.contains(&LinuxNamespaceType::Time) {
        ns::write_time_offsets(a.spec)?;
    }
    let pid = unsafe { ns::fork_sibling()? };
    if pid == 0 {
        return Ok(false);
    }
    chan.send(&Msg::Pid(pid))?;
    Ok(true)
}

/// Joins the namespaces given by path (the user namespace first: it grants the rights),
/// creates the user namespace (the runtime writes its id maps), then the other new ones
/// except the cgroup namespace.
fn join_and_unshare(a: &InitArgs, new: &[LinuxNamespaceType], chan: &Channel) -> Result<()> {
    let mut joins: Vec<_> = namespaces(a.spec)
        .iter()
        .filter(|n| n.path().is_some())
        .collect();
    joins.sort_by_key(|n| n.typ() != LinuxNamespaceType::User);
    for n in joins {
        ns::join(n.typ(), n.path().as_ref().unwrap())?;
    }
    if new.contains(&LinuxNamespaceType::User) {
        ns::unshare(libc::CLONE_NEWUSER)?;
        chan.send(&Msg::MapIds)?;
        chan.expect(Msg::MapsDone)?;
        unsafe {
            if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
                bail!(
                    "becoming root in the user namespace: {} (map container id 0)",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
    let flags = new
        .iter()
        .filter(|t| !matches!(t, LinuxNamespaceType::User | LinuxNamespaceType::Cgroup))
        .fold(0, |f, t| f | ns::flag(*t));
    ns::unshare(flags)
}

/// The container's init: never returns.
fn init(a: &InitArgs, chan: &Channel) -> ! {
    let program = match init_setup(a, chan) {
        Ok(p) => p,
        Err(e) => {
            let _ = chan.send(&Msg::Failed(e.0));
            exit(1)
        }
    };
    let (state, program) = program;
    // Nothing of our caller may stay reachable while init waits, not even through
    // /proc/1/fd: keep stdio, the preserved fds and our own rendezvous (fifo, channel).
    crate::log::forget_file();
    execve::close_from(3 + a.preserve_fds, &[a.fifo, chan.as_raw_fd()]);
    if chan.send(&Msg::Ready).is_err() {
        exit(1);
    }
    // Parked until `start` opens the fifo for reading.
    let fifo_path = format!("/proc/self/fd/{}", a.fifo);
    let fifo = match std::fs::OpenOptions::new().write(true).open(&fifo_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("berth-runtime: init: opening the exec fifo: {e}");
            exit(1)
        }
    };
    let mut fifo = fifo;
    let result = (|| -> Result<()> {
        if let Some(h) = a
            .spec
            .hooks()
            .as_ref()
            .and_then(|h| h.start_container().as_deref())
        {
            hooks::run_all("startContainer", h, &state)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fifo.write_all(e.0.as_bytes());
        exit(1);
    }
    let _ = fifo.write_all(b"0");
    drop(fifo);
    let p = a.spec.process().as_ref().expect("validated");
    if p.no_new_privileges().unwrap_or(false) {
        if let Some(f) = a.seccomp {
            if let Err(e) = f.install() {
                eprintln!("berth-runtime: {e}");
                exit(1);
            }
        }
    }
    let e = execve::exec(&program);
    eprintln!("berth-runtime: exec {:?}: {e}", program.path);
    exit(127)
}

fn init_setup(a: &InitArgs, chan: &Channel) -> Result<(String, execve::Program)> {
    let spec = a.spec;
    let p = spec.process().as_ref().expect("validated");
    // Hooks run from here must not inherit what our caller left open either.
    execve::cloexec_from(3 + a.preserve_fds);
    unsafe {
        libc::setsid();
        // Until exec, nothing in the container may open /proc/1/* of this process.
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    if !a.no_new_keyring {
        join_session_keyring(a.id);
    }
    let userns = namespaces(spec)
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    let rfs = Rootfs {
        spec,
        path: a.rootfs,
        bundle: a.bundle,
        userns,
        cgroup_dirs: a.cgroup.dirs().into_values().collect(),
    };
    let root = rfs.prepare()?;
    let mut state = String::new();
    if a.hook_exchange {
        chan.send(&Msg::RunHooks)?;
        match chan.recv()? {
            Some(Msg::HooksDone(s)) => state = s,
            Some(Msg::Failed(e)) => return Err(e.into()),
            _ => bail!("the runtime went away while running hooks"),
        }
        if let Some(h) = spec
            .hooks()
            .as_ref()
            .and_then(|h| h.create_container().as_deref())
        {
            hooks::run_all("createContainer", h, &state)?;
        }
    }
    rootfs::enter(&root, a.rootfs, a.no_pivot)?;
    drop(root);
    if p.terminal().unwrap_or(false) {
        let sock = a
            .console
            .ok_or("terminal is true but no --console-socket was given")?;
        let size = p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup(sock, size, true)?;
        unsafe { libc::close(sock) };
    }
    rootfs::finalize(spec)?;
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).with_ctx(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            bail!(
                "setting domainname {d:?}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    if let Some(pers) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        // PER_LINUX = 0, PER_LINUX32 = 8; inherited by the program across execve.
        let domain = match pers.domain() {
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0,
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 8,
        };
        if unsafe { libc::personality(domain) } < 0 {
            bail!("linux.personality: {}", std::io::Error::last_os_error());
        }
    }
    prepare_process(p, a.seccomp, a.preserve_fds).map(|prog| (state, prog))
}

/// Shared by init and exec: limits, labels, no_new_privs, seccomp (when installed before
/// dropping privileges), user and capabilities, cwd, umask, and the program to run.
pub fn prepare_process(
    p: &oci_spec::runtime::Process,
    seccomp: Option<&berth_seccomp::Filter>,
    preserve_fds: u32,
) -> Result<execve::Program> {
    identity::set_rlimits(p)?;
    identity::set_oom_score_adj(p)?;
    identity::set_io_priority(p)?;
    identity::set_scheduler(p)?;
    identity::apply_lsm_labels(p)?;
    identity::set_no_new_privileges(p)?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    if !nnp {
        if let Some(f) = seccomp {
            // Without no_new_privs the filter needs CAP_SYS_ADMIN: install while we have it.
            f.install().map_err(|e| e.to_string())?;
        }
    }
    identity::switch_user(p)?;
    std::env::set_current_dir(p.cwd()).with_ctx(|| format!("process.cwd {}", p.cwd().display()))?;
    unsafe { libc::umask(p.user().umask().unwrap_or(0o022) as libc::mode_t) };
    let env = p.env().clone().unwrap_or_default();
    let program = execve::resolve(p.args().as_deref().unwrap_or(&[]), &env)?;
    execve::cloexec_from(3 + preserve_fds);
    Ok(program)
}

/// A fresh session keyring per container, so containers do not share the host's keys.
fn join_session_keyring(id: &str) {
    let name = std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default();
    // KEYCTL_JOIN_SESSION_KEYRING = 1. Hosts without keyrings (ENOSYS) simply go without.
    unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
}
