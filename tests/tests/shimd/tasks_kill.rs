//! Signalling tasks through shimd: `Tasks.Kill` to the init process only, or with `all`
//! to every process of the container.

use std::time::{Duration, Instant};

use berth_proto::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, KillRequest, Mount, Runtime,
    StartRequest, WaitRequest,
};
use berth_tests::tasks::{alive, TaskLab, IMAGE};
use berth_tests::{require, unique};

/// The pids `berthctl tasks ps` lists for a task.
fn task_pids(lab: &TaskLab, id: &str) -> Vec<i32> {
    lab.ctl_ok(&["tasks", "ps", id])
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

fn kill(lab: &TaskLab, id: &str, signal: i32, all: bool) {
    let g = lab.grpc("default");
    g.block_on(g.tasks().kill(KillRequest {
        container_id: id.to_string(),
        exec_id: String::new(),
        signal: signal as u32,
        all,
    }))
    .unwrap_or_else(|e| panic!("kill {signal} all={all}: {e}"));
}

#[test]
fn kill_all_signals_every_process_and_kill_only_the_init() {
    require!(root);
    for runtime in ["berth-runtime", "runc"] {
        let lab = TaskLab::start();
        let id = unique("killall");
        // The shell is PID 1 of its namespace: SIGTERM does not end it (no handler), but it
        // ends its children.
        lab.ctl_ok(&[
            "run",
            "-d",
            "--runtime",
            runtime,
            IMAGE,
            &id,
            "/bin/sh",
            "-c",
            "sleep 1000 & sleep 1000 & wait",
        ]);
        lab.wait_status(&id, "RUNNING", Duration::from_secs(5));
        let init = lab.task_pid(&id);
        assert!(
            wait_until(Duration::from_secs(5), || task_pids(&lab, &id).len() == 3),
            "{runtime}: {:?}",
            task_pids(&lab, &id)
        );
        let children: Vec<i32> = task_pids(&lab, &id)
            .into_iter()
            .filter(|p| *p != init)
            .collect();

        // Without `all` only the init is signalled: it ignores SIGTERM, the children live on.
        kill(&lab, &id, libc::SIGTERM, false);
        std::thread::sleep(Duration::from_millis(300));
        assert!(children.iter().all(|p| alive(*p)), "{runtime}");

        // With `all` every process gets it: the children end, the shell goes on waiting
        // only until they are gone, then exits.
        kill(&lab, &id, libc::SIGTERM, true);
        assert!(
            wait_until(Duration::from_secs(5), || children
                .iter()
                .all(|p| !alive(*p))),
            "{runtime}: SIGTERM to all left {:?} running\n{}",
            children,
            lab.shimd.log()
        );
        lab.wait_status(&id, "STOPPED", Duration::from_secs(5));
        lab.ctl_ok(&["containers", "rm", &id]);
        lab.assert_no_debris("default", &id);
    }
}

/// Creates and starts a container sharing the host's PID namespace, running `script` on a
/// busybox rootfs in `rootfs`.
fn start_in_host_pid_ns(
    lab: &TaskLab,
    id: &str,
    runtime: &str,
    rootfs: &std::path::Path,
    script: &str,
) {
    let g = lab.grpc("default");
    let mut spec: serde_json::Value = serde_json::from_slice(&berth_tests::tasks::spec(
        "default",
        id,
        &["/bin/sh", "-c", script],
    ))
    .unwrap();
    spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    g.block_on(g.containers().create(CreateContainerRequest {
        container: Some(Container {
            id: id.to_string(),
            spec: serde_json::to_vec(&spec).unwrap(),
            runtime: Some(Runtime {
                binary: runtime.into(),
                options: vec![],
            }),
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

#[test]
fn without_a_pid_namespace_of_its_own_the_rest_dies_with_the_init() {
    require!(root);
    let lab = TaskLab::start();
    let rootfs = tempfile::tempdir().unwrap();
    berth_tests::rootfs::make_rootfs(rootfs.path()).unwrap();
    for (runtime, all) in [
        ("berth-runtime", false),
        ("runc", false),
        ("berth-runtime", true),
    ] {
        let id = unique("hostpid");
        start_in_host_pid_ns(
            &lab,
            &id,
            runtime,
            rootfs.path(),
            "sleep 1000 & sleep 1000 & wait",
        );
        let init = lab.task_pid(&id);
        assert!(
            wait_until(Duration::from_secs(5), || task_pids(&lab, &id).len() == 3),
            "{runtime}: {:?}",
            task_pids(&lab, &id)
        );
        let all_pids = task_pids(&lab, &id);
        assert!(all_pids.contains(&init), "{all_pids:?} {init}");
        // SIGKILL to the init alone (as docker kill sends it) or to every process: nothing
        // of the container outlives its init.
        kill(&lab, &id, libc::SIGKILL, all);
        let g = lab.grpc("default");
        let w = g
            .block_on(g.tasks().wait(WaitRequest {
                container_id: id.clone(),
                exec_id: String::new(),
            }))
            .unwrap()
            .into_inner();
        assert_eq!(w.exit_status, 137, "{runtime}");
        assert!(
            wait_until(Duration::from_secs(5), || all_pids
                .iter()
                .all(|p| !alive(*p))),
            "{runtime} all={all}: {:?} outlived the init {init}",
            all_pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        lab.ctl_ok(&["containers", "rm", &id]);
        lab.assert_no_debris("default", &id);
    }
}
