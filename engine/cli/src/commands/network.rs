//! `network create|ls|inspect|rm|connect|disconnect|prune` over the `/networks` endpoints.

use std::collections::BTreeMap;

use berth_api::networks::{Ipam, IpamConfig, NetworkCreateRequest};
use serde_json::{json, Value};

use super::filters;
use super::inspect::InspectOutput;
use crate::cli::{
    NetworkCommand, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    NetworkInspectArgs, NetworkLsArgs, NetworkRmArgs, PruneArgs,
};
use crate::client::http::{seg, Query};
use crate::context::Ctx;
use crate::error::{report, CliError, CmdResult};
use crate::output::listing::ListFormat;
use crate::output::{print, short_id};

pub fn dispatch(ctx: &Ctx, cmd: NetworkCommand) -> CmdResult {
    match cmd {
        NetworkCommand::Connect(a) => connect(ctx, &a),
        NetworkCommand::Create(a) => create(ctx, &a),
        NetworkCommand::Disconnect(a) => disconnect(ctx, &a),
        NetworkCommand::Inspect(a) => inspect(ctx, &a),
        NetworkCommand::Ls(a) => ls(ctx, &a),
        NetworkCommand::Prune(a) => prune(ctx, &a),
        NetworkCommand::Rm(a) => rm(ctx, &a),
    }
}

/// `KEY=VALUE` flags as a map (a bare `KEY` has an empty value, like docker).
pub(super) fn key_values(
    flag: &str,
    items: &[String],
) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
        if k.is_empty() {
            return Err(CliError::new(format!(
                "invalid {flag} {item:?}: expected KEY=VALUE"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The create request for the flags: one IPAM pool per `--subnet`, with the `--gateway`
/// and `--ip-range` given in the same order.
fn create_request(a: &NetworkCreateArgs) -> Result<NetworkCreateRequest, CliError> {
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        return Err(CliError::new(
            "every --gateway and --ip-range needs a --subnet it belongs to",
        ));
    }
    let config: Vec<IpamConfig> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| IpamConfig {
            subnet: s.clone(),
            gateway: a.gateway.get(i).cloned().unwrap_or_default(),
            ip_range: a.ip_range.get(i).cloned().unwrap_or_default(),
            auxiliary_addresses: None,
        })
        .collect();
    Ok(NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: Some(true),
        driver: a.driver.clone(),
        internal: a.internal,
        attachable: a.attachable,
        ipam: Some(Ipam {
            driver: a.ipam_driver.clone(),
            options: None,
            config: Some(config),
        }),
        enable_ipv6: Some(a.ipv6),
        options: Some(key_values("--opt", &a.opt)?),
        labels: Some(key_values("--label", &a.label)?),
        ..Default::default()
    })
}

fn create(ctx: &Ctx, a: &NetworkCreateArgs) -> CmdResult {
    let body =
        serde_json::to_value(create_request(a)?).map_err(|e| CliError::new(e.to_string()))?;
    let v = ctx.client()?.post("/networks/create", Some(&body))?;
    if let Some(w) = v
        .get("Warning")
        .and_then(Value::as_str)
        .filter(|w| !w.is_empty())
    {
        eprintln!("WARNING: {w}");
    }
    print(&format!(
        "{}\n",
        v.get("Id").and_then(Value::as_str).unwrap_or("")
    ));
    Ok(0)
}

fn headers() -> Value {
    json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
    })
}

/// The fields `network ls` templates see, as docker names them.
fn row(n: &Value, no_trunc: bool) -> Value {
    let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let b = |k: &str| n.get(k).and_then(Value::as_bool).unwrap_or(false);
    let id = s("Id");
    let labels: Vec<String> = n
        .get("Labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    json!({
        "ID": if no_trunc { id } else { short_id(&id) },
        "Name": s("Name"),
        "Driver": s("Driver"),
        "Scope": s("Scope"),
        "IPv6": b("EnableIPv6"),
        "Internal": b("Internal"),
        "Labels": labels.join(","),
        "CreatedAt": s("Created"),
    })
}

fn ls(ctx: &Ctx, a: &NetworkLsArgs) -> CmdResult {
    let target = Query::new()
        .opt("filters", filters::to_json(&a.filter)?)
        .to_target("/networks");
    let v = ctx.client()?.get(&target)?;
    let mut nets: Vec<&Value> = v.as_array().into_iter().flatten().collect();
    nets.sort_by_key(|n| {
        n.get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    });
    let rows: Vec<Value> = nets.iter().map(|n| row(n, a.no_trunc)).collect();
    if a.quiet {
        let mut out = String::new();
        for r in &rows {
            out.push_str(r["ID"].as_str().unwrap_or(""));
            out.push('\n');
        }
        print(&out);
        return Ok(0);
    }
    let format = ListFormat::parse(
        a.format.as_deref(),
        "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    )?;
    print(&format.render(&headers(), &rows)?);
    Ok(0)
}

fn inspect(ctx: &Ctx, a: &NetworkInspectArgs) -> CmdResult {
    let client = ctx.client()?;
    let output = InspectOutput::parse(a.format.as_deref())?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &a.networks {
        let target = Query::new()
            .flag("verbose", a.verbose)
            .to_target(&format!("/networks/{}", seg(name)));
        match client.get(&target) {
            Ok(v) => found.push(v),
            Err(e) => {
                report(e);
                failed = true;
            }
        }
    }
    output.finish(&found, failed)
}

fn rm(ctx: &Ctx, a: &NetworkRmArgs) -> CmdResult {
    let client = ctx.client()?;
    let mut failed = false;
    for name in &a.networks {
        match client.delete(&format!("/networks/{}", seg(name))) {
            Ok(_) => print(&format!("{name}\n")),
            Err(e) if a.force && e.is_not_found() => {}
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

fn connect(ctx: &Ctx, a: &NetworkConnectArgs) -> CmdResult {
    let mut endpoint = json!({});
    if !a.alias.is_empty() {
        endpoint["Aliases"] = json!(a.alias);
    }
    if let Some(ip) = &a.ip {
        endpoint["IPAMConfig"] = json!({ "IPv4Address": ip });
    }
    if let Some(mac) = &a.mac_address {
        endpoint["MacAddress"] = json!(mac);
    }
    let body = json!({ "Container": a.container, "EndpointConfig": endpoint });
    ctx.client()?.post(
        &format!("/networks/{}/connect", seg(&a.network)),
        Some(&body),
    )?;
    Ok(0)
}

fn disconnect(ctx: &Ctx, a: &NetworkDisconnectArgs) -> CmdResult {
    let body = json!({ "Container": a.container, "Force": a.force });
    ctx.client()?.post(
        &format!("/networks/{}/disconnect", seg(&a.network)),
        Some(&body),
    )?;
    Ok(0)
}

fn prune(ctx: &Ctx, a: &PruneArgs) -> CmdResult {
    if !a.force
        && !super::prune::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(0);
    }
    let v = super::prune::prune_call(ctx.client()?, "networks", &a.filter)?;
    let mut out = String::new();
    super::prune::list_deleted(&v, "NetworksDeleted", "Networks", &mut out);
    if !out.is_empty() {
        print(&out);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> NetworkCreateArgs {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: NetworkCreateArgs,
        }
        T::try_parse_from(std::iter::once("create").chain(args.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn create_flags_become_the_api_request() {
        let a = parse(&[
            "--subnet",
            "10.1.0.0/24",
            "--gateway",
            "10.1.0.254",
            "--ip-range",
            "10.1.0.128/25",
            "--internal",
            "--label",
            "tier=back",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "net1",
        ]);
        let r = create_request(&a).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["Name"], "net1");
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["Internal"], true);
        assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.1.0.0/24");
        assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "10.1.0.254");
        assert_eq!(v["IPAM"]["Config"][0]["IPRange"], "10.1.0.128/25");
        assert_eq!(v["Labels"]["tier"], "back");
        assert_eq!(v["Options"]["com.docker.network.driver.mtu"], "1400");
        assert!(create_request(&parse(&["--gateway", "10.1.0.1", "n"])).is_err());
        assert!(create_request(&parse(&["--label", "=x", "n"])).is_err());
    }

    #[test]
    fn ls_rows() {
        let n = json!({"Name": "front", "Id": "0123456789abcdef0123", "Driver": "bridge", "Scope": "local",
            "Internal": true, "Labels": {"a": "b"}, "Created": "2024-01-01T00:00:00Z"});
        let r = row(&n, false);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Labels"], "a=b");
        assert_eq!(r["Internal"], true);
        assert_eq!(row(&n, true)["ID"], "0123456789abcdef0123");
    }
}
