//! Images as the engine sees them: shimd's named images grouped by image ID (the config
//! digest), with their parsed configs cached by manifest digest (content never changes).

pub mod compose;
pub mod config;
pub mod config_changes;
pub mod disk_usage;
pub mod distribution;
pub mod import;
pub mod ops;
pub mod progress;
pub mod reference;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_proto::v1;

use crate::error::{Error, Result};
use crate::shimd::Shimd;
use config::ImageConfigFile;

/// What the engine knows about one image target.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// The image ID: the config digest.
    pub id: String,
    /// The digest the name points at (manifest or index).
    pub target: String,
    pub config: ImageConfigFile,
    pub chain_id: String,
    pub diff_ids: Vec<String>,
    pub layers: Vec<v1::Descriptor>,
    /// Compressed layers and config.
    pub size: i64,
    pub unpacked_size: i64,
    pub unpacked: bool,
}

impl ImageInfo {
    fn from_detail(d: v1::ImageDetail) -> Result<ImageInfo> {
        let config = ImageConfigFile::parse(&d.config_json)?;
        let target = d
            .image
            .as_ref()
            .and_then(|i| i.target.as_ref())
            .map(|t| t.digest.clone())
            .unwrap_or_default();
        Ok(ImageInfo {
            id: d.config.map(|c| c.digest).unwrap_or_default(),
            target,
            config,
            chain_id: d.chain_id,
            diff_ids: d.diff_ids,
            layers: d.layers,
            size: d.size,
            unpacked_size: d.unpacked_size,
            unpacked: d.unpacked,
        })
    }

    /// The size docker reports: on disk once unpacked, else the download size; 0 for an
    /// image without layers.
    pub fn disk_size(&self) -> i64 {
        if self.layers.is_empty() {
            return 0;
        }
        if self.unpacked && self.unpacked_size > 0 {
            self.unpacked_size
        } else {
            self.size
        }
    }
}

/// A named image and what it points at.
#[derive(Debug, Clone)]
pub struct Named {
    pub name: String,
    pub image: v1::Image,
    pub info: Arc<ImageInfo>,
}

/// Cached image details, by target digest. Entries are final once the image is unpacked.
#[derive(Default)]
pub struct Cache {
    by_target: Mutex<HashMap<String, Arc<ImageInfo>>>,
}

impl Cache {
    fn get(&self, target: &str) -> Option<Arc<ImageInfo>> {
        self.by_target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(target)
            .filter(|i| i.unpacked)
            .cloned()
    }

    fn put(&self, info: Arc<ImageInfo>) {
        self.by_target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(info.target.clone(), info);
    }

    /// Details of a named image (from the cache when final).
    pub async fn info(&self, shimd: &Shimd, image: &v1::Image) -> Result<Arc<ImageInfo>> {
        let target = image
            .target
            .as_ref()
            .map(|t| t.digest.clone())
            .unwrap_or_default();
        if let Some(i) = self.get(&target) {
            return Ok(i);
        }
        let d = shimd
            .images()
            .inspect(v1::InspectImageRequest {
                name: image.name.clone(),
                platform: None,
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        let info = Arc::new(ImageInfo::from_detail(d)?);
        self.put(info.clone());
        Ok(info)
    }

    /// Every named image with its details.
    pub async fn all(&self, shimd: &Shimd) -> Result<Vec<Named>> {
        let list = shimd
            .images()
            .list(v1::ListImagesRequest { filters: vec![] })
            .await
            .map_err(Error::from)?
            .into_inner()
            .images;
        let mut out = Vec::with_capacity(list.len());
        for image in list {
            match self.info(shimd, &image).await {
                Ok(info) => out.push(Named {
                    name: image.name.clone(),
                    image,
                    info,
                }),
                // An image removed between list and inspect is simply gone.
                Err(e) if e.kind == crate::error::Kind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Resolves what a user typed — a name, an ID, or an ID prefix — to an image. Names
    /// win over ID prefixes, as with docker. `Ok(None)` when nothing matches.
    pub async fn lookup(&self, shimd: &Shimd, r: &str) -> Result<Option<Resolved>> {
        if r.is_empty() {
            return Ok(None);
        }
        let by_id_only = r.starts_with("sha256:") || (r.len() == 64 && reference::looks_like_id(r));
        if !by_id_only {
            let normalized = reference::normalize(r);
            if let (Err(e), false) = (&normalized, reference::looks_like_id(r)) {
                return Err(e.clone());
            }
            if let Ok(reference) = normalized {
                let name = reference.to_string();
                match shimd
                    .images()
                    .get(v1::GetImageRequest { name: name.clone() })
                    .await
                {
                    Ok(img) => {
                        let image = img.into_inner();
                        let info = self.info(shimd, &image).await?;
                        return Ok(Some(Resolved {
                            name: Some(name),
                            info,
                        }));
                    }
                    Err(s) if s.code() == tonic::Code::NotFound => {}
                    Err(s) => return Err(s.into()),
                }
            }
        }
        if !reference::looks_like_id(r) {
            return Ok(None);
        }
        let want = r.strip_prefix("sha256:").unwrap_or(r);
        let all = self.all(shimd).await?;
        let mut ids: Vec<&Arc<ImageInfo>> = all
            .iter()
            .map(|n| &n.info)
            .filter(|i| {
                i.id.strip_prefix("sha256:")
                    .unwrap_or(&i.id)
                    .starts_with(want)
            })
            .collect();
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        ids.dedup_by(|a, b| a.id == b.id);
        match ids.len() {
            0 => Ok(None),
            1 => Ok(Some(Resolved {
                name: None,
                info: ids[0].clone(),
            })),
            _ => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {r}"
            ))),
        }
    }

    /// Like `lookup`, but a miss is docker's 404 "No such image".
    pub async fn resolve(&self, shimd: &Shimd, r: &str) -> Result<Resolved> {
        self.lookup(shimd, r)
            .await?
            .ok_or_else(|| Error::no_such_image(r))
    }

    /// Every name pointing at image `id`.
    pub async fn names_of(&self, shimd: &Shimd, id: &str) -> Result<Vec<String>> {
        Ok(self
            .all(shimd)
            .await?
            .into_iter()
            .filter(|n| n.info.id == id && !crate::build::cache::is_step_image(&n.name))
            .map(|n| n.name)
            .collect())
    }
}

/// A resolved image: the name it was found by (none when found by ID) and its details.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub name: Option<String>,
    pub info: Arc<ImageInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(layers: usize, unpacked_size: i64) -> ImageInfo {
        ImageInfo {
            id: "sha256:c".into(),
            target: "sha256:m".into(),
            config: ImageConfigFile::default(),
            chain_id: String::new(),
            diff_ids: Vec::new(),
            layers: vec![v1::Descriptor::default(); layers],
            size: 500,
            unpacked_size,
            unpacked: true,
        }
    }

    #[test]
    fn an_image_without_layers_has_no_size() {
        assert_eq!(info(0, 0).disk_size(), 0, "not its config's length");
        assert_eq!(info(1, 4096).disk_size(), 4096);
        assert_eq!(info(1, 0).disk_size(), 500);
    }
}
