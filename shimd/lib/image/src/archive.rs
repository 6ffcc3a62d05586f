//! Image archives: importing OCI layout tars ("oci-archive") and `docker save` tars
//! ("docker-archive"), and exporting images as one tar that both read: an OCI layout
//! (`oci-layout`, `index.json`, `blobs/sha256/...`) plus docker's `manifest.json`.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compression::decompress;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::manifest::{self, Descriptor, Index};
use crate::media;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::ContentStore;

/// The annotation containerd and docker put the full image name in.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a reference name (a tag, or a full reference by some tools).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An image found in an archive.
#[derive(Clone, Debug)]
pub struct ImportedImage {
    /// Fully qualified, e.g. "docker.io/library/busybox:latest".
    pub name: String,
    pub target: Descriptor,
}

#[derive(Deserialize, Serialize, Debug, Clone)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn clean(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Imports an archive (optionally gzip/zstd compressed) into `store`. Every blob of an OCI
/// layout is verified against its name; every image must be complete. Images without a
/// name get `default_name` (error when there is none). `stored` hears of every blob the
/// import stores (before it is written when its digest is known), e.g. to protect it with
/// a lease, or to remove it after a failure.
pub fn import(
    r: impl Read,
    store: &ContentStore,
    default_name: Option<&str>,
    stored: &mut dyn FnMut(&Digest) -> Result<()>,
) -> Result<Vec<ImportedImage>> {
    let (_, r) = decompress(r)?;
    let mut ar = tar::Archive::new(r);
    let mut index_json: Option<Vec<u8>> = None;
    let mut manifest_json: Option<Vec<u8>> = None;
    // Other files (docker's legacy layout): path -> digest and size.
    let mut files: HashMap<PathBuf, (Digest, u64)> = HashMap::new();
    let mut links: HashMap<PathBuf, PathBuf> = HashMap::new();
    for entry in ar.entries().ctx(|| "reading the archive")? {
        let mut e = entry.ctx(|| "reading the archive")?;
        let raw = e.path().ctx(|| "reading an archive path")?.into_owned();
        let Some(path) = clean(&raw) else {
            return Err(Error::Unsafe(format!(
                "archive entry {} leaves the archive",
                raw.display()
            )));
        };
        let kind = e.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(t) = e.link_name().ctx(|| "reading a link")? {
                let base = if kind.is_symlink() {
                    path.parent().unwrap_or(Path::new("")).join(t)
                } else {
                    t.into_owned()
                };
                let resolved = normalize_lexically(&base).ok_or_else(|| {
                    Error::Unsafe(format!("archive link {} leaves the archive", raw.display()))
                })?;
                links.insert(path, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let ps = path.to_string_lossy().into_owned();
        match ps.as_str() {
            "index.json" => index_json = Some(read_small(&mut e, "index.json")?),
            "manifest.json" => manifest_json = Some(read_small(&mut e, "manifest.json")?),
            "oci-layout" | "repositories" => {}
            _ => {
                if let Some(hex) = ps.strip_prefix("blobs/sha256/") {
                    let d = Digest::from_hex(hex).map_err(|_| {
                        Error::InvalidArgument(format!(
                            "archive entry {ps}: not a sha256 blob name"
                        ))
                    })?;
                    let size = e.header().size().ctx(|| "reading size")?;
                    stored(&d)?;
                    if !store.exists(&d) {
                        let mut w = store.writer(&format!("import-{hex}"), Some(&d), Some(size))?;
                        std::io::copy(&mut e, &mut w).ctx(|| format!("importing {ps}"))?;
                        w.commit().map_err(|err| match err {
                            Error::DigestMismatch {
                                expected, actual, ..
                            } => Error::DigestMismatch {
                                what: format!("archive entry {ps}"),
                                expected,
                                actual,
                            },
                            other => other,
                        })?;
                    }
                    files.insert(path, (d, size));
                } else if ps.ends_with(".tar") || ps.ends_with(".json") || ps.ends_with(".tar.gz") {
                    if ps.ends_with("/json") {
                        continue;
                    }
                    let size = e.header().size().ctx(|| "reading size")?;
                    let tmp = format!("import-{}", rand_ref());
                    let mut w = store.writer(&tmp, None, Some(size))?;
                    std::io::copy(&mut e, &mut w).ctx(|| format!("importing {ps}"))?;
                    let d = w.commit()?;
                    stored(&d)?;
                    files.insert(path, (d, size));
                }
            }
        }
    }
    let lookup = |p: &str| -> Result<(Digest, u64)> {
        let mut path = clean(Path::new(p))
            .ok_or_else(|| Error::Unsafe(format!("archive path {p} leaves the archive")))?;
        for _ in 0..8 {
            if let Some(f) = files.get(&path) {
                return Ok(f.clone());
            }
            match links.get(&path) {
                Some(t) => path = t.clone(),
                None => break,
            }
        }
        Err(Error::InvalidArgument(format!(
            "the archive's manifest names {p}, which the archive does not hold"
        )))
    };
    let docker_entries: Vec<DockerManifestEntry> = match &manifest_json {
        Some(b) => serde_json::from_slice(b)
            .map_err(|e| Error::InvalidArgument(format!("invalid manifest.json: {e}")))?,
        None => vec![],
    };
    let mut out = Vec::new();
    if let Some(idx) = index_json {
        let index: Index = manifest::parse_index(&idx)?;
        for d in index.manifests {
            let mut names = Vec::new();
            if let Some(n) = d.annotations.get(ANNOTATION_IMAGE_NAME) {
                names.push(n.clone());
            } else if let Some(n) = d.annotations.get(ANNOTATION_REF_NAME) {
                if n.contains(':') || n.contains('/') {
                    names.push(n.clone());
                } else if let Some(def) = default_name {
                    // A bare tag: the default name's repository with this tag.
                    let r = Reference::parse(def)?;
                    names.push(format!("{}:{n}", r.name()));
                }
            }
            if names.is_empty() {
                // docker's newer `save` names images in manifest.json only.
                if let Ok(data) = store.read_all(&d.digest()?) {
                    if let Ok(m) = manifest::parse_manifest(&data) {
                        for e in &docker_entries {
                            if e.config
                                .ends_with(m.config.digest.trim_start_matches("sha256:"))
                            {
                                names.extend(e.repo_tags.clone().unwrap_or_default());
                            }
                        }
                    }
                }
            }
            if names.is_empty() {
                names.extend(default_name.map(str::to_string));
            }
            if names.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "image {} in the archive has no name; give a default name",
                    d.digest
                )));
            }
            let target = Descriptor {
                annotations: BTreeMap::new(),
                ..d.clone()
            };
            check_complete(store, &target)?;
            for n in names {
                out.push(ImportedImage {
                    name: Reference::parse(&n)?.to_string(),
                    target: target.clone(),
                });
            }
        }
    } else if manifest_json.is_some() {
        for e in &docker_entries {
            let (cd, cs) = lookup(&e.config)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let (ld, ls) = lookup(l)?;
                layers.push(Descriptor::new(&layer_media_type(store, &ld)?, &ld, ls));
            }
            let m = manifest::Manifest {
                schema_version: 2,
                media_type: Some(media::DOCKER_MANIFEST.into()),
                config: Descriptor::new(media::DOCKER_CONFIG, &cd, cs),
                layers,
                annotations: BTreeMap::new(),
            };
            let bytes = serde_json::to_vec(&m).expect("manifest serializes");
            let md = Digest::of(&bytes);
            stored(&md)?;
            store.put(&bytes, Some(&md))?;
            let target = Descriptor::new(media::DOCKER_MANIFEST, &md, bytes.len() as u64);
            check_complete(store, &target)?;
            let mut names = e.repo_tags.clone().unwrap_or_default();
            if names.is_empty() {
                names.extend(default_name.map(str::to_string));
            }
            if names.is_empty() {
                return Err(Error::InvalidArgument(format!(
                    "image with config {} in the archive has no RepoTags; give a default name",
                    e.config
                )));
            }
            for n in names {
                out.push(ImportedImage {
                    name: Reference::parse(&n)?.to_string(),
                    target: target.clone(),
                });
            }
        }
    } else {
        return Err(Error::InvalidArgument(
            "not an image archive: neither index.json (OCI layout) nor manifest.json (docker save) found"
                .into(),
        ));
    }
    Ok(out)
}

fn rand_ref() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

fn normalize_lexically(p: &Path) -> Option<PathBuf> {
    let mut out: Vec<std::ffi::OsString> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

fn read_small(r: &mut impl Read, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(16 << 20)
        .read_to_end(&mut buf)
        .ctx(|| format!("reading {what}"))?;
    Ok(buf)
}

/// docker-archive layers may be plain or compressed tars.
fn layer_media_type(store: &ContentStore, d: &Digest) -> Result<String> {
    let mut head = [0u8; 4];
    let mut f = store.open_blob(d)?;
    let n = f.read(&mut head).ctx(|| format!("reading layer {d}"))?;
    Ok(if head[..n].starts_with(&[0x1f, 0x8b]) {
        media::DOCKER_LAYER_GZIP.into()
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        media::OCI_LAYER_ZSTD.into()
    } else {
        media::DOCKER_LAYER.into()
    })
}

/// Every blob of the image (for its platforms present) must be in the store.
fn check_complete(store: &ContentStore, target: &Descriptor) -> Result<()> {
    for d in manifest::walk(store, target) {
        let digest = d.digest()?;
        if !store.exists(&digest) {
            return Err(Error::InvalidArgument(format!(
                "the archive is incomplete: blob {digest} ({}) is missing",
                d.media_type
            )));
        }
    }
    Ok(())
}

/// One image to export.
pub struct ExportImage {
    /// Fully qualified name.
    pub name: String,
    pub target: Descriptor,
}

/// Writes `images` as one tar. With `platform`, an index is narrowed to that platform's
/// manifest; without, every platform is written (all their blobs must be present).
pub fn export(
    w: impl Write,
    store: &ContentStore,
    images: &[ExportImage],
    platform: Option<&Platform>,
) -> Result<()> {
    let mut b = tar::Builder::new(w);
    let mut index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        ..Default::default()
    };
    let mut docker: Vec<DockerManifestEntry> = Vec::new();
    let mut blobs: Vec<Descriptor> = Vec::new();
    for img in images {
        let host = platform.cloned().unwrap_or_else(Platform::host);
        let resolved = manifest::resolve(store, &img.target, &host)?;
        let top = match platform {
            Some(_) => resolved.manifest_desc.clone(),
            None => img.target.clone(),
        };
        for d in manifest::walk(store, &top) {
            let dg = d.digest()?;
            if !store.exists(&dg) {
                return Err(Error::NotFound(format!(
                    "blob {dg} of image {} is not in the content store; export one platform or pull all of them",
                    img.name
                )));
            }
            if !blobs.iter().any(|x| x.digest == d.digest) {
                blobs.push(d);
            }
        }
        let r = Reference::parse(&img.name)?;
        let mut entry = Descriptor {
            annotations: BTreeMap::new(),
            ..top.clone()
        };
        entry
            .annotations
            .insert(ANNOTATION_IMAGE_NAME.into(), img.name.clone());
        if let Some(t) = &r.tag {
            entry
                .annotations
                .insert(ANNOTATION_REF_NAME.into(), t.clone());
        }
        index.manifests.push(entry);
        let blob_path = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        docker.push(DockerManifestEntry {
            config: blob_path(&resolved.manifest.config.digest),
            repo_tags: Some(
                r.tag
                    .as_ref()
                    .map(|_| vec![familiar(&r)])
                    .unwrap_or_default(),
            ),
            layers: resolved
                .manifest
                .layers
                .iter()
                .map(|l| blob_path(&l.digest))
                .collect(),
        });
    }
    append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    for p in ["blobs/", "blobs/sha256/"] {
        b.append_data(&mut dir.clone(), p, std::io::empty())
            .ctx(|| "writing the archive")?;
    }
    for d in &blobs {
        let dg = d.digest()?;
        let f = store.verified_reader(&dg)?;
        let size = store.info(&dg)?.size;
        let mut h = file_header(size);
        b.append_data(&mut h, format!("blobs/sha256/{}", dg.hex()), f)
            .ctx(|| format!("writing blob {dg} to the archive"))?;
    }
    append_bytes(
        &mut b,
        "index.json",
        &serde_json::to_vec(&index).expect("index serializes"),
    )?;
    append_bytes(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&docker).expect("manifest.json serializes"),
    )?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .ctx(|| "finishing the archive")?;
    Ok(())
}

/// docker's short form: "busybox:latest" for docker.io/library/busybox:latest.
fn familiar(r: &Reference) -> String {
    let name = if r.registry == crate::reference::DOCKER_HUB {
        r.repository
            .strip_prefix("library/")
            .unwrap_or(&r.repository)
            .to_string()
    } else {
        r.name()
    };
    format!("{name}:{}", r.tag.as_deref().unwrap_or("latest"))
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = file_header(data.len() as u64);
    b.append_data(&mut h, path, data)
        .ctx(|| format!("writing {path} to the archive"))
}
