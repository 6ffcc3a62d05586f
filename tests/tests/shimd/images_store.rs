//! shimd's stores: export read back by skopeo, dockerd and shimd; garbage collection with
//! leases and active snapshots; the native snapshotter; kill -9 during import, unpack and
//! garbage collection followed by a consistent restart.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::dockerd::Dockerd;
use berth_tests::images::{build_image, busybox_layer, layer_tar, random_bytes, Entry, Image};
use berth_tests::shimd::Shimd;
use berth_tests::{require, unique};

fn inspect(s: &Shimd, name: &str) -> serde_json::Value {
    serde_json::from_str(&s.ctl_ok(&["images", "inspect", name])).unwrap()
}

fn import(s: &Shimd, img: &Image, name: &str, extra: &[&str]) {
    let tar = s.dir.path().join(format!("{}.tar", unique("img")));
    std::fs::write(&tar, img.oci_archive(name)).unwrap();
    let mut args = vec!["images", "import"];
    args.extend(extra);
    args.push(tar.to_str().unwrap());
    s.ctl_ok(&args);
    std::fs::remove_file(&tar).unwrap();
}

/// Committed blob files on disk (hex names).
fn blob_files(s: &Shimd) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(s.root().join("content/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn hex(d: &str) -> String {
    d.trim_start_matches("sha256:").to_string()
}

/// Every blob file hashes to its name.
fn assert_blobs_verify(s: &Shimd) {
    for h in blob_files(s) {
        let data = std::fs::read(s.root().join("content/blobs/sha256").join(&h)).unwrap();
        assert_eq!(
            hex(&berth_tests::images::sha256(&data)),
            h,
            "blob {h} is corrupt"
        );
    }
}

fn snapshot_keys(s: &Shimd) -> Vec<String> {
    s.ctl_ok(&["snapshots", "ls"])
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// After a restart: no half-unpacked snapshot, no snapshot directory without a record.
fn assert_snapshots_consistent(s: &Shimd) {
    let keys = snapshot_keys(s);
    assert!(
        !keys.iter().any(|k| k.starts_with("extract-")),
        "left over: {keys:?}"
    );
    let dirs = std::fs::read_dir(s.root().join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(dirs, keys.len(), "snapshot dirs vs records: {keys:?}");
}

/// Mounts `mounts` (lines `TYPE SOURCE OPTIONS` from berthctl) on `at`, read-only.
pub(crate) fn mount_lines(lines: &str, at: &Path) {
    let l = lines.lines().next().expect("one mount");
    let mut p = l.splitn(3, ' ');
    let (typ, src, opts) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(""));
    let st = Command::new("mount")
        .args(["-t", typ, src])
        .arg(at)
        .args(["-o", opts])
        .status()
        .unwrap();
    assert!(st.success(), "mount {l}");
}

pub(crate) fn umount(at: &Path) {
    let _ = nix::mount::umount2(at, nix::mount::MntFlags::MNT_DETACH);
}

#[test]
fn export_is_read_by_skopeo_dockerd_and_shimd() {
    require!(root);
    let s = Shimd::start();
    let img = build_image(
        &[busybox_layer(), layer_tar(&[Entry::File("hello", b"hi")])],
        None,
    );
    import(&s, &img, "exported:v1", &[]);
    let out = s.dir.path().join("out.tar");
    s.ctl_ok(&["images", "export", out.to_str().unwrap(), "exported:v1"]);
    let config = inspect(&s, "exported:v1")["config"]
        .as_str()
        .unwrap()
        .to_string();

    if Command::new("skopeo").arg("--version").output().is_ok() {
        for transport in ["docker-archive", "oci-archive"] {
            let o = Command::new("skopeo")
                .arg("inspect")
                .arg(format!("{transport}:{}", out.display()))
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "skopeo inspect {transport}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["Layers"].as_array().unwrap().len(), 2, "{transport}: {v}");
        }
    }

    // A fresh root imports it back to the same manifest.
    let b = Shimd::start();
    let (code, o, e) = b.ctl_run(&["images", "import", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{e}");
    assert_eq!(o.trim(), "docker.io/library/exported:v1");
    assert_eq!(inspect(&b, "exported:v1")["manifest"], img.manifest_digest);

    // Docker's own daemon loads it (its image id is the config digest).
    match Dockerd::start() {
        None => eprintln!("dockerd not available: docker load not checked"),
        Some(d) => {
            let o = docker(&d, &["load", "-i", out.to_str().unwrap()]);
            assert!(o.contains("exported:v1"), "docker load: {o}");
            let id = docker(&d, &["image", "inspect", "-f", "{{.Id}}", "exported:v1"]);
            assert_eq!(id.trim(), config);
        }
    }

    // Exporting what is not there names it, and leaves no file behind.
    let missing = s.dir.path().join("missing.tar");
    let (code, _, err) = s.ctl_run(&["images", "export", missing.to_str().unwrap(), "nope:v1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("nope:v1") && err.contains("not found"),
        "{err}"
    );
    assert!(!missing.exists());
}

/// Runs the docker CLI against `d`; panics with its output unless it succeeds.
fn docker(d: &Dockerd, args: &[&str]) -> String {
    let cli = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a docker CLI");
    let o = Command::new(cli)
        .arg("-H")
        .arg(d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("cli"))
        .args(args)
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "docker {args:?}: {out}");
    out
}

#[test]
fn gc_removes_unused_content_and_keeps_leased_and_active() {
    require!(root);
    let s = Shimd::start();
    let base = busybox_layer();
    let a = build_image(&[base.clone(), layer_tar(&[Entry::File("a", b"a")])], None);
    let b = build_image(&[base, layer_tar(&[Entry::File("b", b"b")])], None);
    import(&s, &a, "a:v1", &[]);
    import(&s, &b, "b:v1", &[]);
    // base, base+a, base+b; 2 manifests, 2 configs, 3 layers.
    assert_eq!(snapshot_keys(&s).len(), 3);
    assert_eq!(blob_files(&s).len(), 7);
    let ib = inspect(&s, "b:v1");

    s.ctl_ok(&["images", "rm", "a:v1"]);
    let dry = s.ctl_ok(&["system", "gc", "--dry-run"]);
    assert!(
        dry.starts_with("would remove 3 blobs and 1 snapshots"),
        "{dry}"
    );
    assert_eq!(blob_files(&s).len(), 7, "a dry run removed something");
    let out = s.ctl_ok(&["system", "gc"]);
    assert!(out.starts_with("removed 3 blobs and 1 snapshots"), "{out}");
    assert!(!blob_files(&s).contains(&hex(&a.manifest_digest)));
    assert!(blob_files(&s).contains(&hex(&b.manifest_digest)));
    assert_eq!(snapshot_keys(&s).len(), 2);
    assert_eq!(inspect(&s, "b:v1")["unpacked"], true);

    // A lease keeps a blob; an active snapshot (a container's) keeps its chain.
    let config = ib["config"].as_str().unwrap();
    let chain = ib["chain_id"].as_str().unwrap();
    s.ctl_ok(&["leases", "create", "--id", "keep"]);
    s.ctl_ok(&["leases", "add", "keep", "content", config]);
    assert_eq!(
        s.ctl_ok(&["leases", "resources", "keep"]).trim(),
        format!("content {config}")
    );
    s.ctl_ok(&["snapshots", "prepare", "ctr-1", chain]);
    s.ctl_ok(&["images", "rm", "b:v1"]);
    let out = s.ctl_ok(&["system", "gc"]);
    assert!(out.starts_with("removed 3 blobs and 0 snapshots"), "{out}");
    assert_eq!(blob_files(&s), vec![hex(config)]);
    assert_eq!(snapshot_keys(&s).len(), 3);

    // A lease that expired protects nothing.
    s.ctl_ok(&["leases", "create", "--id", "short", "--expire", "1"]);
    s.ctl_ok(&["leases", "add", "short", "snapshots", "ctr-1"]);
    // Bad input is refused with the reason.
    let (code, _, err) = s.ctl_run(&["leases", "add", "missing", "content", config]);
    assert_ne!(code, 0);
    assert!(err.contains("\"missing\" not found"), "{err}");
    let (code, _, err) = s.ctl_run(&["leases", "create", "--id", "keep"]);
    assert_ne!(code, 0);
    assert!(err.contains("keep") && err.contains("exists"), "{err}");
    let (code, _, err) = s.ctl_run(&["snapshots", "prepare", "ctr-2", "sha256:nope"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("sha256:nope") && err.contains("not found"),
        "{err}"
    );
    let (code, _, err) = s.ctl_run(&["images", "unpack", "nope:v1"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("nope:v1") && err.contains("not found"),
        "{err}"
    );

    // Without the container's snapshot and the lease, everything goes.
    s.ctl_ok(&["snapshots", "rm", "ctr-1"]);
    std::thread::sleep(Duration::from_millis(1100));
    s.ctl_ok(&["leases", "rm", "--sync", "keep"]);
    assert!(blob_files(&s).is_empty(), "{:?}", blob_files(&s));
    assert!(snapshot_keys(&s).is_empty());
    assert!(s.ctl_ok(&["leases", "ls", "-q"]).trim().is_empty());
    let df = s.ctl_ok(&["system", "df"]);
    assert!(
        df.contains("content    0") && df.contains("snapshots  0"),
        "{df}"
    );
}

#[test]
fn native_snapshotter_copies_layers_and_applies_whiteouts() {
    require!(root);
    let s = Shimd::start_with_config(Some("snapshotter = \"native\"\n"));
    let l1 = layer_tar(&[
        Entry::Dir("a"),
        Entry::File("a/gone", b"1"),
        Entry::Dir("o"),
        Entry::File("o/old", b"2"),
        Entry::File("keep", b"3"),
    ]);
    let l2 = layer_tar(&[
        Entry::File("a/.wh.gone", b""),
        Entry::Dir("o"),
        Entry::File("o/.wh..wh..opq", b""),
        Entry::File("o/new", b"4"),
    ]);
    import(&s, &build_image(&[l1, l2], None), "wh:v1", &[]);
    let chain = inspect(&s, "wh:v1")["chain_id"]
        .as_str()
        .unwrap()
        .to_string();

    let mounts = s.ctl_ok(&["snapshots", "prepare", "ctr-n", &chain]);
    assert!(mounts.starts_with("bind "), "{mounts}");
    let merged = s.dir.path().join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    mount_lines(&mounts, &merged);
    let r = std::panic::catch_unwind(|| {
        assert!(!merged.join("a/gone").exists() && merged.join("a").is_dir());
        assert!(!merged.join("o/old").exists());
        assert_eq!(std::fs::read(merged.join("o/new")).unwrap(), b"4");
        assert_eq!(std::fs::read(merged.join("keep")).unwrap(), b"3");
        // A full copy: writing here leaves the image's snapshot alone.
        std::fs::write(merged.join("keep"), b"changed").unwrap();
    });
    umount(&merged);
    r.unwrap();
    let top = mounts.split_whitespace().nth(1).unwrap();
    let image_copies: Vec<Vec<u8>> = std::fs::read_dir(s.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path().join("fs"))
        .filter(|p| p.to_str() != Some(top))
        .filter_map(|p| std::fs::read(p.join("keep")).ok())
        .collect();
    assert_eq!(image_copies, vec![b"3".to_vec(), b"3".to_vec()]);
    // No overlay whiteouts in a native snapshot.
    assert!(!Path::new(top).join("a/gone").exists());
}

/// Starts berthctl with `args` in the background, kills shimd once `ready` holds (or after
/// 10 s), then restarts shimd.
fn kill9_during(s: &mut Shimd, args: &[&str], ready: impl Fn(&Shimd) -> bool) {
    let mut child = s
        .ctl()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready(s) && Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    s.kill9();
    let _ = child.wait();
    s.restart();
    // The interrupted operation's lease died with it.
    assert!(s.ctl_ok(&["leases", "ls", "-q"]).trim().is_empty());
}

fn non_empty(dir: PathBuf) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

fn big_image(seed: u64) -> (Image, Vec<u8>) {
    let big = random_bytes(48 << 20, seed);
    let img = build_image(
        &[busybox_layer(), layer_tar(&[Entry::File("big", &big)])],
        None,
    );
    (img, big)
}

fn big_file_ok(s: &Shimd, big: &[u8]) {
    let found = std::fs::read_dir(s.root().join("snapshots"))
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join("fs/big")).ok())
        .collect::<Vec<_>>();
    assert_eq!(found.len(), 1);
    assert!(found[0] == big, "the unpacked file differs");
}

#[test]
fn kill9_during_import_then_restart_is_consistent() {
    require!(root);
    let mut s = Shimd::start();
    let (img, big) = big_image(21);
    let tar = s.dir.path().join("big.tar");
    std::fs::write(&tar, img.oci_archive("big:v1")).unwrap();
    let ingest = s.root().join("content/ingest");
    kill9_during(&mut s, &["images", "import", tar.to_str().unwrap()], |_| {
        non_empty(ingest.clone())
    });
    assert_blobs_verify(&s);
    assert_snapshots_consistent(&s);
    s.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    assert_eq!(inspect(&s, "big:v1")["unpacked"], true);
    big_file_ok(&s, &big);
    assert_snapshots_consistent(&s);
}

#[test]
fn kill9_during_unpack_then_restart_is_consistent() {
    require!(root);
    let mut s = Shimd::start();
    let (img, big) = big_image(22);
    import(&s, &img, "big:v1", &["--no-unpack"]);
    assert!(snapshot_keys(&s).is_empty());
    let snaps = s.root().join("snapshots");
    kill9_during(&mut s, &["images", "unpack", "big:v1"], |_| {
        std::fs::read_dir(&snaps).map(|d| d.count()).unwrap_or(0) >= 2
    });
    assert_blobs_verify(&s);
    assert_snapshots_consistent(&s);
    let chain = s.ctl_ok(&["images", "unpack", "big:v1"]);
    assert_eq!(chain.trim(), inspect(&s, "big:v1")["chain_id"]);
    big_file_ok(&s, &big);
    assert_snapshots_consistent(&s);
}

#[test]
fn kill9_during_gc_then_restart_is_consistent() {
    require!(root);
    let mut s = Shimd::start();
    let (gone, _) = big_image(23);
    let (kept, big) = big_image(24);
    import(&s, &gone, "gone:v1", &[]);
    import(&s, &kept, "kept:v1", &[]);
    s.ctl_ok(&["images", "rm", "gone:v1"]);
    // Snapshots go first, blobs after them: kill once the first snapshot is gone.
    let snaps = s.root().join("snapshots");
    kill9_during(&mut s, &["system", "gc"], |_| {
        std::fs::read_dir(&snaps).map(|d| d.count()).unwrap_or(0) < 3
    });
    assert_blobs_verify(&s);
    assert_snapshots_consistent(&s);
    // What the kept image uses is all there; a second collection finishes the job.
    let v = inspect(&s, "kept:v1");
    assert_eq!(v["unpacked"], true);
    for l in v["layers"].as_array().unwrap() {
        assert!(blob_files(&s).contains(&hex(l["digest"].as_str().unwrap())));
    }
    s.ctl_ok(&["system", "gc"]);
    assert!(!blob_files(&s).contains(&hex(&gone.manifest_digest)));
    assert_eq!(blob_files(&s).len(), 4);
    assert_eq!(snapshot_keys(&s).len(), 2);
    big_file_ok(&s, &big);
}

#[test]
fn an_image_of_150_layers_mounts_and_runs() {
    require!(root);
    let s = Shimd::start();
    let mut layers = vec![busybox_layer()];
    let names: Vec<String> = (1..150).map(|i| format!("layer-{i:03}")).collect();
    for n in &names {
        layers.push(layer_tar(&[Entry::File(n, n.as_bytes())]));
    }
    import(&s, &build_image(&layers, None), "deep:v1", &[]);
    assert_eq!(snapshot_keys(&s).len(), 150);
    // The overlay options name 149 lower directories: far more than one page.
    let chain = inspect(&s, "deep:v1")["chain_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mounts = s.ctl_ok(&["snapshots", "prepare", "deep-probe", &chain]);
    assert!(mounts.len() > 4096, "{} bytes of options", mounts.len());
    s.ctl_ok(&["snapshots", "rm", "deep-probe"]);

    let id = unique("deep");
    let (code, out, err) = s.ctl_run(&[
        "run",
        "--rm",
        "deep:v1",
        &id,
        "/bin/sh",
        "-c",
        "cat /layer-001 /layer-149; ls / | grep -c layer-",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "layer-001layer-149149\n");
}
