//! OCI images packed offline for tests: an OCI layout (directory or tar) built from layer
//! tars in memory, from the busybox rootfs or from hand-made (possibly hostile) entries.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A tar entry of a hand-made layer.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    CharDevice(&'a str, u32, u32),
    Fifo(&'a str),
}

/// An uncompressed layer tar of `entries`, written with raw headers so hostile names
/// (`../x`, absolute paths) go in unchanged.
pub fn layer_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        let (name, data): (&str, &[u8]) = match e {
            Entry::File(n, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(d.len() as u64);
                (n, d)
            }
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                (n, b"")
            }
            Entry::Symlink(n, t) | Entry::HardLink(n, t) => {
                h.set_entry_type(if matches!(e, Entry::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                set_raw(&mut h.as_old_mut().linkname, t);
                (n, b"")
            }
            Entry::Fifo(n) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_size(0);
                (n, b"")
            }
            Entry::CharDevice(n, maj, min) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_size(0);
                h.set_device_major(*maj).unwrap();
                h.set_device_minor(*min).unwrap();
                (n, b"")
            }
        };
        set_raw(&mut h.as_old_mut().name, name);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn set_raw(field: &mut [u8], s: &str) {
    assert!(s.len() < field.len(), "test entry name too long: {s}");
    field.fill(0);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

/// A layer tar holding one old GNU sparse file (type 'S', extension headers past four
/// chunks) of apparent size `size` whose data is `chunks` (offset, bytes; every chunk but
/// the last a whole number of 512-byte blocks), crafted byte by byte.
pub fn gnu_sparse_layer(name: &str, size: u64, chunks: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut h = tar::Header::new_gnu();
    h.set_path(name).unwrap();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(chunks.iter().map(|c| c.1.len() as u64).sum());
    let gnu = h.as_gnu_mut().unwrap();
    gnu.set_real_size(size);
    for (i, (o, d)) in chunks.iter().take(4).enumerate() {
        gnu.sparse[i].set_offset(*o);
        gnu.sparse[i].set_length(d.len() as u64);
    }
    gnu.set_is_extended(chunks.len() > 4);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    let rest: Vec<_> = chunks.iter().skip(4).collect();
    let groups: Vec<_> = rest.chunks(21).collect();
    for (gi, group) in groups.iter().enumerate() {
        let mut ext = tar::GnuExtSparseHeader::new();
        for (i, (o, d)) in group.iter().enumerate() {
            ext.sparse[i].set_offset(*o);
            ext.sparse[i].set_length(d.len() as u64);
        }
        ext.set_is_extended(gi + 1 < groups.len());
        out.extend_from_slice(ext.as_bytes());
    }
    for (_, d) in chunks {
        out.extend_from_slice(d);
    }
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// A layer tar holding one PAX sparse file of format `major.minor` (1.0 puts the map at the
/// start of the data; other versions are for refusals), crafted byte by byte.
pub fn pax_sparse_layer(name: &str, size: u64, chunks: &[(u64, &[u8])], version: &str) -> Vec<u8> {
    let (major, minor) = version.split_once('.').unwrap();
    let mut body = format!("{}\n", chunks.len());
    for (o, d) in chunks {
        body += &format!("{o}\n{}\n", d.len());
    }
    let mut data = body.into_bytes();
    data.resize(data.len().div_ceil(512) * 512, 0);
    for (_, d) in chunks {
        data.extend_from_slice(d);
    }
    let recs = [
        ("GNU.sparse.major", major.to_string()),
        ("GNU.sparse.minor", minor.to_string()),
        ("GNU.sparse.name", name.to_string()),
        ("GNU.sparse.realsize", size.to_string()),
    ];
    let mut b = tar::Builder::new(Vec::new());
    b.append_pax_extensions(recs.iter().map(|(k, v)| (*k, v.as_bytes())))
        .unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path(format!("GNUSparseFile.1/{name}")).unwrap();
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, &data[..]).unwrap();
    b.into_inner().unwrap()
}

/// A `docker save` archive (manifest.json, config, uncompressed layer tars) of `layers`
/// tagged `tag`, as dockerd 20.10 loads it.
pub fn docker_archive(layers: &[Vec<u8>], tag: &str) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ids}
    }))
    .unwrap();
    let config_name = format!("{}.json", &sha256(&config)[7..]);
    let layer_names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": [tag], "Layers": layer_names
    }]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).unwrap();
    };
    add(&config_name, &config);
    for (n, l) in layer_names.iter().zip(layers) {
        add(n, l);
    }
    add("manifest.json", &manifest);
    b.into_inner().unwrap()
}

/// A layer tar (gzip) holding one file of `n` zero bytes -- a decompression bomb -- and the
/// digest of the uncompressed tar, made in one pass without holding the tar in memory.
pub fn gzip_bomb(n: u64) -> (Vec<u8>, String) {
    struct Both {
        gz: flate2::write::GzEncoder<Vec<u8>>,
        sha: Sha256,
    }
    impl Write for Both {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.sha.update(b);
            self.gz.write_all(b)?;
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Both {
        gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
        sha: Sha256::new(),
    };
    let mut h = tar::Header::new_gnu();
    h.set_path("zeros").unwrap();
    h.set_mode(0o644);
    h.set_size(n);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    w.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = n;
    while left > 0 {
        let k = left.min(zeros.len() as u64) as usize;
        w.write_all(&zeros[..k]).unwrap();
        left -= k as u64;
    }
    let pad = ((512 - n % 512) % 512) as usize + 1024;
    w.write_all(&vec![0u8; pad]).unwrap();
    let diff_id = format!("sha256:{}", hex::encode(w.sha.finalize()));
    (w.gz.finish().unwrap(), diff_id)
}

/// The busybox rootfs as one uncompressed layer tar.
pub fn busybox_layer() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    crate::rootfs::make_rootfs(dir.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir.path()).unwrap();
    b.into_inner().unwrap()
}

/// A layer for on top of [`busybox_layer`] whose /etc/passwd and /etc/group give users
/// supplementary groups: root is a member of bin (1) and wheel (10); app (1000:1000) of
/// wheel, audio (29) and staff (50, listed twice); nobody's primary group is nogroup
/// (65534), of which no one is a member.
pub fn members_layer() -> Vec<u8> {
    layer_tar(&[
        Entry::Dir("etc"),
        Entry::File(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home:/bin/sh\n\
              nobody:x:65534:65534:nobody:/home:/bin/false\n",
        ),
        Entry::File(
            "etc/group",
            b"root:x:0:\nbin:x:1:root,daemon\nwheel:x:10:root,app\napp:x:1000:\n\
              audio:x:29:app\nnogroup:x:65534:\nstaff:x:50:app,app\n",
        ),
    ])
}

/// The busybox image with [`members_layer`] on top; its config's User is `user` (none
/// when empty).
pub fn members_image(user: &str) -> Image {
    let mut config = serde_json::json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]});
    if !user.is_empty() {
        config["User"] = serde_json::json!(user);
    }
    build_image_configured(&[busybox_layer(), members_layer()], config)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// `n` bytes that do not compress (a xorshift stream from `seed`).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// How layers are stored in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

/// An image built in memory: blobs by digest and the manifest's descriptor.
pub struct Image {
    pub blobs: Vec<(String, Vec<u8>)>,
    pub manifest_digest: String,
    pub manifest_size: usize,
}

/// An image of ready-made layer blobs (e.g. a bomb): (blob, media type, diff ID) each.
pub fn image_of_blobs(layers: &[(Vec<u8>, &str, String)]) -> Image {
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    let mut ids = Vec::new();
    for (blob, media_type, diff_id) in layers {
        ids.push(diff_id.clone());
        descs.push(serde_json::json!({
            "mediaType": media_type, "digest": sha256(blob), "size": blob.len()
        }));
        blobs.push((sha256(blob), blob.clone()));
    }
    finish_image(blobs, descs, ids, serde_json::json!({"Cmd": ["/bin/sh"]}))
}

/// An OCI image of `layers` (uncompressed tars; stored gzip-compressed). `diff_ids`
/// overrides the config's diff IDs (to test wrong digests).
pub fn build_image(layers: &[Vec<u8>], diff_ids: Option<Vec<String>>) -> Image {
    build_image_with(layers, diff_ids, Compression::Gzip)
}

/// Like `build_image`, with layers stored as `compression` says.
pub fn build_image_with(
    layers: &[Vec<u8>],
    diff_ids: Option<Vec<String>>,
    compression: Compression,
) -> Image {
    let config = serde_json::json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]});
    assemble(layers, diff_ids, compression, config)
}

/// An image of `layers` whose runtime configuration (`Cmd`, `Env`, `Volumes`, ...) is
/// `config`.
pub fn build_image_configured(layers: &[Vec<u8>], config: serde_json::Value) -> Image {
    assemble(layers, None, Compression::Gzip, config)
}

fn assemble(
    layers: &[Vec<u8>],
    diff_ids: Option<Vec<String>>,
    compression: Compression,
    image_config: serde_json::Value,
) -> Image {
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    let mut ids = Vec::new();
    for l in layers {
        ids.push(sha256(l));
        let (blob, media_type) = match compression {
            Compression::Gzip => (gzip(l), "application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::Zstd => (zstd(l), "application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::None => (l.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        descs.push(serde_json::json!({
            "mediaType": media_type,
            "digest": sha256(&blob), "size": blob.len()
        }));
        blobs.push((sha256(&blob), blob));
    }
    finish_image(blobs, descs, diff_ids.unwrap_or(ids), image_config)
}

fn finish_image(
    mut blobs: Vec<(String, Vec<u8>)>,
    descs: Vec<serde_json::Value>,
    diff_ids: Vec<String>,
    image_config: serde_json::Value,
) -> Image {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": descs
    }))
    .unwrap();
    blobs.push((sha256(&config), config));
    let md = sha256(&manifest);
    let ms = manifest.len();
    blobs.push((md.clone(), manifest));
    Image {
        blobs,
        manifest_digest: md,
        manifest_size: ms,
    }
}

impl Image {
    fn index(&self, name: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": self.manifest_digest, "size": self.manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": name}
            }]
        }))
        .unwrap()
    }

    /// Writes an OCI layout directory (for skopeo/umoci), the image named by tag `tag`.
    pub fn write_layout(&self, dir: &Path, tag: &str) {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        for (d, data) in &self.blobs {
            std::fs::write(dir.join("blobs/sha256").join(&d[7..]), data).unwrap();
        }
        std::fs::write(dir.join("index.json"), self.index(tag)).unwrap();
    }

    /// An oci-archive tar naming the image `name` (e.g. "busybox:latest").
    pub fn oci_archive(&self, name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (d, data) in &self.blobs {
            add(&format!("blobs/sha256/{}", &d[7..]), data);
        }
        add("index.json", &self.index(name));
        b.into_inner().unwrap()
    }
}
