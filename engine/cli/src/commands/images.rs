//! `images`, `history`, `tag`, `rmi`.

use serde_json::{json, Value};

use super::filters;
use super::ps::{ellipsis, go_time};
use crate::cli::{HistoryArgs, ImagesArgs, RmiArgs, TagArgs};
use crate::client::http::{image_seg, Query};
use crate::context::Ctx;
use crate::error::{report, CliError, CmdResult};
use crate::output::listing::ListFormat;
use crate::output::units::ago;
use crate::output::{print, short_id};
use crate::refs::ImageRef;
use berth_gocompat::units::human_size_with_precision;

fn image_headers() -> Value {
    json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE",
    })
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Splits `repo:tag` at the last colon after the last slash.
fn split_tag(rt: &str) -> (String, String) {
    let slash = rt.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rt[slash..].rfind(':') {
        Some(i) => (rt[..slash + i].to_string(), rt[slash + i + 1..].to_string()),
        None => (rt.to_string(), "<none>".to_string()),
    }
}

/// One row per tag (one `<none>` row for untagged images), as `docker images` lists them.
pub(super) fn image_rows(img: &Value, no_trunc: bool) -> Vec<Value> {
    let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size = img.get("Size").and_then(Value::as_f64).unwrap_or(0.0);
    let num = |k: &str| img.get(k).and_then(Value::as_f64).unwrap_or(-1.0);
    let sized = |n: f64| {
        if n < 0.0 {
            "N/A".to_string()
        } else {
            human_size_with_precision(n, 3)
        }
    };
    let containers = match img.get("Containers").and_then(Value::as_i64) {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".to_string(),
    };
    let digests = strs(img, "RepoDigests");
    let digest_of = |repo: &str| {
        digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, d)| d.to_string())
            })
            .or_else(|| {
                digests
                    .first()
                    .and_then(|d| d.split_once('@'))
                    .map(|(_, d)| d.to_string())
            })
            .unwrap_or_else(|| "<none>".to_string())
    };
    let mut tags: Vec<(String, String)> = strs(img, "RepoTags")
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .map(|t| split_tag(t))
        .collect();
    if tags.is_empty() {
        let repo = digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map(|(r, _)| r.to_string())
            .unwrap_or_else(|| "<none>".to_string());
        tags.push((repo, "<none>".to_string()));
    }
    tags.into_iter()
        .map(|(repo, tag)| {
            json!({
                "Containers": containers,
                "CreatedAt": go_time(created),
                "CreatedSince": ago(created),
                "Digest": digest_of(&repo),
                "ID": if no_trunc { id.to_string() } else { short_id(id) },
                "Repository": repo,
                "SharedSize": sized(num("SharedSize")),
                "Size": human_size_with_precision(size, 3),
                "Tag": tag,
                "UniqueSize": sized(if num("SharedSize") < 0.0 { -1.0 } else { size - num("SharedSize") }),
                "VirtualSize": human_size_with_precision(img.get("VirtualSize").and_then(Value::as_f64).unwrap_or(size), 3),
            })
        })
        .collect()
}

pub fn images(ctx: &Ctx, a: &ImagesArgs) -> CmdResult {
    let mut filter = a.filter.clone();
    if let Some(r) = &a.reference {
        filter.push(format!("reference={r}"));
    }
    let target = Query::new()
        .flag("all", a.all)
        .flag("digests", a.digests)
        .opt("filters", filters::to_json(&filter)?)
        .to_target("/images/json");
    let list = ctx.client()?.get(&target)?;
    let images = list.as_array().cloned().unwrap_or_default();
    if a.quiet {
        let mut seen = Vec::new();
        for img in &images {
            let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
            let id = if a.no_trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            if !seen.contains(&id) {
                seen.push(id);
            }
        }
        print(&seen.iter().map(|i| format!("{i}\n")).collect::<String>());
        return Ok(0);
    }
    let default = if a.digests {
        "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = ListFormat::parse(a.format.as_deref(), default)?;
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|i| image_rows(i, a.no_trunc))
        .collect();
    print(&format.render(&image_headers(), &rows)?);
    Ok(0)
}

pub fn history(ctx: &Ctx, a: &HistoryArgs) -> CmdResult {
    let path = format!("/images/{}/history", image_seg(&a.image)?);
    let list = ctx.client()?.get(&path)?;
    let layers = list.as_array().cloned().unwrap_or_default();
    let rows: Vec<Value> = layers
        .iter()
        .map(|l| {
            let id = l.get("Id").and_then(Value::as_str).unwrap_or("");
            let id = if id.is_empty() || id == "<missing>" {
                "<missing>".to_string()
            } else if a.no_trunc {
                id.to_string()
            } else {
                short_id(id)
            };
            let created = l.get("Created").and_then(Value::as_i64).unwrap_or(0);
            let by = l
                .get("CreatedBy")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\t', " ");
            let size = l.get("Size").and_then(Value::as_f64).unwrap_or(0.0);
            let created_at = chrono::DateTime::from_timestamp(created, 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .unwrap_or_default();
            json!({
                "ID": id,
                "CreatedSince": if a.human { ago(created) } else { created_at.clone() },
                "CreatedAt": created_at,
                "CreatedBy": if a.no_trunc { by } else { ellipsis(&by, 45) },
                "Size": if a.human { human_size_with_precision(size, 3) } else { format!("{size}") },
                "Comment": l.get("Comment").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    if a.quiet {
        print(
            &rows
                .iter()
                .map(|r| format!("{}\n", r["ID"].as_str().unwrap_or("")))
                .collect::<String>(),
        );
        return Ok(0);
    }
    let headers = json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    });
    let format = ListFormat::parse(
        a.format.as_deref(),
        "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    )?;
    print(&format.render(&headers, &rows)?);
    Ok(0)
}

pub fn tag(ctx: &Ctx, a: &TagArgs) -> CmdResult {
    let target = ImageRef::parse(&a.target)?;
    if target.digest.is_some() {
        return Err(CliError::new(
            "refusing to create a tag with a digest reference",
        ));
    }
    let path = Query::new()
        .set("repo", target.name.clone())
        .set("tag", target.tag_or_latest().unwrap_or("latest"))
        .to_target(&format!("/images/{}/tag", image_seg(&a.source)?));
    ctx.client()?.post(&path, None)?;
    Ok(0)
}

pub fn rmi(ctx: &Ctx, a: &RmiArgs) -> CmdResult {
    let client = ctx.client()?;
    let mut failed = false;
    for name in &a.images {
        let result = image_seg(name).map_err(CliError::new).and_then(|seg| {
            let path = Query::new()
                .flag("force", a.force)
                .flag("noprune", a.no_prune)
                .to_target(&format!("/images/{seg}"));
            client.delete(&path).map_err(CliError::from)
        });
        match result {
            Ok(v) => {
                let mut out = String::new();
                for item in v.as_array().into_iter().flatten() {
                    if let Some(t) = item.get("Untagged").and_then(Value::as_str) {
                        out.push_str(&format!("Untagged: {t}\n"));
                    }
                    if let Some(d) = item.get("Deleted").and_then(Value::as_str) {
                        out.push_str(&format!("Deleted: {d}\n"));
                    }
                }
                print(&out);
            }
            Err(e) => {
                report(e);
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::silent(1))
    } else {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_tag_and_none_for_untagged() {
        let img = json!({"Id": "sha256:0123456789abcdef", "RepoTags": ["busybox:latest", "127.0.0.1:5000/bb:v1"],
                         "Created": 0, "Size": 1_240_000, "Containers": -1});
        let rows = image_rows(&img, false);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "busybox");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "1.24MB");
        assert_eq!(rows[0]["Containers"], "N/A");
        assert_eq!(rows[1]["Repository"], "127.0.0.1:5000/bb");
        let none = image_rows(
            &json!({"Id": "sha256:ff", "RepoTags": null, "Size": 0}),
            true,
        );
        assert_eq!(none[0]["Repository"], "<none>");
        assert_eq!(none[0]["Tag"], "<none>");
        assert_eq!(none[0]["ID"], "sha256:ff");
    }
}
