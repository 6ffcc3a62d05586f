//! Who a task's processes run as: shimd derives the identity of `Container.user` in the
//! container's rootfs for the init, an exec without a user runs as the init does, an exec
//! with `ExecProcessRequest.user` is resolved the same way; berthctl's `run -u`,
//! `--group-add`, the image's USER and `tasks exec -u` go through it; a user that cannot be
//! resolved fails with the reason and leaves nothing behind.

use berth_proto::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, ExecProcessRequest, Mount, ProcessUser,
    Runtime, StartRequest,
};
use berth_tests::tasks::{TaskLab, IMAGE};
use berth_tests::{require, unique};

const ROOT_MEMBER: &str = "uid=0(root) gid=0(root) groups=0(root),1(bin),10(wheel)";
const APP_MEMBER: &str =
    "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio),50(staff),1000(app)";
const NOBODY_MEMBER: &str = "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)";

/// A task lab that also holds `members:latest` and `members:user1000` (busybox with group
/// members; the second with `User: 1000`).
fn lab() -> TaskLab {
    let lab = TaskLab::start();
    for (user, name) in [("", "members:latest"), ("1000", "members:user1000")] {
        let archive = lab.shimd.dir.path().join(format!("{user}members.tar"));
        let img = berth_tests::images::members_image(user);
        std::fs::write(&archive, img.oci_archive(name)).unwrap();
        lab.ctl_ok(&["images", "import", archive.to_str().unwrap()]);
    }
    lab
}

/// `id` printed by `berthctl tasks exec <args> <id> id`.
fn exec_id(lab: &TaskLab, id: &str, args: &[&str]) -> String {
    let mut a = vec!["tasks", "exec"];
    a.extend_from_slice(args);
    a.extend([id, "id"]);
    lab.ctl_ok(&a).trim().to_string()
}

/// Starts `sleep 1000` from `image` with `args`; returns the container id.
fn sleeper(lab: &TaskLab, args: &[&str], image: &str) -> String {
    let id = unique("user");
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(args);
    a.extend([image, &id, "sleep", "1000"]);
    lab.ctl_ok(&a);
    lab.wait_status(&id, "RUNNING", std::time::Duration::from_secs(5));
    id
}

fn rm(lab: &TaskLab, id: &str) {
    lab.ctl_ok(&["containers", "rm", "--force", id]);
    lab.assert_no_debris("default", id);
}

#[test]
fn berthctl_runs_and_execs_as_the_containers_user() {
    require!(root);
    let lab = lab();
    let run_id = |args: &[&str], image: &str| {
        let id = unique("run");
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend([image, &id, "id"]);
        lab.ctl_ok(&a).trim().to_string()
    };
    assert_eq!(run_id(&[], "members:latest"), ROOT_MEMBER);
    assert_eq!(run_id(&["-u", "nobody"], "members:latest"), NOBODY_MEMBER);
    assert_eq!(run_id(&[], "members:user1000"), APP_MEMBER);
    assert_eq!(
        run_id(&["-u", "65534", "--group-add", "audio"], "members:latest"),
        "uid=65534(nobody) gid=65534(nogroup) groups=29(audio),65534(nogroup)"
    );

    // A plain exec runs as the init; -u is resolved in the container.
    let id = sleeper(
        &lab,
        &["-u", "nobody", "--group-add", "root"],
        "members:latest",
    );
    let nobody_root = "uid=65534(nobody) gid=65534(nogroup) groups=0(root),65534(nogroup)";
    assert_eq!(exec_id(&lab, &id, &[]), nobody_root);
    // -u keeps the container's extra groups, as docker exec does.
    assert_eq!(
        exec_id(&lab, &id, &["-u", "app"]),
        "uid=1000(app) gid=1000(app) groups=0(root),10(wheel),29(audio),50(staff),1000(app)"
    );
    assert_eq!(
        exec_id(&lab, &id, &["-u", "0:0"]),
        "uid=0(root) gid=0(root) groups=0(root)"
    );
    let (code, _, err) = lab.ctl(&[
        "tasks",
        "exec",
        "--exec-id",
        "bad",
        "-u",
        "nosuch",
        &id,
        "id",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("unable to find user nosuch"), "{err}");
    // The refused exec left nothing: its id is free again, and the container runs on.
    let out = lab.ctl_ok(&["tasks", "exec", "--exec-id", "bad", &id, "id"]);
    assert_eq!(out.trim(), nobody_root);
    rm(&lab, &id);

    // The image's USER.
    let id = sleeper(&lab, &[], "members:user1000");
    assert_eq!(exec_id(&lab, &id, &[]), APP_MEMBER);
    assert_eq!(exec_id(&lab, &id, &["-u", "root"]), ROOT_MEMBER);
    rm(&lab, &id);

    // A user the image lacks fails the run, naming it, and leaves nothing.
    let id = unique("nouser");
    let (code, _, err) = lab.ctl(&["run", "--rm", "-u", "nosuch", IMAGE, &id, "id"]);
    assert_ne!(code, 0);
    assert!(err.contains("unable to find user nosuch"), "{err}");
    lab.assert_no_debris("default", &id);
}

#[test]
fn raw_clients_keep_their_spec_user_and_execs_follow_the_init() {
    require!(root);
    let lab = TaskLab::start();
    let rootfs = tempfile::tempdir().unwrap();
    berth_tests::rootfs::make_rootfs(rootfs.path()).unwrap();
    let g = lab.grpc("default");
    let create = |id: &str, user: Option<ProcessUser>| {
        let mut spec: serde_json::Value =
            serde_json::from_slice(&berth_tests::tasks::spec("default", id, &["sleep", "1000"]))
                .unwrap();
        spec["process"]["user"] =
            serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [29]});
        g.block_on(g.containers().create(CreateContainerRequest {
            container: Some(Container {
                id: id.to_string(),
                spec: serde_json::to_vec(&spec).unwrap(),
                runtime: Some(Runtime {
                    binary: "berth-runtime".into(),
                    options: vec![],
                }),
                user,
                ..Default::default()
            }),
        }))
        .unwrap();
        g.block_on(g.tasks().create(CreateTaskRequest {
            container_id: id.to_string(),
            rootfs: vec![Mount {
                r#type: "bind".into(),
                source: rootfs.path().display().to_string(),
                target: String::new(),
                options: vec!["rbind".into()],
            }],
            ..Default::default()
        }))
    };

    // No Container.user: the spec's process.user is taken as it is, and execs get it.
    let id = unique("rawuser");
    create(&id, None).unwrap();
    g.block_on(g.tasks().start(StartRequest {
        container_id: id.clone(),
        exec_id: String::new(),
    }))
    .unwrap();
    assert_eq!(exec_id(&lab, &id, &[]), "uid=1000 gid=1000 groups=29");
    // An exec's own process user is not used: the request's user decides. Each exec
    // sleeps; its identity is read from the host's /proc.
    let exec = |exec_id: &str, user: Option<ProcessUser>| {
        let spec = serde_json::json!({
            "args": ["sleep", "1000"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}
        });
        g.block_on(g.tasks().exec(ExecProcessRequest {
            container_id: id.clone(),
            exec_id: exec_id.into(),
            spec: serde_json::to_vec(&spec).unwrap(),
            terminal: false,
            stdin: false,
            user,
        }))
    };
    let identity_of = |exec_id: &str| -> (String, String, String) {
        let pid = g
            .block_on(g.tasks().start(StartRequest {
                container_id: id.clone(),
                exec_id: exec_id.into(),
            }))
            .unwrap()
            .into_inner()
            .pid;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
        };
        (field("Uid:"), field("Gid:"), field("Groups:"))
    };
    let ids = |uid: &str, gid: &str, groups: &str| {
        ([uid; 4].join(" "), [gid; 4].join(" "), groups.to_string())
    };
    exec("e1", None).unwrap();
    assert_eq!(identity_of("e1"), ids("1000", "1000", "29"));
    exec(
        "e2",
        Some(ProcessUser {
            user: "nobody".into(),
            additional_groups: vec!["root".into(), "4242".into()],
        }),
    )
    .unwrap();
    assert_eq!(identity_of("e2"), ids("65534", "65534", "0 4242 65534"));
    let e = exec(
        "e3",
        Some(ProcessUser {
            user: "".into(),
            additional_groups: vec!["video".into()],
        }),
    )
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(
        e.message().contains("unable to find group video"),
        "{}",
        e.message()
    );
    rm(&lab, &id);

    // A Container.user the rootfs cannot resolve fails the task's creation, leaving nothing.
    let id = unique("rawbad");
    let e = create(
        &id,
        Some(ProcessUser {
            user: "nosuch".into(),
            additional_groups: vec![],
        }),
    )
    .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(
        e.message().contains("unable to find user nosuch"),
        "{}",
        e.message()
    );
    assert!(lab.task_status(&id).is_none());
    rm(&lab, &id);
}

#[test]
fn berthctl_run_init_makes_the_shim_pid_1() {
    require!(root);
    let lab = TaskLab::start();
    let comm = |args: &[&str]| {
        let id = unique("init");
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(args);
        a.extend([IMAGE, &id, "cat", "/proc/1/comm"]);
        let out = lab.ctl_ok(&a).trim().to_string();
        lab.assert_no_debris("default", &id);
        out
    };
    assert_eq!(comm(&["--init"]), "berth-shim");
    assert_eq!(comm(&[]), "cat");
}
