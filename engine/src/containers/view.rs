//! What inspect and list report about a container.

use std::collections::BTreeMap;

use berth_api::container::{
    GraphDriver, InspectResponse, Port, State, Summary, SummaryHostConfig, SummaryNetworkSettings,
};
use berth_api::filters::Filters;

use super::model::{Record, Status};
use crate::error::{Error, Result};
use crate::util::{human_duration, rfc3339_nano, rfc3339_or_zero};

pub fn state(rec: &Record) -> State {
    let s = &rec.state;
    State {
        status: s.status().as_str().to_string(),
        running: s.running,
        paused: s.paused,
        restarting: s.restarting,
        oom_killed: s.oom_killed,
        dead: s.dead,
        pid: s.pid as i64,
        exit_code: s.exit_code,
        error: s.error.clone(),
        started_at: rfc3339_or_zero(&s.started_at),
        finished_at: rfc3339_or_zero(&s.finished_at),
        health: rec.health.clone(),
    }
}

/// `Status` in `docker ps`: "Up 5 minutes", "Exited (0) 2 seconds ago", "Created", ...
pub fn status_text(rec: &Record) -> String {
    let now = chrono::Utc::now();
    let s = &rec.state;
    match s.status() {
        Status::Running | Status::Paused => {
            let up = human_duration(now - s.started_at.unwrap_or(now));
            match &rec.health {
                _ if s.paused => format!("Up {up} (Paused)"),
                Some(h) if h.status == super::health::STARTING => {
                    format!("Up {up} (health: starting)")
                }
                Some(h) => format!("Up {up} ({})", h.status),
                None => format!("Up {up}"),
            }
        }
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at.unwrap_or(now))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at.unwrap_or(now))
        ),
    }
}

/// The mounts inspect and list show (not `--tmpfs` ones, as with dockerd).
fn mount_points(rec: &Record) -> Vec<berth_api::mount::MountPoint> {
    rec.mounts
        .iter()
        .filter(|m| m.listed)
        .map(|m| m.point.clone())
        .collect()
}

fn ports(rec: &Record) -> BTreeMap<String, Option<Vec<berth_api::network::PortBinding>>> {
    let mut m = BTreeMap::new();
    for p in rec.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        m.insert(p.clone(), None);
    }
    m
}

/// The ports `docker ps` shows: published ones with their host address and port, exposed
/// ones without.
fn summary_ports(rec: &Record) -> Vec<Port> {
    let mut out = Vec::new();
    let mut all = ports(rec);
    for (k, v) in &rec.network.ports {
        all.insert(k.clone(), v.clone());
    }
    for (k, bindings) in &all {
        let (port, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
        let Ok(private_port) = port.parse() else {
            continue;
        };
        match bindings.as_deref() {
            Some(list) if !list.is_empty() => {
                for b in list {
                    out.push(Port {
                        ip: b.host_ip.clone(),
                        private_port,
                        public_port: b.host_port.parse().unwrap_or(0),
                        kind: proto.to_string(),
                    });
                }
            }
            _ => out.push(Port {
                ip: String::new(),
                private_port,
                public_port: 0,
                kind: proto.to_string(),
            }),
        }
    }
    out
}

/// `GET /containers/{id}/json`.
pub fn inspect(rec: &Record, exec_ids: Vec<String>, size: Option<(i64, i64)>) -> InspectResponse {
    let mut ns = rec.network.clone();
    // Published ports while running; exposed ones (unbound) always.
    for (k, v) in ports(rec) {
        ns.ports.entry(k).or_insert(v);
    }
    if ns.networks.is_empty() {
        let name = crate::networks::mode_network(&rec.host_config.network_mode);
        ns.networks.insert(name.to_string(), Default::default());
    }
    InspectResponse {
        id: rec.id.clone(),
        created: rfc3339_nano(&rec.created),
        path: rec.path.clone(),
        args: rec.args.clone(),
        state: state(rec),
        image: rec.image_id.clone(),
        resolv_conf_path: rec.resolv_conf_path.display().to_string(),
        hostname_path: rec.hostname_path.display().to_string(),
        hosts_path: rec.hosts_path.display().to_string(),
        log_path: rec.log_path.display().to_string(),
        name: rec.name.clone(),
        restart_count: rec.restart_count,
        driver: "overlayfs".into(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: (!exec_ids.is_empty()).then_some(exec_ids),
        host_config: rec.host_config.clone(),
        graph_driver: GraphDriver {
            data: BTreeMap::new(),
            name: "overlayfs".into(),
        },
        size_rw: size.map(|s| s.0),
        size_root_fs: size.map(|s| s.1),
        mounts: mount_points(rec),
        config: rec.config.clone(),
        network_settings: ns,
    }
}

/// One row of `GET /containers/json`.
pub fn summary(rec: &Record, image_shown: String, size: Option<(i64, i64)>) -> Summary {
    let mut command = rec.path.clone();
    for a in &rec.args {
        command.push(' ');
        command.push_str(a);
    }
    let mut networks = rec.network.networks.clone();
    if networks.is_empty() {
        let name = crate::networks::mode_network(&rec.host_config.network_mode);
        networks.insert(name.to_string(), Default::default());
    }
    Summary {
        id: rec.id.clone(),
        names: vec![rec.name.clone()],
        image: image_shown,
        image_id: rec.image_id.clone(),
        command,
        created: rec.created.timestamp(),
        ports: summary_ports(rec),
        size_rw: size.map(|s| s.0),
        size_root_fs: size.map(|s| s.1),
        labels: rec.config.labels.clone().unwrap_or_default(),
        state: rec.state.status().as_str().to_string(),
        status: status_text(rec),
        host_config: SummaryHostConfig {
            network_mode: rec.host_config.network_mode.clone(),
            annotations: None,
        },
        network_settings: SummaryNetworkSettings { networks },
        mounts: mount_points(rec),
    }
}

/// The filter keys `GET /containers/json` accepts.
pub const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// Checks the values of the list filters that have a fixed set.
pub fn validate_list_filters(f: &Filters) -> Result<()> {
    f.validate(LIST_FILTERS).map_err(Error::invalid)?;
    for s in f.get("status") {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&s.as_str())
        {
            return Err(Error::invalid(format!("invalid filter 'status={s}'")));
        }
    }
    for e in f.get("exited") {
        if e.parse::<i64>().is_err() {
            return Err(Error::invalid(format!("invalid filter 'exited={e}'")));
        }
    }
    for h in f.get("health") {
        if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
            return Err(Error::invalid(format!(
                "Unrecognised filter value for health: {h}"
            )));
        }
    }
    Ok(())
}

/// Whether a container passes the list filters. `ancestor_ids` are the image ids the
/// `ancestor` filter named; `before`/`since` are creation times of the named containers.
pub fn passes(
    rec: &Record,
    f: &Filters,
    ancestor_ids: &[String],
    before: Option<i64>,
    since: Option<i64>,
) -> bool {
    let name = rec.short_name();
    let status = rec.state.status().as_str();
    let labels = rec.config.labels.clone().unwrap_or_default();
    (f.get("id").is_empty() || f.get("id").iter().any(|i| rec.id.starts_with(i.as_str())))
        && (f.get("name").is_empty()
            || f.get("name").iter().any(|n| {
                let n = n.trim_start_matches('/');
                regex_lite_match(n, name)
            }))
        && f.matches_exact("status", status)
        && f.matches_labels("label", &labels)
        && (f.get("exited").is_empty()
            || (status == "exited"
                && f.get("exited")
                    .iter()
                    .any(|e| e.parse::<i64>().ok() == Some(rec.state.exit_code))))
        && (f.get("ancestor").is_empty() || ancestor_ids.contains(&rec.image_id))
        && before
            .map(|b| rec.created.timestamp_nanos_opt().unwrap_or(0) < b)
            .unwrap_or(true)
        && since
            .map(|s| rec.created.timestamp_nanos_opt().unwrap_or(0) > s)
            .unwrap_or(true)
        && (f.get("network").is_empty()
            || f.get("network").iter().any(|n| {
                let mode = crate::networks::mode_network(&rec.host_config.network_mode);
                n == mode
                    || (n == "default" && mode == "bridge")
                    || rec.network.networks.contains_key(n)
                    || rec
                        .network
                        .networks
                        .values()
                        .any(|e| !e.network_id.is_empty() && e.network_id.starts_with(n.as_str()))
            }))
        && f.matches_exact(
            "health",
            rec.health
                .as_ref()
                .map(|h| h.status.as_str())
                .unwrap_or("none"),
        )
        && (f.get("expose").is_empty()
            || f.get("expose").iter().any(|e| {
                let e = if e.contains('/') {
                    e.clone()
                } else {
                    format!("{e}/tcp")
                };
                rec.config
                    .exposed_ports
                    .as_ref()
                    .map(|p| p.contains_key(&e))
                    .unwrap_or(false)
            }))
        && (f.get("volume").is_empty()
            || f.get("volume").iter().any(|v| {
                mount_points(rec)
                    .iter()
                    .any(|m| &m.destination == v || &m.source == v || &m.name == v)
            }))
        && f.get("publish").is_empty()
        && (f.get("is-task").is_empty() || f.get("is-task").iter().all(|t| t == "false"))
}

/// docker's name filter is a regular expression; the forms people use are plain
/// substrings, `^` and `$` anchors.
pub(crate) fn regex_lite_match(pattern: &str, name: &str) -> bool {
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    match (anchored_start, anchored_end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts() {
        let mut r = Record::default();
        assert_eq!(status_text(&r), "Created");
        let now = chrono::Utc::now();
        r.state
            .start(10, now - chrono::Duration::minutes(5))
            .unwrap();
        assert_eq!(status_text(&r), "Up 5 minutes");
        r.health = Some(super::super::health::reset(None));
        assert_eq!(status_text(&r), "Up 5 minutes (health: starting)");
        r.health.as_mut().unwrap().status = "unhealthy".into();
        assert_eq!(status_text(&r), "Up 5 minutes (unhealthy)");
        r.state.pause().unwrap();
        assert_eq!(status_text(&r), "Up 5 minutes (Paused)");
        r.state
            .exit(3, now - chrono::Duration::seconds(2), false)
            .unwrap();
        assert_eq!(status_text(&r), "Exited (3) 2 seconds ago");
    }

    #[test]
    fn name_filters() {
        assert!(regex_lite_match("web", "my-web-1"));
        assert!(regex_lite_match("^web$", "web"));
        assert!(!regex_lite_match("^web$", "web1"));
        assert!(regex_lite_match("^web", "web1"));
    }
}
