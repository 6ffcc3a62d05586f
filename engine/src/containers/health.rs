//! Health checks, as dockerd runs them: a container whose `Healthcheck` has a test gets a
//! monitor task while it runs (not while paused) that, every `Interval`, runs the test as an
//! exec through the same path `docker exec` takes and records the result in the container's
//! `State.Health` (persisted with the record, so the checks resume after an engine restart).
//!
//! The rules (dockerd 20.10's): the first check runs one interval after the start; a check
//! that outlives `Timeout` is killed and counts as failed (exit code -1); failures inside
//! `StartPeriod` while still `starting` do not count; `Retries` failures in a row make the
//! container `unhealthy`, one success `healthy`; the log keeps the last five results with
//! their output capped at 4096 bytes. A `health_status: <status>` event goes out when the
//! status changes. Each start resets the status to `starting` and the streak to zero (the log
//! stays).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::container::{Config, Health, HealthConfig, HealthLog};
use berth_proto::v1;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};

use super::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::execs::Exec;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
/// The shortest interval, timeout, start period and start interval accepted (dockerd's).
const MINIMUM_NANOS: i64 = 1_000_000;
/// Results kept in `State.Health.Log`.
const MAX_LOG_ENTRIES: usize = 5;
/// Output kept per result; longer output is cut and ends with "...".
const MAX_OUTPUT_LEN: usize = 4096;
/// How long a killed check may take to be reaped before the monitor goes on without it.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Refuses what dockerd refuses in a healthcheck (400, with its messages).
pub fn validate(hc: &HealthConfig) -> Result<()> {
    for (name, nanos) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
        ("StartInterval", hc.start_interval),
    ] {
        if nanos != 0 && nanos < MINIMUM_NANOS {
            return Err(Error::invalid(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if hc.retries < 0 {
        return Err(Error::invalid("Retries in Healthcheck cannot be negative"));
    }
    Ok(())
}

/// The command a container's check runs, or None when it has no check (no healthcheck, an
/// empty test, `NONE`, or an unknown kind). `CMD-SHELL` runs in the container's shell
/// (`Config.Shell`, else `/bin/sh -c`).
pub fn command(config: &Config) -> Option<Vec<String>> {
    let test = config.healthcheck.as_ref()?.test.as_ref()?;
    let (kind, rest) = test.split_first()?;
    match kind.as_str() {
        "CMD" if !rest.is_empty() => Some(rest.to_vec()),
        "CMD-SHELL" if !rest.is_empty() => {
            let mut cmd = match &config.shell {
                Some(s) if !s.is_empty() => s.0.clone(),
                _ => vec!["/bin/sh".into(), "-c".into()],
            };
            cmd.extend(rest.iter().cloned());
            Some(cmd)
        }
        _ => None,
    }
}

fn or_default(nanos: i64, default: Duration) -> Duration {
    if nanos > 0 {
        Duration::from_nanos(nanos as u64)
    } else {
        default
    }
}

/// A healthcheck's timings with the defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: i64,
    pub start_period: Duration,
    /// The interval during the start period, when one is given.
    pub start_interval: Option<Duration>,
}

impl Timing {
    pub fn of(hc: &HealthConfig) -> Timing {
        Timing {
            interval: or_default(hc.interval, DEFAULT_INTERVAL),
            timeout: or_default(hc.timeout, DEFAULT_TIMEOUT),
            retries: if hc.retries > 0 {
                hc.retries
            } else {
                DEFAULT_RETRIES
            },
            start_period: or_default(hc.start_period, Duration::ZERO),
            start_interval: (hc.start_interval > 0)
                .then(|| Duration::from_nanos(hc.start_interval as u64)),
        }
    }

    /// The wait before the next check: the start interval while the container is still
    /// starting inside its start period, else the interval.
    pub fn next_wait(&self, status: &str, since_start: Duration) -> Duration {
        match self.start_interval {
            Some(si) if status == STARTING && since_start < self.start_period => si,
            _ => self.interval,
        }
    }
}

/// The health a start begins with: `starting`, no failures, the previous runs' log kept.
pub fn reset(previous: Option<Health>) -> Health {
    Health {
        status: STARTING.into(),
        failing_streak: 0,
        log: previous.map(|h| h.log).unwrap_or_default(),
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i64,
    pub output: String,
}

/// Records `o` in `h` for a run that started at `started_at`; returns the new status if it
/// changed.
pub fn apply(h: &mut Health, o: &Outcome, started_at: DateTime<Utc>, t: &Timing) -> Option<String> {
    let old = h.status.clone();
    h.log.push(HealthLog {
        start: crate::util::rfc3339_nano(&o.start),
        end: crate::util::rfc3339_nano(&o.end),
        exit_code: o.exit_code,
        output: o.output.clone(),
    });
    if h.log.len() > MAX_LOG_ENTRIES {
        let extra = h.log.len() - MAX_LOG_ENTRIES;
        h.log.drain(..extra);
    }
    if o.exit_code == 0 {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
    } else {
        let in_start_period = (o.start - started_at).to_std().unwrap_or_default() < t.start_period;
        if !(h.status == STARTING && in_start_period) {
            h.failing_streak += 1;
            if h.failing_streak >= t.retries {
                h.status = UNHEALTHY.into();
            }
        }
    }
    (h.status != old).then(|| h.status.clone())
}

/// Output as dockerd keeps it: the first 4096 bytes, then "..." if there was more.
#[derive(Default)]
struct CappedOutput {
    buf: Vec<u8>,
    truncated: bool,
}

impl CappedOutput {
    fn push(&mut self, data: &[u8]) {
        let room = MAX_OUTPUT_LEN - self.buf.len();
        if data.len() > room {
            self.truncated = true;
        }
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn text(self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// A running monitor: stopping it ends its task (and kills a check in progress).
struct Handle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The health monitors of running containers, by container id.
#[derive(Default)]
pub struct Monitors {
    by_id: Mutex<HashMap<String, Handle>>,
}

impl Monitors {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Handle>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the container's monitor, if it has one; a check in progress is killed in the
    /// background.
    pub fn stop(&self, container_id: &str) {
        if let Some(h) = self.map().remove(container_id) {
            h.stop.send_replace(true);
        }
    }

    /// Stops every monitor and waits (bounded) for checks in progress to be cleaned up.
    pub async fn stop_all(&self) {
        let handles: Vec<Handle> = self.map().drain().map(|(_, h)| h).collect();
        for h in &handles {
            h.stop.send_replace(true);
        }
        let all = futures::future::join_all(handles.into_iter().map(|h| h.task));
        let _ = tokio::time::timeout(KILL_GRACE, all).await;
    }
}

impl Engine {
    /// At a start (run `generation`): health back to `starting` and a monitor for the run,
    /// if the container has a check.
    pub(crate) fn health_on_start(self: &Arc<Self>, c: &Arc<Container>, generation: u64) {
        if c.with(|r| command(&r.config).is_none()) {
            return;
        }
        self.health_resume(c, generation);
    }

    /// Starts (or restarts) the monitor of run `generation` without touching the status:
    /// after an unpause, or for a container found running at engine start.
    pub(crate) fn health_resume(self: &Arc<Self>, c: &Arc<Container>, generation: u64) {
        if c.with(|r| command(&r.config).is_none() || r.health.is_none()) {
            return;
        }
        let (stop, rx) = watch::channel(false);
        let engine = self.clone();
        let task = tokio::spawn({
            let c = c.clone();
            async move { engine.health_monitor(c, generation, rx).await }
        });
        if let Some(old) = self
            .health
            .map()
            .insert(c.id.clone(), Handle { stop, task })
        {
            old.stop.send_replace(true);
        }
    }

    /// The monitor loop of one run: wait, check, record, until stopped.
    async fn health_monitor(
        self: Arc<Self>,
        c: Arc<Container>,
        generation: u64,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let (cmd, timing, status, started_at) = match c.with(|r| {
                let cmd = command(&r.config)?;
                let t = Timing::of(r.config.healthcheck.as_ref()?);
                let status = r.health.as_ref()?.status.clone();
                Some((cmd, t, status, r.state.started_at.unwrap_or_else(Utc::now)))
            }) {
                Some(x) => x,
                None => return,
            };
            let since = (Utc::now() - started_at).to_std().unwrap_or_default();
            let wait = timing.next_wait(&status, since);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            let start = Utc::now();
            // The exec in progress, so a stop can kill it.
            let current: Arc<Mutex<Option<Arc<Exec>>>> = Default::default();
            let check = self.health_check(&c, cmd, timing.timeout, current.clone());
            let outcome = tokio::select! {
                o = check => Some(o),
                _ = stop.wait_for(|s| *s) => None,
            };
            let Some(outcome) = outcome else {
                let e = current.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(e) = e {
                    self.health_kill(&e).await;
                }
                return;
            };
            let outcome = Outcome {
                start,
                end: outcome.end,
                exit_code: outcome.exit_code,
                output: outcome.output,
            };
            let changed = c.update(|r| {
                // A stop, pause or new run meanwhile: the result belongs to no one.
                if *stop.borrow()
                    || r.state.generation != generation
                    || !r.state.running
                    || r.state.paused
                {
                    return None;
                }
                let h = r.health.as_mut()?;
                apply(h, &outcome, started_at, &timing)
            });
            match changed {
                Ok(Some(status)) => {
                    self.container_event(&c, &format!("health_status: {status}"));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(container = %c.id, "recording a health check: {e}"),
            }
        }
    }

    /// Runs one check: an exec of `cmd` as `docker exec` would run it, its output captured;
    /// killed after `timeout`. A check that cannot run fails with its error as output.
    async fn health_check(
        self: &Arc<Self>,
        c: &Arc<Container>,
        cmd: Vec<String>,
        timeout: Duration,
        current: Arc<Mutex<Option<Arc<Exec>>>>,
    ) -> Outcome {
        let failed = |message: String| Outcome {
            start: Utc::now(),
            end: Utc::now(),
            exit_code: -1,
            output: message,
        };
        let req = berth_api::exec::CreateRequest {
            cmd: Some(cmd),
            attach_stdout: true,
            attach_stderr: true,
            ..Default::default()
        };
        let e = match self.exec_new(c, req) {
            Ok(e) => e,
            Err(err) => return failed(err.message),
        };
        self.exec_created_event(c, &e);
        *current.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
        let run = self.health_exec(&e);
        let outcome = match tokio::time::timeout(timeout, run).await {
            Ok(Ok((code, output))) => Outcome {
                start: Utc::now(),
                end: Utc::now(),
                exit_code: code,
                output,
            },
            Ok(Err(err)) => failed(err.message),
            Err(_) => {
                let end = Utc::now();
                self.health_kill(&e).await;
                Outcome {
                    start: end,
                    end,
                    exit_code: -1,
                    output: format!(
                        "Health check exceeded timeout ({})",
                        berth_gocompat::duration::format(timeout.as_nanos() as i64)
                    ),
                }
            }
        };
        current.lock().unwrap_or_else(|p| p.into_inner()).take();
        outcome
    }

    /// Adds, attaches and starts the check's exec; returns its exit code and output.
    async fn health_exec(self: &Arc<Self>, e: &Arc<Exec>) -> Result<(i64, String)> {
        self.exec_claim(e)?;
        self.exec_add(e).await?;
        let open = v1::AttachOpen {
            container_id: e.container_id.clone(),
            exec_id: e.id.clone(),
            stdin: false,
            stdout: true,
            stderr: true,
            logs: false,
        };
        // The request side stays open (held here) until the output ends.
        let (_keep, rx) = mpsc::channel::<v1::AttachRequest>(1);
        let attached = match super::attach::connect(&self.shimd, open, rx).await {
            Ok(a) => a,
            Err(err) => {
                self.exec_forget(e).await;
                e.finish(crate::execs::START_FAILED);
                return Err(err);
            }
        };
        self.exec_run(e).await?;
        let mut out = CappedOutput::default();
        let mut stream = attached.stream;
        let mut queue: std::collections::VecDeque<_> = attached.early.into();
        loop {
            let m = match queue.pop_front() {
                Some(m) => Some(m),
                None => stream.message().await.ok().flatten(),
            };
            let Some(kind) = m.and_then(|m| m.kind) else {
                break;
            };
            match kind {
                v1::attach_response::Kind::Stdout(d) | v1::attach_response::Kind::Stderr(d) => {
                    out.push(&d)
                }
                v1::attach_response::Kind::Exit(w) => {
                    e.finish(w.exit_status as i64);
                    break;
                }
                _ => {}
            }
        }
        self.exec_wait(e).await;
        let code = e.state().exit_code.unwrap_or(-1);
        Ok((code, out.text()))
    }

    /// Kills a check's exec and waits (bounded) until it is gone from shimd.
    async fn health_kill(&self, e: &Exec) {
        if e.state().running {
            let _ = self
                .shimd
                .tasks()
                .kill(v1::KillRequest {
                    container_id: e.container_id.clone(),
                    exec_id: e.id.clone(),
                    signal: libc::SIGKILL as u32,
                    all: false,
                })
                .await;
            let _ = tokio::time::timeout(KILL_GRACE, self.exec_wait(e)).await;
        }
        if e.state().exit_code.is_none() {
            // Never started, or stuck (a paused container): taken out of shimd here.
            self.exec_forget(e).await;
            e.finish(137);
        }
    }

    /// Stops every health monitor (engine shutdown); checks in progress are killed.
    pub async fn stop_health_checks(&self) {
        self.health.stop_all().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::strslice::StrSlice;

    fn config(test: &[&str]) -> Config {
        Config {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_command_follows_the_test_kind() {
        assert_eq!(
            command(&config(&["CMD", "true", "x"])),
            Some(vec!["true".to_string(), "x".into()])
        );
        assert_eq!(
            command(&config(&["CMD-SHELL", "test -f /x"])),
            Some(vec![
                "/bin/sh".to_string(),
                "-c".into(),
                "test -f /x".into()
            ])
        );
        let mut c = config(&["CMD-SHELL", "echo"]);
        c.shell = Some(StrSlice(vec!["/bin/bash".into(), "-ec".into()]));
        assert_eq!(
            command(&c),
            Some(vec!["/bin/bash".to_string(), "-ec".into(), "echo".into()])
        );
        assert_eq!(command(&config(&["NONE"])), None);
        assert_eq!(command(&config(&[])), None);
        assert_eq!(command(&config(&["CMD"])), None);
        assert_eq!(command(&config(&["WHAT", "x"])), None);
        assert_eq!(command(&Config::default()), None);
    }

    #[test]
    fn defaults_and_validation() {
        let t = Timing::of(&HealthConfig::default());
        assert_eq!(t.interval, Duration::from_secs(30));
        assert_eq!(t.timeout, Duration::from_secs(30));
        assert_eq!(t.retries, 3);
        assert_eq!(t.start_period, Duration::ZERO);
        assert_eq!(t.start_interval, None);
        assert!(validate(&HealthConfig::default()).is_ok());
        let bad = HealthConfig {
            interval: 999_999,
            ..Default::default()
        };
        assert_eq!(
            validate(&bad).unwrap_err().message,
            "Interval in Healthcheck cannot be less than 1ms"
        );
        let bad = HealthConfig {
            retries: -1,
            ..Default::default()
        };
        assert_eq!(
            validate(&bad).unwrap_err().message,
            "Retries in Healthcheck cannot be negative"
        );
        let ok = HealthConfig {
            interval: MINIMUM_NANOS,
            ..Default::default()
        };
        assert!(validate(&ok).is_ok());
    }

    #[test]
    fn the_start_interval_applies_while_starting_in_the_start_period() {
        let t = Timing::of(&HealthConfig {
            interval: 10_000_000_000,
            start_period: 5_000_000_000,
            start_interval: 1_000_000_000,
            ..Default::default()
        });
        assert_eq!(
            t.next_wait(STARTING, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            t.next_wait(STARTING, Duration::from_secs(6)),
            Duration::from_secs(10)
        );
        assert_eq!(
            t.next_wait(HEALTHY, Duration::from_secs(1)),
            Duration::from_secs(10)
        );
    }

    fn outcome(at: DateTime<Utc>, code: i64) -> Outcome {
        Outcome {
            start: at,
            end: at,
            exit_code: code,
            output: format!("code {code}"),
        }
    }

    #[test]
    fn results_move_the_status() {
        let t0 = Utc::now();
        let t = Timing::of(&HealthConfig {
            retries: 2,
            start_period: 10_000_000_000,
            ..Default::default()
        });
        let mut h = reset(None);
        // Failures inside the start period do not count.
        assert_eq!(apply(&mut h, &outcome(t0, 1), t0, &t), None);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        let late = t0 + chrono::Duration::seconds(11);
        assert_eq!(apply(&mut h, &outcome(late, 1), t0, &t), None);
        assert_eq!(h.failing_streak, 1);
        assert_eq!(
            apply(&mut h, &outcome(late, 1), t0, &t).as_deref(),
            Some(UNHEALTHY)
        );
        assert_eq!(apply(&mut h, &outcome(late, 1), t0, &t), None);
        assert_eq!(h.failing_streak, 3);
        assert_eq!(
            apply(&mut h, &outcome(late, 0), t0, &t).as_deref(),
            Some(HEALTHY)
        );
        assert_eq!(h.failing_streak, 0);
        // A success ends the start period: failures count from then on.
        let mut h = reset(Some(h));
        assert_eq!(
            h.log.len(),
            5,
            "the log is kept across starts, five at most"
        );
        assert_eq!(h.log[4].output, "code 0");
        apply(&mut h, &outcome(t0, 0), t0, &t);
        apply(&mut h, &outcome(t0, 1), t0, &t);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 1));
    }

    #[test]
    fn output_is_capped_as_dockerd_caps_it() {
        let mut o = CappedOutput::default();
        o.push(&[b'a'; 4000]);
        o.push(&[b'b'; 200]);
        let s = o.text();
        assert_eq!(s.len(), 4096 + 3);
        assert!(s.ends_with("bbb..."));
        let mut o = CappedOutput::default();
        o.push(b"ok\n");
        assert_eq!(o.text(), "ok\n");
    }
}
