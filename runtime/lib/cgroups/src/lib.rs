//! A container's cgroup: created and limited before the container runs anything, frozen and
//! thawed, read for stats, emptied and removed on delete. Works on cgroup v1 (including the
//! hybrid layout where cgroup2 holds only a few controllers) and on pure cgroup v2, writing
//! cgroupfs directly.
//!
//! ```no_run
//! # fn main() -> berth_cgroups::Result<()> {
//! use std::path::Path;
//! let cg = berth_cgroups::Cgroup::new(Some(Path::new("/mygroup/c1")), "c1")?;
//! cg.create(1234, None)?; // creates the directories and moves pid 1234 in
//! let usage = cg.stats()?.memory.usage.usage;
//! cg.signal_all(nix::sys::signal::Signal::SIGKILL)?;
//! cg.destroy()?;
//! # let _ = usage; Ok(()) }
//! ```

mod controllers;
mod dirs;
mod error;
mod fsio;
mod layout;
mod placement;
mod plan;
pub mod stats;
#[cfg(test)]
mod v2_host_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxResources;

use controllers::{cpu, cpuset, freezer, At};
use error::{FResult, Fault};
use layout::Layout;
use placement::{OwnCgroups, Placement};

pub use error::{Error, Result};
pub use layout::Mode;
pub use placement::DEFAULT_PARENT;
pub use stats::Stats;

/// How the host mounts cgroups (detected once per process, from one read of mountinfo).
pub fn host_mode() -> Result<Mode> {
    Layout::host()
        .map(|l| l.mode)
        .map_err(|f| f.at(Path::new("/")))
}

/// A container's cgroup, named by the OCI `linux.cgroupsPath` (or a default from the id).
///
/// It serializes (serde) so a runtime can keep it in its state and a later process can
/// remove exactly what `create` made, including parents.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    path: PathBuf,
    place: Placement,
    /// The path is `/berth/<name>` (the default): `/berth` belongs to berth and goes away
    /// with its last container.
    #[serde(default)]
    default_parent: bool,
    /// Directories `create` made (parents included), outermost first.
    #[serde(default)]
    created: Mutex<Vec<PathBuf>>,
}

impl Clone for Cgroup {
    fn clone(&self) -> Cgroup {
        Cgroup {
            path: self.path.clone(),
            place: self.place.clone(),
            default_parent: self.default_parent,
            created: Mutex::new(
                self.created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            ),
        }
    }
}

/// How long `destroy` waits for exiting processes to leave the cgroup.
const REMOVE_PATIENCE: Duration = Duration::from_secs(2);

impl Cgroup {
    /// The cgroup for `cgroups_path` (absolute: from each hierarchy's root; relative: under
    /// the calling process's own cgroup; None: `/berth/<id>`). Nothing is created yet.
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        let shown =
            cgroups_path.map_or_else(|| Path::new(DEFAULT_PARENT).join(id), |p| p.to_path_buf());
        let path = placement::requested_path(cgroups_path, id).map_err(|f| f.at(&shown))?;
        let layout = Layout::host().map_err(|f| f.at(&path))?;
        let place = Placement::resolve(layout, &path, OwnCgroups::read).map_err(|f| f.at(&path))?;
        Ok(Cgroup {
            default_parent: path.parent() == Some(Path::new(DEFAULT_PARENT)),
            path,
            place,
            created: Mutex::new(Vec::new()),
        })
    }

    /// The cgroups path (normalized): absolute from each hierarchy root, or relative to the
    /// creating process's cgroups.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The host's cgroup mode this cgroup was placed on.
    pub fn mode(&self) -> Mode {
        self.place.mode
    }

    /// The directory in each hierarchy, keyed like runc's `cgroup_paths`: v1 controller
    /// names, and "" for the cgroup2 directory.
    pub fn dirs(&self) -> BTreeMap<String, PathBuf> {
        let mut out: BTreeMap<String, PathBuf> = self
            .place
            .v1
            .iter()
            .map(|(c, d)| (c.clone(), d.path.clone()))
            .collect();
        if let Some(v2) = &self.place.v2 {
            out.insert(String::new(), v2.path.clone());
        }
        out
    }

    /// True once the cgroup exists.
    pub fn exists(&self) -> bool {
        self.primary().path.is_dir()
    }

    /// Creates the cgroup, applies the limits and moves `pid` into it (pid 0: none). Every limit is
    /// checked against the host before anything is made; if a limit cannot be applied the
    /// directories made so far are removed again. If moving `pid` fails, the caller should
    /// kill it and call `destroy`.
    pub fn create(&self, pid: i32, resources: Option<&LinuxResources>) -> Result<()> {
        let none = LinuxResources::default();
        let res = resources.unwrap_or(&none);
        let at = |f: Fault| f.at(&self.path);
        let steps = plan::plan(self, res).map_err(at)?;
        let wanted_v2 = plan::wanted_v2(self, &steps, res);
        let mut created = Vec::new();
        let made = self
            .make_dirs(&mut created, &wanted_v2)
            .and_then(|()| self.refuse_if_in_use(&created))
            .and_then(|()| self.refuse_if_frozen())
            .and_then(|()| plan::execute(&steps, false));
        if let Err(f) = made {
            for d in created.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            return Err(at(f));
        }
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(created);
        if pid == 0 {
            // Only create and limit: the process joins later (`join_self`, `add_process`).
            return Ok(());
        }
        self.add_process(pid)
    }

    /// Moves the calling process, which must be single-threaded, into the cgroup. On v1
    /// hierarchies this writes "0" to `tasks`: the kernel moves a lone calling thread without
    /// taking the global migration lock, whose first writer otherwise waits a whole RCU grace
    /// period (6-17 ms measured on a hybrid host). cgroup2 has no such path: `cgroup.procs`.
    /// So on a hybrid host the cgroup2 directory, which only holds the few controllers v1
    /// lacks (hugetlb), is joined only when one of its limits is set.
    pub fn join_self(&self) -> Result<()> {
        for dir in self.place.dirs() {
            if self.optional_v2(dir) && (!dir.path.is_dir() || !has_limit(&dir.path)) {
                continue;
            }
            let file = if self.place.v1.values().any(|d| d == dir) {
                "tasks"
            } else {
                "cgroup.procs"
            };
            fsio::write(&dir.path, file, "0").map_err(|f| f.at(&self.path))?;
        }
        Ok(())
    }

    /// Changes the limits of an existing cgroup (`update`). Only the fields present in
    /// `resources` change.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let at = |f: Fault| f.at(&self.path);
        if !self.exists() {
            return Err(at(Fault::invalid("the cgroup does not exist")));
        }
        let steps = plan::plan(self, resources).map_err(at)?;
        if let Some(v2) = &self.place.v2 {
            let wanted = plan::wanted_v2(self, &steps, resources);
            if self.optional_v2(v2) && !wanted.is_empty() {
                // A hybrid host's cgroup2 directory is joined only when it has limits
                // (`join_self`): bring the processes along now that it gets some.
                self.join_v2_now(v2).map_err(at)?;
            }
            if v2.path.is_dir() {
                dirs::enable_v2_controllers(&v2.mount, &v2.path, &wanted).map_err(at)?;
            }
        }
        plan::execute(&steps, true).map_err(at)
    }

    /// Makes the cgroup2 directory if needed and moves every process of the cgroup in.
    fn join_v2_now(&self, v2: &placement::Dir) -> FResult<()> {
        let mut created = Vec::new();
        dirs::make(&v2.mount, &v2.path, &mut created, &|_| Ok(()))?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(created);
        let mut pids = Vec::new();
        dirs::procs_recursive(&self.primary().path, &mut pids)?;
        for pid in pids {
            match fsio::write(&v2.path, "cgroup.procs", &pid.to_string()) {
                Err(f) if f.errno() == Some(libc::ESRCH) => {} // exited meanwhile
                r => r?,
            }
        }
        Ok(())
    }

    /// Adds a process (exec) to the cgroup, in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        for dir in self.place.dirs() {
            if self.optional_v2(dir) && !dir.path.is_dir() {
                continue;
            }
            fsio::write(&dir.path, "cgroup.procs", &pid.to_string())
                .map_err(|f| f.at(&self.path))?;
        }
        Ok(())
    }

    /// Stops every process of the cgroup (and its sub-cgroups); returns once all are frozen.
    pub fn freeze(&self) -> Result<()> {
        let at = self.freezer().map_err(|f| f.at(&self.path))?;
        freezer::freeze(at).map_err(|f| f.at(&self.path))
    }

    pub fn thaw(&self) -> Result<()> {
        let at = self.freezer().map_err(|f| f.at(&self.path))?;
        freezer::thaw(at).map_err(|f| f.at(&self.path))
    }

    pub fn is_frozen(&self) -> Result<bool> {
        let at = self.freezer().map_err(|f| f.at(&self.path))?;
        freezer::is_frozen(at).map_err(|f| f.at(&self.path))
    }

    /// Every pid in the cgroup and its descendants, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = &self.primary().path;
        if !dir.is_dir() {
            return Err(Fault::io(
                "reading",
                &dir.join("cgroup.procs"),
                std::io::ErrorKind::NotFound.into(),
            )
            .at(&self.path));
        }
        let mut pids = Vec::new();
        dirs::procs_recursive(dir, &mut pids).map_err(|f| f.at(&self.path))?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Resource usage of the cgroup; controllers the host lacks are left at their defaults.
    pub fn stats(&self) -> Result<Stats> {
        let at = |f: Fault| f.at(&self.path);
        if !self.exists() {
            return Err(at(Fault::io(
                "reading",
                &self.primary().path,
                std::io::ErrorKind::NotFound.into(),
            )));
        }
        let mut s = Stats::default();
        let (cpu_at, acct_at) = match self.place.v1.get("cpuacct") {
            Some(acct) => (self.locate("cpu").ok(), Some(At::V1(&acct.path))),
            // cgroup v2: cpu.stat is a core file, present with or without the controller
            None => match &self.place.v2 {
                Some(v2) => (Some(At::V2(&v2.path)), None),
                None => (self.locate("cpu").ok(), None),
            },
        };
        skip_missing(cpu::stats(cpu_at, acct_at, &mut s.cpu)).map_err(at)?;
        if let Ok(a) = self.locate("memory") {
            skip_missing(controllers::memory::stats(a, &mut s.memory)).map_err(at)?;
        }
        if let Ok(a) = self.locate("pids") {
            skip_missing(controllers::pids::stats(a, &mut s.pids)).map_err(at)?;
        }
        if let Ok(a) = self.locate("blkio") {
            skip_missing(controllers::blkio::stats(a, &mut s.blkio)).map_err(at)?;
        }
        if let Ok(a) = self.locate("hugetlb") {
            skip_missing(controllers::hugetlb::stats(a, &mut s.hugetlb)).map_err(at)?;
        }
        if let Ok(a) = self.locate("cpuset") {
            skip_missing(cpuset::stats(a, &mut s.cpuset)).map_err(at)?;
        }
        Ok(s)
    }

    /// How many times the OOM killer killed a process of this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        let at = self.locate("memory").map_err(|f| f.at(&self.path))?;
        controllers::memory::oom_kill_count(at).map_err(|f| f.at(&self.path))
    }

    /// Sends `signal` to every process in the cgroup. The cgroup is frozen meanwhile so no
    /// process escapes by forking; a SIGKILL on a pure cgroup v2 host uses `cgroup.kill`,
    /// which the kernel applies atomically (on a hybrid host the processes need not be in
    /// the cgroup2 directory, see `join_self`). A cgroup that was paused stays paused, except after
    /// SIGKILL (frozen processes cannot die). After SIGKILL it returns once the processes
    /// are gone (or after two seconds), so `destroy` can follow at once.
    pub fn signal_all(&self, signal: Signal) -> Result<()> {
        let at = |f: Fault| f.at(&self.path);
        let freezer = self.freezer().ok();
        let was_frozen = freezer.is_some_and(|f| freezer::is_frozen(f).unwrap_or(false));
        if signal == Signal::SIGKILL && self.place.mode == Mode::Unified {
            if let Some(v2) = &self.place.v2 {
                if fsio::exists(&v2.path, "cgroup.kill") {
                    fsio::write(&v2.path, "cgroup.kill", "1").map_err(at)?;
                    if let (Some(f), true) = (freezer, was_frozen) {
                        freezer::thaw(f).map_err(at)?; // frozen processes cannot die
                    }
                    return self.wait_killed();
                }
            }
        }
        let froze = match freezer {
            Some(f) if !was_frozen => match freezer::freeze(f) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(cgroup = %self.path.display(), "signalling without freezing: {e:?}");
                    false
                }
            },
            _ => false,
        };
        let result = self.pids().and_then(|pids| {
            for pid in pids {
                match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => {
                        return Err(at(Fault::invalid(format!(
                            "sending {signal} to process {pid}: {e}"
                        ))))
                    }
                }
            }
            Ok(())
        });
        if let Some(f) = freezer {
            if froze || (was_frozen && signal == Signal::SIGKILL) {
                freezer::thaw(f).map_err(at)?;
            }
        }
        result?;
        if signal == Signal::SIGKILL {
            self.wait_killed()?;
        }
        Ok(())
    }

    /// After SIGKILL: waits (briefly) until the processes are gone, so `destroy` can follow.
    fn wait_killed(&self) -> Result<()> {
        let deadline = Instant::now() + REMOVE_PATIENCE;
        match dirs::wait_empty(&self.primary().path, deadline) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Fault::invalid(format!(
                "processes {:?} are still alive {}s after SIGKILL (blocked in the kernel?)",
                self.pids().unwrap_or_default(),
                REMOVE_PATIENCE.as_secs()
            ))
            .at(&self.path)),
            Err(f) if f.is_not_found() => Ok(()),
            Err(f) => Err(f.at(&self.path)),
        }
    }

    /// Removes the cgroup with any sub-cgroups the container made (it must hold no
    /// processes: `signal_all(SIGKILL)` first), then the parents `create` made, when they are
    /// unused. A cgroup that does not exist is not an error.
    pub fn destroy(&self) -> Result<()> {
        let deadline = Instant::now() + REMOVE_PATIENCE;
        let mut first_error = None;
        for dir in self.place.dirs() {
            if let Err(f) = dirs::remove_tree(&dir.path, deadline) {
                first_error.get_or_insert(f);
            }
        }
        if let Some(f) = first_error {
            return Err(f.at(&self.path));
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for dir in created.iter().rev() {
            dirs::remove_if_unused(dir);
        }
        if self.default_parent {
            for dir in self.place.dirs() {
                if let Some(parent) = dir.path.parent().filter(|p| *p != dir.mount) {
                    dirs::remove_if_unused(parent);
                }
            }
        }
        Ok(())
    }

    // ---- internals ----

    /// The directory used for pids and existence: a v1 hierarchy every container joins, or
    /// the cgroup2 directory.
    fn primary(&self) -> &placement::Dir {
        ["pids", "freezer", "memory", "cpu", "devices"]
            .iter()
            .find_map(|c| self.place.v1.get(*c))
            .or_else(|| self.place.v1.values().next())
            .or(self.place.v2.as_ref())
            .expect("a placement has at least one hierarchy")
    }

    /// On a hybrid host the cgroup2 directory is a convenience unless a limit needs it.
    fn optional_v2(&self, dir: &placement::Dir) -> bool {
        self.place.mode == Mode::Hybrid && Some(dir) == self.place.v2.as_ref()
    }

    /// Where `controller` (v1 name) is: its v1 hierarchy, or the cgroup2 directory when the
    /// cgroup2 hierarchy offers it.
    fn locate(&self, controller: &str) -> FResult<At<'_>> {
        if let Some(d) = self.place.v1.get(controller) {
            return Ok(At::V1(&d.path));
        }
        let v2_name = match controller {
            "blkio" => Some("io"),
            "cpuacct" => Some("cpu"),
            "net_cls" | "net_prio" | "perf_event" | "devices" | "freezer" => None,
            other => Some(other),
        };
        if let (Some(v2), Some(name)) = (&self.place.v2, v2_name) {
            let layout = Layout::host()?;
            if layout.v2_controllers().iter().any(|c| c == name) {
                return Ok(At::V2(&v2.path));
            }
        }
        let why = match (self.place.mode, v2_name) {
            (Mode::Unified, None) => "cgroup v2 has no such controller".to_string(),
            (Mode::Unified, Some(_)) => "the cgroup2 hierarchy does not offer it".to_string(),
            (Mode::Legacy, _) => "no cgroup v1 hierarchy mounts it".to_string(),
            (Mode::Hybrid, _) => {
                "no cgroup v1 hierarchy mounts it and the cgroup2 hierarchy does not offer it"
                    .to_string()
            }
        };
        Err(Fault::Missing {
            controller: controller.to_string(),
            what: String::new(),
            why,
        })
    }

    fn freezer(&self) -> FResult<At<'_>> {
        if let Some(d) = self.place.v1.get("freezer") {
            return Ok(At::V1(&d.path));
        }
        match &self.place.v2 {
            Some(v2) if v2.path.is_dir() || self.place.mode == Mode::Unified => {
                Ok(At::V2(&v2.path))
            }
            _ => Err(Fault::Missing {
                controller: "freezer".into(),
                what: "pausing".into(),
                why: "no cgroup v1 hierarchy mounts it and there is no cgroup2 directory".into(),
            }),
        }
    }

    fn make_dirs(&self, created: &mut Vec<PathBuf>, wanted_v2: &[String]) -> FResult<()> {
        let cpuset_dir = self.place.v1.get("cpuset").map(|d| &d.path);
        for dir in self.place.dirs() {
            let is_cpuset = Some(&dir.path) == cpuset_dir;
            let init = |d: &Path| -> FResult<()> {
                if is_cpuset {
                    dirs::init_v1_cpuset(&dir.mount, d)?;
                }
                Ok(())
            };
            let made = dirs::make(&dir.mount, &dir.path, created, &init).and_then(|()| {
                if Some(dir) == self.place.v2.as_ref() {
                    dirs::enable_v2_controllers(&dir.mount, &dir.path, wanted_v2)?;
                }
                Ok(())
            });
            match made {
                Err(f) if self.optional_v2(dir) && wanted_v2.is_empty() => {
                    tracing::debug!(cgroup = %self.path.display(), "no cgroup2 directory: {f:?}");
                }
                r => r?,
            }
        }
        Ok(())
    }

    /// A cgroup that existed before and holds processes belongs to someone else.
    fn refuse_if_in_use(&self, created: &[PathBuf]) -> FResult<()> {
        let primary = &self.primary().path;
        if created.contains(primary) {
            return Ok(());
        }
        let mut pids = Vec::new();
        dirs::procs_recursive(primary, &mut pids)?;
        if pids.is_empty() {
            return Ok(());
        }
        Err(Fault::invalid(format!(
            "the cgroup already exists and holds processes {pids:?}: is another container \
             using this cgroupsPath? Choose another path, or delete that container first"
        )))
    }

    /// A frozen cgroup (its own freezer, or a frozen parent's, which freezes new children
    /// too) would stop the container's first process the moment it joins, before it could
    /// report anything: the caller would wait forever.
    fn refuse_if_frozen(&self) -> FResult<()> {
        let Ok(at) = self.freezer() else {
            return Ok(()); // no freezer: nothing can be frozen
        };
        if !freezer::is_frozen_or_freezing(at)? {
            return Ok(());
        }
        let thaw = match at {
            At::V1(dir) => format!("write THAWED to {}", dir.join("freezer.state").display()),
            At::V2(dir) => format!("write 0 to {}", dir.join("cgroup.freeze").display()),
        };
        Err(Fault::invalid(format!(
            "the cgroup is frozen (by its own freezer or a parent's): a process put in it \
             could not run; thaw it ({thaw}, or in the frozen parent) or choose another \
             cgroupsPath"
        )))
    }
}

/// Stats of a controller whose files are absent (not enabled for this cgroup) are skipped.
fn skip_missing(r: FResult<()>) -> FResult<()> {
    match r {
        Err(f) if f.is_not_found() => Ok(()),
        r => r,
    }
}

/// Whether any controller limit (`*.max` other than cgroup.max.*) in a cgroup2 directory
/// is set to something other than "max".
fn has_limit(dir: &Path) -> bool {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return true;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with(".max") && !n.starts_with("cgroup.")
        })
        .any(|e| {
            std::fs::read_to_string(e.path())
                .map(|v| {
                    v.lines()
                        .any(|l| l.split_whitespace().last() != Some("max"))
                })
                .unwrap_or(true)
        })
}
