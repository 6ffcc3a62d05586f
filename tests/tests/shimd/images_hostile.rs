//! Hostile layers against shimd: sparse files (GNU tar's and crafted ones) are stored with
//! their holes, decompression bombs stop early, FIFOs and device nodes unpack, and refused,
//! tampered, killed or failed pulls and imports leave nothing behind.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::images::{
    build_image, build_image_with, busybox_layer, gnu_sparse_layer, gzip_bomb, image_of_blobs,
    layer_tar, pax_sparse_layer, random_bytes, Compression, Entry, Image,
};
use berth_tests::registry::Registry;
use berth_tests::shimd::Shimd;
use berth_tests::stalling_proxy::StallingProxy;
use berth_tests::{require, unique};

/// Every file named `rel` in a snapshot of `s`.
fn in_snapshots(s: &Shimd, rel: &str) -> Vec<PathBuf> {
    std::fs::read_dir(s.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path().join("fs").join(rel))
        .filter(|p| p.symlink_metadata().is_ok())
        .collect()
}

fn ingests(s: &Shimd) -> Vec<String> {
    std::fs::read_dir(s.root().join("content/ingest"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn blob_present(s: &Shimd, digest: &str) -> bool {
    s.root()
        .join("content/blobs/sha256")
        .join(&digest[7..])
        .exists()
}

fn import(s: &Shimd, img: &Image) -> (i32, String) {
    let tar = s.dir.path().join(format!("{}.tar", unique("img")));
    std::fs::write(&tar, img.oci_archive("hostile:latest")).unwrap();
    let (code, out, err) = s.ctl_run(&["images", "import", tar.to_str().unwrap()]);
    (code, format!("{out}{err}"))
}

/// Nothing of a refused image is left: no ingest, no extraction, no snapshot or blob of
/// its layers.
fn assert_no_debris(s: &Shimd, layer_digests: &[&str]) {
    assert_eq!(ingests(s), Vec::<String>::new(), "ingest debris");
    let snaps = s.ctl_ok(&["snapshots", "ls"]);
    assert!(!snaps.contains("extract-"), "{snaps}");
    for d in layer_digests {
        assert!(!blob_present(s, d), "blob {d} left behind");
    }
}

/// Apparent size and allocated bytes.
fn sizes(p: &Path) -> (u64, u64) {
    let m = std::fs::metadata(p).unwrap();
    (m.len(), m.blocks() * 512)
}

/// Bytes allocated below `dir` (du).
fn allocated(dir: &Path) -> u64 {
    let out = Command::new("du")
        .args(["-s", "--block-size=1"])
        .arg(dir)
        .output()
        .expect("run du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("du prints a size")
}

fn gnu_tar(args: &[&str], dir: &Path) {
    let out = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run GNU tar");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sparse_files_are_stored_with_their_holes() {
    require!(root);
    let s = Shimd::start();
    let work = s.dir.path().join("sparse");
    std::fs::create_dir_all(work.join("src")).unwrap();
    use std::os::unix::fs::FileExt;
    // GNU tar -S, in its default (old GNU, type 'S') and POSIX (PAX 1.0) formats: 10 GiB
    // apparent, three bytes of data at the end.
    let big = work.join("src/big");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(10 << 30).unwrap();
    f.write_all_at(b"END", 10 << 30).unwrap();
    drop(f);
    let mut layers = Vec::new();
    for (format, file) in [("gnu", "gnu.tar"), ("posix", "posix.tar")] {
        gnu_tar(
            &[
                "-S",
                &format!("--format={format}"),
                "-cf",
                &format!("../{file}"),
                "big",
            ],
            &work.join("src"),
        );
        let tar = std::fs::read(work.join(file)).unwrap();
        assert!(tar.len() < 64 << 10, "{format}: {} bytes", tar.len());
        layers.push(tar);
    }
    std::fs::remove_file(&big).unwrap();
    // Crafted: old GNU with extension headers (30 chunks), PAX 1.0.
    let block = vec![7u8; 512];
    let chunks: Vec<(u64, &[u8])> = (0..30u64).map(|i| (i << 30, &block[..])).collect();
    layers.push(gnu_sparse_layer("crafted", 40 << 30, &chunks));
    layers.push(pax_sparse_layer(
        "pax10",
        1 << 40,
        &[(0, &block[..]), ((1 << 40) - 3, b"TOP")],
        "1.0",
    ));
    for (i, layer) in layers.into_iter().enumerate() {
        let img = build_image(&[layer], None);
        let (code, out) = import(&s, &img);
        assert_eq!(code, 0, "layer {i}: {out}");
    }
    let files = in_snapshots(&s, "big");
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let (apparent, allocated) = sizes(f);
        assert_eq!(apparent, (10 << 30) + 3);
        assert!(allocated < 1 << 20, "{} allocates {allocated}", f.display());
        let mut tail = [0u8; 3];
        std::fs::File::open(f)
            .unwrap()
            .read_exact_at(&mut tail, 10 << 30)
            .unwrap();
        assert_eq!(&tail, b"END");
    }
    let crafted = &in_snapshots(&s, "crafted")[0];
    let (apparent, allocated) = sizes(crafted);
    assert_eq!(apparent, 40 << 30);
    assert!(allocated < 4 << 20, "{allocated}");
    let mut got = [0u8; 512];
    let cf = std::fs::File::open(crafted).unwrap();
    cf.read_exact_at(&mut got, 29 << 30).unwrap();
    assert_eq!(got, [7u8; 512]);
    cf.read_exact_at(&mut got, (29 << 30) + 4096).unwrap();
    assert_eq!(got, [0u8; 512], "a hole reads as zeros");
    let pax = &in_snapshots(&s, "pax10")[0];
    assert_eq!(sizes(pax).0, 1 << 40);
    assert!(sizes(pax).1 < 1 << 20);

    // A sparse format that cannot be read is refused, never expanded.
    let bad = pax_sparse_layer("v2", 1 << 30, &[(0, &block[..])], "2.0");
    let img = build_image(&[bad], None);
    let (code, out) = import(&s, &img);
    assert_ne!(code, 0);
    assert!(
        out.contains("v2") && out.contains("sparse format 2.0") && out.contains("refusing"),
        "{out}"
    );
    assert!(in_snapshots(&s, "v2").is_empty());
    assert_no_debris(&s, &[&img.blobs[0].0]);
}

#[test]
fn a_gzip_bomb_stops_early_and_leaves_nothing() {
    require!(root, docker_registry, skopeo);
    // 2 GiB of zeros in a tar, about 2 MB gzip-compressed.
    let (bomb, diff_id) = gzip_bomb(2 << 30);
    assert!(bomb.len() < 4 << 20, "{}", bomb.len());
    let img = image_of_blobs(&[(bomb, "application/vnd.oci.image.layer.v1.tar+gzip", diff_id)]);
    let layer = img.blobs[0].0.clone();
    let reg = Registry::start();
    reg.push_image(&img, "bomb:latest");
    let s = Shimd::start();
    let name = format!("{}/bomb:latest", reg.host());
    let t = Instant::now();
    let (code, _, err) = s.ctl_run(&["images", "pull", &name]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&layer) && err.contains("max_layer_ratio") && err.contains("100 times"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    assert_no_debris(&s, &[&layer]);
    assert_eq!(s.ctl_ok(&["images", "ls", "-q"]).trim(), "");
    // The same through an import (docker load's way).
    let (code, out) = import(&s, &img);
    assert_ne!(code, 0);
    assert!(out.contains("max_layer_ratio"), "{out}");
    assert_no_debris(&s, &[&layer]);
    let bytes = allocated(&s.root());
    assert!(
        bytes < 64 << 20,
        "the store holds {bytes} bytes after the refusals"
    );
}

#[test]
fn the_total_an_operation_may_unpack_is_bounded() {
    require!(root);
    let s = Shimd::start_with_config(Some("max_unpack_bytes = \"2MiB\"\n"));
    let data = random_bytes(3 << 20, 5);
    let img = build_image(&[layer_tar(&[Entry::File("data", &data)])], None);
    let (code, out) = import(&s, &img);
    assert_ne!(code, 0);
    assert!(
        out.contains("max_unpack_bytes") && out.contains("2.0 MiB"),
        "{out}"
    );
    assert_no_debris(&s, &[&img.blobs[0].0]);
    let small = build_image(&[layer_tar(&[Entry::File("small", b"s")])], None);
    assert_eq!(import(&s, &small).0, 0);
}

#[test]
fn fifos_and_device_nodes_unpack_from_imports_and_pulls() {
    require!(root, docker_registry, skopeo);
    let s = Shimd::start();
    // GNU tar writes a FIFO with blank device fields.
    let work = s.dir.path().join("fifo");
    std::fs::create_dir_all(&work).unwrap();
    nix::unistd::mkfifo(
        &work.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    gnu_tar(&["-cf", "../fifo.tar", "fifo"], &work);
    let gnu = std::fs::read(s.dir.path().join("fifo.tar")).unwrap();
    let crafted = layer_tar(&[
        Entry::Dir("dev"),
        Entry::CharDevice("dev/mem", 1, 1),
        Entry::Fifo("dev/pipe"),
    ]);
    let img = build_image(&[busybox_layer(), gnu, crafted], None);
    let (code, out) = import(&s, &img);
    assert_eq!(code, 0, "{out}");
    let reg = Registry::start();
    reg.push_image(&img, "fifo:latest");
    let s2 = Shimd::start();
    s2.ctl_ok(&["images", "pull", &format!("{}/fifo:latest", reg.host())]);
    for s in [&s, &s2] {
        let fifo = in_snapshots(s, "fifo");
        let m = fifo[0].symlink_metadata().unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.mode() & 0o7777, 0o640);
        let mem = in_snapshots(s, "dev/mem")[0].symlink_metadata().unwrap();
        assert!(mem.file_type().is_char_device());
        assert_eq!(mem.rdev(), nix::sys::stat::makedev(1, 1));
        assert!(in_snapshots(s, "dev/pipe")[0]
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_fifo());
    }
}

#[test]
fn a_tampered_blob_is_refused_and_leaves_nothing() {
    require!(root, docker_registry, skopeo);
    let reg = Registry::start();
    let data = random_bytes(300_000, 9);
    let img = build_image(&[layer_tar(&[Entry::File("rand.bin", &data)])], None);
    reg.push_image(&img, "rand:latest");
    let layer = &img.blobs[0].0;
    let stored = reg
        .dir
        .path()
        .join("data/docker/registry/v2/blobs/sha256")
        .join(&layer[7..9])
        .join(&layer[7..])
        .join("data");
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[100..108].copy_from_slice(b"tampered");
    std::fs::write(&stored, bytes).unwrap();
    let s = Shimd::start();
    let (code, _, err) = s.ctl_run(&["images", "pull", &format!("{}/rand:latest", reg.host())]);
    assert_ne!(code, 0);
    assert!(
        err.contains("digest") && err.contains(&layer[..20]),
        "{err}"
    );
    assert_no_debris(&s, &[layer]);
}

/// Waits until `cond` holds (panics with `what` after a minute).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the proxy of a held pull stops the layer's download.
const HELD_AT: u64 = 1 << 20;

/// An image of one uncompressed 8 MiB layer in a registry, and a proxy in front of it
/// that holds every download of that layer after [`HELD_AT`] bytes.
struct HeldPull {
    _reg: Registry,
    proxy: StallingProxy,
    /// The image's name through the proxy.
    name: String,
    layer: String,
    data: Vec<u8>,
}

impl HeldPull {
    fn start() -> HeldPull {
        let reg = Registry::start();
        let data = random_bytes(8 << 20, 77);
        let img = build_image_with(
            &[layer_tar(&[Entry::File("big", &data)])],
            None,
            Compression::None,
        );
        reg.push_image(&img, "big:latest");
        let layer = img.blobs[0].0.clone();
        let proxy = StallingProxy::start(&reg.host(), &layer, HELD_AT);
        HeldPull {
            name: format!("{}/big:latest", proxy.host()),
            _reg: reg,
            proxy,
            layer,
            data,
        }
    }

    /// The partial download of the layer in `s`'s ingest area.
    fn partial(&self, s: &Shimd) -> PathBuf {
        s.root()
            .join(format!("content/ingest/sha256-{}/data", &self.layer[7..]))
    }

    /// Starts `berthctl images pull` and returns once its download is held for the
    /// `n`th time and shimd has stored every byte that came (HELD_AT).
    fn pull_until_held(&self, s: &Shimd, n: usize) -> std::process::Child {
        let client = s
            .ctl()
            .args(["images", "pull", &self.name])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.proxy.wait_held(n);
        let partial = self.partial(s);
        wait_for("shimd to store what came of the layer", || {
            std::fs::metadata(&partial).is_ok_and(|m| m.len() == HELD_AT)
        });
        client
    }
}

#[test]
fn a_pull_whose_client_is_killed_leaves_nothing_and_gc_removes_stale_ingests() {
    require!(root, docker_registry, skopeo);
    let p = HeldPull::start();
    let mut s = Shimd::start();
    let partial = p.partial(&s);
    // The client is killed mid-download: shimd cancels the pull and cleans up.
    let mut client = p.pull_until_held(&s, 1);
    client.kill().unwrap();
    client.wait().unwrap();
    // shimd drops the download (closing its connection), its partial file and extraction.
    p.proxy.wait_none_held();
    wait_for("the cancelled pull to clean up", || {
        ingests(&s).is_empty() && !s.ctl_ok(&["snapshots", "ls"]).contains("extract-")
    });
    wait_for("shimd to log the cancelled pull", || {
        s.log().contains("the client went away")
    });
    assert!(!blob_present(&s, &p.layer));
    assert_eq!(s.ctl_ok(&["images", "ls", "-q"]).trim(), "");

    // A crash leaves the partial download for a resume; gc keeps it while it is fresh and
    // removes it once stale (older than ingest_expiry, 1h by default).
    let mut client = p.pull_until_held(&s, 2);
    s.kill9();
    assert!(
        !client.wait().unwrap().success(),
        "the pull succeeded without shimd"
    );
    s.restart();
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), HELD_AT);
    s.ctl_ok(&["system", "gc"]);
    assert!(partial.exists(), "a fresh partial download was removed");
    let old = nix::sys::time::TimeSpec::new(
        (std::time::SystemTime::now() - Duration::from_secs(7200))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        0,
    );
    nix::sys::stat::utimensat(
        None,
        &partial,
        &old,
        &old,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    s.ctl_ok(&["system", "gc"]);
    assert!(!partial.exists(), "a stale partial download survived gc");
    assert_eq!(ingests(&s), Vec::<String>::new());
}

#[test]
fn a_download_cut_by_a_crash_resumes_where_it_stopped() {
    require!(root, docker_registry, skopeo);
    let p = HeldPull::start();
    let mut s = Shimd::start();
    let mut client = p.pull_until_held(&s, 1);
    s.kill9();
    let _ = client.wait();
    s.restart();
    p.proxy.release();
    s.ctl_ok(&["images", "pull", &p.name]);
    // The second request for the layer asked for the bytes it lacked, and only those.
    let gets: Vec<String> = p
        .proxy
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains(&p.layer))
        .collect();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    let range = gets[1]
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("range:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    assert!(
        range.starts_with(&format!("bytes={HELD_AT}-")),
        "range {range:?} in {}",
        gets[1]
    );
    assert!(
        s.log().contains("resuming a partial download"),
        "{}",
        s.log()
    );
    assert_eq!(ingests(&s), Vec::<String>::new());
    assert!(blob_present(&s, &p.layer));
    let files = in_snapshots(&s, "big");
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        std::fs::read(&files[0]).unwrap() == p.data,
        "the unpacked file differs"
    );
}
