//! The layers a build makes travel: an image built on berthd (a COPY of random data, which
//! its layer stores uncompressed inside gzip, and a RUN writing text, which is deflated)
//! is pushed to a loopback registry, pulled by Debian's dockerd 20.10 and run there; every
//! file reads back as written. The registry's copy of the random data's layer is not
//! larger than the data.

use berth_tests::berthd::Berthd;
use berth_tests::dockerd::Dockerd;
use berth_tests::images::random_bytes;
use berth_tests::registry::Registry;
use berth_tests::{require, unique};

const DOCKERFILE: &str = "FROM busybox:latest
COPY random.bin /random.bin
RUN i=0; while [ $i -lt 20000 ]; do echo \"line $i of text\"; i=$((i+1)); done > /text.txt
";

#[test]
fn a_built_image_pulls_and_runs_on_dockerd() {
    require!(root, docker_cli, dockerd, docker_registry);
    let b = Berthd::with_busybox();
    let reg = Registry::start();
    let ctx = tempfile::tempdir().unwrap();
    let random = random_bytes(3 << 20, 11);
    std::fs::write(ctx.path().join("random.bin"), &random).unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    let name = format!("{}/{}/built:v1", reg.host(), unique("layers"));
    let out = b
        .docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "--network", "none", "-t", &name])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        b.log_tail(20)
    );
    b.docker_ok(&["push", &name]);
    let sums = "sha256sum /random.bin /text.txt";
    let want = b.docker_ok(&["run", "--rm", "--network", "none", &name, "sh", "-c", sums]);

    // The random data's layer: its blob in the registry is about the data's size.
    let manifest = reg.manifest(name.split_once('/').unwrap().1);
    let sizes: Vec<i64> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_i64().unwrap())
        .collect();
    let random_layer = sizes
        .iter()
        .copied()
        .filter(|s| *s > (random.len() as i64) * 9 / 10)
        .collect::<Vec<_>>();
    assert_eq!(random_layer.len(), 1, "layer sizes {sizes:?}");
    assert!(
        random_layer[0] < random.len() as i64 + 64 * 1024,
        "the random data's layer grew: {} for {} bytes",
        random_layer[0],
        random.len()
    );
    // The text's layer is deflated: far smaller than the 380 kB of text.
    assert!(
        sizes.iter().any(|s| *s < 100 * 1024),
        "layer sizes {sizes:?}"
    );

    let d = Dockerd::start().expect("dockerd is installed but did not start");
    let cli = d.cli();
    cli.ok(&["pull", &name]);
    let got = cli.ok(&["run", "--rm", "--network", "none", &name, "sh", "-c", sums]);
    assert_eq!(got, want);
    assert!(
        want.contains("/random.bin") && want.contains("/text.txt"),
        "{want}"
    );
}

/// A step's container is made for one run, yet one that failed is kept (as dockerd keeps
/// it) and must start again, be committed and read, like any container.
#[test]
fn a_failed_step_container_starts_again() {
    require!(root, docker_cli);
    let b = Berthd::with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nRUN echo data > /f && exit 3\n",
    )
    .unwrap();
    let out = b
        .docker()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--network", "none"])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let kept = b.docker_ok(&["ps", "-aq"]);
    let kept = kept.trim();
    assert_eq!(kept.lines().count(), 1, "{kept}");
    for _ in 0..2 {
        let (code, _, err) = b.docker_run(&["start", "-a", kept]);
        assert_eq!(code, 3, "{err}{}", b.log_tail(20));
    }
    let image = unique("kept");
    b.docker_ok(&["commit", kept, &image]);
    let (code, out, err) = b.docker_run(&["run", "--rm", "--network", "none", &image, "cat", "/f"]);
    assert_eq!((code, out.trim()), (0, "data"), "{err}");
}
