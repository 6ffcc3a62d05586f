//! `/volumes`: list, create, inspect, remove, prune; and the volumes of `/system/df`.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use berth_api::filters::Filters;
use berth_api::version::ApiVersion;
use berth_api::volume::{CreateOptions, ListResponse, PruneReport, UsageData, Volume};

use super::{decode, json, no_content, ok_json, ApiResult, AppState, Query};
use crate::containers::view::regex_lite_match;
use crate::engine::Engine;
use crate::error::{Error, Kind};
use crate::volumes::{NewVolume, Record};

/// One prune at a time, as with dockerd.
static PRUNING: AtomicBool = AtomicBool::new(false);

/// A volume as the API shows it; `CreatedAt` in RFC 3339 with seconds, local time.
fn to_api(e: &Engine, r: &Record) -> Volume {
    Volume {
        created_at: r
            .created_at
            .with_timezone(&chrono::Local)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        driver: r.driver.clone(),
        labels: r.labels.clone(),
        mountpoint: e.volumes.mountpoint(&r.name).display().to_string(),
        name: r.name.clone(),
        options: r.options.clone(),
        scope: "local".into(),
        status: None,
        usage_data: None,
    }
}

/// A boolean filter value as Go's `strconv.ParseBool` reads it.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn labels_of(r: &Record) -> std::collections::BTreeMap<String, String> {
    r.labels.clone().unwrap_or_default()
}

/// Whether a volume passes `label!` filters: it has none of the labels named.
fn passes_label_not(f: &Filters, r: &Record) -> bool {
    let labels = labels_of(r);
    f.get("label!").iter().all(|l| match l.split_once('=') {
        Some((k, v)) => labels.get(k).map(|x| x != v).unwrap_or(true),
        None => !labels.contains_key(l.as_str()),
    })
}

pub async fn list(State(e): State<AppState>, uri: Uri) -> ApiResult {
    let f = Query::of(&uri).filters()?;
    f.validate(&["dangling", "name", "driver", "label"])
        .map_err(Error::invalid)?;
    let mut dangling = None;
    for v in f.get("dangling") {
        dangling = Some(
            parse_bool(&v.to_ascii_lowercase())
                .ok_or_else(|| Error::invalid(format!("invalid filter 'dangling={v}'")))?,
        );
    }
    let users = e.volume_users();
    let volumes = e
        .volumes
        .list()
        .iter()
        .filter(|r| f.matches_exact("driver", &r.driver))
        .filter(|r| {
            f.get("name").is_empty() || f.get("name").iter().any(|n| regex_lite_match(n, &r.name))
        })
        .filter(|r| f.matches_labels("label", &labels_of(r)))
        .filter(|r| match dangling {
            None => true,
            Some(d) => users.get(&r.name).map(|u| u.is_empty()).unwrap_or(true) == d,
        })
        .map(|r| to_api(&e, r))
        .collect();
    Ok(ok_json(&ListResponse {
        volumes,
        warnings: None,
    }))
}

pub async fn create(State(e): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let req: CreateOptions = decode(&headers, &body, false)?;
    let (rec, created) = e.volumes.create(
        NewVolume {
            name: req.name,
            driver: req.driver,
            options: req.driver_opts,
            labels: req.labels,
        },
        true,
        None,
    )?;
    if created {
        e.volume_event("create", &rec.name, &[]);
    }
    Ok(json(StatusCode::CREATED, &to_api(&e, &rec)))
}

pub async fn inspect(State(e): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let rec = e.volumes.get(&name)?;
    Ok(ok_json(&to_api(&e, &rec)))
}

pub async fn remove(State(e): State<AppState>, Path(name): Path<String>, uri: Uri) -> ApiResult {
    let force = Query::of(&uri).bool("force");
    let engine = e.clone();
    let removed = tokio::task::spawn_blocking(move || {
        engine
            .volumes
            .remove(&name, force, &|| engine.recorded_volume_users())
    })
    .await
    .map_err(|err| Error::internal(format!("removing the volume: {err}")))??;
    if let Some(rec) = removed {
        e.volume_event("destroy", &rec.name, &[]);
    }
    Ok(no_content())
}

/// Which volumes a prune may take: unused, without mount options, matching the label
/// filters, and anonymous unless `all` (always `all` before API 1.42, as with dockerd).
fn prune_candidates(e: &Engine, f: &Filters, version: ApiVersion) -> Result<Vec<Record>, Error> {
    f.validate(&["label", "label!", "all"])
        .map_err(Error::invalid)?;
    let all = match f.get("all") {
        [] => version < ApiVersion::parse("1.42").unwrap_or_else(ApiVersion::current),
        [v] => parse_bool(v).ok_or_else(|| {
            Error::invalid(format!(
                "invalid filter 'all': strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?,
        many => {
            return Err(Error::invalid(format!(
                "invalid filter 'all=[{}]': only one value is expected",
                many.join(" ")
            )))
        }
    };
    let users = e.volume_users();
    Ok(e.volumes
        .list()
        .into_iter()
        .filter(|r| users.get(&r.name).map(|u| u.is_empty()).unwrap_or(true))
        .filter(|r| !r.has_options())
        .filter(|r| all || r.is_anonymous())
        .filter(|r| f.matches_labels("label", &labels_of(r)) && passes_label_not(f, r))
        .collect())
}

pub async fn prune(State(e): State<AppState>, uri: Uri, ext: axum::http::Extensions) -> ApiResult {
    let f = Query::of(&uri).filters()?;
    let candidates = prune_candidates(&e, &f, super::api_version(&ext))?;
    if PRUNING.swap(true, Ordering::SeqCst) {
        return Err(Error::conflict("a prune operation is already running"));
    }
    let engine = e.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut report = PruneReport::default();
        for r in candidates {
            let dir = engine.volumes.mountpoint(&r.name);
            let size = crate::volumes::size::of_dir(&dir).unwrap_or(0);
            match engine
                .volumes
                .remove(&r.name, false, &|| engine.recorded_volume_users())
            {
                Ok(Some(_)) => {
                    engine.volume_event("destroy", &r.name, &[]);
                    report.space_reclaimed += size.max(0) as u64;
                    report.volumes_deleted.push(r.name);
                }
                Ok(None) => {}
                Err(err) if err.kind == Kind::Conflict || err.kind == Kind::NotFound => {}
                Err(err) => tracing::warn!(volume = %r.name, "pruning: {err}"),
            }
        }
        report
    })
    .await;
    PRUNING.store(false, Ordering::SeqCst);
    let report = report.map_err(|err| Error::internal(format!("pruning volumes: {err}")))?;
    e.volume_event(
        "prune",
        "",
        &[("reclaimed", report.space_reclaimed.to_string())],
    );
    Ok(ok_json(&report))
}

/// The volumes of `/system/df`: those without mount options, with their size and the
/// number of containers using them.
pub async fn disk_usage(e: &AppState) -> Vec<serde_json::Value> {
    let users = e.volume_users();
    let recs: Vec<Record> = e
        .volumes
        .list()
        .into_iter()
        .filter(|r| !r.has_options())
        .collect();
    let engine = e.clone();
    tokio::task::spawn_blocking(move || {
        recs.iter()
            .map(|r| {
                let mut v = to_api(&engine, r);
                v.usage_data = Some(UsageData {
                    size: crate::volumes::size::of_dir(&engine.volumes.mountpoint(&r.name))
                        .unwrap_or(-1),
                    ref_count: users.get(&r.name).map(|u| u.len() as i64).unwrap_or(0),
                });
                serde_json::to_value(v).unwrap_or_default()
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}
