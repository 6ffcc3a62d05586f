//! Bad input to the task half of shimd: every error names the object and the cause, and
//! nothing is left behind (mounts, task directories, shims, runtime state, cgroups).

use std::time::Duration;

use berth_proto::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    ExecProcessRequest, Mount, Runtime, StartRequest, WaitRequest,
};
use berth_tests::tasks::{spec, TaskLab, IMAGE};
use berth_tests::{require, unique};

#[test]
fn unknown_containers_and_images_are_named() {
    require!(root);
    let lab = TaskLab::start();
    for args in [
        vec!["tasks", "start", "nope-x"],
        vec!["tasks", "kill", "nope-x"],
        vec!["tasks", "rm", "nope-x"],
        vec!["tasks", "wait", "nope-x"],
        vec!["tasks", "logs", "nope-x"],
        vec!["tasks", "metrics", "nope-x"],
        vec!["containers", "info", "nope-x"],
        vec!["containers", "rm", "nope-x"],
    ] {
        let (code, out, err) = lab.ctl(&args);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.starts_with("berthctl: ") && err.contains("nope-x"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let id = unique("noimg");
    let (code, _, err) = lab.ctl(&["run", "--rm", "no-such-image:1", &id, "/bin/true"]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-image"), "{err}");
    assert!(!lab.ctl_ok(&["containers", "ls", "-q"]).contains(&id));
    assert!(!lab.ctl_ok(&["snapshots", "ls"]).contains(&id));
    lab.assert_no_debris("default", &id);
}

#[test]
fn duplicate_ids_and_running_deletes_are_refused() {
    require!(root);
    let lab = TaskLab::start();
    let id = lab.run_sleeper("dup");
    let (code, _, err) = lab.ctl(&["run", "-d", "--runtime", "runc", IMAGE, &id, "/bin/true"]);
    assert_ne!(code, 0);
    assert!(err.contains(&id) && err.contains("already exists"), "{err}");
    assert_eq!(
        lab.task_status(&id).as_deref(),
        Some("RUNNING"),
        "the first one is untouched"
    );

    let (code, _, err) = lab.ctl(&["tasks", "rm", &id]);
    assert_ne!(code, 0);
    assert!(
        err.contains("running") && err.contains("kill it first"),
        "{err}"
    );
    let (code, _, err) = lab.ctl(&["containers", "rm", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("running task"), "{err}");
    let (code, _, err) = lab.ctl(&["tasks", "exec", "--exec-id", "x", &id, "/bin/true"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = lab.ctl(&[
        "tasks",
        "exec",
        "-d",
        "--exec-id",
        "bad/id",
        &id,
        "/bin/true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("bad/id"), "{err}");
    let (code, _, err) = lab.ctl(&["tasks", "kill", "-s", "NOPE", &id]);
    assert_ne!(code, 0);
    assert!(err.contains("NOPE"), "{err}");

    lab.ctl_ok(&["tasks", "rm", "--force", &id]);
    assert!(lab.task_status(&id).is_none());
    let (code, _, err) = lab.ctl(&["tasks", "exec", &id, "/bin/true"]);
    assert_ne!(code, 0);
    assert!(err.contains(&id) && err.contains("no task"), "{err}");
    lab.ctl_ok(&["containers", "rm", &id]);
    lab.assert_no_debris("default", &id);
}

#[test]
fn runtime_failures_are_reported_and_cleaned_up() {
    require!(root);
    let lab = TaskLab::start();
    // A runtime that does not exist.
    let id = unique("nort");
    let (code, _, err) = lab.ctl(&[
        "run",
        "--rm",
        "--runtime",
        "/nonexistent/runtime",
        IMAGE,
        &id,
        "/bin/true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent/runtime"), "{err}");
    assert!(!lab.ctl_ok(&["containers", "ls", "-q"]).contains(&id));
    lab.assert_no_debris("default", &id);

    // A program that is not in the image: the runtime's own message comes back.
    for runtime in ["runc", "berth-runtime"] {
        let id = unique("noexec");
        let (code, _, err) = lab.ctl(&[
            "run",
            "--rm",
            "--runtime",
            runtime,
            IMAGE,
            &id,
            "/bin/no-such-program",
        ]);
        assert_ne!(code, 0, "{runtime}");
        assert!(err.contains("no-such-program"), "{runtime}: {err}");
        assert!(err.contains(&id), "{runtime}: {err}");
        assert!(!lab.ctl_ok(&["containers", "ls", "-q"]).contains(&id));
        lab.assert_no_debris("default", &id);
    }
}

#[test]
fn bad_rootfs_specs_and_ids_over_grpc() {
    require!(root);
    let lab = TaskLab::start();
    let g = lab.grpc("grpc-ns");
    let ns = "grpc-ns";
    let rootfs = tempfile::tempdir().unwrap();
    berth_tests::rootfs::make_rootfs(rootfs.path()).unwrap();
    let bind = |src: &str| Mount {
        r#type: "bind".into(),
        source: src.into(),
        target: String::new(),
        options: vec!["rbind".into()],
    };
    let create_container = |id: &str, spec: Vec<u8>, runtime: &str| {
        g.block_on(g.containers().create(CreateContainerRequest {
            container: Some(Container {
                id: id.into(),
                spec,
                runtime: Some(Runtime {
                    binary: runtime.into(),
                    options: vec![],
                }),
                ..Default::default()
            }),
        }))
    };

    // Invalid ids and specs never become records.
    let e = create_container("../evil", spec(ns, "x", &["/bin/true"]), "runc").unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("../evil"), "{}", e.message());
    let e = create_container(&unique("badspec"), b"{not json".to_vec(), "runc").unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("not valid JSON"), "{}", e.message());

    // A task on a rootfs that does not exist.
    let id = unique("norootfs");
    create_container(&id, spec(ns, &id, &["/bin/true"]), "runc").unwrap();
    let e = g
        .block_on(g.tasks().create(CreateTaskRequest {
            container_id: id.clone(),
            rootfs: vec![bind("/nonexistent/rootfs")],
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message().contains("/nonexistent/rootfs") && e.message().contains(&id),
        "{}",
        e.message()
    );
    lab.assert_no_debris(ns, &id);
    // Without mounts and without a snapshot there is no rootfs at all.
    let e = g
        .block_on(g.tasks().create(CreateTaskRequest {
            container_id: id.clone(),
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("no snapshot"), "{}", e.message());
    // A mount that would land outside the rootfs.
    let mut escape = bind(rootfs.path().to_str().unwrap());
    escape.target = "../../outside".into();
    let e = g
        .block_on(g.tasks().create(CreateTaskRequest {
            container_id: id.clone(),
            rootfs: vec![bind(rootfs.path().to_str().unwrap()), escape],
            ..Default::default()
        }))
        .unwrap_err();
    assert!(e.message().contains("inside the rootfs"), "{}", e.message());
    lab.assert_no_debris(ns, &id);

    // The same container with a real rootfs runs, in its own namespace, with a log path
    // the client chose (kept when the container goes).
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("sub/ctr.log");
    let mut c = spec(ns, &id, &["/bin/sh", "-c", "echo from-bind; exit 6"]);
    // A relative log path is refused.
    let e = g
        .block_on(g.tasks().create(CreateTaskRequest {
            container_id: id.clone(),
            rootfs: vec![bind(rootfs.path().to_str().unwrap())],
            log_path: "relative.log".into(),
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    g.block_on(
        g.containers()
            .delete(DeleteContainerRequest { id: id.clone() }),
    )
    .unwrap();
    create_container(&id, std::mem::take(&mut c), "runc").unwrap();
    g.block_on(g.tasks().create(CreateTaskRequest {
        container_id: id.clone(),
        rootfs: vec![bind(rootfs.path().to_str().unwrap())],
        log_path: log_path.display().to_string(),
        ..Default::default()
    }))
    .unwrap();
    let e = g
        .block_on(g.tasks().create(CreateTaskRequest {
            container_id: id.clone(),
            rootfs: vec![bind(rootfs.path().to_str().unwrap())],
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists);
    let e = g
        .block_on(g.tasks().exec(ExecProcessRequest {
            container_id: id.clone(),
            exec_id: "e".into(),
            spec: b"[]".to_vec(),
            ..Default::default()
        }))
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    g.block_on(g.tasks().start(StartRequest {
        container_id: id.clone(),
        exec_id: String::new(),
    }))
    .unwrap();
    let w = g
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                g.tasks().wait(WaitRequest {
                    container_id: id.clone(),
                    exec_id: String::new(),
                }),
            )
            .await
        })
        .expect("wait in time")
        .unwrap()
        .into_inner();
    assert_eq!(w.exit_status, 6);
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains(r#""log":"from-bind\n","stream":"stdout","time":""#),
        "{logged}"
    );
    let (code, _, err) = lab.ctl(&["-n", ns, "containers", "rm", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(log_path.exists(), "a client's log file is the client's");
    lab.assert_no_debris(ns, &id);
}

#[test]
fn shim_sockets_are_private_and_survive_garbage() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    require!(root);
    let lab = TaskLab::start();
    let id = lab.run_sleeper("garbage");
    let dir = lab.task_dir("default", &id);
    for (f, mode) in [("shim.sock", 0o600), ("log.json", 0o640)] {
        let m = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{f}");
    }
    let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dmode, 0o700);
    // A frame claiming 4 GiB: the connection is dropped.
    let mut c = std::os::unix::net::UnixStream::connect(dir.join("shim.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    assert!(buf.is_empty());
    // An undecodable request: an error answer naming the problem.
    let mut c = std::os::unix::net::UnixStream::connect(dir.join("shim.sock")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).unwrap();
    let mut len = [0u8; 4];
    c.read_exact(&mut len).unwrap();
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    c.read_exact(&mut answer).unwrap();
    assert!(
        String::from_utf8_lossy(&answer).contains("bad request"),
        "{answer:?}"
    );
    // The shim still serves and the container still runs.
    assert_eq!(lab.task_status(&id).as_deref(), Some("RUNNING"));
    let (code, out, err) = lab.ctl(&["tasks", "exec", &id, "/bin/echo", "still-here"]);
    assert_eq!((code, out.as_str()), (0, "still-here\n"), "{err}");
    lab.ctl_ok(&["containers", "rm", "--force", &id]);
    lab.assert_no_debris("default", &id);
}
