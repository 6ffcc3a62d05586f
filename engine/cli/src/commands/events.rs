//! `events`: the daemon's event stream, as docker prints it or through `--format`.

use serde_json::Value;

use super::filters;
use crate::cli::EventsArgs;
use crate::client::http::{Body, Query};
use crate::client::jsonlines;
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::print;
use crate::output::units::api_timestamp;
use crate::template::Template;

/// docker's line: `<time> <type> <action> <id> (k=v, ...)`, time in local RFC 3339 with
/// nanoseconds.
fn line(ev: &Value) -> String {
    let nanos = ev
        .get("timeNano")
        .and_then(Value::as_i64)
        .or_else(|| {
            ev.get("time")
                .and_then(Value::as_i64)
                .map(|t| t * 1_000_000_000)
        })
        .unwrap_or(0);
    let time = chrono::DateTime::from_timestamp(
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000) as u32,
    )
    .map(|t| {
        let local = t.with_timezone(&chrono::Local);
        // Go writes UTC as "Z".
        let zone = if local.offset().local_minus_utc() == 0 {
            "Z".to_string()
        } else {
            local.format("%:z").to_string()
        };
        format!("{}{zone}", local.format("%Y-%m-%dT%H:%M:%S%.9f"))
    })
    .unwrap_or_default();
    let s = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
    let kind = if s("/Type").is_empty() {
        s("/type")
    } else {
        s("/Type")
    };
    let action = if s("/Action").is_empty() {
        s("/status")
    } else {
        s("/Action")
    };
    let id = if s("/Actor/ID").is_empty() {
        s("/id")
    } else {
        s("/Actor/ID")
    };
    let mut out = format!("{time} {kind} {action} {id}");
    if let Some(attrs) = ev
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
    {
        let mut kv: Vec<String> = attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        kv.sort();
        out.push_str(&format!(" ({})", kv.join(", ")));
    }
    out
}

pub fn events(ctx: &Ctx, a: &EventsArgs) -> CmdResult {
    let template = match a.format.as_deref() {
        None => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let target = Query::new()
        .opt("since", a.since.as_deref().map(api_timestamp))
        .opt("until", a.until.as_deref().map(api_timestamp))
        .opt("filters", filters::to_json(&a.filter)?)
        .to_target("/events");
    let resp = ctx.client()?.call("GET", &target, &[], Body::Empty)?;
    for ev in jsonlines::values(resp) {
        let ev = ev?;
        let text = match &template {
            Some(t) => t.render(&ev).map_err(CliError::new)?,
            None => line(&ev),
        };
        print(&format!("{text}\n"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn formats_like_docker() {
        let ev = json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "busybox"}}, "timeNano": 1_700_000_000_123_456_789_i64});
        let l = super::line(&ev);
        assert!(
            l.ends_with(" container start abc (image=busybox, name=web)"),
            "{l}"
        );
        assert!(l.contains(".123456789"), "{l}");
    }
}
