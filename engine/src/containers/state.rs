//! A container's run state: one status (docker's `State.Status`) that changes only through
//! checked transitions, with what inspect reports (`State.Running`, `Paused`, `Restarting`,
//! `Dead`, ...) derived from it.
//!
//! | transition          | from                                  | to                      |
//! |---------------------|---------------------------------------|-------------------------|
//! | `start`             | created, exited, restarting, dead     | running                 |
//! | `exit`              | running, paused                       | exited                  |
//! | `pause`             | running                               | paused                  |
//! | `unpause`           | paused                                | running                 |
//! | `begin_restart`     | exited, restarting                    | restarting              |
//! | `cancel_restart`    | restarting                            | exited                  |
//! | `begin_removal`     | all but removing                      | removing                |
//! | `abort_removal`     | removing                              | the status before it    |
//! | `mark_dead`         | removing                              | dead                    |
//!
//! A removal keeps the status it began in: inspect still reports a container being
//! removed as running (or paused, restarting, dead) until it is, and `exit` and `unpause`
//! during the removal (the removal's kill) change that status, not the removal.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The lifecycle states docker reports in `State.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition the current status does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub action: &'static str,
    pub from: Status,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} a container that is {}",
            self.action, self.from
        )
    }
}

impl std::error::Error for Refused {}

impl From<Refused> for crate::error::Error {
    fn from(r: Refused) -> Self {
        crate::error::Error::conflict(r.to_string())
    }
}

/// The booleans inspect reports, derived from the status. [`RunState`] dereferences to
/// them read-only, so they change only through its transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// From a start until the exit is recorded (also while paused).
    pub running: bool,
    pub paused: bool,
    /// Waiting out the restart policy's delay before the next start.
    pub restarting: bool,
    pub removing: bool,
    pub dead: bool,
}

const fn flags(run: Status, removing: bool) -> Flags {
    Flags {
        running: matches!(run, Status::Running | Status::Paused),
        paused: matches!(run, Status::Paused),
        restarting: matches!(run, Status::Restarting),
        removing,
        dead: matches!(run, Status::Dead),
    }
}

const fn flag_row(run: Status) -> [Flags; 2] {
    [flags(run, false), flags(run, true)]
}

/// By status (outside a removal, or the one a removal began in), then by removal.
static FLAGS: [[Flags; 2]; 7] = [
    flag_row(Status::Created),
    flag_row(Status::Running),
    flag_row(Status::Paused),
    flag_row(Status::Restarting),
    flag_row(Status::Removing),
    flag_row(Status::Exited),
    flag_row(Status::Dead),
];

/// The run state, persisted with the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Persisted", into = "Persisted")]
pub struct RunState {
    status: Status,
    /// While `Removing`: the status the removal began in (what the flags report meanwhile).
    removing_from: Status,
    pub oom_killed: bool,
    pub pid: u32,
    pub exit_code: i64,
    pub error: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Stopped by the user (stop, kill): restart policies leave it alone.
    pub manually_stopped: bool,
    /// Increments on every start; tells one run's exit from the next.
    pub generation: u64,
}

impl std::ops::Deref for RunState {
    type Target = Flags;

    fn deref(&self) -> &Flags {
        &FLAGS[self.run_status() as usize][(self.status == Status::Removing) as usize]
    }
}

impl RunState {
    pub fn status(&self) -> Status {
        self.status
    }

    /// The status apart from a removal in progress.
    fn run_status(&self) -> Status {
        if self.status == Status::Removing {
            self.removing_from
        } else {
            self.status
        }
    }

    /// The status a run's changes apply to: the one a removal began in during a removal.
    fn run_status_mut(&mut self) -> &mut Status {
        if self.status == Status::Removing {
            &mut self.removing_from
        } else {
            &mut self.status
        }
    }

    fn refuse<T>(&self, action: &'static str) -> Result<T, Refused> {
        Err(Refused {
            action,
            from: self.status,
        })
    }

    /// A run began at `at` with `pid` as its init; returns the run's generation.
    pub fn start(&mut self, pid: u32, at: DateTime<Utc>) -> Result<u64, Refused> {
        use Status::*;
        if !matches!(self.status, Created | Exited | Restarting | Dead) {
            return self.refuse("start");
        }
        self.status = Running;
        self.oom_killed = false;
        self.pid = pid;
        self.exit_code = 0;
        self.error.clear();
        self.started_at = Some(at);
        self.manually_stopped = false;
        self.generation += 1;
        Ok(self.generation)
    }

    /// The run ended at `at` with `code`; during a removal the container stays removing.
    pub fn exit(&mut self, code: i64, at: DateTime<Utc>, oom_killed: bool) -> Result<(), Refused> {
        let run = self.run_status_mut();
        if !matches!(*run, Status::Running | Status::Paused) {
            return self.refuse("record the exit of");
        }
        *run = Status::Exited;
        self.pid = 0;
        self.exit_code = code;
        self.oom_killed = oom_killed;
        self.finished_at = Some(at);
        Ok(())
    }

    /// A start that failed before the container ran: its code and error are reported; the
    /// status stays.
    pub fn record_start_failure(&mut self, code: i64, error: String) {
        self.exit_code = code;
        self.error = error;
    }

    pub fn pause(&mut self) -> Result<(), Refused> {
        if self.status != Status::Running {
            return self.refuse("pause");
        }
        self.status = Status::Paused;
        Ok(())
    }

    /// Also during a removal, whose kill resumes a paused container.
    pub fn unpause(&mut self) -> Result<(), Refused> {
        let run = self.run_status_mut();
        if *run != Status::Paused {
            return self.refuse("unpause");
        }
        *run = Status::Running;
        Ok(())
    }

    /// Waiting for the restart policy's next start.
    pub fn begin_restart(&mut self) -> Result<(), Refused> {
        if !matches!(self.status, Status::Exited | Status::Restarting) {
            return self.refuse("restart");
        }
        self.status = Status::Restarting;
        Ok(())
    }

    /// The pending restart is off (stopped, or the start failed).
    pub fn cancel_restart(&mut self) -> Result<(), Refused> {
        if self.status != Status::Restarting {
            return self.refuse("cancel the restart of");
        }
        self.status = Status::Exited;
        Ok(())
    }

    pub fn begin_removal(&mut self) -> Result<(), Refused> {
        if self.status == Status::Removing {
            return self.refuse("remove");
        }
        self.removing_from = self.status;
        self.status = Status::Removing;
        Ok(())
    }

    /// The removal stopped half-way: back to the status it began in (as changed meanwhile).
    pub fn abort_removal(&mut self) -> Result<(), Refused> {
        if self.status != Status::Removing {
            return self.refuse("abort the removal of");
        }
        self.status = std::mem::take(&mut self.removing_from);
        Ok(())
    }

    /// The removal failed and cannot be undone.
    pub fn mark_dead(&mut self) -> Result<(), Refused> {
        if self.status != Status::Removing {
            return self.refuse("mark dead");
        }
        self.status = Status::Dead;
        self.removing_from = Status::Created;
        Ok(())
    }
}

/// The run state on disk. This version writes `status` (and `removing_from` during a
/// removal) and reads it first; records of earlier versions have only the booleans, read
/// as those versions read them. The booleans are still written, so an earlier engine
/// reads the record too.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Persisted {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    removing_from: Option<Status>,
    running: bool,
    paused: bool,
    restarting: bool,
    removing: bool,
    dead: bool,
    oom_killed: bool,
    pid: u32,
    exit_code: i64,
    error: String,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    manually_stopped: bool,
    generation: u64,
}

impl Persisted {
    /// The status, a removal aside, as earlier versions derived it from the booleans.
    fn status_from_booleans(&self) -> Status {
        if self.dead {
            Status::Dead
        } else if self.restarting {
            Status::Restarting
        } else if self.running && self.paused {
            Status::Paused
        } else if self.running {
            Status::Running
        } else if self.started_at.is_some() || self.finished_at.is_some() {
            Status::Exited
        } else {
            Status::Created
        }
    }
}

impl From<Persisted> for RunState {
    fn from(p: Persisted) -> Self {
        let (status, removing_from) = match p.status {
            Some(Status::Removing) => (
                Status::Removing,
                p.removing_from
                    .filter(|s| *s != Status::Removing)
                    .unwrap_or_else(|| p.status_from_booleans()),
            ),
            Some(s) => (s, Status::Created),
            None if p.removing => (Status::Removing, p.status_from_booleans()),
            None => (p.status_from_booleans(), Status::Created),
        };
        RunState {
            status,
            removing_from,
            oom_killed: p.oom_killed,
            pid: p.pid,
            exit_code: p.exit_code,
            error: p.error,
            started_at: p.started_at,
            finished_at: p.finished_at,
            manually_stopped: p.manually_stopped,
            generation: p.generation,
        }
    }
}

impl From<RunState> for Persisted {
    fn from(s: RunState) -> Self {
        let f = *s;
        Persisted {
            status: Some(s.status),
            removing_from: (s.status == Status::Removing).then_some(s.removing_from),
            running: f.running,
            paused: f.paused,
            restarting: f.restarting,
            removing: f.removing,
            dead: f.dead,
            oom_killed: s.oom_killed,
            pid: s.pid,
            exit_code: s.exit_code,
            error: s.error,
            started_at: s.started_at,
            finished_at: s.finished_at,
            manually_stopped: s.manually_stopped,
            generation: s.generation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Transition = fn(&mut RunState) -> Result<(), Refused>;

    const ALL: [Status; 7] = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Restarting,
        Status::Removing,
        Status::Exited,
        Status::Dead,
    ];

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    /// A state in `status`, reached through the transitions.
    fn in_status(status: Status) -> RunState {
        let mut s = RunState::default();
        let ran = |s: &mut RunState| {
            s.start(7, at(0)).unwrap();
        };
        match status {
            Status::Created => {}
            Status::Running => ran(&mut s),
            Status::Paused => {
                ran(&mut s);
                s.pause().unwrap();
            }
            Status::Exited => {
                ran(&mut s);
                s.exit(1, at(1), false).unwrap();
            }
            Status::Restarting => {
                ran(&mut s);
                s.exit(1, at(1), false).unwrap();
                s.begin_restart().unwrap();
            }
            Status::Removing => s.begin_removal().unwrap(),
            Status::Dead => {
                s.begin_removal().unwrap();
                s.mark_dead().unwrap();
            }
        }
        assert_eq!(s.status(), status);
        s
    }

    #[test]
    fn transition_table() {
        use Status::*;
        let table: [(&str, Transition, &[Status], Status); 8] = [
            (
                "start",
                |s| s.start(9, at(5)).map(drop),
                &[Created, Exited, Restarting, Dead],
                Running,
            ),
            (
                "exit",
                |s| s.exit(2, at(6), false),
                &[Running, Paused],
                Exited,
            ),
            ("pause", RunState::pause, &[Running], Paused),
            ("unpause", RunState::unpause, &[Paused], Running),
            (
                "begin_restart",
                RunState::begin_restart,
                &[Exited, Restarting],
                Restarting,
            ),
            (
                "cancel_restart",
                RunState::cancel_restart,
                &[Restarting],
                Exited,
            ),
            (
                "begin_removal",
                RunState::begin_removal,
                &[Created, Running, Paused, Restarting, Exited, Dead],
                Removing,
            ),
            ("mark_dead", RunState::mark_dead, &[Removing], Dead),
        ];
        for (name, transition, allowed, to) in table {
            for from in ALL {
                let mut s = in_status(from);
                let before = s.clone();
                let r = transition(&mut s);
                if allowed.contains(&from) {
                    assert_eq!(r, Ok(()), "{name} from {from}");
                    assert_eq!(s.status(), to, "{name} from {from}");
                } else {
                    match r {
                        Err(e) => assert_eq!(e.from, from, "{name} from {from}"),
                        Ok(()) => panic!("{name} from {from} is not refused"),
                    }
                    assert_eq!(s, before, "a refused {name} from {from} changes nothing");
                }
            }
        }
    }

    #[test]
    fn abort_removal_returns_to_the_status_before() {
        for from in ALL {
            let mut s = in_status(from);
            if from == Status::Removing {
                // From removing, it ends the removal: back to created.
                s.abort_removal().unwrap();
                assert_eq!(s.status(), Status::Created);
                assert!(s.abort_removal().is_err());
                continue;
            }
            assert!(s.abort_removal().is_err(), "abort_removal from {from}");
            let before = *s;
            s.begin_removal().unwrap();
            assert_eq!(
                *s,
                Flags {
                    removing: true,
                    ..before
                },
                "a removal keeps what a {from} container reports"
            );
            s.abort_removal().unwrap();
            assert_eq!(s.status(), from);
        }
    }

    #[test]
    fn a_run_ending_during_its_removal_stays_removing() {
        let mut s = in_status(Status::Paused);
        s.begin_removal().unwrap();
        assert!(s.running && s.paused && s.removing);
        // The removal's kill resumes it, then it exits.
        s.unpause().unwrap();
        assert!(s.running && !s.paused);
        s.exit(137, at(9), false).unwrap();
        assert_eq!(s.status(), Status::Removing);
        assert!(!s.running && s.removing);
        assert_eq!((s.pid, s.exit_code), (0, 137));
        assert!(s.exit(137, at(9), false).is_err(), "one exit per run");
        s.abort_removal().unwrap();
        assert_eq!(s.status(), Status::Exited);
    }

    #[test]
    fn start_and_exit_record_the_run() {
        let mut s = in_status(Status::Exited);
        s.oom_killed = true;
        s.error = "boom".into();
        s.manually_stopped = true;
        assert_eq!(s.start(42, at(10)), Ok(2));
        assert_eq!(s.pid, 42);
        assert_eq!(s.exit_code, 0);
        assert!(!s.oom_killed && s.error.is_empty() && !s.manually_stopped);
        assert_eq!(s.started_at, Some(at(10)));
        s.exit(137, at(20), true).unwrap();
        assert_eq!((s.pid, s.exit_code, s.oom_killed), (0, 137, true));
        assert_eq!(s.finished_at, Some(at(20)));
        assert_eq!(s.started_at, Some(at(10)));
    }

    #[test]
    fn flags_follow_the_status() {
        let f = |r, p, rs, rm, d| Flags {
            running: r,
            paused: p,
            restarting: rs,
            removing: rm,
            dead: d,
        };
        let expected = [
            (Status::Created, f(false, false, false, false, false)),
            (Status::Running, f(true, false, false, false, false)),
            (Status::Paused, f(true, true, false, false, false)),
            (Status::Restarting, f(false, false, true, false, false)),
            (Status::Removing, f(false, false, false, true, false)),
            (Status::Exited, f(false, false, false, false, false)),
            (Status::Dead, f(false, false, false, false, true)),
        ];
        for (status, flags) in expected {
            assert_eq!(*in_status(status), flags, "{status}");
        }
    }

    /// Records written by the version that kept the booleans load into the status.
    #[test]
    fn loads_the_boolean_form() {
        let load = |json: &str| serde_json::from_str::<RunState>(json).unwrap();
        let running = load(
            r#"{"running":true,"paused":false,"restarting":false,"removing":false,"dead":false,
                "oom_killed":false,"pid":4242,"exit_code":0,"error":"",
                "started_at":"2026-12-01T10:00:00.123456789Z","finished_at":null,
                "manually_stopped":false,"generation":3}"#,
        );
        assert_eq!(running.status(), Status::Running);
        assert!(running.running && !running.paused);
        assert_eq!((running.pid, running.generation), (4242, 3));
        assert_eq!(
            running.started_at.unwrap().to_rfc3339(),
            "2026-12-01T10:00:00.123456789+00:00"
        );

        let paused =
            load(r#"{"running":true,"paused":true,"pid":5,"started_at":"2026-12-01T10:00:00Z"}"#);
        assert_eq!(paused.status(), Status::Paused);
        assert!(paused.running && paused.paused);

        let exited = load(
            r#"{"running":false,"exit_code":137,"oom_killed":true,
                "started_at":"2026-12-01T10:00:00Z","finished_at":"2026-12-01T10:05:00Z"}"#,
        );
        assert_eq!(exited.status(), Status::Exited);
        assert_eq!((exited.exit_code, exited.oom_killed), (137, true));

        let failed_start =
            load(r#"{"exit_code":127,"error":"exec: \"nope\": executable file not found"}"#);
        assert_eq!(failed_start.status(), Status::Created);
        assert_eq!(failed_start.exit_code, 127);

        assert_eq!(load("{}").status(), Status::Created);
        let restarting = load(
            r#"{"restarting":true,"exit_code":1,"started_at":"2026-12-01T10:00:00Z","finished_at":"2026-12-01T10:00:01Z"}"#,
        );
        assert_eq!(restarting.status(), Status::Restarting);
        assert!(restarting.restarting && !restarting.running);
        let dead =
            load(r#"{"dead":true,"error":"removing: busy","started_at":"2026-12-01T10:00:00Z"}"#);
        assert_eq!(dead.status(), Status::Dead);
        assert!(dead.dead);

        // A removal interrupted while the container ran: it still reports running, and
        // ends in the status it began in.
        let mut removing =
            load(r#"{"running":true,"removing":true,"pid":9,"started_at":"2026-12-01T10:00:00Z"}"#);
        assert_eq!(removing.status(), Status::Removing);
        assert!(removing.running && removing.removing);
        removing.abort_removal().unwrap();
        assert_eq!(removing.status(), Status::Running);
    }

    /// A whole record of the earlier version, as it was on disk.
    #[test]
    fn loads_an_earlier_record() {
        let rec: crate::containers::model::Record = serde_json::from_str(
            r#"{"id":"0123abcd","name":"/web","created":"2026-12-01T09:59:59Z",
                "state":{"running":true,"paused":true,"restarting":false,"removing":false,
                         "dead":false,"oom_killed":false,"pid":31337,"exit_code":0,"error":"",
                         "started_at":"2026-12-01T10:00:00Z","finished_at":null,
                         "manually_stopped":false,"generation":1},
                "restart_count":0,"runtime":"berth-runtime"}"#,
        )
        .unwrap();
        assert_eq!(rec.state.status(), Status::Paused);
        assert_eq!(rec.state.pid, 31337);
    }

    #[test]
    fn writes_the_status_and_reads_it_back() {
        for status in ALL {
            let mut s = in_status(status);
            if status == Status::Removing {
                s = in_status(Status::Paused);
                s.begin_removal().unwrap();
            }
            let json = serde_json::to_value(&s).unwrap();
            assert_eq!(json["status"], status.as_str());
            // The booleans too, for an earlier engine.
            assert_eq!(json["running"], s.running);
            assert_eq!(json["removing"], s.removing);
            let back: RunState = serde_json::from_value(json).unwrap();
            assert_eq!(back, s);
        }
        let mut s = in_status(Status::Running);
        s.begin_removal().unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["removing_from"], "running");
    }
}
