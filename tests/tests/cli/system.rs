//! `berth version`, `berth info` and `berth attach` without a terminal against a real daemon
//! (berthd, and Debian's dockerd to show the CLI behaves the same with Docker's own daemon).

use berth_tests::cli::Engine;
use berth_tests::unique;

berth_tests::cli_scenarios!(version_and_info, attach_streams_output_and_exit_code);

/// The value after `key:` on the line that starts with it (indentation ignored).
fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        .trim()
}

fn version_and_info(e: &Engine) {
    let b = &e.berth;
    let v = b.ok(&["version"]);
    assert!(v.starts_with("Client:\n"), "{v}");
    // "Server:", then the platform's name if the daemon has one.
    assert!(v.lines().any(|l| l.starts_with("Server:")), "{v}");
    assert_eq!(field(&v, "OS/Arch"), "linux/amd64");
    let api = b.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    let (major, minor) = api.trim().split_once('.').expect("API version");
    assert_eq!(major, "1");
    assert!(minor.parse::<u32>().unwrap() >= 41, "{api}");

    let name = unique("info");
    b.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "60"]);
    b.ok(&["create", "--name", &format!("{name}-c"), "busybox", "true"]);
    let info = b.ok(&["info"]);
    assert_eq!(field(&info, "Containers"), "2", "{info}");
    assert_eq!(field(&info, "Running"), "1", "{info}");
    assert_eq!(field(&info, "Stopped"), "1", "{info}");
    assert_eq!(field(&info, "Images"), "1", "{info}");
    assert_eq!(field(&info, "OSType"), "linux");
    assert_eq!(field(&info, "Logging Driver"), "json-file");
    let cpus = std::thread::available_parallelism()
        .unwrap()
        .get()
        .to_string();
    assert_eq!(field(&info, "CPUs"), cpus);
    let f = b.ok(&[
        "info",
        "--format",
        "{{.ContainersRunning}} {{.NCPU}} {{.OSType}}",
    ]);
    assert_eq!(f, format!("1 {cpus} linux\n"));
    b.ok(&["rm", "-f", &name, &format!("{name}-c")]);
}

fn attach_streams_output_and_exit_code(e: &Engine) {
    let b = &e.berth;
    let name = unique("att");
    b.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo out; echo err >&2; sleep 0.3; exit 6",
    ]);
    let o = b.run(&["attach", "--sig-proxy=false", &name]);
    assert_eq!((o.code, o.stdout.as_str()), (6, "out\n"), "{o:?}");
    assert_eq!(o.stderr, "err\n");
    // --no-stdin on a container with an open stdin: output only; the container keeps its
    // stdin (nothing reaches it from here).
    let reader = unique("rd");
    b.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        &reader,
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo waiting; read x; echo got-$x",
    ]);
    let attach = std::thread::spawn({
        let cmd = b.cmd(&["attach", "--no-stdin", &reader]);
        move || {
            let mut cmd = cmd;
            cmd.stdin(std::process::Stdio::null())
                .output()
                .expect("berth attach")
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Running}}", &reader])
            .trim(),
        "true"
    );
    b.ok(&["kill", &reader]);
    let out = attach.join().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "waiting\n");
    b.ok(&["rm", "-f", &reader]);
}
