//! shimd against real registries on loopback: push and pull back into a fresh root, TLS
//! with a private CA, basic and token auth, mirrors, zstd layers.

use berth_tests::images::{
    build_image, build_image_with, busybox_layer, layer_tar, random_bytes, Compression, Entry,
    Image,
};
use berth_tests::registry::{Auth, Ca, Options, Registry};
use berth_tests::require;
use berth_tests::shimd::Shimd;

fn inspect(s: &Shimd, name: &str) -> serde_json::Value {
    serde_json::from_str(&s.ctl_ok(&["images", "inspect", name])).unwrap()
}

/// The files of every snapshot directory of `s` that hold `rel`.
fn snapshot_files(s: &Shimd, rel: &str) -> Vec<Vec<u8>> {
    std::fs::read_dir(s.root().join("snapshots"))
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join("fs").join(rel)).ok())
        .collect()
}

fn busybox_image() -> Image {
    build_image(&[busybox_layer()], None)
}

#[test]
fn push_then_pull_back_into_a_fresh_root() {
    require!(root, docker_registry);
    let reg = Registry::start();
    let a = Shimd::start();
    // A layer over 4 MiB goes up in chunks, the small blobs in one request each.
    let big = random_bytes(6 << 20, 7);
    let img = build_image(
        &[busybox_layer(), layer_tar(&[Entry::File("big", &big)])],
        None,
    );
    let tar = a.dir.path().join("app.tar");
    std::fs::write(&tar, img.oci_archive("local/app:v1")).unwrap();
    a.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    let dest = format!("{}/app:v1", reg.host());
    let (code, out, err) = a.ctl_run(&["images", "push", "local/app:v1", &dest]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), img.manifest_digest, "{err}");
    assert!(err.contains("pushing"), "{err}");
    assert_eq!(reg.manifest_digest("app:v1"), img.manifest_digest);
    // A second push finds every blob in the registry already.
    let (code, _, err) = a.ctl_run(&["images", "push", "local/app:v1", &dest]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches(" exists ").count(), 3, "{err}");

    let b = Shimd::start();
    let out = b.ctl_ok(&["images", "pull", &dest]);
    assert_eq!(out.trim(), format!("{dest} {}", img.manifest_digest));
    let (va, vb) = (inspect(&a, "local/app:v1"), inspect(&b, &dest));
    for k in ["manifest", "config", "layers", "diff_ids", "chain_id"] {
        assert_eq!(va[k], vb[k], "{k} differs after the round trip");
    }
    assert_eq!(snapshot_files(&b, "big"), vec![big]);

    // Pushing an image that is not there names it.
    let (code, _, err) = a.ctl_run(&["images", "push", "nope:v9", &dest]);
    assert_ne!(code, 0);
    assert!(
        err.contains("nope:v9") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn tls_registry_needs_its_ca_in_the_config() {
    require!(root, docker_registry);
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::make(certs.path());
    let reg = Registry::start_with(Options {
        tls: Some(ca.clone()),
        ..Default::default()
    });
    reg.push_image(&busybox_image(), "busybox:latest");
    let name = format!("{}/busybox:latest", reg.host());

    let plain = Shimd::start();
    let (code, _, err) = plain.ctl_run(&["images", "pull", &name]);
    assert_ne!(code, 0);
    assert!(
        err.contains("certificate") && err.contains("ca_file"),
        "{err}"
    );
    assert!(plain.ctl_ok(&["images", "ls", "-q"]).trim().is_empty());
    // --insecure skips the verification.
    let (code, _, err) = plain.ctl_run(&["images", "pull", "--insecure", &name]);
    assert_eq!(code, 0, "{err}");
    drop(plain);

    let cfg = format!(
        "[registries.\"{}\"]\nca_file = \"{}\"\n",
        reg.host(),
        ca.ca_pem.display()
    );
    let s = Shimd::start_with_config(Some(&cfg));
    let (code, _, err) = s.ctl_run(&["images", "pull", &name]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("https://{}", reg.host())), "{err}");
    assert_eq!(snapshot_files(&s, "bin/busybox").len(), 1);
}

/// Pull and push against a registry that wants `tester:secret`.
fn check_auth(auth: Auth) {
    let reg = Registry::start_with(Options {
        auth,
        ..Default::default()
    });
    let img = busybox_image();
    reg.push_image(&img, "private/busybox:latest");
    let name = format!("{}/private/busybox:latest", reg.host());
    let s = Shimd::start();

    let (code, _, err) = s.ctl_run(&["images", "pull", &name]);
    assert_ne!(code, 0);
    assert!(
        err.contains("private/busybox") && err.contains("credentials"),
        "anonymous pull: {err}"
    );
    let (code, _, err) = s.ctl_run(&["images", "pull", "-u", "tester:wrong", &name]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&reg.host()) && err.contains("credentials"),
        "wrong password: {err}"
    );
    let (code, _, err) = s.ctl_run(&["images", "pull", "-u", "tester", &name]);
    assert_ne!(code, 0);
    assert!(err.contains("user:password"), "{err}");
    assert!(s.ctl_ok(&["images", "ls", "-q"]).trim().is_empty());

    s.ctl_ok(&["images", "pull", "-u", "tester:secret", &name]);
    let copy = format!("{}/private/copy:v2", reg.host());
    let (code, _, err) = s.ctl_run(&["images", "push", &name, &copy]);
    assert_ne!(code, 0, "anonymous push succeeded");
    assert!(err.contains("credentials"), "anonymous push: {err}");
    s.ctl_ok(&["images", "push", "-u", "tester:secret", &name, &copy]);
    assert_eq!(reg.manifest_digest("private/copy:v2"), img.manifest_digest);
}

#[test]
fn basic_auth_with_htpasswd() {
    require!(root, docker_registry, htpasswd);
    check_auth(Auth::Basic("tester".into(), "secret".into()));
}

#[test]
fn token_auth_with_a_token_server() {
    require!(root, docker_registry);
    check_auth(Auth::Token("tester".into(), "secret".into()));
}

#[test]
fn mirrors_are_tried_first_and_the_registry_after_them() {
    require!(root, docker_registry);
    let origin = Registry::start();
    let mirror = Registry::start();
    let img = busybox_image();
    mirror.push_image(&img, "busybox:latest");
    let only_origin = build_image(&[layer_tar(&[Entry::File("origin", b"o")])], None);
    origin.push_image(&only_origin, "only-origin:latest");
    let cfg = format!(
        "[registries.\"{}\"]\nmirrors = [\"http://{}\"]\n",
        origin.host(),
        mirror.host()
    );
    let s = Shimd::start_with_config(Some(&cfg));
    let name = format!("{}/busybox:latest", origin.host());
    let (code, out, err) = s.ctl_run(&["images", "pull", &name]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("{name} {}", img.manifest_digest));
    assert!(err.contains(&format!("http://{}", mirror.host())), "{err}");
    assert!(
        !origin.log().contains("/v2/busybox/"),
        "the origin was asked although the mirror had the image"
    );
    // What the mirror lacks comes from the registry itself.
    let name = format!("{}/only-origin:latest", origin.host());
    let (code, _, err) = s.ctl_run(&["images", "pull", &name]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("http://{}", origin.host())), "{err}");
    assert_eq!(snapshot_files(&s, "origin"), vec![b"o".to_vec()]);
}

#[test]
fn zstd_and_uncompressed_layers_pull_and_unpack() {
    require!(root, docker_registry);
    let reg = Registry::start();
    let data = random_bytes(3 << 20, 11);
    let img = build_image_with(
        &[
            busybox_layer(),
            layer_tar(&[Entry::Dir("z"), Entry::File("z/data", &data)]),
        ],
        None,
        Compression::Zstd,
    );
    reg.push_image(&img, "zstd:latest");
    let plain = build_image_with(
        &[layer_tar(&[Entry::File("plain", b"p")])],
        None,
        Compression::None,
    );
    reg.push_image(&plain, "plain:latest");
    let s = Shimd::start();
    let name = format!("{}/zstd:latest", reg.host());
    s.ctl_ok(&["images", "pull", &name]);
    let v = inspect(&s, &name);
    assert_eq!(
        v["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(v["unpacked"], true);
    assert_eq!(snapshot_files(&s, "z/data"), vec![data]);
    let name = format!("{}/plain:latest", reg.host());
    s.ctl_ok(&["images", "pull", &name]);
    assert_eq!(
        inspect(&s, &name)["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(snapshot_files(&s, "plain"), vec![b"p".to_vec()]);
}

/// Starts pulling `name`, kills shimd once `partial` holds 8 MiB, restarts shimd; returns
/// the size of the partial download. When a busy machine let the pull finish before the
/// kill, the image is removed and the pull tried again (a few times).
fn kill9_mid_pull(s: &mut Shimd, name: &str, partial: &std::path::Path) -> u64 {
    let size = || std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0);
    for _ in 0..5 {
        let mut child = s
            .ctl()
            .args(["images", "pull", name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut finished = false;
        while size() < 8 << 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "the download did not start"
            );
            if let Ok(Some(st)) = child.try_wait() {
                assert!(st.success(), "the pull failed:\n{}", s.log());
                finished = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if finished {
            s.ctl_ok(&["images", "rm", name]);
            s.ctl_ok(&["system", "gc"]);
            continue;
        }
        s.kill9();
        let _ = child.wait();
        s.restart();
        return size();
    }
    panic!("the pull always finished before shimd could be killed");
}

#[test]
fn kill9_mid_pull_resumes_with_a_range_request() {
    require!(root, docker_registry);
    let reg = Registry::start();
    let big = random_bytes(96 << 20, 31);
    let img = build_image_with(
        &[layer_tar(&[Entry::File("big", &big)])],
        None,
        Compression::None,
    );
    reg.push_image(&img, "big:latest");
    let (layer, blob) = &img.blobs[0];
    let total = blob.len() as u64;
    let mut s = Shimd::start();
    let name = format!("{}/big:latest", reg.host());
    let partial = s
        .root()
        .join(format!("content/ingest/sha256-{}/data", &layer[7..]));
    let kept = kill9_mid_pull(&mut s, &name, &partial);
    assert!(
        kept < total,
        "the download finished before shimd was killed"
    );
    s.ctl_ok(&["images", "pull", &name]);
    assert!(
        s.log().contains("resuming a partial download"),
        "{}",
        s.log()
    );
    // The registry sent only the rest of the blob, as 206 Partial Content.
    let log = reg.log();
    let sent: Vec<u64> = log
        .lines()
        .filter(|l| l.contains(&format!("GET /v2/big/blobs/{layer}")) && l.contains("\" 206 "))
        .filter_map(|l| {
            l.split("\" 206 ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(sent, vec![total - kept], "{log}");
    assert_eq!(snapshot_files(&s, "big"), vec![big.clone()]);
    assert!(!partial.exists());

    // A damaged partial download is caught by the digest and downloaded again.
    s.ctl_ok(&["images", "rm", &name]);
    s.ctl_ok(&["system", "gc"]);
    kill9_mid_pull(&mut s, &name, &partial);
    let mut bytes = std::fs::read(&partial).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&partial, bytes).unwrap();
    s.ctl_ok(&["images", "pull", &name]);
    assert!(s.log().contains("did not verify"), "{}", s.log());
    assert_eq!(snapshot_files(&s, "big"), vec![big]);
}
