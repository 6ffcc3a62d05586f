//! `top`: the processes of a container, as the daemon's `ps` reports them.

use serde_json::Value;

use crate::cli::TopArgs;
use crate::client::http::Query;
use crate::context::Ctx;
use crate::error::CmdResult;
use crate::output::print;
use crate::output::table::align_with;

pub fn top(ctx: &Ctx, a: &TopArgs) -> CmdResult {
    let target = Query::new()
        .opt(
            "ps_args",
            (!a.ps_args.is_empty()).then(|| a.ps_args.join(" ")),
        )
        .to_target(&super::cpath(&a.container, "top"));
    let v = ctx.client()?.get(&target)?;
    let cells = |row: &Value| -> String {
        row.as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("\t")
    };
    let mut text = cells(v.get("Titles").unwrap_or(&Value::Null));
    text.push('\n');
    for p in v
        .get("Processes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        text.push_str(&cells(p));
        text.push('\n');
    }
    print(&align_with(&text, 20));
    Ok(0)
}
