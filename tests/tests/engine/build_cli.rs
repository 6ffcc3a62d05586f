//! `berth build` and `berth builder prune` against berthd and against Debian's dockerd
//! 20.10 (whose answers are the expectations): the step stream printed as docker prints
//! it, several tags, build arguments, labels, `--iidfile`, `-q`, a Dockerfile given with
//! `-f` from outside the context, a Dockerfile on stdin, and a failing step (exit code 1
//! with the daemon's error). On berthd, the cache prune: the cached steps are removed
//! and a rebuild runs them again.

use berth_tests::cli::{Berth, Engine};
use berth_tests::{require, unique};

use super::build_scratch::{context, shape};

fn scenario(e: &Engine) {
    e.load_busybox();
    let b: &Berth = &e.berth;
    let (one, two) = (unique("cli-one"), unique("cli-two"));
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nARG A\nRUN echo arg-$A > /a.txt\nCOPY f.txt /f.txt\n",
        ),
        ("f.txt", "file\n"),
    ]);
    let iid = e.work.path().join("iid");
    let ctx_path = ctx.path().to_str().unwrap();
    let out = b.ok(&[
        "build",
        "-t",
        &one,
        "-t",
        &two,
        "--build-arg",
        "A=x",
        "--label",
        "k=v",
        "--iidfile",
        iid.to_str().unwrap(),
        ctx_path,
    ]);
    let want = [
        "Step 1/5 : FROM busybox",
        " ---> <id>",
        "Step 2/5 : ARG A",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 3/5 : RUN echo arg-$A > /a.txt",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Step 4/5 : COPY f.txt /f.txt",
        " ---> <id>",
        "Step 5/5 : LABEL k=v",
        " ---> Running in <id>",
        "Removing intermediate container <id>",
        " ---> <id>",
        "Successfully built <id>",
        &format!("Successfully tagged {one}:latest"),
        &format!("Successfully tagged {two}:latest"),
    ];
    assert_eq!(shape(&out), want, "{}: {out}", e.name);
    let id = b.ok(&["image", "inspect", "-f", "{{.Id}}", &two]);
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        id.trim(),
        "{}",
        e.name
    );
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{.Config.Labels.k}}", &one]),
        "v\n",
        "{}",
        e.name
    );
    assert_eq!(
        b.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            &one,
            "cat",
            "/a.txt",
            "/f.txt"
        ]),
        "arg-x\nfile\n",
        "{}",
        e.name
    );

    // -q: the image ID alone; a rebuild comes from the cache.
    let quiet = b.ok(&[
        "build",
        "-q",
        "--build-arg",
        "A=x",
        "--label",
        "k=v",
        ctx_path,
    ]);
    assert_eq!(quiet.trim(), id.trim(), "{}", e.name);

    // -f from outside the context.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "FROM busybox\nCOPY f.txt /g.txt\n").unwrap();
    let three = unique("cli-three");
    b.ok(&[
        "build",
        "-q",
        "-t",
        &three,
        "-f",
        outside.path().to_str().unwrap(),
        ctx_path,
    ]);
    assert_eq!(
        b.ok(&["run", "--rm", "--network", "none", &three, "cat", "/g.txt"]),
        "file\n",
        "{}",
        e.name
    );

    // A Dockerfile on stdin.
    let four = unique("cli-four");
    let o = b.run_stdin(
        &["build", "-t", &four, "-"],
        Some(b"FROM busybox\nRUN echo stdin > /s.txt\n"),
    );
    assert_eq!(o.code, 0, "{}: {o:?}", e.name);
    assert!(
        o.stdout.contains("Step 2/2 : RUN echo stdin > /s.txt"),
        "{}: {o:?}",
        e.name
    );

    // A failing step: exit code 1 and the daemon's words.
    let bad = context(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
    let o = b.run(&["build", "--force-rm", bad.path().to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}: {o:?}", e.name);
    assert!(
        o.stdout.contains("Step 2/2 : RUN exit 3"),
        "{}: {o:?}",
        e.name
    );
    assert!(
        o.stderr
            .contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
        "{}: {o:?}",
        e.name
    );

    let prune = b.ok(&["builder", "prune", "-a", "-f"]);
    assert!(
        prune.ends_with('\n') && prune.contains("Total reclaimed space: "),
        "{}: {prune}",
        e.name
    );
    for t in [&one, &two, &three, &four] {
        b.ok(&["rmi", t]);
    }
}

#[test]
fn berth_build_against_berthd() {
    require!(root);
    let e = Engine::berthd();
    scenario(&e);
    // The cache: a build fills it, a prune empties it, the rebuild runs its steps again.
    let b = &e.berth;
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo cached > /c.txt\n")]);
    let ctx_path = ctx.path().to_str().unwrap();
    let tag = unique("cli-cache");
    b.ok(&["build", "-t", &tag, ctx_path]);
    let again = b.ok(&["build", "-t", &tag, ctx_path]);
    assert!(again.contains(" ---> Using cache"), "{again}");
    b.ok(&["rmi", &tag]);
    let pruned = b.ok(&["builder", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted build cache objects:\n"),
        "{pruned}"
    );
    let reclaimed = pruned.lines().last().unwrap_or_default().to_string();
    assert!(
        reclaimed.starts_with("Total reclaimed space: ") && !reclaimed.ends_with(" 0B"),
        "{pruned}"
    );
    let rebuilt = b.ok(&["build", "-t", &tag, ctx_path]);
    assert!(
        !rebuilt.contains("Using cache") && rebuilt.contains("Running in"),
        "{rebuilt}"
    );
    // Nothing is left to prune but the tagged image's own step; -a takes that too, and
    // the tagged image stays whole.
    let all = b.ok(&["builder", "prune", "-a", "-f"]);
    assert!(all.starts_with("Deleted build cache objects:\n"), "{all}");
    assert_eq!(
        b.ok(&["run", "--rm", "--network", "none", &tag, "cat", "/c.txt"]),
        "cached\n"
    );
    let empty = b.ok(&["builder", "prune", "-a", "-f"]);
    assert!(!empty.contains("Deleted build cache objects"), "{empty}");
}

/// The same scenario with Debian's dockerd: the expectations are its answers.
#[test]
fn berth_build_against_dockerd() {
    require!(root, dockerd);
    let e = Engine::dockerd().expect("dockerd is installed but did not start");
    scenario(&e);
}
