//! `POST /build/prune` (`docker builder prune`): removes the build cache, that is the
//! step images named `berth.build/cache:<key>` in shimd (see [`super::cache`]), then
//! collects in shimd what no name holds any more, so their layers and snapshots go. A
//! step image that is also a tagged image (the last step of a tagged build) is in use
//! and stays unless `all` is given; a tagged image keeps its content either way (only the
//! cache name goes). The answer is dockerd's: `{"CachesDeleted": [...], "SpaceReclaimed":
//! N}`, the deleted entries being the cache keys.

use std::collections::BTreeSet;

use berth_api::filters::Filters;
use berth_proto::v1;
use serde::Serialize;

use super::cache;
use crate::engine::Engine;
use crate::error::{Error, Result};

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    pub caches_deleted: Option<Vec<String>>,
    pub space_reclaimed: u64,
}

/// What to prune.
#[derive(Debug, Default)]
pub struct PruneOptions {
    /// Also the cache entries tagged images use.
    pub all: bool,
    /// Only entries created before this time (`until` filter).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl PruneOptions {
    /// From the query's `all`, `keep-storage` and filters (`until`; dockerd's other
    /// filters name BuildKit records, which the classic cache does not have).
    pub fn new(all: bool, keep_storage: &str, filters: &Filters) -> Result<PruneOptions> {
        filters.validate(&["until"]).map_err(Error::invalid)?;
        if !matches!(keep_storage, "" | "0") {
            return Err(Error::invalid(
                "keep-storage is not supported by the classic build cache: prune with filters (until=) or all",
            ));
        }
        let until = match filters.get("until") {
            [] => None,
            [u] => Some(
                crate::util::parse_time_param(u, chrono::Utc::now())
                    .ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))?,
            ),
            _ => return Err(Error::invalid("filter 'until' may be given only once")),
        };
        Ok(PruneOptions { all, until })
    }
}

impl Engine {
    /// Removes the cache entries `o` selects; answers what went and the space reclaimed.
    pub async fn build_prune(&self, o: &PruneOptions) -> Result<PruneReport> {
        let named = self.images.all(&self.shimd).await?;
        let tagged: BTreeSet<&str> = named
            .iter()
            .filter(|n| !cache::is_step_image(&n.name))
            .map(|n| n.info.id.as_str())
            .collect();
        let mut deleted = Vec::new();
        for n in named.iter().filter(|n| cache::is_step_image(&n.name)) {
            if !o.all && tagged.contains(n.info.id.as_str()) {
                continue;
            }
            if let (Some(u), Some(c)) = (o.until, n.info.config.created_time()) {
                if c >= u {
                    continue;
                }
            }
            match self
                .shimd
                .images()
                .delete(v1::DeleteImageRequest {
                    name: n.name.clone(),
                })
                .await
            {
                Ok(_) => {}
                Err(s) if s.code() == tonic::Code::NotFound => continue,
                Err(s) => return Err(s.into()),
            }
            let key = n.name.rsplit(':').next().unwrap_or_default();
            deleted.push(key.to_string());
        }
        let reclaimed = self.garbage_collect().await;
        Ok(PruneReport {
            caches_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}
