//! Containers whose shim is the init of their PID namespace (`Container.init`, docker's
//! `--init`): the shim is started as PID 1 of a new PID namespace and the container joins
//! it instead of making its own.

use serde_json::{json, Value};

/// The shim's PID namespace as the runtime sees it: the runtime is the shim's child, in
/// the shim's namespace, whose /proc shows that namespace (the shim is its PID 1).
const SHIM_PID_NS: &str = "/proc/1/ns/pid";

/// For a container that wants its shim as init: whether the container has a PID namespace
/// of its own; if so, the spec is changed to join the shim's namespace. (A container in
/// the host's PID namespace needs nothing: its orphans come to the shim, the subreaper.)
pub fn adopt(spec: &mut Value) -> bool {
    let Some(own) = spec
        .pointer_mut("/linux/namespaces")
        .and_then(Value::as_array_mut)
        .and_then(|nss| {
            nss.iter_mut().find(|n| {
                n.get("type").and_then(Value::as_str) == Some("pid")
                    && n.get("path").is_none_or(|p| p.as_str() == Some(""))
            })
        })
    else {
        return false;
    };
    *own = json!({"type": "pid", "path": SHIM_PID_NS});
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_pid_namespace_becomes_the_shims() {
        let mut s = json!({"linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}});
        assert!(adopt(&mut s));
        assert_eq!(
            s["linux"]["namespaces"],
            json!([{"type": "mount"}, {"type": "pid", "path": SHIM_PID_NS}])
        );
    }

    #[test]
    fn nothing_changes_without_an_own_namespace() {
        for nss in [
            json!([{"type": "mount"}]),
            json!([{"type": "pid", "path": "/proc/7/ns/pid"}]),
        ] {
            let mut s = json!({"linux": {"namespaces": nss}});
            let before = s.clone();
            assert!(!adopt(&mut s), "{before}");
            assert_eq!(s, before);
        }
    }
}
