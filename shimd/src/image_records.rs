//! Image records (the IMAGES table) and content references (the CONTENT table).

use std::collections::HashMap;

use berth_image::manifest::Descriptor as ImgDesc;
use berth_image::reference::Reference;
use berth_proto::v1::{ContentInfo, Descriptor, Image, Platform};
use tonic::Status;

use crate::events::now;
use crate::image_error::status;
use crate::metadata::{CONTENT, IMAGES};
use crate::server::Core;

pub fn to_proto(d: &ImgDesc) -> Descriptor {
    Descriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        annotations: d.annotations.clone().into_iter().collect(),
        platform: d.platform.as_ref().map(|p| Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
        }),
    }
}

pub fn from_proto(d: &Descriptor) -> ImgDesc {
    ImgDesc {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        annotations: d.annotations.clone().into_iter().collect(),
        platform: d
            .platform
            .as_ref()
            .map(|p| berth_image::platform::Platform {
                os: p.os.clone(),
                architecture: p.architecture.clone(),
                variant: p.variant.clone(),
                os_version: String::new(),
            }),
        urls: vec![],
    }
}

pub fn platform_of(p: Option<&Platform>) -> berth_image::platform::Platform {
    match p {
        None => berth_image::platform::Platform::host(),
        Some(p) => berth_image::platform::Platform {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
            os_version: String::new(),
        }
        .or_host(),
    }
}

/// Finds an image by name ("busybox", "docker.io/library/busybox:latest"), or by the
/// digest (or a 12+ hex digit prefix) of its target or config.
pub fn find(core: &Core, ns: &str, name: &str) -> Result<Image, Status> {
    if name.is_empty() {
        return Err(Status::invalid_argument("an image name is required"));
    }
    if let Some(i) = core.db.get::<Image>(IMAGES, ns, name)? {
        return Ok(i);
    }
    if let Ok(r) = Reference::parse(name) {
        if let Some(i) = core.db.get::<Image>(IMAGES, ns, &r.to_string())? {
            return Ok(i);
        }
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let images: Vec<(String, Image)> = core.db.list(IMAGES, ns)?;
        for (_, img) in &images {
            let t = img.target.as_ref().map(|t| t.digest.as_str()).unwrap_or("");
            if t.trim_start_matches("sha256:").starts_with(hex) {
                return Ok(img.clone());
            }
        }
        for (_, img) in &images {
            if let Some(t) = &img.target {
                if let Ok(r) = berth_image::manifest::resolve(
                    &core.content,
                    &from_proto(t),
                    &berth_image::platform::Platform::host(),
                ) {
                    if r.manifest
                        .config
                        .digest
                        .trim_start_matches("sha256:")
                        .starts_with(hex)
                    {
                        return Ok(img.clone());
                    }
                }
            }
        }
    }
    Err(Status::not_found(format!("image {name:?} not found")))
}

/// Creates or updates the image `name` -> `target`, publishing the event.
pub fn put(
    core: &Core,
    ns: &str,
    name: &str,
    target: Descriptor,
    labels: HashMap<String, String>,
) -> Result<Image, Status> {
    let t = now();
    let (img, created) = core.db.write(|tx| {
        let old: Option<Image> = tx.get(IMAGES, ns, name)?;
        let img = Image {
            name: name.to_string(),
            labels: match &old {
                Some(o) if labels.is_empty() => o.labels.clone(),
                _ => labels.clone(),
            },
            target: Some(target.clone()),
            created_at: old.as_ref().and_then(|o| o.created_at).or(Some(t)),
            updated_at: Some(t),
        };
        tx.put(IMAGES, ns, name, &img)?;
        Ok((img, old.is_none()))
    })?;
    let topic = if created {
        "/images/create"
    } else {
        "/images/update"
    };
    core.events.publish(ns, topic, [("name", name)]);
    Ok(img)
}

/// Records that namespace `ns` uses these blobs (their content stays shared on disk).
pub fn add_content_refs(
    core: &Core,
    ns: &str,
    digests: &[berth_image::Digest],
) -> Result<(), Status> {
    let t = now();
    core.db.write(|tx| {
        for d in digests {
            let key = d.to_string();
            if tx.get::<ContentInfo>(CONTENT, ns, &key)?.is_some() {
                continue;
            }
            let size = core.content.info(d).map_err(status)?.size as i64;
            tx.put(
                CONTENT,
                ns,
                &key,
                &ContentInfo {
                    digest: key.clone(),
                    size,
                    created_at: Some(t),
                    labels: Default::default(),
                },
            )?;
        }
        Ok(())
    })
}

/// Normalizes a user-given name for storing ("busybox" -> "docker.io/library/busybox:latest").
pub fn normalize(name: &str) -> Result<String, Status> {
    Reference::parse(name)
        .map(|r| r.to_string())
        .map_err(status)
}
