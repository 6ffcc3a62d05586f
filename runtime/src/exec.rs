//! `exec`: a new process in a running container. A bootstrap child joins the container's
//! namespaces (user first; all opened before the mount namespace changes what /proc is)
//! after the runtime put it in the container's cgroup, then forks the process as the
//! runtime's child so it lands inside the container's PID namespace.

use crate::channel::{self, Channel, Msg};
use crate::cli::{self, flag, opt, Trailing};
use crate::config::ns_name;
use crate::console;
use crate::create::Global;
use crate::error::{bail, Context, Error, Result};
use crate::exec_cgroup;
use crate::execve;
use crate::init::prepare_process;
use crate::ns;
use crate::run;
use crate::state::{self, Status};
use crate::sys::{Linux, Prctl, Sys};
use oci_spec::runtime::{Capabilities, Capability, LinuxNamespaceType, Process, Spec};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

const EXEC_FLAGS: &[cli::FlagSpec] = &[
    opt(&["console-socket"]),
    opt(&["cwd"]),
    opt(&["env", "e"]),
    flag(&["tty", "t"]),
    opt(&["user", "u"]),
    opt(&["additional-gids", "g"]),
    opt(&["process", "p"]),
    flag(&["detach", "d"]),
    opt(&["pid-file"]),
    opt(&["process-label"]),
    opt(&["apparmor"]),
    flag(&["no-new-privs"]),
    opt(&["cap", "c"]),
    opt(&["preserve-fds"]),
    flag(&["ignore-paused"]),
    opt(&["cgroup"]),
];

/// The process to run: `--process` JSON, or the container's process with the command
/// line's args and overrides.
fn build_process(p: &cli::Parsed, spec: &Spec) -> Result<Process> {
    let mut proc: Process = if let Some(file) = p.value("process") {
        let data = std::fs::read(file).with_ctx(|| format!("exec --process {file}"))?;
        serde_json::from_slice(&data)
            .with_ctx(|| format!("exec --process {file}: invalid process JSON"))?
    } else {
        let args = &p.positional[1..];
        if args.is_empty() {
            bail!("exec: no command given (exec ID COMMAND [ARGS...] or --process FILE)");
        }
        let mut proc = spec.process().clone().unwrap_or_default();
        proc.set_args(Some(args.to_vec()));
        proc.set_terminal(Some(p.is_set("tty")));
        proc.set_console_size(None);
        proc
    };
    let mut env = proc.env().clone().unwrap_or_default();
    env.extend(p.values("env").iter().cloned());
    proc.set_env(Some(env));
    if let Some(cwd) = p.value("cwd") {
        proc.set_cwd(PathBuf::from(cwd));
    }
    if p.value("process").is_some() && p.is_set("tty") {
        proc.set_terminal(Some(true));
    }
    if let Some(u) = p.value("user") {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u, None),
        };
        let user = proc.user_mut();
        user.set_uid(
            uid.parse()
                .map_err(|_| format!("exec --user {u:?}: use UID[:GID] (numbers)"))?,
        );
        if let Some(g) = gid {
            user.set_gid(
                g.parse()
                    .map_err(|_| format!("exec --user {u:?}: use UID[:GID] (numbers)"))?,
            );
        }
    }
    if !p.values("additional-gids").is_empty() {
        let gids = p
            .values("additional-gids")
            .iter()
            .map(|g| {
                g.parse::<u32>()
                    .map_err(|_| Error(format!("exec --additional-gids {g:?}: not a number")))
            })
            .collect::<Result<Vec<_>>>()?;
        proc.user_mut().set_additional_gids(Some(gids));
    }
    if !p.values("cap").is_empty() {
        let mut caps = proc.capabilities().clone().unwrap_or_default();
        let mut add: Capabilities = Capabilities::new();
        for c in p.values("cap") {
            let cap: Capability = serde_json::from_value(serde_json::json!(c))
                .map_err(|_| format!("exec --cap {c:?}: unknown capability"))?;
            add.insert(cap);
        }
        let merge = |s: &Option<Capabilities>| -> Option<Capabilities> {
            let mut s = s.clone().unwrap_or_default();
            s.extend(add.iter().cloned());
            Some(s)
        };
        // As runc (since 1.1.2): never the inheritable set. The ambient set is asked for,
        // but the kernel raises an ambient capability only if it is inheritable, so it
        // takes only where the container's own inheritable set has it.
        caps.set_bounding(merge(caps.bounding()));
        caps.set_effective(merge(caps.effective()));
        caps.set_permitted(merge(caps.permitted()));
        caps.set_ambient(merge(caps.ambient()));
        proc.set_capabilities(Some(caps));
    }
    if p.is_set("no-new-privs") {
        proc.set_no_new_privileges(Some(true));
    }
    if let Some(a) = p.value("apparmor") {
        proc.set_apparmor_profile(Some(a.to_string()));
    }
    if let Some(l) = p.value("process-label") {
        proc.set_selinux_label(Some(l.to_string()));
    }
    if proc.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("exec: the process has no args");
    }
    if !proc.cwd().is_absolute() {
        bail!("exec: cwd {:?} must be absolute", proc.cwd());
    }
    Ok(proc)
}

fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
        other => ns_name(other),
    }
}

pub fn command(g: &Global, args: &[String]) -> Result<i32> {
    let p = cli::parse(args, EXEC_FLAGS, Trailing::VerbatimAfter(1), "exec")?;
    let Some(id) = p.positional.first().cloned() else {
        bail!("exec: container id is required")
    };
    let st = state::load(&g.root, &id)?;
    match st.status(&g.root) {
        Status::Running | Status::Created => {}
        Status::Paused if p.is_set("ignore-paused") => {}
        Status::Paused => {
            bail!("container {id} is paused: resume it first (or use --ignore-paused)")
        }
        Status::Stopped => bail!("container {id} is stopped: cannot exec in it"),
    }
    let spec = st.spec(&g.root)?;
    let proc = build_process(&p, &spec)?;
    let detach = p.is_set("detach");
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(berth_seccomp::compile(s).map_err(|e| Error(e.to_string()))?),
        None => None,
    };
    for w in crate::identity::lsm_warnings(&proc) {
        crate::log::warn(&w);
    }
    let terminal = proc.terminal().unwrap_or(false);
    let mut own_console: Option<OwnedFd> = None;
    let console: Option<OwnedFd> = match p.value("console-socket") {
        Some(path) if terminal => {
            let s = std::os::unix::net::UnixStream::connect(path)
                .with_ctx(|| format!("connecting to --console-socket {path}"))?;
            Some(s.into())
        }
        Some(_) => bail!("exec: --console-socket given without --tty"),
        None if terminal && detach => bail!("exec --detach --tty needs --console-socket"),
        None if terminal => {
            let (a, b) = std::os::unix::net::UnixStream::pair().ctx("socketpair")?;
            own_console = Some(a.into());
            Some(b.into())
        }
        None => None,
    };
    // Open every namespace now: after joining the mount namespace /proc is the container's.
    let mut nss: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    for n in crate::config::namespaces(&spec) {
        let path = format!("/proc/{}/ns/{}", st.pid, ns_file(n.typ()));
        let f =
            std::fs::File::open(&path).with_ctx(|| format!("container {id}: opening {path}"))?;
        nss.push((n.typ(), f.into()));
    }
    nss.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
    let preserve = p
        .value("preserve-fds")
        .map(|v| v.parse::<u32>())
        .transpose()
        .map_err(|_| "exec --preserve-fds: not a number")?
        .unwrap_or(0);
    let cg = st.cgroup()?;
    let sub_cgroups = exec_cgroup::parse(p.values("cgroup"))?;
    let sub_cgroups = exec_cgroup::targets(&cg.dirs(), &sub_cgroups)?;
    let (chan, child_chan) = channel::pair()?;
    // SAFETY: the runtime is single-threaded (no threads, no async runtime), so the child may run
    // any code after fork.
    let c1 = unsafe { libc::fork() };
    if c1 < 0 {
        bail!("fork: {}", std::io::Error::last_os_error());
    }
    if c1 == 0 {
        drop(chan);
        let sock = console.as_ref().map(|c| c.as_raw_fd());
        child(
            &child_chan,
            &exec_cgroup::Placement {
                container: &cg,
                sub: &sub_cgroups,
            },
            &nss,
            &ProcessPlan {
                process: &proc,
                mempolicy: spec
                    .linux()
                    .as_ref()
                    .and_then(|l| l.memory_policy().as_ref()),
                seccomp: seccomp.as_ref(),
                preserve,
            },
            sock,
        );
    }
    drop(child_chan);
    drop(console);
    let kill_c1 = |e: Error| -> Error {
        // SAFETY: kill and waitpid of our own, unreaped child; a null status pointer is allowed.
        unsafe {
            libc::kill(c1, libc::SIGKILL);
            libc::waitpid(c1, std::ptr::null_mut(), 0);
        }
        e
    };
    cg.add_process(c1)
        .map_err(|e| kill_c1(Error(format!("container {id}: {e}"))))?;
    chan.send(&Msg::Go).map_err(kill_c1)?;
    let reap = |pid: i32, e: Error| -> Error {
        // SAFETY: kill and waitpid of our own, unreaped child; a null status pointer is allowed.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        e
    };
    // The process's messages can overtake the bootstrap child's report of its pid.
    let mut pid = 0;
    let mut ready = false;
    let mut listener_pending = None;
    let forward_listener = |pid: i32, fd: i32| -> Result<()> {
        let seccomp = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .ok_or("a seccomp listener without seccomp")?;
        let state = st.oci_json(st.status(&g.root));
        crate::seccomp_agent::forward(&chan, pid, fd, seccomp, state)
    };
    while pid == 0 || !ready {
        match chan.recv() {
            Ok(Some(Msg::Pid(p))) => {
                pid = p;
                // SAFETY: waitpid of our own child with a null status pointer (allowed).
                unsafe { libc::waitpid(c1, std::ptr::null_mut(), 0) };
                if let Some(fd) = listener_pending.take() {
                    forward_listener(pid, fd).map_err(|e| reap(pid, e))?;
                }
            }
            Ok(Some(Msg::SeccompListener(fd))) if pid == 0 => listener_pending = Some(fd),
            Ok(Some(Msg::SeccompListener(fd))) => {
                forward_listener(pid, fd).map_err(|e| reap(pid, e))?
            }
            Ok(Some(Msg::Ready)) => ready = true,
            Ok(Some(Msg::Failed(e))) => {
                let e = Error(format!("container {id}: exec: {e}"));
                return Err(if pid == 0 { kill_c1(e) } else { reap(pid, e) });
            }
            Ok(_) => {
                let e = Error(format!("container {id}: exec: the process exited early"));
                return Err(if pid == 0 { kill_c1(e) } else { reap(pid, e) });
            }
            Err(e) => return Err(if pid == 0 { kill_c1(e) } else { reap(pid, e) }),
        }
    }
    let master = match &own_console {
        Some(s) => Some(crate::fdpass::recv_fd(s.as_raw_fd()).map_err(|e| reap(pid, e))?),
        None => None,
    };
    // The channel closes on a successful execve; a message means it failed.
    match chan.recv() {
        Ok(None) => {}
        Ok(Some(Msg::Failed(e))) => {
            return Err(reap(pid, Error(format!("container {id}: exec: {e}"))))
        }
        Ok(Some(m)) => {
            return Err(reap(
                pid,
                Error(format!("container {id}: exec: unexpected {m:?}")),
            ))
        }
        Err(e) => return Err(reap(pid, e)),
    }
    if let Some(pf) = p.value("pid-file") {
        state::write_atomic(std::path::Path::new(pf), pid.to_string().as_bytes(), 0o644)
            .with_ctx(|| format!("--pid-file {pf}"))?;
    }
    if detach {
        return Ok(0);
    }
    run::forward_signals_to(pid);
    Ok(match master {
        Some(m) => run::relay_tty(&m, pid),
        None => run::wait(pid),
    })
}

/// What the exec'd process is made into: its process settings, the container's memory
/// policy and seccomp filter, and how many descriptors past stdio it keeps.
struct ProcessPlan<'a> {
    process: &'a Process,
    mempolicy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    seccomp: Option<&'a berth_seccomp::Filter>,
    preserve: u32,
}

fn child(
    chan: &Channel,
    cgroup: &exec_cgroup::Placement,
    nss: &[(LinuxNamespaceType, OwnedFd)],
    plan: &ProcessPlan,
    console: Option<RawFd>,
) -> ! {
    let sys = &Linux;
    let (proc, seccomp, preserve) = (plan.process, plan.seccomp, plan.preserve);
    let fail = |e: Error| -> ! {
        let _ = chan.send(&Msg::Failed(e.0));
        // SAFETY: _exit ends the process at once; nothing of ours is left half-done that matters.
        unsafe { libc::_exit(1) }
    };
    if let Err(e) = chan.expect(Msg::Go) {
        fail(e);
    }
    if let Err(e) = cgroup.join_self() {
        fail(e);
    }
    for (t, fd) in nss {
        if let Err(e) = sys.setns(fd.as_fd(), ns::flag(*t)) {
            fail(Error(format!("joining the {} namespace: {e}", ns_name(*t))));
        }
    }
    // SAFETY: this child of the runtime is single-threaded.
    let pid = match unsafe { ns::fork_sibling() } {
        Ok(p) => p,
        Err(e) => fail(e),
    };
    if pid != 0 {
        let _ = chan.send(&Msg::Pid(pid));
        // SAFETY: _exit ends the process at once; nothing of ours is left half-done that matters.
        unsafe { libc::_exit(0) };
    }
    let _ = sys.setsid();
    let _ = sys.prctl(Prctl::Dumpable(false));
    let program = (|| -> Result<execve::Program> {
        if let Some(sock) = console {
            let size = proc
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            console::setup(sys, sock, size, false)?;
            // SAFETY: `sock` is the console socket given to this child; nothing uses it after setup.
            unsafe { libc::close(sock) };
        }
        crate::mempolicy::apply(sys, plan.mempolicy)?;
        prepare_process(sys, proc, seccomp, preserve, chan)
    })();
    let program = match program {
        Ok(p) => p,
        Err(e) => fail(e),
    };
    // Only stdio, the preserved fds and the channel (closed by execve) stay open.
    crate::log::forget_file();
    execve::close_from(3 + preserve, &[chan.as_raw_fd()]);
    if chan.send(&Msg::Ready).is_err() {
        // SAFETY: _exit ends the process at once; nothing of ours is left half-done that matters.
        unsafe { libc::_exit(1) };
    }
    if let Some(f) = seccomp.filter(|f| !crate::init::seccomp_before_user_switch(proc, f)) {
        if let Err(e) = sys.seccomp_load(f) {
            fail(Error(e));
        }
    }
    let e = execve::exec(&program);
    fail(Error(format!("exec {:?}: {e}", program.path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::spec;
    use serde_json::json;
    use std::path::Path;

    fn parsed(v: &[&str]) -> cli::Parsed {
        let a: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        cli::parse(&a, EXEC_FLAGS, Trailing::VerbatimAfter(1), "exec").unwrap()
    }

    fn container() -> Spec {
        spec(
            json!({"process": {"env": ["PATH=/bin"], "cwd": "/srv", "terminal": true,
                                "consoleSize": {"height": 10, "width": 20},
                                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}}}),
        )
    }

    #[test]
    fn the_command_line_overrides_the_containers_process() {
        let p = build_process(
            &parsed(&[
                "--env",
                "A=1",
                "--cwd",
                "/tmp",
                "-u",
                "1000:100",
                "-g",
                "5",
                "--cap",
                "CAP_NET_ADMIN",
                "--no-new-privs",
                "id",
                "sh",
                "-c",
                "echo --cwd",
            ]),
            &container(),
        )
        .unwrap();
        assert_eq!(
            p.args().as_deref().unwrap(),
            ["sh", "-c", "echo --cwd"].map(String::from)
        );
        assert_eq!(
            p.env().as_deref().unwrap(),
            ["PATH=/bin", "A=1"].map(String::from)
        );
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 100));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5][..]));
        assert_eq!(p.no_new_privileges(), Some(true));
        // no --tty: no terminal, whatever the container had
        assert_eq!(p.terminal(), Some(false));
        assert!(p.console_size().is_none());
        let caps = p.capabilities().as_ref().unwrap();
        for set in [caps.bounding(), caps.effective(), caps.ambient()] {
            assert!(set.as_ref().unwrap().contains(&Capability::NetAdmin));
        }
        assert!(caps.inheritable().is_none(), "{caps:?}");
        assert!(caps
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::Kill));
    }

    #[test]
    fn bad_exec_arguments_are_named() {
        let c = container();
        let err = |v: &[&str]| build_process(&parsed(v), &c).unwrap_err().0;
        assert_eq!(
            err(&["id"]),
            "exec: no command given (exec ID COMMAND [ARGS...] or --process FILE)"
        );
        assert_eq!(
            err(&["-u", "root", "id", "sh"]),
            "exec --user \"root\": use UID[:GID] (numbers)"
        );
        assert_eq!(
            err(&["-g", "wheel", "id", "sh"]),
            "exec --additional-gids \"wheel\": not a number"
        );
        assert_eq!(
            err(&["--cap", "CAP_NOPE", "id", "sh"]),
            "exec --cap \"CAP_NOPE\": unknown capability"
        );
        assert_eq!(
            err(&["--cwd", "rel", "id", "sh"]),
            "exec: cwd \"rel\" must be absolute"
        );
    }

    #[test]
    fn a_process_file_is_used_as_given_plus_env() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("p.json");
        std::fs::write(&f, r#"{"args":["top"],"cwd":"/","user":{"uid":7,"gid":7}}"#).unwrap();
        let fs = f.to_str().unwrap();
        let p = build_process(
            &parsed(&["--process", fs, "-e", "X=y", "-t", "id"]),
            &container(),
        )
        .unwrap();
        assert_eq!(p.args().as_deref().unwrap(), ["top".to_string()]);
        assert_eq!(p.user().uid(), 7);
        assert_eq!(p.env().as_deref().unwrap(), ["X=y".to_string()]);
        assert_eq!(p.terminal(), Some(true));
        std::fs::write(&f, "{").unwrap();
        let e = build_process(&parsed(&["--process", fs, "id"]), &container()).unwrap_err();
        assert!(e
            .0
            .starts_with(&format!("exec --process {fs}: invalid process JSON")));
    }

    #[test]
    fn namespace_files_use_procs_names() {
        assert_eq!(ns_file(LinuxNamespaceType::Mount), "mnt");
        assert_eq!(ns_file(LinuxNamespaceType::Network), "net");
        assert_eq!(ns_file(LinuxNamespaceType::Pid), "pid");
        assert_eq!(ns_file(LinuxNamespaceType::User), "user");
    }
}
