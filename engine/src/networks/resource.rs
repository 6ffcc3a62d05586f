//! Docker API shapes of networks: `NetworkResource` from the controller's view, the create
//! request into the controller's, and the list and prune filters.

use std::collections::BTreeMap;

use berth_api::filters::Filters;
use berth_api::networks::{
    Ipam, IpamConfig, NetworkContainer, NetworkCreateRequest, NetworkResource,
};
use berth_network::{CreateRequest, Driver, NetworkView};

use crate::error::{Error, Result};

/// A network as `GET /networks` shows it.
pub fn to_resource(v: &NetworkView) -> NetworkResource {
    let n = &v.network;
    let config = n
        .pool
        .as_ref()
        .map(|p| {
            vec![IpamConfig {
                subnet: p.subnet.to_string(),
                ip_range: p.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: p.gateway.to_string(),
                auxiliary_addresses: None,
            }]
        })
        .unwrap_or_default();
    let containers: BTreeMap<String, NetworkContainer> = v
        .endpoints
        .iter()
        .map(|e| {
            (
                e.container_id.clone(),
                NetworkContainer {
                    name: e.container_name.clone(),
                    endpoint_id: e.endpoint_id.clone(),
                    mac_address: e.mac.map(|m| m.to_string()).unwrap_or_default(),
                    ipv4_address: e
                        .ip
                        .map(|ip| format!("{ip}/{}", e.prefix_len))
                        .unwrap_or_default(),
                    ipv6_address: String::new(),
                },
            )
        })
        .collect();
    NetworkResource {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: "local".into(),
        driver: n.driver.to_string(),
        enable_ipv4: true,
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".into(),
            options: Some(BTreeMap::new()),
            config: Some(config),
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: Default::default(),
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

/// The controller's request for a `POST /networks/create` body.
pub fn create_request(r: &NetworkCreateRequest) -> Result<CreateRequest> {
    if r.name.is_empty() {
        return Err(Error::invalid("network name must not be empty"));
    }
    if r.config_only
        || r.config_from
            .as_ref()
            .is_some_and(|c| !c.network.is_empty())
        || r.ingress
    {
        return Err(Error::invalid(
            "config-only, config-from and ingress networks are swarm features and not supported",
        ));
    }
    if !matches!(r.scope.as_str(), "" | "local") {
        return Err(Error::invalid(format!(
            "network scope {:?} is not supported: berth networks are local",
            r.scope
        )));
    }
    let ipam = r.ipam.clone().unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default") {
        return Err(Error::invalid(format!(
            "IPAM driver {:?} is not supported: use the default one",
            ipam.driver
        )));
    }
    let configs = ipam.config.unwrap_or_default();
    let (v6, v4): (Vec<&IpamConfig>, Vec<&IpamConfig>) =
        configs.iter().partition(|c| c.subnet.contains(':'));
    if !v6.is_empty() {
        return Err(Error::invalid("IPv6 subnets are not supported"));
    }
    if v4.len() > 1 {
        return Err(Error::invalid(
            "a network can have one IPv4 subnet: pass --subnet once",
        ));
    }
    if v4
        .first()
        .and_then(|c| c.auxiliary_addresses.as_ref())
        .is_some_and(|a| !a.is_empty())
    {
        return Err(Error::invalid("auxiliary addresses are not supported"));
    }
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(CreateRequest {
        name: r.name.clone(),
        driver: r.driver.clone(),
        subnet: v4.first().and_then(|c| some(&c.subnet)),
        gateway: v4.first().and_then(|c| some(&c.gateway)),
        ip_range: v4.first().and_then(|c| some(&c.ip_range)),
        internal: r.internal,
        attachable: r.attachable,
        enable_ipv6: r.enable_ipv6.unwrap_or(false),
        labels: r.labels.clone().unwrap_or_default(),
        options: r.options.clone().unwrap_or_default(),
    })
}

/// `GET /networks` filters: driver, id (prefix), label, name (substring), scope, type
/// (custom|builtin), dangling.
pub fn matches_list_filters(v: &NetworkView, f: &Filters) -> Result<bool> {
    f.validate(&["driver", "id", "label", "name", "scope", "type", "dangling"])
        .map_err(Error::invalid)?;
    let n = &v.network;
    let any = |key: &str, test: &dyn Fn(&str) -> bool| {
        let vals = f.get(key);
        vals.is_empty() || vals.iter().any(|x| test(x))
    };
    for t in f.get("type") {
        if !matches!(t.as_str(), "custom" | "builtin") {
            return Err(Error::invalid(format!("invalid filter: 'type'='{t}'")));
        }
    }
    let dangling = match f.get("dangling") {
        [] => None,
        [d] if d == "true" || d == "1" => Some(true),
        [d] if d == "false" || d == "0" => Some(false),
        other => {
            return Err(Error::invalid(format!(
                "invalid filter 'dangling={}'",
                other.join(",")
            )))
        }
    };
    Ok(any("driver", &|d| d == n.driver.to_string())
        && any("id", &|id| n.id.starts_with(id))
        && any("name", &|name| n.name.contains(name))
        && any("scope", &|s| s == "local")
        && any("type", &|t| (t == "builtin") == n.predefined)
        && f.matches_labels("label", &n.labels)
        && dangling.is_none_or(|d| d == (v.endpoints.is_empty() && !n.predefined)))
}

/// `POST /networks/prune` filters: label, label!, until.
pub fn matches_prune_filters(n: &berth_network::Network, f: &Filters) -> Result<bool> {
    f.validate(&["label", "label!", "until"])
        .map_err(Error::invalid)?;
    if !f.matches_labels("label", &n.labels) {
        return Ok(false);
    }
    for l in f.get("label!") {
        let (k, val) = l
            .split_once('=')
            .map(|(k, v)| (k, Some(v)))
            .unwrap_or((l.as_str(), None));
        let has = n.labels.get(k).is_some_and(|x| val.is_none_or(|v| v == x));
        if has {
            return Ok(false);
        }
    }
    for u in f.get("until") {
        let cutoff = until_cutoff(u)?;
        let created = chrono::DateTime::parse_from_rfc3339(&n.created)
            .map(|d| d.timestamp())
            .unwrap_or(0);
        if created >= cutoff {
            return Ok(false);
        }
    }
    Ok(n.driver == Driver::Bridge && !n.predefined)
}

/// `until=` as a Unix time: a duration ago (`10m`, `24h`), a Unix timestamp or RFC 3339.
fn until_cutoff(u: &str) -> Result<i64> {
    let now = chrono::Utc::now().timestamp();
    let bad = || Error::invalid(format!("invalid filter 'until={u}'"));
    if let Some((num, unit)) = u
        .char_indices()
        .find(|(_, c)| c.is_ascii_alphabetic())
        .map(|(i, _)| u.split_at(i))
    {
        if let Ok(n) = num.parse::<f64>() {
            let secs = match unit {
                "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => {
                    return chrono::DateTime::parse_from_rfc3339(u)
                        .map(|d| d.timestamp())
                        .map_err(|_| bad())
                }
            };
            return Ok(now - secs as i64);
        }
        return chrono::DateTime::parse_from_rfc3339(u)
            .map(|d| d.timestamp())
            .map_err(|_| bad());
    }
    u.parse::<f64>().map(|t| t as i64).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> NetworkCreateRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn create_requests() {
        let r = create_request(&req(
            r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.9"}]},"Internal":true,"Labels":{"a":"b"}}"#,
        ))
        .unwrap();
        assert_eq!(r.subnet.as_deref(), Some("10.9.0.0/24"));
        assert_eq!(r.gateway.as_deref(), Some("10.9.0.9"));
        assert!(r.internal && r.ip_range.is_none());
        for bad in [
            r#"{"Name":""}"#,
            r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"fd00::/64"}]}}"#,
            r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.9.0.0/24"},{"Subnet":"10.8.0.0/24"}]}}"#,
            r#"{"Name":"n","IPAM":{"Driver":"dhcp"}}"#,
            r#"{"Name":"n","Scope":"swarm"}"#,
            r#"{"Name":"n","ConfigOnly":true}"#,
        ] {
            assert!(create_request(&req(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn until() {
        let now = chrono::Utc::now().timestamp();
        assert!((until_cutoff("1h").unwrap() - (now - 3600)).abs() < 5);
        assert_eq!(until_cutoff("1700000000").unwrap(), 1_700_000_000);
        assert_eq!(until_cutoff("2023-11-14T22:13:20Z").unwrap(), 1_700_000_000);
        assert!(until_cutoff("soon").is_err());
    }
}
