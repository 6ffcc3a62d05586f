//! OCI hooks: each runs with the container's state JSON on stdin, its own args and env,
//! and an optional timeout (seconds) after which it is killed.

use crate::error::{bail, Context, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run_all(kind: &str, hooks: &[Hook], state: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state).with_ctx(|| format!("{kind} hook #{i} ({})", h.path().display()))?;
    }
    Ok(())
}

/// The state a hook run by the container's init (createContainer, startContainer) gets:
/// `state` with `status`, and init's pid as init sees it (1 in its own PID namespace), as
/// runc gives it.
pub fn state_from_init(state: &str, status: &str) -> String {
    restate(state, status, std::process::id())
}

fn restate(state: &str, status: &str, pid: u32) -> String {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) if v.is_object() => {
            v["status"] = status.into();
            v["pid"] = pid.into();
            v.to_string()
        }
        _ => state.to_string(),
    }
}

fn run_one(h: &Hook, state: &str) -> Result<()> {
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((arg0, rest)) = args.split_first() {
            cmd.arg0(arg0).args(rest);
        }
    }
    cmd.env_clear();
    for e in h.env().as_deref().unwrap_or(&[]) {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().ctx("cannot start")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not make us fail.
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().ctx("waiting")? {
            break s;
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {}s", timeout.unwrap().as_secs());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(s)) => format!("was killed by signal {s}"),
            _ => "failed".to_string(),
        };
        let err = err.trim();
        if err.is_empty() {
            bail!("{how}");
        }
        bail!("{how}: {err}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hooks_run_in_order_with_state_on_stdin_args_and_env() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let o = out.to_str().unwrap();
        let script = format!("echo \"$0 $1 $WHO $(cat)\" >> {o}");
        let hooks = [
            hook(
                json!({"path": "/bin/sh", "args": ["first", "-c", script, "x", "1"], "env": ["WHO=a"]}),
            ),
            hook(
                json!({"path": "/bin/sh", "args": ["second", "-c", script, "y", "2"], "env": ["WHO=b"]}),
            ),
        ];
        run_all("prestart", &hooks, "{\"id\":\"c\"}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "x 1 a {\"id\":\"c\"}\ny 2 b {\"id\":\"c\"}\n"
        );
    }

    #[test]
    fn a_failing_hook_stops_the_rest_and_says_which_and_why() {
        let d = tempfile::tempdir().unwrap();
        let never = d.path().join("never");
        let hooks = [
            hook(json!({"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 3"]})),
            hook(
                json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", never.display())]}),
            ),
        ];
        let e = run_all("createRuntime", &hooks, "{}").unwrap_err();
        assert_eq!(
            e.0,
            "createRuntime hook #0 (/bin/sh): exited with status 3: broken"
        );
        assert!(!never.exists());
        let e = run_all(
            "poststop",
            &[hook(json!({"path": "/nonexistent/hook"}))],
            "{}",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("poststop hook #0 (/nonexistent/hook): cannot start: "),
            "{e}"
        );
    }

    #[test]
    fn hooks_of_init_see_its_own_pid_and_the_given_status() {
        let st = r#"{"id":"c","pid":4321,"status":"created","bundle":"/b"}"#;
        let v: serde_json::Value = serde_json::from_str(&restate(st, "creating", 1)).unwrap();
        assert_eq!(
            v,
            json!({"id": "c", "pid": 1, "status": "creating", "bundle": "/b"})
        );
        // not a state document: passed on as it is
        assert_eq!(restate("", "created", 1), "");
    }

    #[test]
    fn a_hook_past_its_timeout_is_killed() {
        let h =
            hook(json!({"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 30"], "timeout": 1}));
        let t = Instant::now();
        let e = run_all("poststart", &[h], "{}").unwrap_err();
        assert_eq!(e.0, "poststart hook #0 (/bin/sh): timed out after 1s");
        assert!(t.elapsed() < Duration::from_secs(20));
    }
}
