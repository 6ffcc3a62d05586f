//! One module per controller: applying the OCI limits (v1 and v2 files) and reading stats.

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod cpuset;
pub(crate) mod device_bpf;
pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
pub(crate) mod memory;
pub(crate) mod network;
pub(crate) mod pids;
pub(crate) mod rdma;
pub(crate) mod unified;

use std::path::Path;

/// Where a controller's files are, and in which cgroup version.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl<'a> At<'a> {
    pub(crate) fn dir(&self) -> &'a Path {
        match self {
            At::V1(d) | At::V2(d) => d,
        }
    }
}

/// OCI "unlimited" (-1 or any negative) as the file wants it.
pub(crate) fn limit_value(v: i64, at: At) -> String {
    match (v < 0, at) {
        (true, At::V1(_)) => "-1".to_string(),
        (true, At::V2(_)) => "max".to_string(),
        (false, _) => v.to_string(),
    }
}
