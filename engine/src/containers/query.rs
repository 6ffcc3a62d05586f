//! Listing, inspecting and pruning containers, and the disk use of their writable layers.

use std::collections::HashMap;
use std::sync::Arc;

use berth_api::container::{InspectResponse, PruneResponse, Summary, TopResponse};
use berth_api::filters::Filters;
use berth_proto::v1;

use super::store::Container;
use super::view;
use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// Looks a container up by id, name or id prefix.
    pub fn container(&self, reference: &str) -> Result<Arc<Container>> {
        self.containers.get(reference)
    }

    /// Bytes used by the container's writable layer, and by its whole rootfs.
    pub async fn container_size(&self, c: &Container) -> (i64, i64) {
        let rw = self
            .shimd
            .snapshots()
            .usage(v1::SnapshotKeyRequest { key: c.id.clone() })
            .await
            .map(|u| u.into_inner().size)
            .unwrap_or(0);
        let image_id = c.with(|r| r.image_id.clone());
        let image = match self.images.lookup(&self.shimd, &image_id).await {
            Ok(Some(i)) => i.info.disk_size(),
            _ => 0,
        };
        (rw, rw + image)
    }

    /// `GET /containers/{id}/json`.
    pub async fn container_inspect(&self, c: &Container, size: bool) -> InspectResponse {
        let sz = if size {
            Some(self.container_size(c).await)
        } else {
            None
        };
        let rec = c.record();
        let mut r = view::inspect(&rec, self.execs.ids_of(&c.id), sz);
        r.host_config.links = self.links_shown(&rec);
        r
    }

    /// `GET /containers/json`.
    pub async fn container_list(
        &self,
        all: bool,
        limit: i64,
        size: bool,
        filters: &Filters,
    ) -> Result<Vec<Summary>> {
        view::validate_list_filters(filters)?;
        let mut ancestors = Vec::new();
        for a in filters.get("ancestor") {
            if let Ok(Some(r)) = self.images.lookup(&self.shimd, a).await {
                ancestors.push(r.info.id.clone());
            }
        }
        let created_of = |r: &str| -> Result<i64> {
            self.containers
                .get(r)
                .map(|c| c.with(|x| x.created.timestamp_nanos_opt().unwrap_or(0)))
                .map_err(|_| Error::not_found(format!("No such container: {r}")))
        };
        let before = filters
            .get("before")
            .first()
            .map(|r| created_of(r))
            .transpose()?;
        let since = filters
            .get("since")
            .first()
            .map(|r| created_of(r))
            .transpose()?;
        let mut recs: Vec<_> = self.containers.list().iter().map(|c| c.record()).collect();
        recs.sort_by_key(|r| std::cmp::Reverse(r.created));
        let show_all = all
            || limit > 0
            || before.is_some()
            || since.is_some()
            || !filters.get("status").is_empty()
            || !filters.get("exited").is_empty();
        let mut out = Vec::new();
        let mut shown = HashMap::new();
        for rec in recs {
            if !show_all && !rec.state.running && !rec.state.restarting {
                continue;
            }
            if !view::passes(&rec, filters, &ancestors, before, since) {
                continue;
            }
            let image_shown = self.image_shown(&rec, &mut shown).await;
            let sz = if size {
                let c = self.containers.get(&rec.id).ok();
                match c {
                    Some(c) => Some(self.container_size(&c).await),
                    None => None,
                }
            } else {
                None
            };
            let mut row = view::summary(&rec, image_shown, sz);
            row.names.extend(self.link_names_of(&rec.id));
            out.push(row);
            if limit > 0 && out.len() as i64 >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The `Image` of a list row, as dockerd shows it: the reference the container was
    /// created with while that still names the container's image, else the image ID.
    /// `cache` keeps each reference's image ID for one listing.
    async fn image_shown(
        &self,
        rec: &super::model::Record,
        cache: &mut HashMap<String, Option<String>>,
    ) -> String {
        if rec.image_ref.is_empty() {
            return rec.image_id.clone();
        }
        if !cache.contains_key(&rec.image_ref) {
            let id = match self.images.lookup(&self.shimd, &rec.image_ref).await {
                Ok(Some(r)) => Some(r.info.id.clone()),
                _ => None,
            };
            cache.insert(rec.image_ref.clone(), id);
        }
        match &cache[&rec.image_ref] {
            Some(id) if *id == rec.image_id => rec.image_ref.clone(),
            _ => rec.image_id.clone(),
        }
    }

    /// `POST /containers/prune`: removes stopped containers.
    pub async fn container_prune(self: &Arc<Self>, filters: &Filters) -> Result<PruneResponse> {
        filters
            .validate(&["until", "label", "label!"])
            .map_err(Error::invalid)?;
        let now = chrono::Utc::now();
        let until = filters
            .get("until")
            .first()
            .map(|u| {
                crate::util::parse_time_param(u, now)
                    .ok_or_else(|| Error::invalid(format!("invalid filter 'until={u}'")))
            })
            .transpose()?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for c in self.containers.list() {
            let rec = c.record();
            if rec.state.running || rec.state.restarting || rec.state.removing {
                continue;
            }
            let labels = rec.config.labels.clone().unwrap_or_default();
            if !filters.matches_labels("label", &labels) {
                continue;
            }
            if filters
                .get("label!")
                .iter()
                .any(|l| match l.split_once('=') {
                    Some((k, v)) => labels.get(k).map(|x| x == v).unwrap_or(false),
                    None => labels.contains_key(l.as_str()),
                })
            {
                continue;
            }
            if until.map(|u| rec.created >= u).unwrap_or(false) {
                continue;
            }
            let (rw, _) = self.container_size(&c).await;
            match self.container_remove(&c, false).await {
                Ok(()) => {
                    deleted.push(c.id.clone());
                    reclaimed += rw.max(0) as u64;
                }
                Err(e) => tracing::warn!(container = %c.id, "prune: {e}"),
            }
        }
        self.events.publish(
            "container",
            "prune",
            "",
            [("reclaimed".to_string(), reclaimed.to_string())].into(),
        );
        Ok(PruneResponse {
            containers_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }

    /// `GET /containers/{id}/top`: `ps` on the host, limited to the container's processes.
    pub async fn container_top(&self, c: &Container, ps_args: &str) -> Result<TopResponse> {
        if !c.with(|r| r.state.running) {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        let pids: Vec<u32> = self
            .shimd
            .tasks()
            .pids(v1::TaskRequest {
                container_id: c.id.clone(),
            })
            .await
            .map_err(Error::from)?
            .into_inner()
            .processes
            .into_iter()
            .map(|p| p.pid)
            .collect();
        let args: Vec<&str> = if ps_args.trim().is_empty() {
            vec!["-ef"]
        } else {
            ps_args.split_whitespace().collect()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| Error::internal(format!("running ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Keeps the rows of `ps` output whose PID is one of `pids`.
pub fn parse_ps(output: &str, pids: &[u32]) -> Result<TopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::internal("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<u32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) keeps its spaces.
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResponse { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_by_pid() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init splash\nroot 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        let t = parse_ps(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(
            t.processes,
            vec![vec![
                "root",
                "42",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
