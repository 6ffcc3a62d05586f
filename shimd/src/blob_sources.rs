//! Where a blob is known to be in a registry: the repositories of that registry it was
//! pulled from or pushed to, kept as a label on the namespace's content record
//! (`berth.io/distribution.source.<registry>` = `repo1,repo2`). A push asks the registry to
//! mount a blob from one of them instead of uploading it again, as dockerd does.

use berth_image::Digest;
use berth_proto::v1::ContentInfo;
use tonic::Status;

use crate::events::now;
use crate::image_error::status;
use crate::metadata::CONTENT;
use crate::server::Core;

/// The most repositories remembered per blob and registry (the oldest are forgotten).
const MAX_SOURCES: usize = 8;

fn label(registry: &str) -> String {
    format!("berth.io/distribution.source.{registry}")
}

/// Records that these blobs are in `repository` of `registry`.
pub fn record(
    core: &Core,
    ns: &str,
    registry: &str,
    repository: &str,
    digests: &[Digest],
) -> Result<(), Status> {
    let key = label(registry);
    core.db.write(|tx| {
        for d in digests {
            let name = d.to_string();
            let mut info = match tx.get::<ContentInfo>(CONTENT, ns, &name)? {
                Some(i) => i,
                None => ContentInfo {
                    digest: name.clone(),
                    size: core.content.info(d).map_err(status)?.size as i64,
                    created_at: Some(now()),
                    labels: Default::default(),
                },
            };
            let mut repos: Vec<String> = info
                .labels
                .get(&key)
                .map(|v| v.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            repos.retain(|r| r != repository && !r.is_empty());
            repos.push(repository.to_string());
            if repos.len() > MAX_SOURCES {
                repos.drain(..repos.len() - MAX_SOURCES);
            }
            info.labels.insert(key.clone(), repos.join(","));
            tx.put(CONTENT, ns, &name, &info)?;
        }
        Ok(())
    })
}

/// The repositories of `registry` this blob is known to be in, most recent first.
pub fn sources(core: &Core, ns: &str, registry: &str, digest: &Digest) -> Vec<String> {
    let info = core
        .db
        .get::<ContentInfo>(CONTENT, ns, &digest.to_string())
        .ok()
        .flatten();
    let mut repos: Vec<String> = info
        .and_then(|i| i.labels.get(&label(registry)).cloned())
        .map(|v| {
            v.split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    repos.reverse();
    repos
}
