//! `system df`: the engine's disk usage, summarized or (-v) per object.

use serde_json::{json, Value};

use super::images::image_rows;
use crate::cli::DfArgs;
use crate::context::Ctx;
use crate::error::CmdResult;
use crate::output::listing::ListFormat;
use crate::output::print;
use crate::output::table::align;
use berth_gocompat::units::human_size_with_precision;

fn list<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect()
}

fn num(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// "1.2MB (50%)" like docker's RECLAIMABLE column.
fn reclaimable(amount: i64, total: i64) -> String {
    let text = human_size_with_precision(amount.max(0) as f64, 4);
    if total > 0 {
        format!("{text} ({}%)", amount.max(0) * 100 / total)
    } else {
        text
    }
}

fn summary(df: &Value) -> Vec<Value> {
    let images = list(df, "Images");
    let layers = num(df, "/LayersSize");
    let used: i64 = images
        .iter()
        .filter(|i| num(i, "/Containers") > 0)
        .filter(|i| num(i, "/SharedSize") >= 0)
        .map(|i| {
            let size = i
                .get("VirtualSize")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| num(i, "/Size"));
            size - num(i, "/SharedSize")
        })
        .sum();
    let containers = list(df, "Containers");
    let running = |c: &&&Value| c.get("State").and_then(Value::as_str) == Some("running");
    let c_size: i64 = containers.iter().map(|c| num(c, "/SizeRw")).sum();
    let c_idle: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| num(c, "/SizeRw"))
        .sum();
    let volumes = list(df, "Volumes");
    let v_size: i64 = volumes
        .iter()
        .map(|v| num(v, "/UsageData/Size").max(0))
        .sum();
    let v_idle: i64 = volumes
        .iter()
        .filter(|v| num(v, "/UsageData/RefCount") == 0)
        .map(|v| num(v, "/UsageData/Size").max(0))
        .sum();
    let cache = list(df, "BuildCache");
    let b_size: i64 = cache.iter().map(|b| num(b, "/Size")).sum();
    let b_idle: i64 = cache
        .iter()
        .filter(|b| !b.get("InUse").and_then(Value::as_bool).unwrap_or(false))
        .filter(|b| !b.get("Shared").and_then(Value::as_bool).unwrap_or(false))
        .map(|b| num(b, "/Size"))
        .sum();
    let row = |t: &str, total: usize, active: usize, size: i64, rec: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": human_size_with_precision(size as f64, 4), "Reclaimable": rec})
    };
    vec![
        row(
            "Images",
            images.len(),
            images.iter().filter(|i| num(i, "/Containers") > 0).count(),
            layers,
            reclaimable(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(running).count(),
            c_size,
            reclaimable(c_idle, c_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes
                .iter()
                .filter(|v| num(v, "/UsageData/RefCount") > 0)
                .count(),
            v_size,
            reclaimable(v_idle, v_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache
                .iter()
                .filter(|b| b.get("InUse").and_then(Value::as_bool).unwrap_or(false))
                .count(),
            b_size,
            human_size_with_precision(b_idle as f64, 4),
        ),
    ]
}

fn verbose(df: &Value) -> String {
    let mut out = String::from("Images space usage:\n\n");
    let mut t = String::from(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
    );
    for img in list(df, "Images") {
        for r in image_rows(img, false) {
            let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
            t.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                f("Repository"),
                f("Tag"),
                f("ID"),
                f("CreatedSince"),
                f("Size"),
                f("SharedSize"),
                f("UniqueSize"),
                f("Containers")
            ));
        }
    }
    out.push_str(&align(&t));
    out.push_str("\nContainers space usage:\n\n");
    let mut t =
        String::from("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
    for c in list(df, "Containers") {
        let r = super::ps::row(c, false);
        let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            f("ID"),
            f("Image"),
            f("Command"),
            f("LocalVolumes"),
            human_size_with_precision(num(c, "/SizeRw") as f64, 3),
            f("RunningFor"),
            f("Status"),
            f("Names")
        ));
    }
    out.push_str(&align(&t));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut t = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for v in list(df, "Volumes") {
        t.push_str(&format!(
            "{}\t{}\t{}\n",
            v.get("Name").and_then(Value::as_str).unwrap_or(""),
            num(v, "/UsageData/RefCount"),
            human_size_with_precision(num(v, "/UsageData/Size").max(0) as f64, 3)
        ));
    }
    out.push_str(&align(&t));
    let cache = list(df, "BuildCache");
    let total: i64 = cache.iter().map(|b| num(b, "/Size")).sum();
    out.push_str(&format!(
        "\nBuild cache usage: {}\n\n",
        human_size_with_precision(total as f64, 3)
    ));
    out.push_str(&align(
        "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n",
    ));
    out
}

pub fn df(ctx: &Ctx, a: &DfArgs) -> CmdResult {
    let v = ctx.client()?.get("/system/df")?;
    if a.verbose && a.format.is_none() {
        print(&verbose(&v));
        return Ok(0);
    }
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    let format = ListFormat::parse(
        a.format.as_deref(),
        "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    )?;
    print(&format.render(&headers, &summary(&v))?);
    Ok(0)
}
