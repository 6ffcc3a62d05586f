//! Image indexes, manifests and configs (OCI and Docker schema2 share one JSON shape), and
//! resolving an image to the manifest of one platform.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::media;
use crate::platform::Platform;
use crate::store::ContentStore;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

impl Descriptor {
    pub fn digest(&self) -> Result<Digest> {
        self.digest.parse()
    }

    pub fn new(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: digest.to_string(),
            size: size as i64,
            ..Default::default()
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The parts of an image config this crate needs; the config itself is kept as stored.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ConfigSummary {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: String,
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ConfigSummary {
    pub fn parse(data: &[u8]) -> Result<ConfigSummary> {
        serde_json::from_slice(data)
            .map_err(|e| Error::InvalidArgument(format!("invalid image config: {e}")))
    }

    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        self.rootfs.diff_ids.iter().map(|d| d.parse()).collect()
    }
}

/// What a manifest-ish blob is, by its own mediaType or its shape.
pub fn sniff_media_type(data: &[u8]) -> Result<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        schema_version: Option<u32>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(data)
        .map_err(|e| Error::InvalidArgument(format!("not a manifest or index: {e}")))?;
    if p.schema_version == Some(1) {
        return Err(Error::Unsupported(
            "Docker schema1 manifests are not supported; push the image again with a current client"
                .into(),
        ));
    }
    match p.media_type {
        Some(mt) if !mt.is_empty() => Ok(mt),
        _ if p.manifests.is_some() => Ok(media::OCI_INDEX.into()),
        _ if p.config.is_some() => Ok(media::OCI_MANIFEST.into()),
        _ => Err(Error::InvalidArgument(
            "not a manifest or index: neither 'manifests' nor 'config'".into(),
        )),
    }
}

pub fn parse_index(data: &[u8]) -> Result<Index> {
    serde_json::from_slice(data)
        .map_err(|e| Error::InvalidArgument(format!("invalid image index: {e}")))
}

pub fn parse_manifest(data: &[u8]) -> Result<Manifest> {
    let m: Manifest = serde_json::from_slice(data)
        .map_err(|e| Error::InvalidArgument(format!("invalid image manifest: {e}")))?;
    m.config.digest()?;
    for l in &m.layers {
        l.digest()?;
    }
    Ok(m)
}

/// Chain IDs of a stack of layers: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)).
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// An image resolved to one platform's manifest.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub manifest_desc: Descriptor,
    pub manifest: Manifest,
    pub config_json: Vec<u8>,
    pub config: ConfigSummary,
    pub diff_ids: Vec<Digest>,
}

impl Resolved {
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(&self.diff_ids)
    }

    /// Checks what a manifest and its config must agree on.
    fn check(&self) -> Result<()> {
        if self.diff_ids.len() != self.manifest.layers.len() {
            return Err(Error::InvalidArgument(format!(
                "manifest {} has {} layers but its config lists {} diff_ids",
                self.manifest_desc.digest,
                self.manifest.layers.len(),
                self.diff_ids.len()
            )));
        }
        Ok(())
    }
}

/// Picks the entry of an index for `platform`; the error lists what the index offers.
pub fn choose_manifest<'a>(index: &'a Index, platform: &Platform) -> Result<&'a Descriptor> {
    let candidates: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| media::is_manifest(&d.media_type) || media::is_index(&d.media_type))
        .collect();
    let exact = candidates.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.variant == platform.variant && platform.matches(p))
    });
    if let Some(d) = exact.or_else(|| {
        candidates
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
    }) {
        return Ok(d);
    }
    // An index without platforms (e.g. an OCI layout of one image) stands for itself.
    if candidates.len() == 1 && candidates[0].platform.is_none() {
        return Ok(candidates[0]);
    }
    let offered: Vec<String> = candidates
        .iter()
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect();
    Err(Error::NotFound(format!(
        "no manifest for platform {platform} (the image has: {})",
        if offered.is_empty() {
            "none with a platform".to_string()
        } else {
            offered.join(", ")
        }
    )))
}

/// Resolves `target` (an index or a manifest in `store`) to `platform`'s manifest and
/// config, verifying every blob read.
pub fn resolve(store: &ContentStore, target: &Descriptor, platform: &Platform) -> Result<Resolved> {
    let mut desc = target.clone();
    for _ in 0..4 {
        let data = store.read_all(&desc.digest()?)?;
        let mt = if desc.media_type.is_empty() {
            sniff_media_type(&data)?
        } else {
            desc.media_type.clone()
        };
        if media::is_index(&mt) {
            let index = parse_index(&data)?;
            desc = choose_manifest(&index, platform)
                .map_err(|e| Error::NotFound(format!("image index {}: {e}", desc.digest)))?
                .clone();
            continue;
        }
        if !media::is_manifest(&mt) {
            return Err(Error::Unsupported(format!(
                "{} has media type {mt:?}, not an image manifest or index",
                desc.digest
            )));
        }
        let manifest = parse_manifest(&data)?;
        let config_json = store.read_all(&manifest.config.digest()?)?;
        let config = ConfigSummary::parse(&config_json)?;
        let diff_ids = config.diff_ids()?;
        let r = Resolved {
            manifest_desc: Descriptor {
                media_type: mt,
                ..desc
            },
            manifest,
            config_json,
            config,
            diff_ids,
        };
        r.check()?;
        return Ok(r);
    }
    Err(Error::InvalidArgument(format!(
        "image {} nests indexes too deeply",
        target.digest
    )))
}

/// Every blob an index or manifest refers to, itself included, as present in `store`
/// (children of missing blobs are skipped). Used by garbage collection and export.
pub fn walk(store: &ContentStore, root: &Descriptor) -> Vec<Descriptor> {
    let mut out = Vec::new();
    let mut todo = vec![root.clone()];
    while let Some(d) = todo.pop() {
        if out.iter().any(|o: &Descriptor| o.digest == d.digest) {
            continue;
        }
        let Ok(digest) = d.digest() else { continue };
        let mt = d.media_type.clone();
        if media::is_index(&mt) || media::is_manifest(&mt) || mt.is_empty() {
            if let Ok(data) = store.read_all(&digest) {
                let mt = if mt.is_empty() {
                    sniff_media_type(&data).unwrap_or_default()
                } else {
                    mt
                };
                if media::is_index(&mt) {
                    if let Ok(i) = parse_index(&data) {
                        todo.extend(i.manifests);
                    }
                } else if media::is_manifest(&mt) {
                    if let Ok(m) = parse_manifest(&data) {
                        todo.push(m.config);
                        todo.extend(m.layers);
                    }
                }
            }
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], Digest::of(format!("{a} {b}").as_bytes()));
    }

    #[test]
    fn chooses_platform_and_explains_misses() {
        let entry = |arch: &str| Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: Digest::of(arch.as_bytes()).to_string(),
            size: 1,
            platform: Some(Platform::parse(&format!("linux/{arch}")).unwrap()),
            ..Default::default()
        };
        let idx = Index {
            schema_version: 2,
            manifests: vec![entry("arm64"), entry("amd64")],
            ..Default::default()
        };
        let d = choose_manifest(&idx, &Platform::parse("linux/amd64").unwrap()).unwrap();
        assert_eq!(d.digest, Digest::of(b"amd64").to_string());
        let e = choose_manifest(&idx, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert!(e.to_string().contains("linux/arm64, linux/amd64"), "{e}");
    }
}
