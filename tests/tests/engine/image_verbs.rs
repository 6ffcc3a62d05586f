//! The image verbs around a container with the docker CLI on berthd: `diff`, `commit`
//! (message, author, `--change`, pause), `export`, `import` (file, stdin, compressed body),
//! and their refusals, with dockerd 20.10's answers as the expectation.

use std::collections::BTreeSet;
use std::process::Command;

use berth_tests::berthd::Berthd;
use berth_tests::bins::bin;
use berth_tests::{require, unique};

/// berthctl on berthd's shimd, in the engine's namespace.
fn ctl(b: &Berthd, args: &[&str]) -> String {
    let out = Command::new(bin("berthctl"))
        .arg("--address")
        .arg(b.exec_root().join("shimd.sock"))
        .args(["-n", "berth"])
        .args(args)
        .output()
        .expect("run berthctl");
    assert!(
        out.status.success(),
        "berthctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Images, blobs, snapshots and leases shimd holds for the engine.
fn store_state(b: &Berthd) -> (String, String, String, String) {
    (
        ctl(b, &["images", "ls", "-q"]),
        // Digest and size: the AGE column moves on while the test runs.
        ctl(b, &["content", "ls"])
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ") + "\n")
            .collect(),
        ctl(b, &["snapshots", "ls"]),
        ctl(b, &["leases", "ls"]),
    )
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines().map(str::to_string).collect()
}

#[test]
fn diff_then_commit_with_message_author_and_changes() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let c = unique("chg");
    b.docker_ok(&[
        "run", "--name", &c, "busybox", "sh", "-c",
        "echo new > /root/added; echo x >> /etc/passwd; rm /bin/ls; mkdir -p /a/b/c; touch /a/b/c/f",
    ]);
    // dockerd 20.10 lists exactly these for the same commands (in another order).
    let want = [
        "C /etc",
        "C /etc/passwd",
        "C /bin",
        "D /bin/ls",
        "C /root",
        "A /root/added",
        "A /a",
        "A /a/b",
        "A /a/b/c",
        "A /a/b/c/f",
    ];
    let got = b.docker_ok(&["diff", &c]);
    assert_eq!(
        lines(&got),
        want.iter().map(|s| s.to_string()).collect(),
        "{got}"
    );
    // Directories come before their contents.
    let order: Vec<&str> = got.lines().collect();
    let pos = |s: &str| order.iter().position(|l| *l == s).unwrap();
    assert!(pos("A /a") < pos("A /a/b/c/f") && pos("C /root") < pos("A /root/added"));

    let out = b.docker_ok(&[
        "commit",
        "-m",
        "my message",
        "-a",
        "Some One <one@example.com>",
        "-c",
        "ENV COMMITTED=$PATH:1",
        "-c",
        r#"CMD ["cat", "/root/added"]"#,
        "-c",
        "EXPOSE 8080",
        "-c",
        "WORKDIR /root",
        "-c",
        "LABEL who=me",
        &c,
        "local/committed:v1",
    ]);
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    assert_eq!(b.docker_ok(&["run", "--rm", "local/committed:v1"]), "new\n");
    let out = b.docker_ok(&[
        "run",
        "--rm",
        "local/committed:v1",
        "sh",
        "-c",
        "echo $COMMITTED; pwd; tail -1 /etc/passwd; test -e /bin/ls || echo no-ls",
    ]);
    assert_eq!(out, "/bin:1\n/root\nx\nno-ls\n");
    let inspect = b.docker_ok(&[
        "image", "inspect", "-f",
        "{{.Id}}|{{.Author}}|{{.Comment}}|{{json .Config.ExposedPorts}}|{{json .Config.Labels}}|{{.Container}}",
        "local/committed:v1",
    ]);
    let full = b.docker_ok(&["inspect", "-f", "{{.Id}}", &c]);
    assert_eq!(
        inspect.trim(),
        format!(
            "{id}|Some One <one@example.com>|my message|{{\"8080/tcp\":{{}}}}|{{\"who\":\"me\"}}|{}",
            full.trim()
        )
    );
    // History: the new layer first, with the message and the container's command.
    let hist = b.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "local/committed:v1",
    ]);
    let first = hist.lines().next().unwrap();
    assert!(
        first.starts_with("sh -c echo new > /root/added;") && first.ends_with("|my message"),
        "{hist}"
    );
    // A commit of a container of the committed image keeps its history and adds one entry
    // (the busybox fixture has no history of its own, so the first commit's is one entry).
    let again = unique("again");
    b.docker_ok(&[
        "run",
        "--name",
        &again,
        "local/committed:v1",
        "touch",
        "/again",
    ]);
    b.docker_ok(&["commit", "-m", "second", &again, "local/committed:v2"]);
    let hist2 = b.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "local/committed:v2",
    ]);
    assert_eq!(
        hist2.lines().collect::<Vec<_>>(),
        [
            &["touch /again|second"][..],
            &hist.lines().collect::<Vec<_>>()
        ]
        .concat(),
        "{hist2}"
    );
    b.docker_ok(&["rm", &again]);
    b.docker_ok(&["rmi", "local/committed:v2"]);

    // A container without changes: `null`, as dockerd answers.
    let quiet = unique("quiet");
    b.docker_ok(&["create", "--name", &quiet, "busybox", "true"]);
    let r = b.request(
        "GET",
        &format!("/v1.41/containers/{quiet}/changes"),
        &[],
        b"",
    );
    assert_eq!((r.status, r.text().trim()), (200, "null"));
    // A volume's mount point is the container's own change.
    let vol = unique("vol");
    b.docker_ok(&["run", "--name", &vol, "-v", "/data", "busybox", "true"]);
    assert_eq!(b.docker_ok(&["diff", &vol]), "A /data\n");
    b.docker_ok(&["rm", "-v", &c, &quiet, &vol]);
    b.docker_ok(&["rmi", "local/committed:v1"]);
}

#[test]
fn commit_pauses_a_running_container_and_resumes_it() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let c = unique("run");
    b.docker_ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "busybox",
        "sh",
        "-c",
        "echo on > /tmp/state; exec sleep 300",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !b.docker_ok(&["diff", &c]).contains("A /tmp/state") {
        assert!(
            std::time::Instant::now() < deadline,
            "the container never wrote its file"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let since = b.docker_ok(&["version", "-f", "{{.Server.Version}}"]);
    assert!(!since.is_empty());
    b.docker_ok(&["commit", "--pause=true", &c, "local/paused:1"]);
    b.docker_ok(&[
        "commit",
        "--pause=false",
        "-c",
        "USER nobody",
        &c,
        "local/unpaused:1",
    ]);
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.Paused}}", &c])
            .trim(),
        "running false"
    );
    assert_eq!(
        b.docker_ok(&["run", "--rm", "local/paused:1", "cat", "/tmp/state"]),
        "on\n"
    );
    assert_eq!(
        b.docker_ok(&["run", "--rm", "local/unpaused:1", "id", "-un"]),
        "nobody\n"
    );
    b.docker_ok(&["rm", "-f", &c]);
    b.docker_ok(&["rmi", "local/paused:1", "local/unpaused:1"]);
}

#[test]
fn export_then_import_from_a_file_stdin_and_a_gzip_body() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let c = unique("exp");
    b.docker_ok(&[
        "run",
        "--name",
        &c,
        "busybox",
        "sh",
        "-c",
        "echo new > /root/added; rm /bin/ls",
    ]);
    let tar = b.data_root().parent().unwrap().join(format!("{c}.tar"));
    b.docker_ok(&["export", &c, "-o", tar.to_str().unwrap()]);
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let names = lines(&listing);
    for want in ["root/added", "bin/", "bin/sh", "etc/passwd", "proc/"] {
        assert!(names.contains(want), "export lacks {want}: {listing}");
    }
    assert!(!names.contains("bin/ls"), "the deleted file was exported");
    assert!(
        !names.iter().any(|n| n.starts_with("proc/") && n.len() > 5),
        "kernel files were exported"
    );

    // From the file, with a change and a message.
    b.docker_ok(&[
        "import",
        "-m",
        "from a file",
        "-c",
        r#"CMD ["cat","/root/added"]"#,
        tar.to_str().unwrap(),
        "local/imported:file",
    ]);
    assert_eq!(
        b.docker_ok(&["run", "--rm", "local/imported:file"]),
        "new\n"
    );
    let hist = b.docker_ok(&["history", "--format", "{{.Comment}}", "local/imported:file"]);
    assert_eq!(hist, "from a file\n");
    // From stdin: dockerd's comment names the source.
    let data = std::fs::read(&tar).unwrap();
    let (code, out, err) = b.docker_stdin(&["import", "-", "local/imported:stdin"], &data);
    assert_eq!(code, 0, "{err}");
    assert!(out.trim().starts_with("sha256:"), "{out}");
    let hist = b.docker_ok(&[
        "history",
        "--format",
        "{{.Comment}}",
        "local/imported:stdin",
    ]);
    assert_eq!(hist, "Imported from -\n");
    assert_eq!(
        b.docker_ok(&["run", "--rm", "local/imported:stdin", "cat", "/root/added"]),
        "new\n"
    );
    // A gzip body through the API answers dockerd's status line.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &data).unwrap();
    let r = b.request(
        "POST",
        "/v1.41/images/create?fromSrc=-&repo=local/imported&tag=gz",
        &[("Content-Type", "application/x-tar")],
        &gz.finish().unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let id = b.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "local/imported:gz"]);
    assert_eq!(r.json()["status"].as_str().unwrap(), id.trim());
    b.docker_ok(&["rm", &c]);
    b.docker_ok(&[
        "rmi",
        "local/imported:file",
        "local/imported:stdin",
        "local/imported:gz",
    ]);
    std::fs::remove_file(&tar).unwrap();
}

#[test]
fn bad_input_is_refused_as_dockerd_refuses_it_and_leaves_nothing() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let c = unique("bad");
    b.docker_ok(&["run", "--name", &c, "busybox", "sh", "-c", "echo x > /f"]);

    for (change, msg) in [
        ("RUN echo", "run is not a valid change command"),
        ("FROM busybox", "from is not a valid change command"),
        ("ENV", "ENV requires at least one argument"),
    ] {
        let (code, _, err) = b.docker_run(&["commit", "-c", change, &c, "local/bad:1"]);
        assert_ne!(code, 0, "{change}");
        assert!(err.contains(msg), "{change}: {err}");
        let (code, _, err) = b.docker_run(&["import", "-c", change, "-", "local/bad:1"]);
        assert_ne!(code, 0, "{change}");
        assert!(err.contains(msg), "{change}: {err}");
    }
    // Malformed JSON is not an error: like a Dockerfile, the change falls back to the shell
    // form (dockerd 20.10 commits `CMD ["unterminated` as `/bin/sh -c '["unterminated'`).
    b.docker_ok(&[
        "commit",
        "-c",
        r#"CMD ["unterminated"#,
        &c,
        "local/shellform:1",
    ]);
    assert_eq!(
        b.docker_ok(&["inspect", "-f", "{{json .Config.Cmd}}", "local/shellform:1"])
            .trim(),
        r#"["/bin/sh","-c","[\"unterminated"]"#
    );
    b.docker_ok(&["rmi", "local/shellform:1"]);
    let before = store_state(&b);
    let q = |s: &str| s.replace(' ', "%20");
    let r = b.request(
        "POST",
        &format!(
            "/v1.41/commit?container={c}&repo=local/bad&changes={}",
            q("RUN x")
        ),
        &[],
        b"",
    );
    assert_eq!(
        (r.status, r.message().as_str()),
        (400, "run is not a valid change command")
    );
    // A missing container is a 404 for each verb.
    for (m, p) in [
        ("GET", "/v1.41/containers/nosuch/changes".to_string()),
        ("GET", "/v1.41/containers/nosuch/export".to_string()),
        (
            "POST",
            "/v1.41/commit?container=nosuch&repo=local/x".to_string(),
        ),
    ] {
        let r = b.request(m, &p, &[], b"");
        assert_eq!(
            (r.status, r.message().as_str()),
            (404, "No such container: nosuch"),
            "{p}"
        );
    }
    let (code, _, err) = b.docker_run(&["diff", "nosuch"]);
    assert!(
        code != 0 && err.contains("No such container: nosuch"),
        "{err}"
    );
    // An invalid repository name: dockerd 20.10's 500 and words.
    let r = b.request(
        "POST",
        &format!("/v1.41/commit?container={c}&repo=Bad%20Name"),
        &[],
        b"",
    );
    assert_eq!(r.status, 500);
    assert!(
        r.message().contains("invalid reference format"),
        "{}",
        r.message()
    );
    let (code, _, err) = b.docker_run(&["commit", &c, "local/UPPER"]);
    assert!(
        code != 0 && err.contains("invalid reference format") && err.contains("must be lowercase"),
        "{err}"
    );
    // A body that is not a tar.
    let (code, _, err) = b.docker_stdin(&["import", "-", "local/notar:1"], &[b'x'; 1500]);
    assert_ne!(code, 0);
    assert!(err.contains("Error processing tar file"), "{err}");
    // A hostile tar: an entry climbing out of the root is refused by the unpacker.
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    let mut raw = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut raw);
        let name = b"../escaped";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        builder.append(&h, &b"x"[..]).unwrap();
        builder.finish().unwrap();
    }
    let (code, _, err) = b.docker_stdin(&["import", "-", "local/escape:1"], &raw);
    assert_ne!(code, 0, "a layer with ../ was imported");
    assert!(err.contains(".."), "{err}");
    assert!(!b.data_root().parent().unwrap().join("escaped").exists());

    // Nothing of the failures is left: images, blobs, snapshots, leases as before.
    assert_eq!(store_state(&b), before);
    let (code, _, _) = b.docker_run(&["image", "inspect", "local/bad:1"]);
    assert_ne!(code, 0);
    b.docker_ok(&["rm", &c]);
}
