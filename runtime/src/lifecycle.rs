//! `start`, `state`, `kill`, `delete`: acting on a recorded container.

use crate::create::{destroy_cgroup, Global};
use crate::error::{bail, Context, Result};
use crate::hooks;
use crate::log;
use crate::state::{self, State, Status};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// Releases init from the exec fifo, then runs the poststart hooks.
pub fn start(g: &Global, id: &str) -> Result<State> {
    let st = state::load(&g.root, id)?;
    match st.status(&g.root) {
        Status::Created => {}
        s => bail!(
            "container {id} is {}: only a created container can be started",
            s.as_str()
        ),
    }
    let fifo_path = st.dir(&g.root).join(state::FIFO);
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo_path)
        .with_ctx(|| format!("container {id}: opening the exec fifo"))?;
    let mut reply = Vec::new();
    loop {
        let mut pfd = libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll of one pollfd we own, alive for the call.
        let n = unsafe { libc::poll(&mut pfd, 1, 100) };
        if n > 0 {
            let mut buf = [0u8; 4096];
            match fifo.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => reply.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => bail!("container {id}: reading the exec fifo: {e}"),
            }
            continue;
        }
        if !st.init_alive() {
            break;
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    if reply.is_empty() {
        bail!("container {id}: init exited before it could start");
    }
    if reply != b"0" {
        bail!("container {id}: {}", String::from_utf8_lossy(&reply));
    }
    if let Ok(spec) = st.spec(&g.root) {
        if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().as_deref()) {
            let s = st.oci_json(Status::Running).to_string();
            if let Err(e) = hooks::run_all("poststart", h, &s) {
                // As runc: the container does not stay half-started. It is killed and
                // removed (running the poststop hooks), and the failure is the error.
                let e = format!("container {id}: {e}");
                if let Err(k) = kill_and_wait(&st).and_then(|()| destroy(g, &st)) {
                    log::warn(&format!("container {id}: removing it: {k}"));
                }
                bail!("{e}");
            }
        }
    }
    Ok(st)
}

pub fn state_json(g: &Global, id: &str) -> Result<String> {
    let st = state::load(&g.root, id)?;
    let status = st.status(&g.root);
    Ok(serde_json::to_string_pretty(&st.oci_json(status)).expect("json"))
}

/// Sends `sig` to init (or, with `all`, to every process of the container's cgroup).
pub fn kill(g: &Global, id: &str, sig: i32, all: bool) -> Result<()> {
    let st = state::load(&g.root, id)?;
    let status = st.status(&g.root);
    if status == Status::Stopped && !all {
        bail!("container {id} is not running (stopped)");
    }
    if all {
        let sig = nix::sys::signal::Signal::try_from(sig)
            .with_ctx(|| format!("signal {sig} cannot be sent to all processes"))?;
        return st
            .cgroup()?
            .signal_all(sig)
            .map_err(|e| format!("container {id}: {e}").into());
    }
    // SAFETY: kill takes numbers; the pid is init's, found alive with its start time just before.
    if unsafe { libc::kill(st.pid, sig) } != 0 {
        bail!(
            "container {id}: kill pid {}: {}",
            st.pid,
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Waits until init is gone (reaped or a zombie), up to `limit`.
pub fn wait_stopped(st: &State, limit: Duration) -> bool {
    let t = Instant::now();
    let mut pause = Duration::from_micros(200);
    while st.init_alive() {
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    true
}

/// Removes a container: refuses a running one unless `force` (then kills it first).
pub fn delete(g: &Global, id: &str, force: bool) -> Result<()> {
    let st = match state::load(&g.root, id) {
        Ok(st) => st,
        Err(e) if force && !state::dir(&g.root, id).join(state::STATE_FILE).exists() => {
            // Half-created leftovers (no state file yet): remove what is there.
            let d = state::dir(&g.root, id);
            if d.exists() {
                std::fs::remove_dir_all(&d).with_ctx(|| format!("removing {}", d.display()))?;
            }
            // Like runc: forcing the removal of something already gone is not an error.
            let _ = e;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let status = st.status(&g.root);
    match status {
        // Without a PID namespace of its own, init's death took nothing with it: whatever
        // it left in the cgroup is killed, as runc does (a failure only warns, as there).
        Status::Stopped if !st.own_pid_ns => {
            if let Err(e) = st.cgroup()?.signal_all(nix::sys::signal::Signal::SIGKILL) {
                log::warn(&format!("container {id}: killing what is left: {e}"));
            }
        }
        Status::Stopped => {}
        Status::Created => kill_and_wait(&st)?,
        Status::Running | Status::Paused if force => kill_and_wait(&st)?,
        s => bail!(
            "container {id} is {}: stop it first or use delete --force",
            s.as_str()
        ),
    }
    destroy(g, &st)
}

fn kill_and_wait(st: &State) -> Result<()> {
    let cg = st.cgroup()?;
    if st.own_pid_ns {
        // SAFETY: kill takes numbers; the pid is init's, found alive with its start time just before.
        unsafe { libc::kill(st.pid, libc::SIGKILL) };
        // A frozen init cannot die until thawed.
        if cg.is_frozen().unwrap_or(false) {
            let _ = cg.thaw();
        }
    } else {
        cg.signal_all(nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| format!("container {}: {e}", st.id))?;
    }
    if !wait_stopped(st, Duration::from_secs(10)) {
        bail!(
            "container {}: init (pid {}) did not die after SIGKILL",
            st.id,
            st.pid
        );
    }
    Ok(())
}

/// Cgroup, state directory, then the poststop hooks.
pub fn destroy(g: &Global, st: &State) -> Result<()> {
    let spec = st.spec(&g.root).ok();
    let cg = st.cgroup()?;
    destroy_cgroup(&cg);
    let dir = st.dir(&g.root);
    std::fs::remove_dir_all(&dir).with_ctx(|| format!("removing {}", dir.display()))?;
    if let Some(h) = spec
        .as_ref()
        .and_then(|s| s.hooks().as_ref())
        .and_then(|h| h.poststop().as_deref())
    {
        // runc's hook state has no pid once the container stopped.
        let mut s = st.oci_json(Status::Stopped);
        if let Some(o) = s.as_object_mut() {
            o.remove("pid");
        }
        if let Err(e) = hooks::run_all("poststop", h, &s.to_string()) {
            log::warn(&format!("container {}: {e}", st.id));
        }
    }
    Ok(())
}
