//! pids: the maximum number of tasks.

use oci_spec::runtime::LinuxPids;

use super::At;
use crate::error::FResult;
use crate::fsio;
use crate::stats::Pids;

/// Same file on v1 and v2; zero or negative means unlimited.
pub(crate) fn apply(at: At, p: &LinuxPids) -> FResult<()> {
    let value = if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_string()
    };
    fsio::write(at.dir(), "pids.max", &value)
}

pub(crate) fn stats(at: At, out: &mut Pids) -> FResult<()> {
    out.current = fsio::read_u64(at.dir(), "pids.current")?;
    let max = fsio::read_u64(at.dir(), "pids.max")?;
    out.limit = if max == u64::MAX { 0 } else { max };
    Ok(())
}
