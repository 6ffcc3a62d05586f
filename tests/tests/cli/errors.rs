//! `berth`'s failures read like docker's and exit like docker's: flag mistakes (125),
//! unreachable daemons, missing containers and images, commands that cannot run (126/127),
//! bad templates. Failed runs leave no container behind.

use berth_tests::cli::{Berth, Engine};
use berth_tests::registry::Registry;
use berth_tests::unique;

/// A CLI pointed at a socket nothing listens on.
fn no_daemon() -> (Berth, String) {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}/none.sock", dir.path().display());
    (Berth::new(&host), host)
}

#[test]
fn unknown_flags_exit_125_with_a_pointer_to_help() {
    let (b, _) = no_daemon();
    let o = b.run(&["run", "--no-such-flag", "busybox"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert_eq!(
        o.stderr,
        "berth: unknown flag: --no-such-flag\nSee 'berth run --help'.\n"
    );
    let o = b.run(&["container", "ls", "-z"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert_eq!(
        o.stderr,
        "berth: unknown shorthand flag: 'z' in -z\nSee 'berth container ls --help'.\n"
    );
    let o = b.run(&["run", "-m", "lots", "busybox"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr
            .contains("invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"),
        "{o:?}"
    );
    let o = b.run(&["run", "--restart", "sometimes", "busybox"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("--restart"), "{o:?}");
}

#[test]
fn missing_arguments_and_unknown_commands() {
    let (b, _) = no_daemon();
    let o = b.run(&["rm"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .starts_with("berth: \"berth rm\" requires more arguments."),
        "{o:?}"
    );
    assert!(o.stderr.contains("Usage:"), "{o:?}");
    let o = b.run(&["frobnicate"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("'frobnicate' is not a berth command."),
        "{o:?}"
    );
}

#[test]
fn help_and_version_teach_and_exit_0() {
    let (b, _) = no_daemon();
    let o = b.run(&["--help"]);
    assert_eq!(o.code, 0);
    for cmd in ["run", "ps", "images", "container", "system"] {
        assert!(
            o.stdout.contains(cmd),
            "{cmd} missing from help:\n{}",
            o.stdout
        );
    }
    let o = b.run(&["run", "--help"]);
    assert_eq!(o.code, 0);
    for flag in [
        "--memory",
        "--env-file",
        "--restart",
        "--detach-keys",
        "-h, --hostname",
    ] {
        assert!(
            o.stdout.contains(flag),
            "{flag} missing from run help:\n{}",
            o.stdout
        );
    }
    let o = b.run(&["-v"]);
    assert_eq!((o.code, o.stdout.starts_with("berth ")), (0, true), "{o:?}");
}

#[test]
fn an_unreachable_daemon_is_named() {
    let (b, host) = no_daemon();
    let want = format!(
        "berth: Cannot connect to the Berth daemon at {host}. Is the berth daemon running?\n"
    );
    let o = b.run(&["ps"]);
    assert_eq!((o.code, o.stderr.as_str()), (1, want.as_str()), "{o:?}");
    let o = b.run(&["run", "--rm", "busybox", "true"]);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (125, want.as_str()),
        "run fails with 125: {o:?}"
    );
    // version still prints the client section.
    let o = b.run(&["version"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.starts_with("Client:\n Version:"), "{o:?}");
    let o = Berth::new("ssh://me@box").run(&["ps"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(o.stderr.contains("ssh:// scheme is not supported"), "{o:?}");
}

berth_tests::cli_scenarios!(
    missing_containers_are_reported_per_name,
    missing_images_are_pulled_then_reported,
    commands_that_cannot_run_exit_126_and_127,
    bad_templates_and_name_conflicts,
);

fn missing_containers_are_reported_per_name(e: &Engine) {
    let o = e.berth.run(&["rm", "nosuch-container"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr
            .contains("berth: Error response from daemon: No such container: nosuch-container"),
        "{o:?}"
    );
    let name = unique("real");
    e.berth.ok(&["create", "--name", &name, "busybox", "true"]);
    // One good, one missing: the good one is handled and named, the other reported, exit 1.
    let o = e.berth.run(&["rm", &name, "nosuch-container"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout, format!("{name}\n"));
    assert!(
        o.stderr.contains("No such container: nosuch-container"),
        "{o:?}"
    );
    for args in [
        &["logs", "nosuch-container"][..],
        &["exec", "nosuch-container", "true"],
        &["stop", "nosuch-container"],
    ] {
        let o = e.berth.run(args);
        assert_eq!(o.code, 1, "{args:?}: {o:?}");
        assert!(o.stderr.contains("No such container"), "{args:?}: {o:?}");
    }
    let o = e.berth.run(&["inspect", "nosuch-object"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, "[]\n"), "{o:?}");
    assert!(o.stderr.contains("No such object: nosuch-object"), "{o:?}");
}

fn missing_images_are_pulled_then_reported(e: &Engine) {
    // A loopback registry without the image: the pull is attempted and fails (no traffic
    // leaves the machine).
    let reg = Registry::start();
    let image = format!("{}/nosuch/image", reg.host());
    let o = e.berth.run(&["run", "--rm", &image, "true"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr
            .starts_with(&format!("Unable to find image '{image}:latest' locally\n")),
        "{o:?}"
    );
    assert!(o.stderr.contains("berth: "), "{o:?}");
    assert_eq!(e.berth.ok(&["ps", "-a", "-q"]), "", "nothing left behind");
    let o = e
        .berth
        .run(&["run", "--pull", "never", "--rm", &image, "true"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        !o.stderr.contains("Unable to find image"),
        "--pull never does not pull: {o:?}"
    );
    let o = e.berth.run(&["pull", &image]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("berth: "), "{o:?}");
}

fn commands_that_cannot_run_exit_126_and_127(e: &Engine) {
    let o = e.berth.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(o.code, 127, "{o:?}");
    assert!(o.stderr.contains("no-such-command"), "{o:?}");
    let o = e.berth.run(&["run", "--rm", "busybox", "/etc"]);
    assert_eq!(o.code, 126, "{o:?}");
    assert_eq!(
        e.berth.ok(&["ps", "-a", "-q"]),
        "",
        "failed --rm runs leave nothing behind"
    );
}

fn bad_templates_and_name_conflicts(e: &Engine) {
    let o = e.berth.run(&["ps", "--format", "{{.ID"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("template parsing error"), "{o:?}");
    let o = e.berth.run(&["images", "--format", "{{nosuchfunc .ID}}"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("nosuchfunc"), "{o:?}");
    let name = unique("twice");
    e.berth.ok(&["create", "--name", &name, "busybox", "true"]);
    let o = e.berth.run(&["run", "--name", &name, "busybox", "true"]);
    assert_eq!(o.code, 125, "{o:?}");
    assert!(
        o.stderr.contains("Conflict") || o.stderr.contains("already in use"),
        "{o:?}"
    );
    e.berth.ok(&["rm", &name]);
}
