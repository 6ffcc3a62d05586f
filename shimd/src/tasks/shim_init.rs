//! Containers whose shim is the init of their PID namespace (`Container.init`, docker's
//! `--init`): the shim is started as PID 1 of a new PID namespace and the container joins
//! it instead of making its own.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// The shim's PID namespace as the runtime sees it: the runtime is the shim's child, in
/// the shim's namespace, whose /proc shows that namespace (the shim is its PID 1).
const SHIM_PID_NS: &str = "/proc/1/ns/pid";

/// For a container that wants its shim as init: whether the container has a PID namespace
/// of its own; if so, the spec is changed to join the shim's namespace. (A container in
/// the host's PID namespace needs nothing: its orphans come to the shim, the subreaper.)
pub fn adopt(spec: &mut Spec) -> bool {
    let Some(own) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
        .and_then(|nss| {
            nss.iter_mut().find(|n| {
                n.typ() == LinuxNamespaceType::Pid
                    && n.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
            })
        })
    else {
        return false;
    };
    own.set_path(Some(SHIM_PID_NS.into()));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_with(namespaces: serde_json::Value) -> Spec {
        let mut s = serde_json::to_value(berth_spec::default_spec("ns", "id")).unwrap();
        s["linux"]["namespaces"] = namespaces;
        serde_json::from_value(s).unwrap()
    }

    fn namespaces_of(s: &Spec) -> serde_json::Value {
        serde_json::to_value(s.linux().as_ref().unwrap().namespaces()).unwrap()
    }

    #[test]
    fn a_private_pid_namespace_becomes_the_shims() {
        let mut s = spec_with(json!([{"type": "mount"}, {"type": "pid"}]));
        assert!(adopt(&mut s));
        assert_eq!(
            namespaces_of(&s),
            json!([{"type": "mount"}, {"type": "pid", "path": SHIM_PID_NS}])
        );
    }

    #[test]
    fn nothing_changes_without_an_own_namespace() {
        for nss in [
            json!([{"type": "mount"}]),
            json!([{"type": "pid", "path": "/proc/7/ns/pid"}]),
        ] {
            let mut s = spec_with(nss.clone());
            let before = s.clone();
            assert!(!adopt(&mut s), "{nss}");
            assert_eq!(s, before);
        }
    }
}
