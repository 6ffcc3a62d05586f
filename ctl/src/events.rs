//! berthctl events: stream shimd's events, one line each.

use berth_proto::v1::SubscribeRequest;

use crate::context::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Filters like topic~=/tasks/* or attributes.container_id==web (any may match).
    filters: Vec<String>,
}

pub async fn run(ctx: &Context, a: Args) -> anyhow::Result<i32> {
    let mut s = ctx
        .events()
        .await?
        .subscribe(SubscribeRequest { filters: a.filters })
        .await?
        .into_inner();
    while let Some(e) = s.message().await? {
        let time = e
            .timestamp
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default();
        let mut attrs: Vec<(String, String)> = e.attributes.into_iter().collect();
        attrs.sort();
        let attrs: Vec<String> = attrs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("{time} {} {} {}", e.namespace, e.topic, attrs.join(" "));
    }
    Ok(0)
}
