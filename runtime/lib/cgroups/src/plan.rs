//! Turning OCI `linux.resources` into steps, each bound to the directory of its controller.
//! Planning checks everything (controllers present, values well-formed) before a single
//! file is written, so bad input leaves nothing behind.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxNetwork, LinuxPids, LinuxRdma,
    LinuxResources,
};

use crate::controllers::devices::Rule;
use crate::controllers::{
    blkio, cpu, cpuset, device_bpf, devices, hugetlb, memory, network, pids, rdma, unified, At,
};
use crate::error::{FResult, Fault};
use crate::layout::{Layout, Mode};
use crate::Cgroup;

pub(crate) enum Step<'a> {
    Cpuset(At<'a>, &'a LinuxCpu),
    Memory(At<'a>, &'a LinuxMemory),
    Cpu(At<'a>, &'a LinuxCpu),
    Pids(At<'a>, &'a LinuxPids),
    Blkio(At<'a>, &'a LinuxBlockIo),
    Hugetlb(At<'a>, &'a [LinuxHugepageLimit]),
    NetClass(&'a Path, &'a LinuxNetwork),
    NetPrio(&'a Path, &'a LinuxNetwork),
    Rdma(At<'a>, &'a HashMap<String, LinuxRdma>),
    DevicesV1(&'a Path, Vec<Rule>),
    DevicesBpf(&'a Path, Vec<Rule>),
    Unified(&'a Path, &'a HashMap<String, String>),
}

impl Step<'_> {
    /// True for a limit written in the cgroup2 directory.
    fn on_v2(&self) -> bool {
        matches!(
            self,
            Step::Cpuset(At::V2(_), _)
                | Step::Memory(At::V2(_), _)
                | Step::Cpu(At::V2(_), _)
                | Step::Pids(At::V2(_), _)
                | Step::Blkio(At::V2(_), _)
                | Step::Hugetlb(At::V2(_), _)
                | Step::Rdma(At::V2(_), _)
                | Step::DevicesBpf(..)
                | Step::Unified(..)
        )
    }
}

pub(crate) fn plan<'a>(cg: &'a Cgroup, res: &'a LinuxResources) -> FResult<Vec<Step<'a>>> {
    let locate = |controller: &str, what: &str| {
        cg.locate(controller).map_err(|f| match f {
            Fault::Missing {
                controller, why, ..
            } => Fault::Missing {
                controller,
                what: what.to_string(),
                why,
            },
            f => f,
        })
    };
    let v1_only = |controller: &str, what: &str| -> FResult<&'a Path> {
        match locate(controller, what)? {
            At::V1(dir) => Ok(dir),
            At::V2(_) => unreachable!("{controller} has no cgroup v2 form"),
        }
    };
    let mut steps = Vec::new();
    if let Some(c) = res.cpu().as_ref().filter(|c| cpuset::wanted(c)) {
        steps.push(Step::Cpuset(
            locate("cpuset", "linux.resources.cpu.cpus/mems")?,
            c,
        ));
    }
    if let Some(m) = res.memory().as_ref().filter(|m| memory::wanted(m)) {
        steps.push(Step::Memory(locate("memory", "linux.resources.memory")?, m));
    }
    if let Some(c) = res.cpu().as_ref().filter(|c| cpu::wanted(c)) {
        steps.push(Step::Cpu(locate("cpu", "linux.resources.cpu")?, c));
    }
    if let Some(p) = res.pids() {
        steps.push(Step::Pids(locate("pids", "linux.resources.pids")?, p));
    }
    if let Some(b) = res.block_io().as_ref().filter(|b| blkio::wanted(b)) {
        steps.push(Step::Blkio(locate("blkio", "linux.resources.blockIO")?, b));
    }
    if let Some(h) = res.hugepage_limits().as_deref().filter(|h| !h.is_empty()) {
        steps.push(Step::Hugetlb(
            locate("hugetlb", "linux.resources.hugepageLimits")?,
            h,
        ));
    }
    if let Some(n) = res.network() {
        if n.class_id().is_some() {
            steps.push(Step::NetClass(
                v1_only("net_cls", "linux.resources.network.classID")?,
                n,
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            steps.push(Step::NetPrio(
                v1_only("net_prio", "linux.resources.network.priorities")?,
                n,
            ));
        }
    }
    if let Some(r) = res.rdma().as_ref().filter(|r| !r.is_empty()) {
        steps.push(Step::Rdma(locate("rdma", "linux.resources.rdma")?, r));
    }
    if let Some(list) = res.devices().as_deref().filter(|d| !d.is_empty()) {
        let rules = devices::rules(list)?;
        match (cg.place.v1.get("devices"), &cg.place.v2) {
            (Some(d), _) => steps.push(Step::DevicesV1(&d.path, rules)),
            (None, Some(v2)) if cg.place.mode != Mode::Hybrid => {
                device_bpf::compile(&rules)?; // refuse rules the program cannot express
                steps.push(Step::DevicesBpf(&v2.path, rules))
            }
            _ => {
                return Err(Fault::Missing {
                    controller: "devices".into(),
                    what: "linux.resources.devices".into(),
                    why: "no cgroup v1 hierarchy mounts it".into(),
                })
            }
        }
    }
    if let Some(u) = res.unified().as_ref().filter(|u| !u.is_empty()) {
        unified::validate(u)?;
        let Some(v2) = &cg.place.v2 else {
            return Err(Fault::invalid(
                "linux.resources.unified needs cgroup v2, and this host has no cgroup2 mount: \
                 use the typed fields of linux.resources",
            ));
        };
        let offered = Layout::host()?.v2_controllers();
        for key in u.keys() {
            if let Some(c) = unified::controller_of(key) {
                if !offered.iter().any(|o| o == c) {
                    return Err(Fault::Missing {
                        controller: c.to_string(),
                        what: format!("linux.resources.unified key {key:?}"),
                        why: "the cgroup2 hierarchy does not offer it (on a hybrid host most \
                              controllers are bound to cgroup v1: use the typed fields)"
                            .into(),
                    });
                }
            }
        }
        steps.push(Step::Unified(&v2.path, u));
    }
    Ok(steps)
}

/// The cgroup2 controllers to enable for the cgroup: every one the hierarchy offers on a
/// pure v2 host (so stats and later updates work); on a hybrid host only those the limits
/// need.
pub(crate) fn wanted_v2(cg: &Cgroup, steps: &[Step], res: &LinuxResources) -> Vec<String> {
    const KNOWN: &[&str] = &[
        "cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc",
    ];
    let needs_v2 = cg.place.mode == Mode::Unified
        || steps.iter().any(|s| s.on_v2())
        || res.unified().as_ref().is_some_and(|u| !u.is_empty());
    if !needs_v2 {
        return Vec::new(); // spares reading the cgroup2 root on hybrid hosts
    }
    let offered = Layout::host()
        .map(|l| l.v2_controllers())
        .unwrap_or_default();
    let mut wanted: Vec<String> = Vec::new();
    if cg.place.mode == Mode::Unified {
        wanted.extend(
            offered
                .iter()
                .filter(|c| KNOWN.contains(&c.as_str()))
                .cloned(),
        );
        return wanted;
    }
    let mut add = |name: &str| {
        if offered.iter().any(|o| o == name) && !wanted.iter().any(|w| w == name) {
            wanted.push(name.to_string());
        }
    };
    for step in steps {
        let (at, name) = match step {
            Step::Cpuset(a, _) => (a, "cpuset"),
            Step::Memory(a, _) => (a, "memory"),
            Step::Cpu(a, _) => (a, "cpu"),
            Step::Pids(a, _) => (a, "pids"),
            Step::Blkio(a, _) => (a, "io"),
            Step::Hugetlb(a, _) => (a, "hugetlb"),
            Step::Rdma(a, _) => (a, "rdma"),
            _ => continue,
        };
        if let At::V2(_) = at {
            add(name);
        }
    }
    for key in res.unified().iter().flat_map(|u| u.keys()) {
        if let Some(c) = unified::controller_of(key) {
            add(c);
        }
    }
    wanted
}

pub(crate) fn execute(steps: &[Step], update: bool) -> FResult<()> {
    for step in steps {
        match step {
            Step::Cpuset(at, c) => cpuset::apply(*at, c)?,
            Step::Memory(at, m) => memory::apply(*at, m, update)?,
            Step::Cpu(at, c) => cpu::apply(*at, c)?,
            Step::Pids(at, p) => pids::apply(*at, p)?,
            Step::Blkio(at, b) => blkio::apply(*at, b)?,
            Step::Hugetlb(at, h) => hugetlb::apply(*at, h)?,
            Step::NetClass(dir, n) => network::apply_class(dir, n)?,
            Step::NetPrio(dir, n) => network::apply_priorities(dir, n)?,
            Step::Rdma(at, r) => rdma::apply(*at, r)?,
            Step::DevicesV1(dir, rules) => devices::apply_v1(dir, rules, update)?,
            Step::DevicesBpf(dir, rules) => device_bpf::apply(dir, rules)?,
            Step::Unified(dir, u) => unified::apply(dir, u)?,
        }
    }
    Ok(())
}
