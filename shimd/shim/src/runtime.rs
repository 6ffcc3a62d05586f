//! Running the OCI runtime binary (runc's command line: berth-runtime, runc, crun).
//!
//! Every command runs in the task directory (the bundle), logs to `runtime.log` in runc's
//! JSON format, and is waited for through the shim's one reaper. A failure is reported
//! with the runtime's own error message.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::reaper::{Capture, Reaper};

/// The runtime's log, in the task directory.
pub const RUNTIME_LOG: &str = "runtime.log";

/// How long one runtime command may take before it is killed.
const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Runtime {
    pub binary: String,
    /// Global options, e.g. `--root DIR`.
    pub options: Vec<String>,
}

/// The standard streams of a runtime command.
pub enum RunIo {
    /// stdin from /dev/null; stdout and stderr captured.
    Captured,
    /// The process's own streams (create and exec pass them on to the process); `peek` is
    /// our end of its stderr, read for an error message when the runtime fails.
    Process {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
        peek: Option<OwnedFd>,
    },
}

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("creating a pipe: {e}"))?;
    crate::process::set_nonblocking(&r).map_err(|e| format!("pipe: {e}"))?;
    Ok((r, w))
}

pub fn dev_null() -> Result<OwnedFd, String> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| format!("opening /dev/null: {e}"))
}

impl Runtime {
    /// Runs `<runtime> <options> --log runtime.log --log-format json <args>`; its stdout
    /// on success.
    pub fn run(&self, reaper: &mut Reaper, args: &[&str], io: RunIo) -> Result<Vec<u8>, String> {
        self.run_keeping_stderr(reaper, args, io)
            .map(|(out, _)| out)
    }

    /// Like `run`, also returning what was read from the process's stderr while the
    /// runtime ran (`RunIo::Process` with `peek`): a process that starts at once (exec)
    /// may write there before the runtime is done, and that output is the process's.
    pub fn run_keeping_stderr(
        &self,
        reaper: &mut Reaper,
        args: &[&str],
        io: RunIo,
    ) -> Result<(Vec<u8>, Vec<u8>), String> {
        let what = args.first().copied().unwrap_or("");
        let log_start = std::fs::metadata(RUNTIME_LOG).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.options)
            .args(["--log", RUNTIME_LOG, "--log-format", "json"])
            .args(args);
        let (mut out, mut err) = match io {
            RunIo::Captured => {
                let (or, ow) = pipe()?;
                let (er, ew) = pipe()?;
                cmd.stdin(Stdio::from(dev_null()?))
                    .stdout(Stdio::from(ow))
                    .stderr(Stdio::from(ew));
                (Some(Capture::new(or)), Some(Capture::new(er)))
            }
            RunIo::Process {
                stdin,
                stdout,
                stderr,
                peek,
            } => {
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
                (None, peek.map(Capture::new))
            }
        };
        // The runtime (and through it the container) must not inherit our blocked SIGCHLD.
        // SAFETY: between fork and exec the closure only fills a sigset_t on its own stack
        // (all zeros is a valid sigset_t) and calls sigemptyset and sigprocmask, which are
        // async-signal-safe; it allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(|| {
                let mut none: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut none);
                libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run the OCI runtime {:?}: {e}", self.binary))?;
        let pid = child.id() as i32;
        // The reaper collects it; `Child` must never wait (it would race the reaper).
        drop(child);
        // Our copies of the child's ends went with `cmd`.
        drop(cmd);
        let deadline = Instant::now() + TIMEOUT;
        let status = {
            let mut caps: Vec<&mut Capture> = out.iter_mut().chain(err.iter_mut()).collect();
            match reaper.wait_for(pid, deadline, &mut caps) {
                Some(s) => s,
                None => {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    let _ = reaper.wait_for(pid, Instant::now() + Duration::from_secs(5), &mut []);
                    return Err(format!(
                        "runtime {what} did not finish within {}s and was killed",
                        TIMEOUT.as_secs()
                    ));
                }
            }
        };
        if status == 0 {
            return Ok((
                out.map(|c| c.data).unwrap_or_default(),
                err.map(|c| c.data).unwrap_or_default(),
            ));
        }
        let msg = last_error_since(log_start)
            .or_else(|| {
                let text = String::from_utf8_lossy(&err.as_ref()?.data)
                    .trim()
                    .to_string();
                (!text.is_empty()).then_some(text)
            })
            .unwrap_or_else(|| format!("exit status {status}"));
        Err(format!("runtime {what} failed: {msg}"))
    }
}

/// The last error-level message the runtime logged after `offset`.
fn last_error_since(offset: u64) -> Option<String> {
    let text = std::fs::read(RUNTIME_LOG).ok()?;
    let text = String::from_utf8_lossy(text.get(offset as usize..)?).into_owned();
    text.lines()
        .rev()
        .filter(|l| {
            matches!(
                json_string_field(l, "level").as_deref(),
                Some("error" | "fatal")
            )
        })
        .find_map(|l| json_string_field(l, "msg"))
}

/// The value of a string field in a flat JSON object (enough for runc's log lines).
pub fn json_string_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":");
    let start = line.find(&pat)? + pat.len();
    let rest = line[start..].trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Parses `ps --format json` output: a JSON array of pids.
pub fn parse_pids(out: &[u8]) -> Result<Vec<u32>, String> {
    let text = String::from_utf8_lossy(out);
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("unexpected output of the runtime's ps: {:?}", text.trim()))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("unexpected pid {s:?} in the runtime's ps output"))
        })
        .collect()
}

/// A pid file the runtime wrote.
pub fn read_pid_file(name: &str) -> Result<u32, String> {
    let text = std::fs::read_to_string(name)
        .map_err(|e| format!("the runtime wrote no pid file {name}: {e}"))?;
    text.trim()
        .parse()
        .map_err(|_| format!("pid file {name} holds {:?}, not a pid", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_runc_log_lines() {
        let l = r#"{"level":"error","msg":"container \"x\" does not exist\n","time":"2024"}"#;
        assert_eq!(json_string_field(l, "level").as_deref(), Some("error"));
        assert_eq!(
            json_string_field(l, "msg").as_deref(),
            Some("container \"x\" does not exist\n")
        );
        assert_eq!(json_string_field(l, "nope"), None);
    }

    #[test]
    fn parses_ps_output() {
        assert_eq!(parse_pids(b"[1,22, 333]\n").unwrap(), vec![1, 22, 333]);
        assert_eq!(parse_pids(b"[]").unwrap(), Vec::<u32>::new());
        assert!(parse_pids(b"oops").is_err());
    }
}
