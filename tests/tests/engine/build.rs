//! `docker build` with the classic builder (`DOCKER_BUILDKIT=0`) on berthd: the step stream
//! in dockerd 20.10's words, multi-stage builds with `--target`, build arguments,
//! `.dockerignore`, `COPY --chown`, ADD of a local tar, the cache (hits on an unchanged
//! rebuild, invalidation by a changed file, kept across a berthd restart) and the refusals
//! (a failing RUN, a malformed Dockerfile, a path outside the context), with no container
//! left behind.

use std::path::Path;

use berth_tests::berthd::Berthd;
use berth_tests::{require, unique};

/// `docker build ARGS CONTEXT` with the classic builder: (exit code, stdout, stderr).
fn build(b: &Berthd, args: &[&str], ctx: &Path) -> (i32, String, String) {
    let out = b
        .docker()
        .env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .args(args)
        .arg(ctx)
        .output()
        .expect("run docker build");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn build_ok(b: &Berthd, args: &[&str], ctx: &Path) -> String {
    let (code, out, err) = build(b, args, ctx);
    assert_eq!(
        code,
        0,
        "docker build {args:?}: {err}{out}\n--- berthd log ---\n{}",
        b.log_tail(30)
    );
    out
}

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("ctx-").tempdir().unwrap();
    for (name, data) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    d
}

fn image_id(b: &Berthd, name: &str) -> String {
    b.docker_ok(&["image", "inspect", "-f", "{{.Id}}", name])
        .trim()
        .to_string()
}

/// The snapshots and leases shimd holds for the engine (berthctl in its namespace).
fn snapshots_and_leases(b: &Berthd) -> String {
    let mut all = String::new();
    for what in ["snapshots", "leases"] {
        let out = std::process::Command::new(berth_tests::bins::bin("berthctl"))
            .arg("--address")
            .arg(b.exec_root().join("shimd.sock"))
            .args(["-n", "berth", what, "ls"])
            .output()
            .expect("run berthctl");
        assert!(out.status.success(), "berthctl {what} ls");
        all.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    all
}

fn containers(b: &Berthd) -> usize {
    b.docker_ok(&["ps", "-aq"]).lines().count()
}

/// The output with the IDs (12 hex digits after ` ---> `, `Running in `, ...) replaced.
fn shape(out: &str) -> Vec<String> {
    let is_id = |w: &str| {
        w.len() == 12
            && w.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    };
    out.lines()
        .filter(|l| !l.starts_with("Sending build context"))
        .map(|l| {
            l.split(' ')
                .map(|w| if is_id(w) { "<id>" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn step_stream_cache_hits_invalidation_and_restart() {
    require!(root, docker_cli);
    let mut b = Berthd::with_busybox();
    let tag = unique("bld");
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nENV A=1\nRUN echo built-$A\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/f.txt\"]\n"),
        ("f.txt", "one\n"),
    ]);
    let out = build_ok(&b, &["-t", &tag], ctx.path());
    // dockerd 20.10's stream for the same Dockerfile, IDs aside.
    let want = [
        "Step 1/5 : FROM busybox",
        " ---> <id>",
        "Step 2/5 : ENV A=1",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 3/5 : RUN echo built-$A",
        " ---> Running in <id>",
        "built-1",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 4/5 : COPY f.txt /f.txt",
        " ---> <id>",
        "Step 5/5 : CMD [\"cat\", \"/f.txt\"]",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Successfully built <id>",
    ];
    let got = shape(&out);
    assert_eq!(&got[..want.len()], want, "{out}");
    assert_eq!(got[want.len()], format!("Successfully tagged {tag}:latest"));
    let id1 = image_id(&b, &tag);
    assert!(
        out.contains(&format!("Successfully built {}", &id1[7..19])),
        "{out}"
    );
    assert_eq!(b.docker_ok(&["run", "--rm", &tag]), "one\n");
    assert_eq!(containers(&b), 0, "intermediate containers left");
    let hist = b.docker_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    assert!(hist.contains("/bin/sh -c #(nop)  ENV A=1"), "{hist}");
    assert!(hist.contains("/bin/sh -c echo built-$A"), "{hist}");

    // Unchanged: every step from the cache, the same image.
    let out = build_ok(&b, &["-t", &tag], ctx.path());
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(image_id(&b, &tag), id1);

    // A changed file: the steps before its COPY are cached, the rest rebuilt.
    std::fs::write(ctx.path().join("f.txt"), "two\n").unwrap();
    let out = build_ok(&b, &["-t", &tag], ctx.path());
    assert_eq!(out.matches(" ---> Using cache").count(), 2, "{out}");
    let id2 = image_id(&b, &tag);
    assert_ne!(id2, id1);
    assert_eq!(b.docker_ok(&["run", "--rm", &tag]), "two\n");

    // The cache survives a restart of berthd; nocache disables it.
    b.restart();
    let out = build_ok(&b, &["-t", &tag], ctx.path());
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    assert_eq!(image_id(&b, &tag), id2);
    let out = build_ok(&b, &["--no-cache", "-t", &tag], ctx.path());
    assert!(!out.contains("Using cache"), "{out}");
    assert!(out.contains("built-1"), "{out}");
    // Cached steps are not listed as images.
    let images = b.docker_ok(&["images", "--format", "{{.Repository}}"]);
    assert!(!images.contains("berth.build"), "{images}");
    assert_eq!(containers(&b), 0);
}

#[test]
fn multi_stage_target_args_ignore_chown_and_add_tar() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let tag = unique("ms");
    let ctx = context(&[
        ("hello.txt", "world\n"),
        ("secret.txt", "s\n"),
        ("build.log", "l\n"),
        ("data/sub/f", "d1\n"),
        (".dockerignore", "secret.txt\n*.log\n"),
    ]);
    let tar_src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tar_src.path().join("x")).unwrap();
    std::fs::write(tar_src.path().join("x/file"), "inside-tar\n").unwrap();
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(ctx.path().join("archive.tar.gz"))
        .arg("-C")
        .arg(tar_src.path())
        .arg("x")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "ARG BASE=busybox\nFROM $BASE AS builder\nARG GREETING=hi\nWORKDIR /src\nCOPY hello.txt ./\n\
         RUN mkdir -p /out && echo \"$GREETING from $(cat hello.txt)\" > /out/out.txt\n\
         FROM busybox:latest\nWORKDIR /app\nCOPY --from=builder /out/out.txt .\nADD archive.tar.gz /opt/\n\
         COPY . /ctx/\nCOPY --chown=1000:1000 data/ /data/\nUSER 1000\nEXPOSE 8080\nLABEL k=v\n\
         CMD [\"sh\", \"-c\", \"cat /app/out.txt /opt/x/file; stat -c %u:%g /data/sub/f; ls /ctx\"]\n",
    )
    .unwrap();
    build_ok(
        &b,
        &["-q", "--build-arg", "GREETING=hello", "-t", &tag],
        ctx.path(),
    );
    let out = b.docker_ok(&["run", "--rm", &tag]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        ["hello from world", "inside-tar", "1000:1000"],
        "{out}"
    );
    let ctx_files: Vec<&str> = lines[3..].to_vec();
    // secret.txt and build.log are excluded by .dockerignore (ls hides the dot files).
    assert_eq!(
        ctx_files,
        ["Dockerfile", "archive.tar.gz", "data", "hello.txt"]
    );
    let cfg = b.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.User}}|{{.Config.WorkingDir}}|{{.Config.ExposedPorts}}|{{.Config.Labels}}",
        &tag,
    ]);
    assert_eq!(cfg.trim(), "1000|/app|map[8080/tcp:{}]|map[k:v]");

    // --label: one LABEL step per label at the end, as dockerd adds them.
    let labelled = unique("lbl");
    let out = build_ok(&b, &["--label", "c=d e", "-t", &labelled], ctx.path());
    assert!(out.contains("Step 17/17 : LABEL c=d e\n"), "{out}");
    let labels = b.docker_ok(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"c\"}}",
        &labelled,
    ]);
    assert_eq!(labels, "d e\n");

    let target = unique("tgt");
    build_ok(
        &b,
        &["-q", "--target", "builder", "-t", &target],
        ctx.path(),
    );
    assert_eq!(
        b.docker_ok(&["run", "--rm", &target, "cat", "/out/out.txt"]),
        "hi from world\n"
    );
    assert_eq!(containers(&b), 0);
}

#[test]
fn failing_run_malformed_dockerfile_and_paths_outside_the_context() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN exit 7\n")]);
    let before = snapshots_and_leases(&b);
    let (code, out, err) = build(&b, &["--force-rm"], ctx.path());
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{out}{err}"
    );
    assert_eq!(containers(&b), 0, "a failed build left a container");

    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nFOO bar\n").unwrap();
    let (code, out, err) = build(&b, &[], ctx.path());
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains(
            "Error response from daemon: dockerfile parse error line 2: unknown instruction: FOO"
        ),
        "{out}{err}"
    );

    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY ../etc/passwd /x\n",
    )
    .unwrap();
    let (code, out, err) = build(&b, &[], ctx.path());
    assert_ne!(code, 0);
    assert!(
        err.contains("COPY failed: forbidden path outside the build context: ../etc/passwd ()"),
        "{out}{err}"
    );
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY missing /x\n",
    )
    .unwrap();
    let (code, out, err) = build(&b, &[], ctx.path());
    assert_ne!(code, 0);
    assert!(
        err.contains("file not found in build context"),
        "{out}{err}"
    );
    assert_eq!(containers(&b), 0);
    // No debris: no snapshot or lease of the failed builds is left.
    assert_eq!(snapshots_and_leases(&b), before);
}
