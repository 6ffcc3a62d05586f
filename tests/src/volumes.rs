//! Volume fixtures: an image with a `VOLUME` whose content has its own owner and modes
//! (for copy-up), and a look at what an engine keeps under its volumes directory.

use std::path::{Path, PathBuf};

/// The name `volume_image` loads as.
pub const VOLUME_IMAGE: &str = "volimg:latest";

/// A layer with `/data` (owned by 1000:1000, mode 0750) holding `hello` (0640, "from the
/// image"), `sub/` and a symlink `sub/link -> ../hello`; and `/escape`, a symlink to the
/// host path `outside` (which, resolved inside the container's root, must stay there).
fn data_layer(outside: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    };
    add("data/", tar::EntryType::Directory, 0o750, b"", None);
    add(
        "data/hello",
        tar::EntryType::Regular,
        0o640,
        b"from the image\n",
        None,
    );
    add("data/sub/", tar::EntryType::Directory, 0o755, b"", None);
    add(
        "data/sub/link",
        tar::EntryType::Symlink,
        0o777,
        b"",
        Some("../hello"),
    );
    let target = outside.to_str().expect("a utf-8 path");
    add("escape", tar::EntryType::Symlink, 0o777, b"", Some(target));
    b.into_inner().unwrap()
}

/// busybox plus [`data_layer`] (its `/escape` pointing at `dir/outside`), with
/// `VOLUME /data`, as an oci-archive named [`VOLUME_IMAGE`] (written once into `dir`).
pub fn volume_image(dir: &Path) -> PathBuf {
    let path = dir.join("volimg-oci.tar");
    if !path.exists() {
        let img = crate::images::build_image_configured(
            &[
                crate::images::busybox_layer(),
                data_layer(&dir.join("outside")),
            ],
            serde_json::json!({
                "Cmd": ["/bin/sh"],
                "Env": ["PATH=/bin"],
                "Volumes": {"/data": {}}
            }),
        );
        std::fs::write(&path, img.oci_archive(VOLUME_IMAGE)).unwrap();
    }
    path
}

/// The volume directories an engine has under `<data_root>/volumes` (hidden leftovers
/// included, so a test sees debris).
pub fn volume_dirs(data_root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data_root.join("volumes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether anything is mounted on or below `dir` (from /proc/self/mountinfo).
pub fn mounted_below(dir: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| Path::new(p).starts_with(dir))
}
