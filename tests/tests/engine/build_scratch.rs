//! `docker build` (classic builder) of images that start `FROM scratch`, and of images
//! whose base carries ONBUILD triggers. Each scenario runs against berthd and against
//! Debian's dockerd 20.10; the expectations written here are dockerd's answers: the step
//! lines (IDs aside), the image's config, history and layers, and the files a container
//! of the result sees.

use std::path::Path;

use berth_tests::berthd::{Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique};

/// `docker build` with the classic builder: (exit code, stdout, stderr). Steps run with
/// `--network none` unless `args` name a network: dockerd adds a warning line to every
/// step when the host's IPv4 forwarding is off, which would depend on what ran before.
pub fn build(d: &DockerCli, args: &[&str], ctx: &Path) -> (i32, String, String) {
    let network: &[&str] = if args.contains(&"--network") {
        &[]
    } else {
        &["--network", "none"]
    };
    let out = d
        .command()
        .env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .args(network)
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

pub fn build_ok(d: &DockerCli, args: &[&str], ctx: &Path) -> String {
    let (code, out, err) = build(d, args, ctx);
    assert_eq!(code, 0, "docker build {args:?} on {}: {err}{out}", d.daemon);
    out
}

/// A context directory holding `files`.
pub fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("ctx-").tempdir().unwrap();
    for (name, data) in files {
        let p = d.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    d
}

/// The output with IDs (12 hex digits) shown as `<id>`, without the context size line.
pub fn shape(out: &str) -> Vec<String> {
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

pub fn load_busybox(d: &DockerCli, dir: &Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
}

pub fn inspect(d: &DockerCli, format: &str, name: &str) -> String {
    d.ok(&["image", "inspect", "-f", format, name])
        .trim()
        .to_string()
}

fn scratch(d: &DockerCli) {
    let tag = unique("scratch");
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY f.txt /f.txt\nCOPY d /a/b/\nENV A=1\nWORKDIR /w\nADD f.txt rel\nCMD [\"x\"]\n",
        ),
        ("f.txt", "hello\n"),
        ("d/y", "why\n"),
    ]);
    let out = build_ok(d, &["-t", &tag], ctx.path());
    let want = [
        "Step 1/7 : FROM scratch",
        " ---> ",
        "Step 2/7 : COPY f.txt /f.txt",
        " ---> <id>",
        "Step 3/7 : COPY d /a/b/",
        " ---> <id>",
        "Step 4/7 : ENV A=1",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 5/7 : WORKDIR /w",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 6/7 : ADD f.txt rel",
        " ---> <id>",
        "Step 7/7 : CMD [\"x\"]",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Successfully built <id>",
        &format!("Successfully tagged {tag}:latest"),
    ];
    assert_eq!(shape(&out), want, "{}: {out}", d.daemon);
    assert_eq!(
        inspect(d, "{{json .Config.Env}} {{json .Config.Cmd}} {{.Config.WorkingDir}} {{len .RootFS.Layers}}", &tag),
        "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"A=1\"] [\"x\"] /w 4",
        "{}",
        d.daemon
    );
    let history = d.ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    let history: Vec<&str> = history.lines().map(str::trim_end).collect();
    assert_eq!(history.len(), 6, "{}: {history:?}", d.daemon);
    assert_eq!(history[0], "/bin/sh -c #(nop)  CMD [\"x\"]", "{}", d.daemon);
    assert!(
        history[1].starts_with("/bin/sh -c #(nop) ADD file:") && history[1].ends_with(" in rel"),
        "{}: {history:?}",
        d.daemon
    );
    assert_eq!(history[2], "/bin/sh -c #(nop) WORKDIR /w", "{}", d.daemon);
    assert_eq!(history[3], "/bin/sh -c #(nop)  ENV A=1", "{}", d.daemon);
    assert!(
        history[4].starts_with("/bin/sh -c #(nop) COPY dir:") && history[4].ends_with(" in /a/b/"),
        "{}: {history:?}",
        d.daemon
    );
    assert!(
        history[5].starts_with("/bin/sh -c #(nop) COPY file:")
            && history[5].ends_with(" in /f.txt"),
        "{}: {history:?}",
        d.daemon
    );

    // The files, seen from a busybox container that copied the whole image in.
    let check = unique("scratch-check");
    let ctx2 = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nCOPY --from={tag} / /chk/\n"),
    )]);
    build_ok(d, &["-q", "-t", &check], ctx2.path());
    let seen = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &check,
        "sh",
        "-c",
        "cat /chk/f.txt /chk/a/b/y /chk/w/rel; stat -c '%A %U' /chk/w",
    ]);
    assert_eq!(seen, "hello\nwhy\nhello\ndrwxr-xr-x root\n", "{}", d.daemon);

    // A rebuild finds every step in the cache.
    let again = build_ok(d, &["-t", &tag], ctx.path());
    assert_eq!(
        again.matches(" ---> Using cache").count(),
        6,
        "{}: {again}",
        d.daemon
    );

    // RUN on scratch: there is no shell to run it with.
    let bad = context(&[("Dockerfile", "FROM scratch\nRUN echo hi\n")]);
    let (code, out, err) = build(d, &[], bad.path());
    assert_eq!(code, 1, "{}: {out}{err}", d.daemon);
    assert_eq!(
        shape(&out)[..3],
        [
            "Step 1/2 : FROM scratch",
            " ---> ",
            "Step 2/2 : RUN echo hi"
        ],
        "{}",
        d.daemon
    );
    assert!(
        err.contains("\"/bin/sh\"") && err.contains("no such file or directory"),
        "{}: {err}",
        d.daemon
    );
    for t in [&tag, &check] {
        d.ok(&["rmi", t]);
    }
}

fn onbuild(d: &DockerCli) {
    let base = unique("onbuild-base");
    let child = unique("onbuild-child");
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD COPY t.txt /t.txt\nONBUILD RUN echo trig-$X\nENV X=5\n",
    )]);
    build_ok(d, &["-t", &base], ctx.path());
    assert_eq!(
        inspect(d, "{{json .Config.OnBuild}}", &base),
        "[\"COPY t.txt /t.txt\",\"RUN echo trig-$X\"]",
        "{}",
        d.daemon
    );

    // The triggers run at the FROM of a later build, with its context.
    let ctx2 = context(&[
        (
            "Dockerfile",
            &format!("FROM {base}\nCMD [\"cat\",\"/t.txt\"]\n"),
        ),
        ("t.txt", "from the later context\n"),
    ]);
    let out = build_ok(d, &["-t", &child], ctx2.path());
    let want = [
        &format!("Step 1/2 : FROM {base}"),
        "# Executing 2 build triggers",
        " ---> Running in <id>",
        "trig-5",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 2/2 : CMD [\"cat\",\"/t.txt\"]",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Successfully built <id>",
        &format!("Successfully tagged {child}:latest"),
    ];
    assert_eq!(shape(&out), want, "{}: {out}", d.daemon);
    // The triggers are spent: the new image has none.
    assert_eq!(
        inspect(d, "{{json .Config.OnBuild}}", &child),
        "null",
        "{}",
        d.daemon
    );
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        &child,
    ]);
    let history: Vec<&str> = history.lines().map(str::trim_end).take(3).collect();
    assert_eq!(
        history[0], "/bin/sh -c #(nop)  CMD [\"cat\" \"/t.txt\"]",
        "{}",
        d.daemon
    );
    assert_eq!(history[1], "/bin/sh -c echo trig-$X", "{}", d.daemon);
    assert!(
        history[2].starts_with("/bin/sh -c #(nop) COPY file:")
            && history[2].ends_with(" in /t.txt"),
        "{}: {history:?}",
        d.daemon
    );
    let seen = d.ok(&["run", "--rm", "--network", "none", &child]);
    assert_eq!(seen, "from the later context\n", "{}", d.daemon);

    // A trigger whose source is missing from the later context fails that build.
    let ctx3 = context(&[("Dockerfile", &format!("FROM {base}\n"))]);
    let (code, out, err) = build(d, &[], ctx3.path());
    assert_eq!(code, 1, "{}: {out}{err}", d.daemon);
    assert!(
        out.contains("# Executing 2 build triggers"),
        "{}: {out}",
        d.daemon
    );
    assert!(err.contains("t.txt"), "{}: {err}", d.daemon);
    for t in [&child, &base] {
        d.ok(&["rmi", t]);
    }
}

#[test]
fn berthd_scratch_and_onbuild() {
    require!(root, docker_cli);
    let b = Berthd::start();
    let cli = b.cli();
    load_busybox(&cli, b.dir.path());
    scratch(&cli);
    onbuild(&cli);
}

/// The same builds on Debian's dockerd: the expectations are its answers.
#[test]
fn dockerd_scratch_and_onbuild() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    let cli = d.cli();
    load_busybox(&cli, d.dir.path());
    scratch(&cli);
    onbuild(&cli);
}
