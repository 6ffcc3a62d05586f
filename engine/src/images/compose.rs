//! Making an image: a parent image (or none), an optional new layer and a config become a
//! named shimd image, unpacked so it runs at once. `commit` and `import` are built on it,
//! and so is each step of an image build.
//!
//! Everything goes through shimd's public API:
//! - the layer is a container's writable snapshot taken with `Snapshots.Diff`
//!   ([`Layer::from_snapshot`]) or a tar stream written with `Content.Write`
//!   ([`Layer::from_tar`]);
//! - [`compose`] writes the image config (the parent's, with the new config, `rootfs.diff_ids`
//!   and a history entry added) and an OCI manifest (the parent's layers and the new one)
//!   with `Content.Write`, then names the image with `Images.Create`, which unpacks it.
//!
//! All of it happens under one [`Lease`], named in the `berth-lease` metadata of each write,
//! so garbage collection never takes a blob between its write and the image that holds it.
//! [`Lease::finish`] drops the lease; after a failure it also collects what the lease alone
//! held, so a failed composition leaves nothing behind.
//!
//! A build step is then: `Lease::new`, `Layer::from_snapshot` of the step's container (or
//! no layer for a metadata-only step, recorded with `empty_layer`), `compose` with the
//! previous image as parent and the step's history, `Lease::finish`.

use berth_api::container::Config;
use berth_image::media;
use berth_proto::v1;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::shimd::Shimd;

/// The label shimd puts on a diff's blob: its uncompressed digest (the layer's diff ID).
const UNCOMPRESSED_LABEL: &str = "berth.io/uncompressed";

/// Blobs go to shimd in messages of at most this size.
const CHUNK: usize = 1 << 20;

/// A shimd lease holding what one composition writes.
pub struct Lease {
    shimd: Shimd,
    pub id: String,
}

impl Lease {
    /// A lease for `what` ("commit", "import", ...), expiring after an hour should berthd
    /// die before it finishes.
    pub async fn new(shimd: &Shimd, what: &str) -> Result<Lease> {
        let l = shimd
            .leases()
            .create(v1::CreateLeaseRequest {
                id: String::new(),
                labels: [("berth.io/engine-operation".to_string(), what.to_string())].into(),
                expire_seconds: 3600,
            })
            .await
            .map_err(|s| Error::from(s).context(format!("starting the {what}")))?
            .into_inner();
        Ok(Lease {
            shimd: shimd.clone(),
            id: l.id,
        })
    }

    /// `msg` as a request that adds what it writes to this lease.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Ok(v) = self.id.parse() {
            r.metadata_mut().insert(berth_proto::LEASE_HEADER, v);
        }
        r
    }

    /// Drops the lease. After a failure (`ok` false) what it held and nothing else reaches
    /// is collected at once.
    pub async fn finish(self, ok: bool) {
        let r = self
            .shimd
            .leases()
            .delete(v1::DeleteLeaseRequest {
                id: self.id.clone(),
                sync: !ok,
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(lease = %self.id, "dropping the lease: {}", e.message());
        }
    }
}

/// A new layer in the content store.
#[derive(Debug, Clone)]
pub struct Layer {
    pub descriptor: v1::Descriptor,
    /// The digest of the uncompressed tar (what `rootfs.diff_ids` lists).
    pub diff_id: String,
}

impl Layer {
    /// The changes of the writable snapshot `key` against its parent, as a gzip layer.
    pub async fn from_snapshot(shimd: &Shimd, lease: &Lease, key: &str) -> Result<Layer> {
        let descriptor = shimd
            .snapshots()
            .diff(lease.request(v1::DiffRequest {
                key: key.to_string(),
                media_type: media::OCI_LAYER_GZIP.to_string(),
                labels: Default::default(),
            }))
            .await
            .map_err(|s| Error::from(s).context("taking the container's changes"))?
            .into_inner();
        let info = shimd
            .content()
            .info(v1::ContentInfoRequest {
                digest: descriptor.digest.clone(),
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        let diff_id = info
            .labels
            .get(UNCOMPRESSED_LABEL)
            .cloned()
            .ok_or_else(|| {
                Error::internal(format!(
                    "layer {} has no uncompressed digest",
                    descriptor.digest
                ))
            })?;
        Ok(Layer {
            descriptor,
            diff_id,
        })
    }

    /// An uncompressed tar, given as a stream of chunks, stored as a layer. Its entries are
    /// checked when the image is unpacked (shimd's layer rules: nothing escapes the
    /// snapshot).
    pub async fn from_tar<S>(shimd: &Shimd, lease: &Lease, tar: S) -> Result<Layer>
    where
        S: futures::Stream<Item = Vec<u8>> + Send + 'static,
    {
        let r = write_stream(shimd, lease, tar).await?;
        Ok(Layer {
            descriptor: v1::Descriptor {
                media_type: media::OCI_LAYER.to_string(),
                digest: r.digest.clone(),
                size: r.size,
                ..Default::default()
            },
            diff_id: r.digest,
        })
    }
}

/// One `history` entry of the image config (the empty fields are left out, as docker
/// writes them).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub created_by: String,
    pub comment: String,
    pub author: String,
}

/// What [`compose`] makes.
pub struct NewImage {
    /// The parent image (a shimd name or an image ID); `None` for an image from scratch.
    pub parent: Option<String>,
    pub layer: Option<Layer>,
    /// The image's container defaults (the config's `config`).
    pub config: Config,
    pub history: History,
    /// The container it was made from, with its config (`container`, `container_config`).
    pub container: Option<(String, Config)>,
    /// The fully qualified name to give it.
    pub name: String,
}

/// The parent's config JSON and layers.
async fn parent_of(shimd: &Shimd, name: &str) -> Result<(Map<String, Value>, Vec<v1::Descriptor>)> {
    let d = shimd
        .images()
        .inspect(v1::InspectImageRequest {
            name: name.to_string(),
            platform: None,
        })
        .await
        .map_err(Error::from)?
        .into_inner();
    let cfg: Map<String, Value> = serde_json::from_slice(&d.config_json)
        .map_err(|e| Error::internal(format!("the config of image {name} cannot be read: {e}")))?;
    Ok((cfg, d.layers))
}

fn descriptor_json(d: &v1::Descriptor) -> Value {
    json!({"mediaType": d.media_type, "digest": d.digest, "size": d.size})
}

fn set_or_remove(obj: &mut Map<String, Value>, key: &str, v: &str) {
    if v.is_empty() {
        obj.remove(key);
    } else {
        obj.insert(key.to_string(), json!(v));
    }
}

/// The new image's config JSON from its parent's (or an empty one).
fn image_config(
    parent: Option<Map<String, Value>>,
    img: &NewImage,
    created: &str,
) -> Result<Map<String, Value>> {
    let mut cfg = parent.unwrap_or_else(|| {
        let host = berth_image::platform::Platform::host();
        let mut m = Map::new();
        m.insert("architecture".into(), json!(host.architecture));
        m.insert("os".into(), json!(host.os));
        m
    });
    let to_value = |c: &Config| serde_json::to_value(c).map_err(|e| Error::internal(e.to_string()));
    cfg.insert("config".into(), to_value(&img.config)?);
    cfg.insert("created".into(), json!(created));
    set_or_remove(&mut cfg, "author", &img.history.author);
    set_or_remove(&mut cfg, "comment", &img.history.comment);
    match &img.container {
        Some((id, c)) => {
            cfg.insert("container".into(), json!(id));
            cfg.insert("container_config".into(), to_value(c)?);
        }
        None => {
            cfg.remove("container");
            cfg.remove("container_config");
        }
    }
    let mut diff_ids = cfg
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(l) = &img.layer {
        diff_ids.push(json!(l.diff_id));
    }
    cfg.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    set_or_remove(&mut entry, "created_by", &img.history.created_by);
    set_or_remove(&mut entry, "author", &img.history.author);
    set_or_remove(&mut entry, "comment", &img.history.comment);
    if img.layer.is_none() {
        entry.insert("empty_layer".into(), json!(true));
    }
    let mut history = cfg
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(Value::Object(entry));
    cfg.insert("history".into(), Value::Array(history));
    Ok(cfg)
}

/// Writes one blob given whole.
async fn write_blob(
    shimd: &Shimd,
    lease: &Lease,
    data: Vec<u8>,
) -> Result<v1::WriteContentResponse> {
    write_stream(shimd, lease, futures::stream::iter([data])).await
}

/// Writes a blob given as a stream of chunks (cut to at most [`CHUNK`] bytes each).
async fn write_stream<S>(shimd: &Shimd, lease: &Lease, data: S) -> Result<v1::WriteContentResponse>
where
    S: futures::Stream<Item = Vec<u8>> + Send + 'static,
{
    use futures::StreamExt;
    let first = v1::WriteContentRequest::default();
    let msgs = data
        .flat_map(|b| {
            let parts: Vec<Vec<u8>> = b.chunks(CHUNK).map(<[u8]>::to_vec).collect();
            futures::stream::iter(parts)
        })
        .map(|data| v1::WriteContentRequest {
            data,
            ..Default::default()
        });
    let reqs = futures::stream::once(async { first }).chain(msgs);
    Ok(shimd
        .content()
        .write(lease.request(reqs))
        .await
        .map_err(|s| Error::from(s).context("writing to the content store"))?
        .into_inner())
}

/// Writes the image's config and manifest and names it (replacing what the name pointed
/// at); the image is unpacked when this returns. Answers the image ID (config digest).
pub async fn compose(shimd: &Shimd, lease: &Lease, img: NewImage) -> Result<String> {
    let (parent_cfg, mut layers) = match &img.parent {
        Some(p) => {
            let (c, l) = parent_of(shimd, p).await?;
            (Some(c), l)
        }
        None => (None, Vec::new()),
    };
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let cfg = image_config(parent_cfg, &img, &created)?;
    let cfg_bytes = serde_json::to_vec(&cfg).map_err(|e| Error::internal(e.to_string()))?;
    let cfg_size = cfg_bytes.len() as i64;
    let config = write_blob(shimd, lease, cfg_bytes).await?;
    if let Some(l) = &img.layer {
        layers.push(l.descriptor.clone());
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {"mediaType": media::OCI_CONFIG, "digest": config.digest, "size": cfg_size},
        "layers": layers.iter().map(descriptor_json).collect::<Vec<_>>(),
    });
    let m_bytes = serde_json::to_vec(&manifest).map_err(|e| Error::internal(e.to_string()))?;
    let m_size = m_bytes.len() as i64;
    let m = write_blob(shimd, lease, m_bytes).await?;
    shimd
        .images()
        .create(v1::CreateImageRequest {
            name: img.name.clone(),
            target: Some(v1::Descriptor {
                media_type: media::OCI_MANIFEST.to_string(),
                digest: m.digest,
                size: m_size,
                ..Default::default()
            }),
            labels: Default::default(),
            unpack: true,
        })
        .await
        .map_err(Error::from)?;
    Ok(config.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_image(layer: bool) -> NewImage {
        NewImage {
            parent: None,
            layer: layer.then(|| Layer {
                descriptor: v1::Descriptor::default(),
                diff_id: "sha256:bb".into(),
            }),
            config: Config {
                cmd: Some(vec!["true".to_string()].into()),
                ..Default::default()
            },
            history: History {
                created_by: "sh -c x".into(),
                comment: "msg".into(),
                author: String::new(),
            },
            container: None,
            name: "docker.io/library/x:latest".into(),
        }
    }

    #[test]
    fn appends_the_layer_and_the_history_to_the_parent() {
        let parent: Map<String, Value> = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux", "author": "old",
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "history": [{"created_by": "base"}]
        }))
        .unwrap();
        let c = image_config(Some(parent), &new_image(true), "T").unwrap();
        assert_eq!(c["rootfs"]["diff_ids"], json!(["sha256:aa", "sha256:bb"]));
        assert_eq!(
            c["history"],
            json!([{"created_by": "base"}, {"created": "T", "created_by": "sh -c x", "comment": "msg"}])
        );
        assert!(
            c.get("author").is_none(),
            "the parent's author is not inherited"
        );
        assert_eq!(c["config"]["Cmd"], json!(["true"]));
        assert_eq!(c["architecture"], json!("amd64"));
    }

    #[test]
    fn a_step_without_a_layer_is_an_empty_layer_in_history() {
        let c = image_config(None, &new_image(false), "T").unwrap();
        assert_eq!(c["rootfs"]["diff_ids"], json!([]));
        assert_eq!(c["history"][0]["empty_layer"], json!(true));
        assert_eq!(c["os"], json!("linux"));
    }
}
