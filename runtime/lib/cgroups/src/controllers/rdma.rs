//! rdma: limits on HCA handles and objects per device.

use std::collections::HashMap;

use oci_spec::runtime::LinuxRdma;

use super::At;
use crate::error::{FResult, Fault};
use crate::fsio;

/// Same file and syntax on v1 and v2: `<device> hca_handle=<n> hca_object=<n>`.
pub(crate) fn apply(at: At, rdma: &HashMap<String, LinuxRdma>) -> FResult<()> {
    for (device, l) in rdma {
        if device.is_empty() || device.contains(char::is_whitespace) {
            return Err(Fault::invalid(format!(
                "rdma device name {device:?} is not valid"
            )));
        }
        let mut line = device.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        fsio::write(at.dir(), "rdma.max", &line)?;
    }
    Ok(())
}
