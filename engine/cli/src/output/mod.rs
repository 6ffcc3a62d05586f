//! Presenting results: aligned tables, list formats, sizes and durations, pull progress.

pub mod listing;
pub mod progress;
pub mod table;
pub mod units;

use std::io::Write;

use serde_json::Value;

/// docker inspect's layout: a JSON array indented with four spaces.
pub fn pretty_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("JSON values serialize");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// Writes to stdout, ignoring a closed pipe (`berth ps | head -1`).
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A short id: the first 12 hex digits, without a `sha256:` prefix.
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}
