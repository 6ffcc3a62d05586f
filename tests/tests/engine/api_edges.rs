//! The edges of the API, answered as dockerd 20.10 answers them: rejections before any
//! handler runs (no route, wrong method, wrong Content-Type, malformed JSON, a body over the
//! limit) are JSON with dockerd's status and message and leave a keep-alive connection
//! usable; an archive upload with a hard link to nothing is refused whole; `docker cp` of a
//! device node or a FIFO keeps its type and mode; `exec --privileged` gets every capability.
//! Where dockerd is the oracle, the same checks run against Debian's dockerd 20.10, whose
//! answers are the expectations written here.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use base64::Engine as _;
use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::http::KeepAlive;
use berth_tests::require;

const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Asserts an error answer: its status, that it is JSON, and its message.
fn assert_error(r: &berth_tests::berthd::Response, status: u16, message: &str, daemon: &str) {
    assert_eq!(r.status, status, "{daemon}: {}", r.text());
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json"),
        "{daemon}: {r:?}"
    );
    assert_eq!(r.message(), message, "{daemon}");
}

/// Rejections on one keep-alive connection, each with a body, then a ping on it.
fn rejections_keep_the_connection(sock: &Path, daemon: &str) {
    let mut c = KeepAlive::connect(sock);
    let r = c
        .send(
            "POST",
            "/v1.41/no/such/route",
            &[JSON],
            b"{\"some\":\"body\"}",
        )
        .unwrap_or_else(|e| panic!("{daemon}: a POST to no route: {e}"));
    assert_error(&r, 404, "page not found", daemon);
    // A route that exists for other methods only.
    let r = c
        .send("PUT", "/v1.41/_ping", &[JSON], b"{}")
        .unwrap_or_else(|e| panic!("{daemon}: PUT /_ping: {e}"));
    assert_error(&r, 404, "page not found", daemon);
    let r = c
        .send(
            "POST",
            "/v1.41/containers/create",
            &[("Content-Type", "application/xml")],
            b"{}",
        )
        .unwrap_or_else(|e| panic!("{daemon}: a create in XML: {e}"));
    assert_error(
        &r,
        400,
        "Content-Type specified (application/xml) must be 'application/json'",
        daemon,
    );
    let r = c
        .send("POST", "/v1.41/networks/create", &[JSON], b"{bad")
        .unwrap_or_else(|e| panic!("{daemon}: a network create of bad JSON: {e}"));
    assert_eq!(r.status, 400, "{daemon}: {}", r.text());
    assert!(!r.message().is_empty(), "{daemon}: {}", r.text());
    let r = c
        .send("GET", "/_ping", &[], b"")
        .unwrap_or_else(|e| panic!("{daemon}: the connection is lost after the errors: {e}"));
    assert_eq!((r.status, r.text().as_str()), (200, "OK"), "{daemon}");
}

/// dockerd closes the connection after an error answer when more than a little of the body
/// is unread (its client sees a broken pipe); berthd reads the rest of any body first, up to
/// its limit, so even after a 413 the connection serves the next request.
#[test]
fn berthd_answers_errors_in_json_and_keeps_the_connection() {
    require!(root);
    let b = Berthd::start();
    rejections_keep_the_connection(&b.socket(), "berthd");

    let mut c = KeepAlive::connect(&b.socket());
    let big = vec![b' '; 4 << 20];
    let r = c
        .send("POST", "/v1.41/no/such/route", &[JSON], &big)
        .expect("a large POST to no route");
    assert_error(&r, 404, "page not found", "berthd");
    let r = c
        .send(
            "PUT",
            "/v1.41/containers/nosuch/archive?path=/",
            &[("Content-Type", "application/x-tar")],
            &big,
        )
        .expect("an upload to no container");
    assert_error(&r, 404, "No such container: nosuch", "berthd");
    let r = c
        .send("POST", "/v1.99/containers/create", &[JSON], &big)
        .expect("a create with a version too new");
    assert_error(
        &r,
        400,
        "client version 1.99 is too new. Maximum supported API version is 1.47",
        "berthd",
    );
    let r = c
        .send(
            "POST",
            "/v1.41/containers/create",
            &[JSON],
            &vec![b' '; 65 << 20],
        )
        .expect("a create over the limit");
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert!(
        r.message().starts_with("request body too large"),
        "{}",
        r.text()
    );
    let r = c
        .send("GET", "/_ping", &[], b"")
        .expect("the connection serves on after the errors");
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    assert_eq!(
        b.request("GET", "/containers/json?all=1", &[], b"").json(),
        serde_json::json!([]),
        "nothing was created"
    );
}

#[test]
fn dockerd_answers_errors_in_json_and_keeps_the_connection() {
    require!(root, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    rejections_keep_the_connection(&d.socket(), "dockerd");
}

/// An archive whose hard link points to nothing (dockerd answers 500 and leaves the entries
/// before it extracted) is refused with a 400 that names the link, and nothing of it is
/// left: new entries are removed, a replaced file comes back.
#[test]
fn an_upload_with_a_dangling_hard_link_is_refused_whole() {
    use berth_tests::images::{layer_tar, Entry};
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let d = b.cli();
    let name = berth_tests::unique("hardlink");
    d.ok(&[
        "run", "-d", "--name", &name, "--net", "none", "busybox", "sleep", "600",
    ]);
    d.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "mkdir /up && echo kept > /up/keep",
    ]);
    let listing = "cd /up && find . | sort && cat keep".to_string();
    let before = d.ok(&["exec", &name, "sh", "-c", &listing]);
    let bad = layer_tar(&[
        Entry::File("first.txt", b"first"),
        Entry::Dir("d"),
        Entry::File("d/inner", b"inner"),
        Entry::File("keep", b"replaced"),
        Entry::HardLink("d/hard", "missing-target"),
        Entry::File("after.txt", b"after"),
    ]);
    let r = b.request(
        "PUT",
        &format!("/containers/{name}/archive?path=/up"),
        &[("Content-Type", "application/x-tar")],
        &bad,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.message(),
        "hard link d/hard points to missing-target, which is neither earlier in the archive nor in the container; nothing of the archive was kept"
    );
    assert_eq!(d.ok(&["exec", &name, "sh", "-c", &listing]), before);
    // The same through `docker cp -` (an archive on stdin).
    let archive = b.dir.path().join("dangling.tar");
    std::fs::write(&archive, &bad).unwrap();
    let out = d
        .command()
        .args(["cp", "-", &format!("{name}:/up")])
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .expect("run docker cp");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error response from daemon: hard link d/hard points to missing-target"),
        "{err}"
    );
    assert_eq!(d.ok(&["exec", &name, "sh", "-c", &listing]), before);
    // A link to an entry earlier in the archive is made.
    let good = layer_tar(&[
        Entry::File("first.txt", b"first"),
        Entry::HardLink("second.txt", "first.txt"),
    ]);
    let r = b.request(
        "PUT",
        &format!("/containers/{name}/archive?path=/up"),
        &[("Content-Type", "application/x-tar")],
        &good,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        d.ok(&[
            "exec",
            &name,
            "stat",
            "-c",
            "%h %n",
            "/up/first.txt",
            "/up/second.txt"
        ]),
        "2 /up/first.txt\n2 /up/second.txt\n"
    );
    d.ok(&["rm", "-f", &name]);
}

/// One special file: its name, what `docker cp NAME:/x -` archives (type, mode, owner,
/// device numbers) and the Go file mode of its stat header.
struct Special {
    path: &'static str,
    kind: tar::EntryType,
    mode: u32,
    owner: (u64, u64),
    device: Option<(u32, u32)>,
    go_mode: u64,
}

/// dockerd's answers.
const SPECIALS: [Special; 3] = [
    Special {
        path: "/devnull",
        kind: tar::EntryType::Char,
        mode: 0o620,
        owner: (0, 0),
        device: Some((1, 3)),
        go_mode: 69206416,
    },
    Special {
        path: "/blk",
        kind: tar::EntryType::Block,
        mode: 0o644,
        owner: (0, 0),
        device: Some((7, 0)),
        go_mode: 67109284,
    },
    Special {
        path: "/fifo",
        kind: tar::EntryType::Fifo,
        mode: 0o640,
        owner: (12, 34),
        device: None,
        go_mode: 33554848,
    },
];

/// Device nodes and a FIFO made in a container come out of it as what they are, running
/// and stopped.
fn special_files_copy_out(d: &DockerCli, dir: &Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
    let name = berth_tests::unique("special");
    d.ok(&[
        "run", "-d", "--name", &name, "--net", "none", "busybox", "sleep", "600",
    ]);
    d.ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "mknod -m 0620 /devnull c 1 3 && mknod /blk b 7 0 && mkfifo -m 0640 /fifo && chown 12:34 /fifo",
    ]);
    for running in [true, false] {
        if !running {
            d.ok(&["stop", "-t", "0", &name]);
        }
        for s in &SPECIALS {
            let what = format!("{}: {} (running: {running})", d.daemon, s.path);
            let out = d
                .command()
                .args(["cp", &format!("{name}:{}", s.path), "-"])
                .output()
                .expect("run docker cp");
            assert!(
                out.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let mut ar = tar::Archive::new(&out.stdout[..]);
            let entries: Vec<_> = ar.entries().unwrap().map(|e| e.unwrap()).collect();
            assert_eq!(entries.len(), 1, "{what}");
            let h = entries[0].header();
            let top = s.path.trim_start_matches('/');
            assert_eq!(entries[0].path().unwrap().to_str(), Some(top), "{what}");
            assert_eq!(h.entry_type(), s.kind, "{what}");
            assert_eq!(h.mode().unwrap() & 0o7777, s.mode, "{what}");
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), s.owner, "{what}");
            assert_eq!(h.size().unwrap(), 0, "{what}");
            if let Some((major, minor)) = s.device {
                assert_eq!(
                    (h.device_major().unwrap(), h.device_minor().unwrap()),
                    (Some(major), Some(minor)),
                    "{what}"
                );
            }
            let r = raw_request(
                &d.socket(),
                "HEAD",
                &format!("/v1.41/containers/{name}/archive?path={}", s.path),
                &[],
                b"",
            );
            assert_eq!(r.status, 200, "{what}");
            let stat = r
                .header("X-Docker-Container-Path-Stat")
                .unwrap_or_else(|| panic!("{what}: no stat header"));
            let stat: serde_json::Value = serde_json::from_slice(
                &base64::engine::general_purpose::STANDARD
                    .decode(stat)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(stat["name"], top, "{what}");
            assert_eq!(stat["size"], 0, "{what}");
            assert_eq!(stat["mode"], s.go_mode, "{what}");
            assert_eq!(stat["linkTarget"], "", "{what}");
        }
    }
    // Copied to the host, the CLI makes them as what they are.
    let out = dir.join(format!("cp-out-{}", d.daemon));
    std::fs::create_dir_all(&out).unwrap();
    for s in ["/devnull", "/fifo"] {
        d.ok(&[
            "cp",
            &format!("{name}:{s}"),
            out.to_str().expect("utf-8 path"),
        ]);
    }
    let devnull = std::fs::symlink_metadata(out.join("devnull")).unwrap();
    assert!(devnull.file_type().is_char_device(), "{}", d.daemon);
    assert_eq!(devnull.rdev(), libc::makedev(1, 3), "{}", d.daemon);
    let fifo = std::fs::symlink_metadata(out.join("fifo")).unwrap();
    assert!(fifo.file_type().is_fifo(), "{}", d.daemon);
    d.ok(&["rm", "-f", &name]);
}

#[test]
fn berthd_copies_device_nodes_and_fifos_out() {
    require!(root, docker_cli);
    let b = Berthd::start();
    special_files_copy_out(&b.cli(), b.dir.path());
}

#[test]
fn dockerd_copies_device_nodes_and_fifos_out() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    special_files_copy_out(&d.cli(), d.dir.path());
}

/// The capability lines and seccomp mode of /proc/self/status of a process.
fn status_lines(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

const STATUS: &str = "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|Seccomp|NoNewPrivs):' /proc/self/status";

/// The capabilities of this host's bounding set, as a hex mask like /proc's.
fn host_bounding() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let v = status_lines(&status)["CapBnd"].clone();
    u64::from_str_radix(&v, 16).unwrap()
}

/// `exec --privileged` in a container that is not: the exec alone gets every capability
/// (bounding, permitted and effective; none inheritable or ambient), the container's seccomp
/// filter stays, and the next plain exec is confined again. dockerd asks for every
/// capability it knows (0 to 37) and fails where the host's bounding set lacks one of them;
/// berthd gives every capability the host has.
fn privileged_exec(d: &DockerCli, dir: &Path, all: Result<u64, &str>) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
    let name = berth_tests::unique("privexec");
    d.ok(&[
        "run", "-d", "--name", &name, "--net", "none", "busybox", "sleep", "600",
    ]);
    let plain = status_lines(&d.ok(&["exec", &name, "sh", "-c", STATUS]));
    assert_eq!(plain["CapEff"], "00000000a80425fb", "{}", d.daemon);
    assert_eq!(plain["Seccomp"], "2", "{}", d.daemon);
    match all {
        Ok(all) => {
            let all = format!("{all:016x}");
            let privileged =
                status_lines(&d.ok(&["exec", "--privileged", &name, "sh", "-c", STATUS]));
            for set in ["CapBnd", "CapPrm", "CapEff"] {
                assert_eq!(privileged[set], all, "{}: {set}", d.daemon);
            }
            for set in ["CapInh", "CapAmb"] {
                assert_eq!(privileged[set], "0000000000000000", "{}: {set}", d.daemon);
            }
            assert_eq!(privileged["Seccomp"], "2", "{}", d.daemon);
            assert_eq!(privileged["NoNewPrivs"], "0", "{}", d.daemon);
        }
        Err(message) => {
            // The CLI prints the runtime's error on its stdout.
            let (code, out, err) = d.run(&["exec", "--privileged", &name, "true"]);
            assert_eq!(code, 126, "{}: {out}{err}", d.daemon);
            assert!(
                out.contains(message) || err.contains(message),
                "{}: {out}{err}",
                d.daemon
            );
        }
    }
    let again = status_lines(&d.ok(&["exec", &name, "sh", "-c", STATUS]));
    assert_eq!(again, plain, "{}", d.daemon);
    d.ok(&["rm", "-f", &name]);
}

#[test]
fn berthd_gives_a_privileged_exec_every_capability() {
    require!(root, docker_cli);
    let b = Berthd::start();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let known = (1u64 << (last + 1)) - 1;
    privileged_exec(&b.cli(), b.dir.path(), Ok(host_bounding() & known));
}

#[test]
fn dockerd_gives_a_privileged_exec_every_capability() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    // CAP_CHOWN to CAP_WAKE_ALARM: the capabilities dockerd 20.10 knows.
    let dockerds = (1u64 << 38) - 1;
    let expected = if host_bounding() & dockerds == dockerds {
        Ok(dockerds)
    } else {
        Err("unable to apply caps: operation not permitted")
    };
    privileged_exec(&d.cli(), d.dir.path(), expected);
}
