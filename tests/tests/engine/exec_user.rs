//! Who `docker run` and `docker exec` processes run as: an exec without `-u` runs as the
//! container's main process (`-u`, the image's USER, `--group-add`), `exec -u` is resolved
//! in the container the same way; the exit codes of a command that cannot start; the
//! framing of an exec's output by the start request's Tty. Each check runs with the docker
//! CLI against berthd, and the same against Debian's dockerd 20.10, whose answers are the
//! expectations written here.

use std::path::Path;

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::require;

/// `id` of root, nobody and app in the busybox image and in the one with group members.
const ROOT: &str = "uid=0(root) gid=0(root) groups=0(root)";
const NOBODY: &str = "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)";
const ROOT_MEMBER: &str = "uid=0(root) gid=0(root) groups=0(root),1(bin),10(wheel)";
const APP_MEMBER: &str =
    "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio),50(staff),1000(app)";
const NOBODY_MEMBER: &str = "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)";

/// Loads busybox, `members` (busybox with group members) and `members:user1000` (the same
/// with `User: 1000` in its config).
fn load_images(d: &DockerCli, dir: &Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    let members = berth_tests::cli::image_archive(
        dir,
        &berth_tests::images::members_image(""),
        "members.tar",
        "members:latest",
    );
    let user1000 = berth_tests::cli::image_archive(
        dir,
        &berth_tests::images::members_image("1000"),
        "user1000.tar",
        "members:user1000",
    );
    for a in [busybox, members, user1000] {
        d.ok(&["load", "-i", a.to_str().expect("utf-8 path")]);
    }
}

/// `id` printed by `docker run --rm <args> <image> id`.
fn run_id(d: &DockerCli, args: &[&str], image: &str) -> String {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(args);
    a.extend([image, "id"]);
    d.ok(&a).trim().to_string()
}

/// A container started with `args` from `image`, sleeping; removed when dropped.
struct Running<'a> {
    d: &'a DockerCli,
    id: String,
}

impl<'a> Running<'a> {
    fn start(d: &'a DockerCli, args: &[&str], image: &str) -> Running<'a> {
        let mut a = vec!["run", "-d", "--network", "none"];
        a.extend_from_slice(args);
        a.extend([image, "sleep", "300"]);
        let id = d.ok(&a).trim().to_string();
        Running { d, id }
    }

    /// `docker exec <args> <container> <cmd...>`: (exit code, stdout + stderr).
    fn exec(&self, args: &[&str], cmd: &[&str]) -> (i32, String) {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        a.push(&self.id);
        a.extend_from_slice(cmd);
        let (code, out, err) = self.d.run(&a);
        (code, format!("{out}{err}").trim().to_string())
    }

    /// `id` printed by an exec with `args`.
    fn id(&self, args: &[&str]) -> String {
        let (code, out) = self.exec(args, &["id"]);
        assert_eq!(code, 0, "exec {args:?} id against {}: {out}", self.d.daemon);
        out
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.d.run(&["rm", "-f", &self.id]);
    }
}

/// For each `docker run` user option: the `id` of the main process and of a plain exec
/// (the same), and of `exec -u` with other users.
fn identities(d: &DockerCli) {
    let cases: &[(&[&str], &str, &str)] = &[
        (&[], "busybox", ROOT),
        (&["-u", "65534"], "busybox", NOBODY),
        (&["-u", "65534:65534"], "busybox", NOBODY),
        (&["-u", "nobody"], "busybox", NOBODY),
        (&["-u", "0"], "busybox", ROOT),
        (
            &["-u", "1000"],
            "busybox",
            "uid=1000 gid=0(root) groups=0(root)",
        ),
        (
            &["--group-add", "nobody"],
            "busybox",
            "uid=0(root) gid=0(root) groups=0(root),65534(nobody)",
        ),
        (
            &["-u", "1000:1000", "--group-add", "7"],
            "busybox",
            "uid=1000 gid=1000 groups=7,1000",
        ),
        (&[], "members", ROOT_MEMBER),
        (&["-u", "0:0"], "members", ROOT),
        (&["-u", "app"], "members", APP_MEMBER),
        (&["-u", "1000"], "members", APP_MEMBER),
        (
            &["-u", "1000:1000"],
            "members",
            "uid=1000(app) gid=1000(app) groups=1000(app)",
        ),
        (
            &["-u", "app:wheel"],
            "members",
            "uid=1000(app) gid=10(wheel) groups=10(wheel)",
        ),
        (&["-u", "nobody"], "members", NOBODY_MEMBER),
        (
            &["-u", "65534", "--group-add", "root"],
            "members",
            "uid=65534(nobody) gid=65534(nogroup) groups=0(root),65534(nogroup)",
        ),
        // The image's USER.
        (&[], "members:user1000", APP_MEMBER),
        (&["-u", "0"], "members:user1000", ROOT_MEMBER),
    ];
    for (args, image, want) in cases {
        let what = format!("{args:?} {image} against {}", d.daemon);
        assert_eq!(run_id(d, args, image), *want, "run {what}");
        let c = Running::start(d, args, image);
        assert_eq!(c.id(&[]), *want, "exec in a container run {what}");
    }
}

/// `exec -u` resolves the user in the container, with the container's `--group-add`.
fn exec_users(d: &DockerCli) {
    let c = Running::start(d, &["-u", "nobody"], "busybox");
    assert_eq!(c.id(&["-u", "0"]), ROOT);
    assert_eq!(c.id(&["-u", "root"]), ROOT);
    assert_eq!(c.id(&["-u", "1000"]), "uid=1000 gid=0(root) groups=0(root)");
    let c = Running::start(d, &["-u", "nobody"], "members");
    assert_eq!(c.id(&["-u", "app"]), APP_MEMBER);
    assert_eq!(c.id(&["-u", "1000"]), APP_MEMBER);
    assert_eq!(c.id(&["-u", "0"]), ROOT_MEMBER);
    assert_eq!(
        c.id(&["-u", "app:audio"]),
        "uid=1000(app) gid=29(audio) groups=29(audio)"
    );
    let c = Running::start(d, &["-u", "1000:1000", "--group-add", "7"], "members");
    assert_eq!(
        c.id(&["-u", "0"]),
        "uid=0(root) gid=0(root) groups=0(root),1(bin),7,10(wheel)"
    );
    assert_eq!(
        c.id(&["-u", "nobody"]),
        "uid=65534(nobody) gid=65534(nogroup) groups=7,65534(nogroup)"
    );
    assert_eq!(
        c.id(&["-u", "app"]),
        "uid=1000(app) gid=1000(app) groups=7,10(wheel),29(audio),50(staff),1000(app)"
    );
    // Users and groups the container does not have: 126, saying what is missing.
    let (code, out) = c.exec(&["-u", "nosuch"], &["id"]);
    assert_eq!(code, 126, "{out}");
    assert!(out.contains("unable to find user nosuch"), "{out}");
    let (code, out) = c.exec(&["-u", "app:nosuch"], &["id"]);
    assert_eq!(code, 126, "{out}");
    assert!(out.contains("unable to find group nosuch"), "{out}");
    // The container goes on as before.
    assert_eq!(c.id(&[]), "uid=1000(app) gid=1000(app) groups=7,1000(app)");
    // A user the image lacks fails the start, naming it.
    let (code, _, err) = d.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "nosuch",
        "busybox",
        "true",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("unable to find user nosuch"), "{err}");
}

/// A command that cannot start: `exec` exits 126 (missing, not executable, not in PATH),
/// `run` 127 when it is missing and 126 when it is not executable.
fn exit_codes(d: &DockerCli) {
    let c = Running::start(d, &[], "busybox");
    for cmd in ["/nonexistent", "nonexistent", "/etc"] {
        for tty in [false, true] {
            let args: &[&str] = if tty { &["-t"] } else { &[] };
            let (code, out) = c.exec(args, &[cmd]);
            assert_eq!(code, 126, "exec {args:?} {cmd} against {}: {out}", d.daemon);
            assert!(out.contains(cmd), "exec {cmd} against {}: {out}", d.daemon);
        }
    }
    let (code, out) = c.exec(&["-w", "/nonexistent"], &["true"]);
    assert_eq!(
        code, 126,
        "exec -w /nonexistent against {}: {out}",
        d.daemon
    );
    // Detached, the start itself fails, as a daemon error.
    let (code, out) = c.exec(&["-d"], &["/nonexistent"]);
    assert_eq!(code, 1, "exec -d /nonexistent against {}: {out}", d.daemon);
    assert!(
        out.to_lowercase().contains("no such file or directory"),
        "{out}"
    );
    // A command that ran keeps its own code.
    assert_eq!(c.exec(&[], &["sh", "-c", "exit 126"]).0, 126);
    assert_eq!(c.exec(&[], &["sh", "-c", "exit 127"]).0, 127);

    for (cmd, want) in [("/nonexistent", 127), ("nonexistent", 127), ("/etc", 126)] {
        let (code, _, err) = d.run(&["run", "--rm", "--network", "none", "busybox", cmd]);
        assert_eq!(code, want, "run {cmd} against {}: {err}", d.daemon);
    }
}

/// Splits a multiplexed stream into (stdout, stderr).
fn demux(mut b: &[u8]) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while b.len() >= 8 {
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let data = &b[8..(8 + n).min(b.len())];
        match b[0] {
            1 => out.extend_from_slice(data),
            2 => err.extend_from_slice(data),
            k => panic!("stream {k} in a multiplexed stream: {b:?}"),
        }
        b = &b[(8 + n).min(b.len())..];
    }
    assert!(b.is_empty(), "a partial frame is left: {b:?}");
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// `POST /exec/{id}/start` frames the output by the start request's `Tty`, whatever the
/// exec was created with: raw stdout (stderr dropped) with it, multiplexed without.
fn start_tty_decides_the_framing(d: &DockerCli) {
    let c = Running::start(d, &[], "busybox");
    let sock = d.socket();
    let json = [("Content-Type", "application/json")];
    for (create_tty, start_tty) in [(false, false), (false, true), (true, false), (true, true)] {
        let create = serde_json::json!({
            "Cmd": ["sh", "-c", "echo out; echo err >&2"],
            "AttachStdout": true, "AttachStderr": true, "Tty": create_tty,
        });
        let r = raw_request(
            &sock,
            "POST",
            &format!("/v1.41/containers/{}/exec", c.id),
            &json,
            create.to_string().as_bytes(),
        );
        assert_eq!(
            r.status,
            201,
            "exec create against {}: {}",
            d.daemon,
            r.text()
        );
        let exec = r.json()["Id"].as_str().expect("an exec id").to_string();
        let start = serde_json::json!({"Detach": false, "Tty": start_tty});
        let r = raw_request(
            &sock,
            "POST",
            &format!("/v1.41/exec/{exec}/start"),
            &json,
            start.to_string().as_bytes(),
        );
        let what = format!(
            "created with Tty {create_tty}, started with {start_tty}, against {}",
            d.daemon
        );
        assert!(r.status < 300, "{what}: {}", r.text());
        // A terminal ends lines with \r\n and merges stderr into stdout.
        let nl = if create_tty { "\r\n" } else { "\n" };
        if start_tty {
            let want = if create_tty {
                format!("out{nl}err{nl}")
            } else {
                "out\n".to_string()
            };
            assert_eq!(r.text(), want, "{what}");
        } else {
            let (out, err) = demux(&r.body);
            if create_tty {
                assert_eq!(
                    (out.as_str(), err.as_str()),
                    (format!("out{nl}err{nl}").as_str(), ""),
                    "{what}"
                );
            } else {
                assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"), "{what}");
            }
        }
    }
}

/// A named check, run against one daemon.
type Check = (&'static str, fn(&DockerCli));

/// Runs the checks against one daemon, each even when another failed; panics at the end
/// naming those that failed.
fn run_all(d: &DockerCli, dir: &Path) {
    load_images(d, dir);
    let checks: &[Check] = &[
        ("identities", identities),
        ("exec_users", exec_users),
        ("exit_codes", exit_codes),
        (
            "start_tty_decides_the_framing",
            start_tty_decides_the_framing,
        ),
    ];
    let mut failed = Vec::new();
    for (name, f) in checks {
        eprintln!("=== {name} against {}", d.daemon);
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(d))).is_err() {
            failed.push(*name);
        }
    }
    assert!(failed.is_empty(), "failed against {}: {failed:?}", d.daemon);
}

#[test]
fn berthd() {
    require!(root, docker_cli);
    let b = Berthd::start();
    run_all(&b.cli(), b.dir.path());
}

/// The same checks against Debian's dockerd: the expectations are its answers.
#[test]
fn dockerd() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli(), d.dir.path());
}
