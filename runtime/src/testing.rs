//! Helpers of the unit tests: specs written as JSON on top of a minimal valid one, and
//! bundles (a temporary directory with a rootfs) under the temporary directory.

use oci_spec::runtime::Spec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The smallest config the runtime accepts: a process, a rootfs, a mount namespace.
fn base() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"cwd": "/", "args": ["/bin/true"], "user": {"uid": 0, "gid": 0}},
        "linux": {"namespaces": [{"type": "mount"}]}
    })
}

/// `base()` with the top-level keys of `over` replaced; `linux` and `process` are merged
/// key by key (null removes them), so a test states only what it is about.
pub fn spec_json(over: Value) -> Value {
    let mut v = base();
    for (k, val) in over.as_object().expect("an object").clone() {
        match (k.as_str(), v.get_mut(&k), val.as_object()) {
            ("linux" | "process", Some(Value::Object(into)), Some(from)) => {
                for (k2, v2) in from.clone() {
                    into.insert(k2, v2);
                }
            }
            _ => {
                v[&k] = val;
            }
        }
    }
    v
}

pub fn spec(over: Value) -> Spec {
    serde_json::from_value(spec_json(over)).expect("a valid spec")
}

/// A bundle directory with an empty `rootfs/`, removed when dropped.
pub struct TempBundle {
    pub dir: tempfile::TempDir,
}

impl TempBundle {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-runtime-test")
            .tempdir()
            .expect("a temporary directory");
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        TempBundle { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs, canonical (the path the kernel reports for descriptors inside it).
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs").canonicalize().unwrap()
    }

    /// Writes `config.json`.
    pub fn write_config(&self, v: &Value) {
        std::fs::write(self.path().join("config.json"), v.to_string()).unwrap();
    }
}
