//! `port`: the host addresses a container's ports are published on, from its inspect
//! answer, printed as docker prints them.

use std::cmp::Ordering;

use serde_json::Value;

use crate::cli::PortArgs;
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::print;

/// `HOST:PORT`, with an IPv6 host in brackets (Go's `net.JoinHostPort`).
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits text into runs of digits and of other characters.
fn chunks(s: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
            out.push((bytes[start].is_ascii_digit(), &s[start..i]));
            start = i;
        }
    }
    out
}

/// "Natural" order, numbers compared by value: `9/tcp` before `80/tcp`, as docker sorts.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    for (x, y) in chunks(a).iter().zip(chunks(b).iter()) {
        let o = match (x, y) {
            ((true, n), (true, m)) => {
                let (n, m) = (n.trim_start_matches('0'), m.trim_start_matches('0'));
                n.len().cmp(&m.len()).then_with(|| n.cmp(m))
            }
            ((_, n), (_, m)) => n.cmp(m),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// The host addresses bound to one `PORT/PROTO` key of `NetworkSettings.Ports`.
fn frontends(bindings: &Value) -> Vec<String> {
    bindings
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            join_host_port(&field("HostIp"), &field("HostPort"))
        })
        .collect()
}

pub fn port(ctx: &Ctx, a: &PortArgs) -> CmdResult {
    let info = ctx.client()?.get(&super::cpath(&a.container, "json"))?;
    let ports = info
        .pointer("/NetworkSettings/Ports")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut lines = match &a.private_port {
        Some(spec) => {
            let (num, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
            if num.parse::<u16>().is_err() {
                return Err(CliError::new(format!(
                    "Error: invalid port ({num}): strconv.ParseUint: parsing \"{num}\": invalid syntax"
                )));
            }
            match ports
                .get(&format!("{num}/{proto}"))
                .filter(|b| !b.is_null())
            {
                Some(b) => frontends(b),
                None => {
                    return Err(CliError::new(format!(
                        "Error: No public port '{num}/{proto}' published for {}",
                        a.container
                    )))
                }
            }
        }
        None => ports
            .iter()
            .flat_map(|(key, b)| {
                frontends(b)
                    .into_iter()
                    .map(move |f| format!("{key} -> {f}"))
            })
            .collect(),
    };
    lines.sort_by(|x, y| natural_cmp(x, y));
    let mut text = String::new();
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    print(&text);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_numbers_by_value_and_brackets_ipv6() {
        let mut v = [
            "80/tcp -> 0.0.0.0:1",
            "9/tcp -> 0.0.0.0:2",
            "80/tcp -> :::1",
        ];
        v.sort_by(|x, y| natural_cmp(x, y));
        assert_eq!(v[0], "9/tcp -> 0.0.0.0:2");
        assert_eq!(join_host_port("::", "80"), "[::]:80");
        assert_eq!(join_host_port("0.0.0.0", "80"), "0.0.0.0:80");
    }
}
