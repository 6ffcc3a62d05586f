//! Requests dockerd refuses are refused the same way, with its status code and words, and
//! nothing is created: an environment entry without a name, a link to a missing or
//! malformed container name, a missing `--volumes-from` container, a file asked for as a
//! directory in the archive API, a tag whose name reads as a digest algorithm. Each check
//! runs against berthd and against Debian's dockerd 20.10, whose answers are the
//! expectations written here.

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::{require, unique};

/// (status, message) of a raw API request.
fn api(d: &DockerCli, method: &str, path: &str, body: &str) -> (u16, String) {
    let r = raw_request(
        &d.socket(),
        method,
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    (r.status, r.message())
}

fn containers(d: &DockerCli) -> String {
    d.ok(&["ps", "-aq", "--no-trunc"])
}

fn run_all(d: &DockerCli, dir: &std::path::Path) {
    let busybox = berth_tests::cli::busybox_archive(dir);
    d.ok(&["load", "-i", busybox.to_str().expect("utf-8 path")]);
    let before = containers(d);
    let create = |body: &str| api(d, "POST", "/v1.41/containers/create", body);

    assert_eq!(
        create(r#"{"Image":"busybox","Env":["A=1","=foo"]}"#),
        (400, "invalid environment variable: =foo".to_string()),
        "{}",
        d.daemon
    );
    let missing = unique("gone");
    assert_eq!(
        create(&format!(
            r#"{{"Image":"busybox","HostConfig":{{"Links":["{missing}:db"]}}}}"#
        )),
        (
            400,
            format!("could not get container for {missing}: No such container: {missing}")
        ),
        "{}",
        d.daemon
    );
    assert_eq!(
        create(r#"{"Image":"busybox","HostConfig":{"Links":["a:b:c"]}}"#),
        (500, "bad format for links: a:b:c".to_string()),
        "{}",
        d.daemon
    );
    assert_eq!(
        create(&format!(
            r#"{{"Image":"busybox","HostConfig":{{"VolumesFrom":["{missing}"]}}}}"#
        )),
        (400, format!("No such container: {missing}")),
        "{}",
        d.daemon
    );
    // The docker CLI says the same.
    let (code, _, err) = d.run(&["run", "--rm", "--link", &format!("{missing}:db"), "busybox"]);
    assert_eq!(code, 125, "{}: {err}", d.daemon);
    assert!(
        err.contains(&format!("could not get container for {missing}")),
        "{}: {err}",
        d.daemon
    );
    assert_eq!(
        containers(d),
        before,
        "{}: a refused create left a container",
        d.daemon
    );

    // A file asked for with a trailing slash: dockerd's 500, "not a directory".
    let c = unique("slash");
    d.ok(&["create", "--name", &c, "busybox", "true"]);
    for method in ["GET", "HEAD"] {
        let r = raw_request(
            &d.socket(),
            method,
            &format!("/v1.41/containers/{c}/archive?path=/etc/passwd/"),
            &[],
            b"",
        );
        assert_eq!(r.status, 500, "{} {method}", d.daemon);
        if method == "GET" {
            assert!(
                r.message().ends_with("/etc/passwd/: not a directory"),
                "{}: {}",
                d.daemon,
                r.message()
            );
        }
    }
    let (code, _, err) = d.run(&["cp", &format!("{c}:/etc/passwd/"), "-"]);
    assert_ne!(code, 0, "{}", d.daemon);
    assert!(err.contains("not a directory"), "{}: {err}", d.daemon);
    d.ok(&["rm", &c]);

    // A name that reads as a digest algorithm is never a tag; `x:sha256` is.
    let ambiguous = (
        400,
        "refusing to create an ambiguous tag using digest algorithm as name".to_string(),
    );
    assert_eq!(
        api(
            d,
            "POST",
            "/v1.41/images/busybox/tag?repo=sha256&tag=abc",
            ""
        ),
        ambiguous,
        "{}",
        d.daemon
    );
    assert_eq!(
        api(d, "POST", "/v1.41/images/busybox/tag?repo=sha256:abc", ""),
        ambiguous,
        "{}",
        d.daemon
    );
    let (code, _, err) = d.run(&["tag", "busybox", "sha256:abc"]);
    assert!(
        code != 0 && err.contains(&ambiguous.1),
        "{}: {err}",
        d.daemon
    );
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.contains("sha256:abc"), "{}: {images}", d.daemon);
    let tag = unique("x");
    d.ok(&["tag", "busybox", &format!("{tag}:sha256")]);
    d.ok(&["rmi", &format!("{tag}:sha256")]);
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
