//! `docker build` (classic builder) of `FROM scratch` stages whose config-only steps come
//! before the first file step, or make the whole Dockerfile. Run against berthd and
//! against Debian's dockerd 20.10, whose answers are the expectations: the step lines, the
//! config, history and layers of the result (none when no step adds files), the cache on
//! a rebuild, and what `docker run` of an image without layers says. Builds use
//! `--network none`, so dockerd adds no host-dependent warning to the step lines.

use berth_tests::berthd::{Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique};

use super::build_scratch::{build, build_ok, context, inspect, load_busybox, shape};

/// The step lines of a config-only step: its container is created, never run, removed.
fn config_step(n: usize, total: usize, text: &str) -> Vec<String> {
    vec![
        format!("Step {n}/{total} : {text}"),
        " ---> Running in <id>".into(),
        "Removing intermediate container <id>".into(),
        " ---> <id>".into(),
    ]
}

/// The lines of a whole build: `FROM scratch`, then `steps` (each with its lines).
fn build_lines(total: usize, steps: Vec<Vec<String>>, tag: &str) -> Vec<String> {
    let mut v = vec![format!("Step 1/{total} : FROM scratch"), " ---> ".into()];
    v.extend(steps.into_iter().flatten());
    v.push("Successfully built <id>".into());
    v.push(format!("Successfully tagged {tag}:latest"));
    v
}

/// `docker history` as `CREATED BY|SIZE` lines, newest first.
fn history(d: &DockerCli, tag: &str) -> Vec<String> {
    let out = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        tag,
    ]);
    out.lines().map(|l| l.trim_end().to_string()).collect()
}

/// A COPY's history line: `file:<digest of the content>` in `dest`, of `size`.
fn is_copy_line(line: &str, shell: &str, dest: &str, size: &str) -> bool {
    line.starts_with(&format!("{shell} #(nop) COPY file:"))
        && line.ends_with(&format!(" in {dest} |{size}"))
}

/// The files of `tag`'s rootfs, copied into a busybox image and read there with `script`.
fn seen_in(d: &DockerCli, tag: &str, script: &str) -> String {
    let check = unique("scratch-config-check");
    let ctx = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nCOPY --from={tag} / /chk/\n"),
    )]);
    build_ok(d, &["-q", "--network", "none", "-t", &check], ctx.path());
    let seen = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &check,
        "sh",
        "-c",
        script,
    ]);
    d.ok(&["rmi", &check]);
    seen
}

/// Config steps before WORKDIR and COPY: WORKDIR makes the first layer.
fn before_copy(d: &DockerCli) {
    let tag = unique("scratch-config");
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM scratch\nENV A=1\nLABEL x=y\nWORKDIR /app\nCOPY f /app/\nCMD [\"/app/f\"]\n",
        ),
        ("f", "hi\n"),
    ]);
    let out = build_ok(d, &["--network", "none", "-t", &tag], ctx.path());
    let want = build_lines(
        6,
        vec![
            config_step(2, 6, "ENV A=1"),
            config_step(3, 6, "LABEL x=y"),
            config_step(4, 6, "WORKDIR /app"),
            vec!["Step 5/6 : COPY f /app/".into(), " ---> <id>".into()],
            config_step(6, 6, "CMD [\"/app/f\"]"),
        ],
        &tag,
    );
    assert_eq!(shape(&out), want, "{}: {out}", d.daemon);
    assert_eq!(
        inspect(
            d,
            "{{json .Config.Env}} {{json .Config.Labels}} {{.Config.WorkingDir}} {{json .Config.Cmd}} {{len .RootFS.Layers}}",
            &tag
        ),
        "[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"A=1\"] {\"x\":\"y\"} /app [\"/app/f\"] 2",
        "{}",
        d.daemon
    );
    let h = history(d, &tag);
    assert_eq!(h.len(), 5, "{}: {h:?}", d.daemon);
    assert_eq!(
        h[0], "/bin/sh -c #(nop)  CMD [\"/app/f\"]|0B",
        "{}",
        d.daemon
    );
    assert!(
        is_copy_line(&h[1], "/bin/sh -c", "/app/", "3B"),
        "{}: {h:?}",
        d.daemon
    );
    assert_eq!(
        h[2..],
        [
            "/bin/sh -c #(nop) WORKDIR /app|0B",
            "/bin/sh -c #(nop)  LABEL x=y|0B",
            "/bin/sh -c #(nop)  ENV A=1|0B",
        ],
        "{}",
        d.daemon
    );
    let seen = seen_in(d, &tag, "cat /chk/app/f; stat -c '%A %U' /chk/app");
    assert_eq!(seen, "hi\ndrwxr-xr-x root\n", "{}", d.daemon);

    // A rebuild finds every step in the cache, the config-only ones on scratch included.
    let again = build_ok(d, &["--network", "none", "-t", &tag], ctx.path());
    assert_eq!(
        again.matches(" ---> Using cache").count(),
        5,
        "{}: {again}",
        d.daemon
    );
    d.ok(&["rmi", &tag]);
}

/// Every config-only instruction on scratch, before the first file step.
fn every_config_instruction(d: &DockerCli) {
    let tag = unique("scratch-config-all");
    let steps = [
        "ARG V=1",
        "ENV A=$V",
        "LABEL x=y",
        "EXPOSE 80/tcp",
        "USER 1000",
        "VOLUME /data",
        "STOPSIGNAL SIGUSR1",
        "HEALTHCHECK --interval=5s CMD [\"/f\"]",
        "SHELL [\"/bin/ash\",\"-c\"]",
        "ONBUILD LABEL child=1",
        "ENTRYPOINT [\"/app/f\"]",
    ];
    let dockerfile = format!(
        "FROM scratch\n{}\nWORKDIR /app\nCOPY f /app/\nCMD [\"arg\"]\n",
        steps.join("\n")
    );
    let ctx = context(&[("Dockerfile", &dockerfile), ("f", "hi\n")]);
    let out = build_ok(d, &["--network", "none", "-t", &tag], ctx.path());
    let total = steps.len() + 4;
    let mut lines: Vec<Vec<String>> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| config_step(i + 2, total, s))
        .collect();
    lines.push(config_step(total - 2, total, "WORKDIR /app"));
    lines.push(vec![
        format!("Step {}/{total} : COPY f /app/", total - 1),
        " ---> <id>".into(),
    ]);
    lines.push(config_step(total, total, "CMD [\"arg\"]"));
    assert_eq!(
        shape(&out),
        build_lines(total, lines, &tag),
        "{}: {out}",
        d.daemon
    );
    assert_eq!(
        inspect(d, "{{json .Config}} {{len .RootFS.Layers}}", &tag),
        concat!(
            r#"{"User":"1000","ExposedPorts":{"80/tcp":{}},"#,
            r#""Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1"],"#,
            r#""Entrypoint":["/app/f"],"Cmd":["arg"],"Volumes":{"/data":{}},"WorkingDir":"/app","#,
            r#""Labels":{"x":"y"},"StopSignal":"SIGUSR1","#,
            r#""Healthcheck":{"Test":["CMD","/f"],"Interval":5000000000},"#,
            r#""OnBuild":["LABEL child=1"],"Shell":["/bin/ash","-c"]} 2"#
        ),
        "{}",
        d.daemon
    );
    let h = history(d, &tag);
    assert_eq!(h.len(), total - 1, "{}: {h:?}", d.daemon);
    assert!(
        is_copy_line(&h[1], "/bin/ash -c", "/app/", "3B"),
        "{}: {h:?}",
        d.daemon
    );
    let mut rest = vec![h[0].as_str()];
    rest.extend(h[2..].iter().map(String::as_str));
    assert_eq!(
        rest,
        [
            "/bin/ash -c #(nop)  CMD [\"arg\"]|0B",
            "/bin/ash -c #(nop) WORKDIR /app|0B",
            "/bin/ash -c #(nop)  ENTRYPOINT [\"/app/f\"]|0B",
            "/bin/ash -c #(nop)  ONBUILD LABEL child=1|0B",
            "/bin/ash -c #(nop)  SHELL [/bin/ash -c]|0B",
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD\" \"/f\"] \"5s\" \"0s\" \"0s\" '\\x00'}|0B",
            "/bin/sh -c #(nop)  STOPSIGNAL SIGUSR1|0B",
            "/bin/sh -c #(nop)  VOLUME [/data]|0B",
            "/bin/sh -c #(nop)  USER 1000|0B",
            "/bin/sh -c #(nop)  EXPOSE 80/tcp|0B",
            "/bin/sh -c #(nop)  LABEL x=y|0B",
            "/bin/sh -c #(nop)  ENV A=1|0B",
            "/bin/sh -c #(nop)  ARG V=1|0B",
        ],
        "{}",
        d.daemon
    );
    // The step containers' anonymous volumes (VOLUME /data) went with them.
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "", "{}", d.daemon);
    let again = build_ok(d, &["--network", "none", "-t", &tag], ctx.path());
    assert_eq!(
        again.matches(" ---> Using cache").count(),
        total - 1,
        "{}: {again}",
        d.daemon
    );
    d.ok(&["rmi", &tag]);
}

/// A Dockerfile of config steps only: an image without layers, which runs nothing.
fn without_layers(d: &DockerCli) {
    let tag = unique("scratch-layerless");
    let ctx = context(&[("Dockerfile", "FROM scratch\nLABEL a=b\n")]);
    let out = build_ok(d, &["--network", "none", "-t", &tag], ctx.path());
    assert_eq!(
        shape(&out),
        build_lines(2, vec![config_step(2, 2, "LABEL a=b")], &tag),
        "{}: {out}",
        d.daemon
    );
    assert_eq!(
        inspect(
            d,
            "{{.Size}} {{json .RootFS}} {{json .Config.Labels}}",
            &tag
        ),
        "0 {\"Type\":\"layers\"} {\"a\":\"b\"}",
        "{}",
        d.daemon
    );
    assert_eq!(
        history(d, &tag),
        ["/bin/sh -c #(nop)  LABEL a=b|0B"],
        "{}",
        d.daemon
    );
    let listed = d.ok(&["images", "--format", "{{.Size}}", &tag]);
    assert_eq!(listed, "0B\n", "{}", d.daemon);
    let again = build_ok(d, &["--network", "none", "-t", &tag], ctx.path());
    assert_eq!(
        shape(&again),
        [
            "Step 1/2 : FROM scratch",
            " ---> ",
            "Step 2/2 : LABEL a=b",
            " ---> Using cache",
            " ---> <id>",
            "Successfully built <id>",
            &format!("Successfully tagged {tag}:latest"),
        ],
        "{}: {again}",
        d.daemon
    );

    // Running it: no command to run, and a command that is not there.
    let (code, out, err) = d.run(&["run", "--rm", "--network", "none", &tag]);
    assert_eq!(code, 125, "{}: {out}{err}", d.daemon);
    assert!(err.contains("No command specified"), "{}: {err}", d.daemon);
    let (code, out, err) = d.run(&["run", "--rm", "--network", "none", &tag, "/x"]);
    assert_eq!(code, 127, "{}: {out}{err}", d.daemon);
    assert!(
        err.contains("\"/x\"") && err.contains("no such file or directory"),
        "{}: {err}",
        d.daemon
    );

    // A RUN after it has nothing to run with.
    let bad = context(&[("Dockerfile", "FROM scratch\nLABEL a=b\nRUN echo hi\n")]);
    let (code, out, err) = build(d, &["--network", "none"], bad.path());
    assert_eq!(code, 1, "{}: {out}{err}", d.daemon);
    assert_eq!(
        shape(&out),
        [
            "Step 1/3 : FROM scratch",
            " ---> ",
            "Step 2/3 : LABEL a=b",
            " ---> Using cache",
            " ---> <id>",
            "Step 3/3 : RUN echo hi",
            " ---> Running in <id>",
        ],
        "{}: {out}",
        d.daemon
    );
    assert!(
        err.contains("\"/bin/sh\"") && err.contains("no such file or directory"),
        "{}: {err}",
        d.daemon
    );
    // The failed step's container stays, as after any failed RUN.
    let left = d.ok(&["ps", "-aq"]);
    assert_eq!(left.lines().count(), 1, "{}: {left}", d.daemon);
    d.ok(&["container", "prune", "-f"]);
    d.ok(&["rmi", &tag]);
}

fn scenarios(d: &DockerCli) {
    before_copy(d);
    every_config_instruction(d);
    without_layers(d);
}

#[test]
fn berthd_scratch_config_steps() {
    require!(root, docker_cli);
    let b = Berthd::start();
    let cli = b.cli();
    load_busybox(&cli, b.dir.path());
    scenarios(&cli);
}

/// The same builds on Debian's dockerd: the expectations are its answers.
#[test]
fn dockerd_scratch_config_steps() {
    require!(root, docker_cli, dockerd);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    let cli = d.cli();
    load_busybox(&cli, d.dir.path());
    scenarios(&cli);
}
