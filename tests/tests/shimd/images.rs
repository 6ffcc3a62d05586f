//! shimd's image half against a real registry and real archives: pull, unpack, import,
//! hostile layers, wrong digests, garbage collection.

use berth_tests::images::{build_image, busybox_layer, layer_tar, Entry};
use berth_tests::registry::Registry;
use berth_tests::require;
use berth_tests::shimd::Shimd;

fn busybox_registry(repo_tag: &str) -> Registry {
    let reg = Registry::start();
    let img = build_image(&[busybox_layer()], None);
    let layout = reg.dir.path().join("layout");
    img.write_layout(&layout, "latest");
    reg.push_layout(&layout, "latest", repo_tag);
    reg
}

/// The committed snapshot directory of the image's top layer.
fn snapshot_dirs(s: &Shimd) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(s.root().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path().join("fs"))
        .collect()
}

#[test]
fn pull_from_loopback_registry_unpacks_and_lists() {
    require!(root, docker_registry);
    let reg = busybox_registry("busybox:latest");
    let s = Shimd::start();
    let name = format!("{}/busybox:latest", reg.host());
    let out = s.ctl_ok(&["images", "pull", &name]);
    assert!(out.starts_with(&name), "{out}");
    assert_eq!(s.ctl_ok(&["images", "ls", "-q"]).trim(), name);
    let snaps = s.ctl_ok(&["snapshots", "ls"]);
    assert!(snaps.contains("Committed"), "{snaps}");
    assert!(snapshot_dirs(&s)
        .iter()
        .any(|d| d.join("bin/busybox").is_file()));
    // A second pull finds everything present.
    s.ctl_ok(&["images", "pull", &name]);
    // Missing tags name the image.
    let (code, _, err) = s.ctl_run(&["images", "pull", &format!("{}/busybox:nope", reg.host())]);
    assert_ne!(code, 0);
    assert!(
        err.contains("busybox:nope") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn import_oci_archive_and_remove_then_collect() {
    require!(root);
    let s = Shimd::start();
    let img = build_image(&[busybox_layer()], None);
    let tar = s.dir.path().join("bb.tar");
    std::fs::write(&tar, img.oci_archive("busybox:latest")).unwrap();
    let out = s.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    assert_eq!(out.trim(), "docker.io/library/busybox:latest");
    assert!(!s.ctl_ok(&["content", "ls", "-q"]).trim().is_empty());
    s.ctl_ok(&["images", "rm", "busybox"]);
    let s2 = s.ctl_ok(&["images", "ls", "-q"]);
    assert!(s2.trim().is_empty(), "{s2}");
}

fn import_err(s: &Shimd, layers: &[Vec<u8>], diff_ids: Option<Vec<String>>) -> String {
    let img = build_image(layers, diff_ids);
    let tar = s
        .dir
        .path()
        .join(format!("{}.tar", berth_tests::unique("h")));
    std::fs::write(&tar, img.oci_archive("hostile:latest")).unwrap();
    let (code, out, err) = s.ctl_run(&["images", "import", tar.to_str().unwrap()]);
    assert_ne!(code, 0, "hostile import succeeded: {out}");
    err
}

#[test]
fn hostile_layers_are_refused_and_write_nothing_outside() {
    require!(root);
    let s = Shimd::start();
    let outside = s.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.to_str().unwrap().to_string();
    let e = import_err(
        &s,
        &[layer_tar(&[Entry::File("../../../escape", b"x")])],
        None,
    );
    assert!(e.contains("..") && e.contains("unsafe"), "{e}");
    let e = import_err(
        &s,
        &[layer_tar(&[Entry::HardLink("shadow", "../../etc/shadow")])],
        None,
    );
    assert!(e.contains("hard link"), "{e}");
    // Absolute symlinks (file and parent directory) resolve inside the snapshot.
    let dangling = layer_tar(&[
        Entry::Symlink("evil", &target),
        Entry::File("evil/pwned", b"x"),
    ]);
    let e = import_err(&s, &[dangling], None);
    assert!(e.contains("evil/pwned"), "{e}");
    let sym = layer_tar(&[
        Entry::Symlink("abs", "/"),
        Entry::Dir("etc"),
        Entry::File("abs/etc/pwned2", b"y"),
    ]);
    let img = build_image(&[sym], None);
    let tar = s.dir.path().join("sym.tar");
    std::fs::write(&tar, img.oci_archive("sym:latest")).unwrap();
    s.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside"
    );
    assert!(!std::path::Path::new("/etc/pwned2").exists());
    assert!(snapshot_dirs(&s)
        .iter()
        .any(|d| d.join("etc/pwned2").is_file()));
    // A config whose diff_ids do not match the layer.
    let e = import_err(
        &s,
        &[busybox_layer()],
        Some(vec![berth_tests::images::sha256(b"no")]),
    );
    assert!(e.contains("diff_id"), "{e}");
    // No half-unpacked snapshot is left behind.
    let snaps = s.ctl_ok(&["snapshots", "ls"]);
    assert!(!snaps.contains("extract-"), "{snaps}");
}

#[test]
fn whiteouts_and_opaque_dirs_apply_through_overlay() {
    require!(root);
    let s = Shimd::start();
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
    let img = build_image(&[l1, l2], None);
    let tar = s.dir.path().join("wh.tar");
    std::fs::write(&tar, img.oci_archive("wh:latest")).unwrap();
    s.ctl_ok(&["images", "import", tar.to_str().unwrap()]);
    let (code, out, _) = s.ctl_run(&["snapshots", "ls"]);
    assert_eq!(code, 0);
    assert_eq!(out.matches("Committed").count(), 2, "{out}");
    // Mount the image's rootfs as a container would see it (a view on the top layer).
    let detail = s.ctl_ok(&["images", "inspect", "wh"]);
    let v: serde_json::Value = serde_json::from_str(&detail).unwrap();
    let chain = v["chain_id"].as_str().unwrap().to_string();
    let merged = s.dir.path().join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    let mounts = mount_view(&s, &chain, &merged);
    let r = std::panic::catch_unwind(|| {
        assert!(!merged.join("a/gone").exists());
        assert!(merged.join("a").is_dir());
        assert!(!merged.join("o/old").exists());
        assert_eq!(std::fs::read(merged.join("o/new")).unwrap(), b"4");
        assert_eq!(std::fs::read(merged.join("keep")).unwrap(), b"3");
    });
    let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
    assert!(mounts.starts_with("overlay "), "{mounts}");
    r.unwrap();
}

/// Mounts a view of the committed chain `chain` at `at` with the mounts shimd hands out
/// (`berthctl snapshots view`); returns them.
fn mount_view(s: &Shimd, chain: &str, at: &std::path::Path) -> String {
    let mounts = s.ctl_ok(&["snapshots", "view", &berth_tests::unique("view"), chain]);
    let line = mounts.lines().next().expect("a mount");
    let mut p = line.splitn(3, ' ');
    let (typ, src, opts) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap_or(""));
    let st = std::process::Command::new("mount")
        .args(["-t", typ, src])
        .arg(at)
        .args(["-o", opts])
        .status()
        .unwrap();
    assert!(st.success(), "mount {line}");
    mounts
}

#[test]
fn kill9_mid_pull_leaves_no_wrong_blob_and_pull_completes() {
    require!(root, docker_registry);
    // A large random layer so the pull is still running when shimd dies.
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let layer = layer_tar(&[Entry::File("big", &big)]);
    let reg = Registry::start();
    let img = build_image(&[busybox_layer(), layer], None);
    let layout = reg.dir.path().join("layout");
    img.write_layout(&layout, "latest");
    reg.push_layout(&layout, "latest", "big:latest");
    let mut s = Shimd::start();
    let name = format!("{}/big:latest", reg.host());
    let mut child = s.ctl().args(["images", "pull", &name]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    s.kill9();
    let _ = child.wait();
    // Every visible blob matches its name.
    let blobs = s.root().join("content/blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let e = e.unwrap();
        let data = std::fs::read(e.path()).unwrap();
        assert_eq!(
            berth_tests::images::sha256(&data)[7..],
            *e.file_name().to_str().unwrap()
        );
    }
    s.restart();
    s.ctl_ok(&["images", "pull", &name]);
    assert!(s.ctl_ok(&["images", "ls", "-q"]).contains("big:latest"));
    let snaps = s.ctl_ok(&["snapshots", "ls"]);
    assert!(!snaps.contains("extract-"), "{snaps}");
    assert!(snapshot_dirs(&s).iter().any(|d| d.join("big").is_file()));
}
