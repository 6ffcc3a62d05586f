//! `GET /distribution/{name}/json` (what `docker manifest`-like tools and `docker service`
//! ask): the registry's descriptor of the manifest or index a name points at and its
//! platforms, nothing pulled. Against berthd and Debian's dockerd 20.10, each with a
//! loopback registry of its own, whose answers are the expectations written here.

use std::io::{Read, Write};

use berth_tests::berthd::{raw_request, Berthd, DockerCli};
use berth_tests::dockerd::Dockerd;
use berth_tests::images::{build_image, busybox_layer, Image};
use berth_tests::registry::Registry;
use berth_tests::{require, unique};

/// Puts an OCI index listing `img`'s manifest for two platforms under `repo:tag`;
/// returns its digest and size.
fn put_index(reg: &Registry, repo: &str, tag: &str, img: &Image) -> (String, usize) {
    let entry = |arch: &str, variant: Option<&str>| {
        let mut p = serde_json::json!({"architecture": arch, "os": "linux"});
        if let Some(v) = variant {
            p["variant"] = v.into();
        }
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": img.manifest_digest, "size": img.manifest_size, "platform": p
        })
    };
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("amd64", None), entry("arm64", Some("v8"))]
    }))
    .unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", reg.port)).unwrap();
    write!(
        s,
        "PUT /v2/{repo}/manifests/{tag} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\n\r\n",
        reg.host(),
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.lines().next().is_some_and(|l| l.contains(" 201 ")),
        "{answer}"
    );
    (berth_tests::images::sha256(&body), body.len())
}

fn inspect(d: &DockerCli, name: &str) -> (u16, serde_json::Value) {
    let r = raw_request(
        &d.socket(),
        "GET",
        &format!("/v1.41/distribution/{name}/json"),
        &[("X-Registry-Auth", "e30=")],
        b"",
    );
    let body = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{}: {e}: {}", d.daemon, r.text()));
    (r.status, body)
}

fn run_all(d: &DockerCli) {
    let who = d.daemon;
    let reg = Registry::start();
    let repo = unique("dist");
    let img = build_image(&[busybox_layer()], None);
    reg.push_image(&img, &format!("{repo}:oci"));
    let host = reg.host();
    // The same image as a docker schema 2 manifest (dockerd 20.10 reads the platform from
    // the config of that form only).
    let single = format!("{host}/{repo}:single");
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "-q",
            "--format",
            "v2s2",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .arg(format!("docker://{host}/{repo}:oci"))
        .arg(format!("docker://{single}"))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{single}"))
        .output()
        .expect("run skopeo");
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let (single_digest, single_size) = (berth_tests::images::sha256(&raw.stdout), raw.stdout.len());
    let before = d.ok(&["images", "-q"]);

    // A single manifest: its descriptor, and the platform its config names.
    let (status, v) = inspect(d, &single);
    assert_eq!(status, 200, "{who}: {v}");
    assert_eq!(
        v,
        serde_json::json!({
            "Descriptor": {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "digest": single_digest,
                "size": single_size
            },
            "Platforms": [{"architecture": "amd64", "os": "linux"}]
        }),
        "{who}"
    );
    // By digest, the same.
    let (status, by_digest) = inspect(d, &format!("{host}/{repo}@{single_digest}"));
    assert_eq!((status, &by_digest), (200, &v), "{who}");

    // An index: every platform it lists.
    let (digest, size) = put_index(&reg, &repo, "multi", &img);
    let (status, v) = inspect(d, &format!("{host}/{repo}:multi"));
    assert_eq!(status, 200, "{who}: {v}");
    assert_eq!(
        v,
        serde_json::json!({
            "Descriptor": {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": digest,
                "size": size
            },
            "Platforms": [
                {"architecture": "amd64", "os": "linux"},
                {"architecture": "arm64", "os": "linux", "variant": "v8"}
            ]
        }),
        "{who}"
    );

    // Nothing was pulled.
    assert_eq!(d.ok(&["images", "-q"]), before, "{who}");

    // Unknown tags and repositories, and a name with no tag where "latest" is missing.
    let unknown = serde_json::json!({"message": "manifest unknown: manifest unknown"});
    for name in [
        format!("{host}/{repo}:nope"),
        format!("{host}/{}:oci", unique("none")),
        format!("{host}/{repo}"),
    ] {
        assert_eq!(inspect(d, &name), (404, unknown.clone()), "{who}: {name}");
    }
    // A name that is no reference.
    let (status, v) = inspect(d, "UPPER/case");
    assert_eq!(status, 400, "{who}: {v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("invalid reference format")),
        "{who}: {v}"
    );
}

#[test]
fn berthd() {
    require!(root, docker_cli, docker_registry);
    let b = Berthd::start();
    run_all(&b.cli());
}

#[test]
fn dockerd() {
    require!(root, docker_cli, dockerd, docker_registry);
    let d = Dockerd::start().expect("dockerd is installed but did not start");
    run_all(&d.cli());
}
