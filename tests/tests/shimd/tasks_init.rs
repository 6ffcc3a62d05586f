//! The shim as the init of its container's PID namespace (`Container.init`, docker's
//! `--init`): PID 1 in the container is the shim, orphans are reaped so no zombie stays,
//! signals reach the container's main process, exit statuses are the main process's, the
//! rest of the namespace dies with it, and pids leave shimd as host pids.

use std::path::Path;
use std::time::{Duration, Instant};

use berth_proto::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, KillRequest, Mount, Runtime,
    StartRequest, WaitRequest,
};
use berth_tests::tasks::{alive, TaskLab};
use berth_tests::{require, unique, wait_until};

/// Creates and starts a container running `script` (with the shim as its init when
/// `init`), on the busybox rootfs in `rootfs`.
fn start(lab: &TaskLab, id: &str, runtime: &str, rootfs: &Path, init: bool, script: &str) {
    let g = lab.grpc("default");
    let spec = berth_tests::tasks::spec("default", id, &["/bin/sh", "-c", script]);
    g.block_on(g.containers().create(CreateContainerRequest {
        container: Some(Container {
            id: id.to_string(),
            spec,
            runtime: Some(Runtime {
                binary: runtime.into(),
                options: vec![],
            }),
            init,
            ..Default::default()
        }),
    }))
    .unwrap();
    g.block_on(g.tasks().create(CreateTaskRequest {
        container_id: id.to_string(),
        rootfs: vec![Mount {
            r#type: "bind".into(),
            source: rootfs.display().to_string(),
            target: String::new(),
            options: vec!["rbind".into()],
        }],
        ..Default::default()
    }))
    .unwrap();
    g.block_on(g.tasks().start(StartRequest {
        container_id: id.to_string(),
        exec_id: String::new(),
    }))
    .unwrap();
}

fn wait_exit(lab: &TaskLab, id: &str) -> u32 {
    let g = lab.grpc("default");
    g.block_on(g.tasks().wait(WaitRequest {
        container_id: id.to_string(),
        exec_id: String::new(),
    }))
    .unwrap()
    .into_inner()
    .exit_status
}

fn kill(lab: &TaskLab, id: &str, signal: i32) {
    let g = lab.grpc("default");
    g.block_on(g.tasks().kill(KillRequest {
        container_id: id.to_string(),
        exec_id: String::new(),
        signal: signal as u32,
        all: false,
    }))
    .unwrap();
}

fn rm(lab: &TaskLab, id: &str) {
    lab.ctl_ok(&["containers", "rm", "--force", id]);
    lab.assert_no_debris("default", id);
}

fn ns_of(pid: i32) -> std::path::PathBuf {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap()
}

/// The live processes in PID namespace `ns` (as `ns_of` names it), sorted.
fn members_of(ns: &Path) -> Vec<i32> {
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .filter(|p: &i32| {
            std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns) && alive(*p)
        })
        .collect();
    out.sort();
    out
}

/// (pid, parent) of every zombie on the host.
fn zombies() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() == Some(&"Z") {
            if let (Ok(pid), Some(Ok(ppid))) = (
                e.file_name().to_string_lossy().parse(),
                f.get(1).map(|p| p.parse()),
            ) {
                out.push((pid, ppid));
            }
        }
    }
    out
}

fn lab_and_rootfs() -> (TaskLab, tempfile::TempDir) {
    let lab = TaskLab::start();
    let rootfs = tempfile::tempdir().unwrap();
    berth_tests::rootfs::make_rootfs(rootfs.path()).unwrap();
    (lab, rootfs)
}

#[test]
fn the_shim_is_pid_1_and_reports_host_pids() {
    require!(root);
    let (lab, rootfs) = lab_and_rootfs();
    for runtime in ["berth-runtime", "runc"] {
        let id = unique("initps");
        let _removal = lab.remove_on_drop(&id);
        start(
            &lab,
            &id,
            runtime,
            rootfs.path(),
            true,
            "sleep 100 & sleep 0.3; ps; wait",
        );
        let main = lab.task_pid(&id);
        let shim = lab.shim_pid("default", &id);
        // The main process runs in the shim's PID namespace, not the host's.
        assert_eq!(ns_of(main), ns_of(shim), "{runtime}");
        assert_ne!(ns_of(main), ns_of(std::process::id() as i32), "{runtime}");
        // Its pid is the host's: /proc on the host shows the shell there, once the
        // runtime's init has executed it (a started task may still be finishing its
        // `exec`, as runc's `start` returns once init is released, not once it ran).
        let mut cmdline = String::new();
        assert!(
            wait_until(Duration::from_secs(10), || {
                cmdline =
                    std::fs::read_to_string(format!("/proc/{main}/cmdline")).unwrap_or_default();
                cmdline.starts_with("/bin/sh")
            }),
            "{runtime}: pid {main} runs {cmdline:?}, not the container's shell"
        );
        let mut logs = String::new();
        assert!(
            wait_until(Duration::from_secs(5), || {
                logs = lab.ctl_ok(&["tasks", "logs", &id]);
                logs.contains("ps")
            }),
            "{runtime}: {logs}"
        );
        // Inside, PID 1 is the shim and the shell is not PID 1.
        let pid1 = logs
            .lines()
            .find(|l| l.split_whitespace().next() == Some("1"))
            .unwrap_or_else(|| panic!("{runtime}: no PID 1 in\n{logs}"));
        assert!(pid1.contains("berth-shim"), "{runtime}: {logs}");
        assert!(
            logs.lines()
                .any(|l| l.contains("sh -c sleep 100") && l.split_whitespace().next() != Some("1")),
            "{runtime}: {logs}"
        );
        // Exec processes run in the same namespace; their pid is the host's too.
        let out = lab.ctl_ok(&["tasks", "exec", &id, "/bin/sh", "-c", "echo $$; ps"]);
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().next() == Some("1") && l.contains("berth-shim")),
            "{runtime}: {out}"
        );
        let pids: Vec<i32> = lab
            .ctl_ok(&["tasks", "ps", &id])
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        assert!(pids.contains(&main), "{runtime}: {pids:?}");
        for p in &pids {
            assert_eq!(ns_of(*p), ns_of(shim), "{runtime}: pid {p} of {pids:?}");
        }
        rm(&lab, &id);
        assert!(!alive(shim), "{runtime}: the shim outlived its container");
    }
}

#[test]
fn orphans_are_reaped_so_no_zombie_stays() {
    require!(root);
    let (lab, rootfs) = lab_and_rootfs();
    // The inner shell's background sleeps are orphaned at once; the main process then
    // becomes a sleep that never waits for anything.
    let script = "sh -c 'sleep 0.1 & sleep 0.1 & sleep 0.1 &'; exec sleep 1000";
    for init in [false, true] {
        let id = unique("zombies");
        let _removal = lab.remove_on_drop(&id);
        start(&lab, &id, "berth-runtime", rootfs.path(), init, script);
        let main = lab.task_pid(&id);
        let shim = lab.shim_pid("default", &id);
        let theirs = || -> Vec<(i32, i32)> {
            zombies()
                .into_iter()
                .filter(|(_, parent)| *parent == main || *parent == shim)
                .collect()
        };
        if init {
            // Once the main process is `sleep 1000` the orphans exist (the inner shell
            // forked them before it ended); once they have ended, only the shim and the
            // main process are left in the namespace, and no zombie of theirs.
            let ns = ns_of(shim);
            let settled = wait_until(Duration::from_secs(10), || {
                std::fs::read(format!("/proc/{main}/cmdline")).unwrap_or_default()
                    == b"sleep\x001000\x00"
                    && members_of(&ns) == [shim.min(main), shim.max(main)]
                    && theirs().is_empty()
            });
            assert!(
                settled,
                "with the shim as init: zombies {:?}, namespace {:?}",
                theirs(),
                members_of(&ns)
            );
        } else {
            // The check sees them when nothing reaps (the main process is PID 1).
            wait_until(Duration::from_secs(10), || theirs().len() >= 3);
            assert_eq!(theirs().len(), 3, "{:?}", theirs());
        }
        rm(&lab, &id);
    }
}

#[test]
fn signals_reach_the_main_process_and_its_exit_status_is_the_tasks() {
    require!(root);
    let (lab, rootfs) = lab_and_rootfs();
    // An exit code passes through.
    let id = unique("initexit");
    let _removal = lab.remove_on_drop(&id);
    start(&lab, &id, "berth-runtime", rootfs.path(), true, "exit 7");
    assert_eq!(wait_exit(&lab, &id), 7);
    rm(&lab, &id);

    // SIGTERM (docker stop) goes to the main process, which is not PID 1, so it ends it
    // at once; what else ran in the namespace dies with it.
    for runtime in ["berth-runtime", "runc"] {
        let id = unique("initterm");
        let _removal = lab.remove_on_drop(&id);
        start(
            &lab,
            &id,
            runtime,
            rootfs.path(),
            true,
            "sleep 1000 & sleep 1000 & wait",
        );
        let shim = lab.shim_pid("default", &id);
        let mut pids = Vec::new();
        assert!(wait_until(Duration::from_secs(5), || {
            pids = lab
                .ctl_ok(&["tasks", "ps", &id])
                .lines()
                .filter_map(|l| l.split_whitespace().next()?.parse::<i32>().ok())
                .collect();
            pids.len() == 3
        }));
        let t = Instant::now();
        kill(&lab, &id, libc::SIGTERM);
        assert_eq!(wait_exit(&lab, &id), 128 + 15, "{runtime}");
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(
            wait_until(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))),
            "{runtime}: {pids:?} outlived the main process"
        );
        // The shim stays until the task is deleted (it holds the exit status).
        assert!(alive(shim));
        rm(&lab, &id);
    }

    // A signal the main process does not catch kills it: 128 + n.
    let id = unique("initkill");
    let _removal = lab.remove_on_drop(&id);
    start(
        &lab,
        &id,
        "berth-runtime",
        rootfs.path(),
        true,
        "sleep 1000",
    );
    kill(&lab, &id, libc::SIGKILL);
    assert_eq!(wait_exit(&lab, &id), 137);
    rm(&lab, &id);
}

#[test]
fn a_shimd_restart_finds_the_init_shim_again() {
    require!(root);
    let (mut lab, rootfs) = lab_and_rootfs();
    let id = unique("initrecover");
    let _removal = lab.remove_on_drop(&id);
    start(
        &lab,
        &id,
        "berth-runtime",
        rootfs.path(),
        true,
        "sleep 1000",
    );
    let main = lab.task_pid(&id);
    lab.shimd.restart();
    assert_eq!(lab.task_pid(&id), main);
    lab.wait_status(&id, "RUNNING", Duration::from_secs(5));
    kill(&lab, &id, libc::SIGTERM);
    assert_eq!(wait_exit(&lab, &id), 143);
    rm(&lab, &id);
}
