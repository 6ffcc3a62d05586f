//! `ps`: the container list, with docker's columns, filters and formats.

use serde_json::{json, Value};

use super::filters;
use crate::cli::PsArgs;
use crate::client::http::Query;
use crate::context::Ctx;
use crate::error::CmdResult;
use crate::output::listing::ListFormat;
use crate::output::units::ago;
use crate::output::{print, short_id};
use berth_gocompat::units::human_size_with_precision;

const DEFAULT: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL", "Mounts": "MOUNTS",
        "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
    })
}

/// docker's ellipsis: at most `n` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A unix time as Go prints a time.Time: `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) => {
            let offset = t.format("%z").to_string();
            let zone = if offset == "+0000" {
                "UTC".to_string()
            } else {
                t.format("%Z").to_string()
            };
            format!("{} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
        }
        None => unix.to_string(),
    }
}

fn ports(c: &Value) -> String {
    let mut out: Vec<String> = c
        .get("Ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let private = p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0);
            let proto = p.get("Type").and_then(Value::as_str).unwrap_or("tcp");
            match p
                .get("PublicPort")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
            {
                Some(public) => {
                    let ip = p.get("IP").and_then(Value::as_str).unwrap_or("");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{private}/{proto}")
                }
                None => format!("{private}/{proto}"),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out.join(", ")
}

pub(super) fn row(c: &Value, no_trunc: bool) -> Value {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let id = s("Id");
    let image = s("Image");
    let image = if image.starts_with("sha256:") && !no_trunc {
        short_id(&image)
    } else {
        image
    };
    let command = if no_trunc {
        s("Command")
    } else {
        ellipsis(&s("Command"), 20)
    };
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/'))
        .filter(|n| no_trunc || !n.contains('/'))
        .map(str::to_string)
        .collect();
    let labels = c
        .get("Labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut label_list: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    label_list.sort();
    let mounts: Vec<Value> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = m
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .or_else(|| m.get("Source").and_then(Value::as_str))
                .unwrap_or("");
            if no_trunc {
                n.to_string()
            } else {
                ellipsis(n, 15)
            }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| m.get("Driver").and_then(Value::as_str) == Some("local"))
        .count();
    let mut networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    // Like docker: the writable layer's size, and the virtual size when the daemon gave one.
    let rw = c.get("SizeRw").and_then(Value::as_f64).unwrap_or(0.0);
    let root = c.get("SizeRootFs").and_then(Value::as_f64).unwrap_or(0.0);
    let size = if root > 0.0 {
        format!(
            "{} (virtual {})",
            human_size_with_precision(rw, 3),
            human_size_with_precision(root, 3)
        )
    } else {
        human_size_with_precision(rw, 3)
    };
    json!({
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": go_time(created),
        "ID": if no_trunc { id } else { short_id(&id) },
        "Image": image,
        "Labels": label_list.join(","),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mount_names.join(","),
        "Names": names.join(","),
        "Networks": networks.join(","),
        "Ports": ports(c),
        "RunningFor": ago(created),
        "Size": size,
        "State": s("State"),
        "Status": s("Status"),
        "Label": Value::Object(labels),
    })
}

pub fn ps(ctx: &Ctx, a: &PsArgs) -> CmdResult {
    let limit = if a.latest { 1 } else { a.last };
    let wants_size = a.size
        || a.format
            .as_deref()
            .is_some_and(|f| f.contains(".Size") || f == "json");
    let target = Query::new()
        .flag("all", a.all || limit > 0)
        .opt("limit", (limit > 0).then(|| limit.to_string()))
        .flag("size", wants_size && !a.quiet)
        .opt("filters", filters::to_json(&a.filter)?)
        .to_target("/containers/json");
    let list = ctx.client()?.get(&target)?;
    let containers = list.as_array().cloned().unwrap_or_default();
    if a.quiet {
        let ids: String = containers
            .iter()
            .filter_map(|c| c.get("Id").and_then(Value::as_str))
            .map(|id| {
                format!(
                    "{}\n",
                    if a.no_trunc {
                        id.to_string()
                    } else {
                        short_id(id)
                    }
                )
            })
            .collect();
        print(&ids);
        return Ok(0);
    }
    let default = if a.size {
        format!("{DEFAULT}\t{{{{.Size}}}}")
    } else {
        DEFAULT.to_string()
    };
    let default = default
        .strip_prefix("table ")
        .unwrap_or(&default)
        .to_string();
    let format = ListFormat::parse(a.format.as_deref(), &default)?;
    let mut rows: Vec<Value> = containers.iter().map(|c| row(c, a.no_trunc)).collect();
    if matches!(format, ListFormat::Json) {
        for r in &mut rows {
            if let Some(m) = r.as_object_mut() {
                m.remove("Label");
            }
        }
    }
    print(&format.render(&headers(), &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_look_like_docker() {
        let c = json!({
            "Id": "0123456789abcdef0123", "Names": ["/web", "/other/link"], "Image": "busybox",
            "Command": "sh -c 'echo started; sleep 100'", "Created": 0, "State": "running",
            "Status": "Up 2 seconds", "Labels": {"b": "2", "a": "1"},
            "Ports": [{"PrivatePort": 80, "Type": "tcp"}, {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
            "NetworkSettings": {"Networks": {"none": {}}},
        });
        let r = row(&c, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sh -c 'echo started…\"");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Ports"], "0.0.0.0:8080->80/tcp, 80/tcp");
        assert_eq!(r["Networks"], "none");
        let full = row(&c, true);
        assert_eq!(full["ID"], "0123456789abcdef0123");
        assert_eq!(full["Command"], "\"sh -c 'echo started; sleep 100'\"");
    }

    #[test]
    fn ellipsis_counts_characters() {
        assert_eq!(ellipsis("abc", 3), "abc");
        assert_eq!(ellipsis("abcd", 3), "ab…");
    }
}
