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
use crate::sys::{Prctl, Sys};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;

/// Everything init needs, prepared by the runtime before forking.
pub struct InitArgs<'a> {
    pub sys: &'a dyn Sys,
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
    // SAFETY: _exit ends the process at once; nothing of ours is left half-done that matters.
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
    let new = new_namespaces(a.spec);
    let userns = namespaces(a.spec)
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    let mut map_ids = || {
        chan.send(&Msg::MapIds)?;
        chan.expect(Msg::MapsDone)
    };
    // Creating namespaces runs no code of the container's: without a user namespace it
    // overlaps with the runtime making the cgroup. (In a user namespace the host's cgroup
    // files would no longer be writable, so the cgroup comes first there.)
    if !userns {
        join_and_unshare(a.sys, a.spec, &new, &mut map_ids)?;
    }
    // In the cgroup before init exists, so it and everything it forks are counted and limited.
    chan.expect(Msg::Go)?;
    a.cgroup
        .join_self()
        .map_err(|e| format!("joining the container's cgroup: {e}"))?;
    if userns {
        join_and_unshare(a.sys, a.spec, &new, &mut map_ids)?;
    }
    // The cgroup namespace is rooted at the cgroup the process is in when it is made.
    if new.contains(&LinuxNamespaceType::Cgroup) {
        ns::unshare(a.sys, libc::CLONE_NEWCGROUP)?;
    }
    if new.contains(&LinuxNamespaceType::Time) {
        ns::write_time_offsets(a.sys, a.spec)?;
    }
    // SAFETY: the bootstrap child is single-threaded.
    let pid = unsafe { ns::fork_sibling()? };
    if pid == 0 {
        return Ok(false);
    }
    chan.send(&Msg::Pid(pid))?;
    Ok(true)
}

/// The namespaces the container gets new (those without a `path`), in config order.
fn new_namespaces(spec: &Spec) -> Vec<LinuxNamespaceType> {
    namespaces(spec)
        .iter()
        .filter(|n| n.path().is_none())
        .map(|n| n.typ())
        .collect()
}

/// Joins the namespaces given by path (the user namespace first: it grants the rights),
/// creates the user namespace (`map_ids` has the runtime write its id maps), then the
/// other new ones except the cgroup namespace.
fn join_and_unshare(
    sys: &dyn Sys,
    spec: &Spec,
    new: &[LinuxNamespaceType],
    map_ids: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let mut joins: Vec<_> = namespaces(spec)
        .iter()
        .filter(|n| n.path().is_some())
        .collect();
    joins.sort_by_key(|n| n.typ() != LinuxNamespaceType::User);
    for n in joins {
        ns::join(sys, n.typ(), n.path().as_ref().unwrap())?;
    }
    if new.contains(&LinuxNamespaceType::User) {
        ns::unshare(sys, libc::CLONE_NEWUSER)?;
        map_ids()?;
        if let Err(e) = sys.setresgid(0).and_then(|()| sys.setresuid(0)) {
            bail!("becoming root in the user namespace: {e} (map container id 0)");
        }
    }
    let flags = new
        .iter()
        .filter(|t| !matches!(t, LinuxNamespaceType::User | LinuxNamespaceType::Cgroup))
        .fold(0, |f, t| f | ns::flag(*t));
    ns::unshare(sys, flags)
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
            hooks::run_all(
                "startContainer",
                h,
                &hooks::state_from_init(&state, "created"),
            )?;
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
    if let Some(f) = a.seccomp.filter(|f| !seccomp_before_user_switch(p, f)) {
        // no listener here (see seccomp_before_user_switch): nothing to hand over
        if let Err(e) = a.sys.seccomp_load(f) {
            eprintln!("berth-runtime: {e}");
            exit(1);
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
    let _ = a.sys.setsid();
    // Until exec, nothing in the container may open /proc/1/* of this process.
    let _ = a.sys.prctl(Prctl::Dumpable(false));
    if !a.no_new_keyring {
        join_session_keyring(a.id);
    }
    let userns = namespaces(spec)
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    let rfs = Rootfs {
        sys: a.sys,
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
            hooks::run_all(
                "createContainer",
                h,
                &hooks::state_from_init(&state, "creating"),
            )?;
        }
    }
    rootfs::enter(a.sys, &root, a.rootfs, a.no_pivot)?;
    drop(root);
    // A missing cwd is made (as runc does), inside the new root and before it may turn
    // read-only.
    a.sys
        .mkdir_all(p.cwd())
        .with_ctx(|| format!("creating process.cwd {}", p.cwd().display()))?;
    if p.terminal().unwrap_or(false) {
        let sock = a
            .console
            .ok_or("terminal is true but no --console-socket was given")?;
        let size = p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup(a.sys, sock, size, true)?;
        // SAFETY: `sock` is the console socket given to init; nothing uses it after setup.
        unsafe { libc::close(sock) };
    }
    rootfs::finalize(a.sys, spec)?;
    set_names_and_personality(a.sys, spec)?;
    crate::mempolicy::apply(
        a.sys,
        spec.linux()
            .as_ref()
            .and_then(|l| l.memory_policy().as_ref()),
    )?;
    prepare_process(a.sys, p, a.seccomp, a.preserve_fds, chan).map(|prog| (state, prog))
}

/// hostname, domainname and the personality domain.
fn set_names_and_personality(sys: &dyn Sys, spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sys.sethostname(h)
            .with_ctx(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        sys.setdomainname(d)
            .with_ctx(|| format!("setting domainname {d:?}"))?;
    }
    if let Some(pers) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        // PER_LINUX = 0, PER_LINUX32 = 8; inherited by the program across execve.
        let domain = match pers.domain() {
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0,
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 8,
        };
        sys.personality(domain).ctx("linux.personality")?;
    }
    Ok(())
}

/// Shared by init and exec: the environment (with `HOME`), stdio owned by the process's
/// user, limits, labels, no_new_privs, seccomp (when installed before dropping
/// privileges), user and capabilities, cwd, umask, and the program to run.
pub fn prepare_process(
    sys: &dyn Sys,
    p: &oci_spec::runtime::Process,
    seccomp: Option<&berth_seccomp::Filter>,
    preserve_fds: u32,
    runtime: &Channel,
) -> Result<execve::Program> {
    let env = identity::environment(sys, p);
    crate::stdio::chown_to(p.user().uid())?;
    apply_process(sys, p, seccomp, runtime)?;
    let program = execve::resolve(p.args().as_deref().unwrap_or(&[]), &env)?;
    execve::cloexec_from(3 + preserve_fds);
    Ok(program)
}

/// Where the filter goes in. Without no_new_privs it needs CAP_SYS_ADMIN, so before the
/// user is switched; with it, as late as possible (right before execve) — unless it has a
/// listener for a seccomp agent: that goes through the runtime, so the filter must be in
/// while the runtime still waits for this process (`create` is gone by `start`).
pub fn seccomp_before_user_switch(
    p: &oci_spec::runtime::Process,
    f: &berth_seccomp::Filter,
) -> bool {
    !p.no_new_privileges().unwrap_or(false) || f.has_listener()
}

/// Everything of `prepare_process` that changes the process: limits, labels,
/// no_new_privs, seccomp (when installed before dropping privileges; a listener is handed
/// to the seccomp agent through `runtime`), user and capabilities, cwd and umask.
fn apply_process(
    sys: &dyn Sys,
    p: &oci_spec::runtime::Process,
    seccomp: Option<&berth_seccomp::Filter>,
    runtime: &Channel,
) -> Result<()> {
    identity::set_rlimits(sys, p)?;
    identity::set_oom_score_adj(sys, p)?;
    identity::set_io_priority(sys, p)?;
    identity::set_scheduler(sys, p)?;
    identity::apply_lsm_labels(sys, p)?;
    identity::set_no_new_privileges(sys, p)?;
    if let Some(f) = seccomp.filter(|f| seccomp_before_user_switch(p, f)) {
        if let Some(listener) = sys.seccomp_load(f)? {
            crate::seccomp_agent::hand_over(runtime, listener)?;
        }
    }
    // The cwd is entered before the user is dropped, so a directory only root may enter
    // works; one that root is refused (a root-squashing or user-owned 0700 mount) is tried
    // again as the container's user.
    let cwd_error = || format!("process.cwd {}", p.cwd().display());
    let entered = match sys.chdir(p.cwd()) {
        Ok(()) => true,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)) => false,
        Err(e) => return Err(e).with_ctx(cwd_error),
    };
    identity::switch_user(sys, p)?;
    if !entered {
        sys.chdir(p.cwd()).with_ctx(cwd_error)?;
    }
    sys.umask(p.user().umask().unwrap_or(0o022) as libc::mode_t);
    Ok(())
}

/// A fresh session keyring per container, so containers do not share the host's keys.
fn join_session_keyring(id: &str) {
    let name = std::ffi::CString::new(format!("_ses.{id}")).unwrap_or_default();
    // KEYCTL_JOIN_SESSION_KEYRING = 1. Hosts without keyrings (ENOSYS) simply go without.
    // SAFETY: KEYCTL_JOIN_SESSION_KEYRING reads the NUL-terminated name, alive for the call.
    unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
}

#[cfg(test)]
mod tests {
    //! Namespaces (joined by path or new), names, personality and the order in which a
    //! process takes on its identity, shown with the recording fake.
    use super::*;
    use crate::sys::fake::{Call, Fake};
    use crate::sys::CapSets;
    use crate::testing::spec;
    use serde_json::json;

    fn ns_path(dir: &tempfile::TempDir, name: &str) -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, "").unwrap();
        p.to_string_lossy().into_owned()
    }

    /// join_and_unshare for `spec` with the fake; returns the calls and how often the
    /// runtime was asked to write id maps.
    fn namespaces_of(s: &Spec, f: &Fake) -> (Result<()>, usize) {
        let mut asked = 0;
        let mut map_ids = || {
            asked += 1;
            Ok(())
        };
        let new = new_namespaces(s);
        let r = join_and_unshare(f, s, &new, &mut map_ids);
        (r, asked)
    }

    #[test]
    fn new_namespaces_are_one_unshare_without_user_and_cgroup() {
        let f = Fake::new();
        let s = spec(json!({"linux": {"namespaces": [
            {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "mount"}, {"type": "cgroup"}
        ]}}));
        let (r, asked) = namespaces_of(&s, &f);
        r.unwrap();
        assert_eq!(asked, 0);
        assert_eq!(
            f.calls(),
            [Call::Unshare(
                libc::CLONE_NEWPID
                    | libc::CLONE_NEWNET
                    | libc::CLONE_NEWIPC
                    | libc::CLONE_NEWUTS
                    | libc::CLONE_NEWNS
            )]
        );
    }

    #[test]
    fn namespaces_with_a_path_are_joined_user_first_before_new_ones() {
        let d = tempfile::tempdir().unwrap();
        let (net, user, ipc) = (ns_path(&d, "net"), ns_path(&d, "user"), ns_path(&d, "ipc"));
        let f = Fake::new();
        let s = spec(json!({"linux": {"namespaces": [
            {"type": "network", "path": net}, {"type": "mount"},
            {"type": "user", "path": user}, {"type": "ipc", "path": ipc}, {"type": "pid"}
        ]}}));
        let (r, asked) = namespaces_of(&s, &f);
        r.unwrap();
        assert_eq!(asked, 0);
        assert_eq!(
            f.calls(),
            [
                Call::Setns(user, libc::CLONE_NEWUSER),
                Call::Setns(net, libc::CLONE_NEWNET),
                Call::Setns(ipc, libc::CLONE_NEWIPC),
                Call::Unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID),
            ]
        );
    }

    #[test]
    fn a_new_user_namespace_is_mapped_then_entered_as_root_before_the_others() {
        let f = Fake::new();
        let s = spec(json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}}));
        let (r, asked) = namespaces_of(&s, &f);
        r.unwrap();
        assert_eq!(asked, 1);
        assert_eq!(
            f.calls(),
            [
                Call::Unshare(libc::CLONE_NEWUSER),
                Call::Setresgid(0),
                Call::Setresuid(0),
                Call::Unshare(libc::CLONE_NEWNS),
            ]
        );
    }

    #[test]
    fn failing_to_join_names_the_namespace_and_creates_nothing() {
        let d = tempfile::tempdir().unwrap();
        let net = ns_path(&d, "net");
        let f = Fake::new();
        f.fail(libc::EPERM, |c| matches!(c, Call::Setns(..)));
        let s = spec(json!({"linux": {"namespaces": [
            {"type": "mount"}, {"type": "network", "path": net}
        ]}}));
        let e = namespaces_of(&s, &f).0.unwrap_err();
        assert_eq!(
            e.0,
            format!("joining network namespace {net}: Operation not permitted (os error 1)")
        );
        assert!(!f.calls().iter().any(|c| matches!(c, Call::Unshare(_))));
    }

    #[test]
    fn unmapped_root_in_a_new_user_namespace_is_a_clear_error() {
        let f = Fake::new();
        f.fail(libc::EINVAL, |c| matches!(c, Call::Setresgid(0)));
        let s = spec(json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}}));
        let e = namespaces_of(&s, &f).0.unwrap_err();
        assert_eq!(
            e.0,
            "becoming root in the user namespace: Invalid argument (os error 22) (map container id 0)"
        );
    }

    #[test]
    fn hostname_domainname_and_personality() {
        let f = Fake::new();
        let s = spec(json!({"hostname": "web", "domainname": "example.test",
                            "linux": {"personality": {"domain": "LINUX32"}}}));
        set_names_and_personality(&f, &s).unwrap();
        assert_eq!(
            f.calls(),
            [
                Call::Sethostname("web".into()),
                Call::Setdomainname("example.test".into()),
                Call::Personality(8),
            ]
        );
        // empty names are not set
        let f = Fake::new();
        set_names_and_personality(&f, &spec(json!({"hostname": ""}))).unwrap();
        assert!(f.calls().is_empty());
    }

    #[test]
    fn a_refused_hostname_is_named() {
        let f = Fake::new();
        f.fail(libc::EPERM, |_| true);
        let e = set_names_and_personality(&f, &spec(json!({"hostname": "web"}))).unwrap_err();
        assert_eq!(
            e.0,
            "setting hostname \"web\": Operation not permitted (os error 1)"
        );
    }

    /// A channel whose other end is gone: these filters have no listener to hand over.
    fn runtime() -> Channel {
        crate::channel::pair().unwrap().0
    }

    fn filter() -> berth_seccomp::Filter {
        let profile = serde_json::from_value(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]
        }))
        .unwrap();
        berth_seccomp::compile(&profile).unwrap()
    }

    /// The calls of apply_process reduced to their kinds, bounding drops left out.
    fn steps(f: &Fake) -> Vec<String> {
        f.calls()
            .iter()
            .filter(|c| !matches!(c, Call::Prctl(Prctl::CapBsetDrop(_))))
            .map(|c| {
                let s = format!("{c:?}");
                s.split(['(', ' ']).next().unwrap().to_string()
                    + match c {
                        Call::Prctl(p) => format!(":{p:?}"),
                        _ => String::new(),
                    }
                    .as_str()
            })
            .collect()
    }

    #[test]
    fn without_no_new_privs_seccomp_is_loaded_while_still_privileged() {
        let f = Fake::new();
        let s = spec(
            json!({"process": {"cwd": "/work", "user": {"uid": 1, "gid": 1, "umask": 63},
                                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}]}}),
        );
        let p = s.process().clone().unwrap();
        apply_process(&f, &p, Some(&filter()), &runtime()).unwrap();
        assert_eq!(
            steps(&f),
            [
                "Setrlimit",
                "SeccompLoad",
                "Chdir",
                "Prctl:KeepCaps(true)",
                "Setgroups",
                "Setresgid",
                "Setresuid",
                "Capset",
                "Prctl:AmbientClearAll",
                "Prctl:KeepCaps(false)",
                "Umask",
            ]
        );
        let calls = f.calls();
        assert!(calls.contains(&Call::Chdir("/work".into())));
        assert_eq!(calls.last(), Some(&Call::Umask(0o077)));
        assert!(calls.contains(&Call::Capset(CapSets::default())));
    }

    #[test]
    fn with_no_new_privs_the_bit_is_set_first_and_seccomp_left_for_last() {
        let f = Fake::new();
        let s = spec(json!({"process": {"noNewPrivileges": true}}));
        let p = s.process().clone().unwrap();
        apply_process(&f, &p, Some(&filter()), &runtime()).unwrap();
        let st = steps(&f);
        assert_eq!(st[0], "Prctl:NoNewPrivs");
        assert!(!st.contains(&"SeccompLoad".to_string()));
        // the default umask
        assert_eq!(f.calls().last(), Some(&Call::Umask(0o022)));
    }

    #[test]
    fn a_refused_seccomp_filter_stops_before_the_user_switch() {
        let f = Fake::new();
        f.fail(libc::EACCES, |c| c == &Call::SeccompLoad);
        let p = spec(json!({})).process().clone().unwrap();
        let e = apply_process(&f, &p, Some(&filter()), &runtime()).unwrap_err();
        assert_eq!(e.0, "Permission denied (os error 13)");
        assert!(!f.calls().iter().any(|c| matches!(c, Call::Setresuid(_))));
    }

    #[test]
    fn a_cwd_root_is_refused_is_entered_again_as_the_user() {
        let f = Fake::new();
        let tries = std::cell::Cell::new(0);
        f.fail(libc::EACCES, move |c| {
            matches!(c, Call::Chdir(_)) && {
                tries.set(tries.get() + 1);
                tries.get() == 1
            }
        });
        let s = spec(json!({"process": {"cwd": "/home/u", "user": {"uid": 7, "gid": 7}}}));
        let p = s.process().clone().unwrap();
        apply_process(&f, &p, None, &runtime()).unwrap();
        let st = steps(&f);
        let chdirs: Vec<usize> = (0..st.len()).filter(|&i| st[i] == "Chdir").collect();
        let setuid = st.iter().position(|s| s == "Setresuid").unwrap();
        assert_eq!(chdirs.len(), 2, "{st:?}");
        assert!(chdirs[0] < setuid && chdirs[1] > setuid, "{st:?}");
    }

    #[test]
    fn a_missing_cwd_is_named() {
        let f = Fake::new();
        f.fail(libc::ENOENT, |c| matches!(c, Call::Chdir(_)));
        let s = spec(json!({"process": {"cwd": "/nowhere"}}));
        let p = s.process().clone().unwrap();
        let e = apply_process(&f, &p, None, &runtime()).unwrap_err();
        assert_eq!(
            e.0,
            "process.cwd /nowhere: No such file or directory (os error 2)"
        );
    }
}
