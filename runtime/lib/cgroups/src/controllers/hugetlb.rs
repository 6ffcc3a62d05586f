//! hugetlb: limits per huge page size.

use std::collections::BTreeMap;

use oci_spec::runtime::LinuxHugepageLimit;

use super::{limit_value, At};
use crate::error::{FResult, Fault};
use crate::fsio;
use crate::stats::Hugetlb;

pub(crate) fn apply(at: At, limits: &[LinuxHugepageLimit]) -> FResult<()> {
    for l in limits {
        let size = l.page_size();
        if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Fault::invalid(format!(
                "huge page size {size:?} is not a size like 2MB"
            )));
        }
        let file = match at {
            At::V1(_) => format!("hugetlb.{size}.limit_in_bytes"),
            At::V2(_) => format!("hugetlb.{size}.max"),
        };
        if !fsio::exists(at.dir(), &file) {
            return Err(Fault::invalid(format!(
                "huge page size {size} is not supported by this host (available: {})",
                page_sizes(at).join(", ")
            )));
        }
        fsio::write(at.dir(), &file, &limit_value(l.limit(), at))?;
    }
    Ok(())
}

/// Page sizes the controller offers ("2MB", "1GB"), from its files.
fn page_sizes(at: At) -> Vec<String> {
    let mut sizes: Vec<String> = std::fs::read_dir(at.dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let rest = name.strip_prefix("hugetlb.")?;
                    let (size, tail) = rest.split_once('.')?;
                    (tail == "max" || tail == "limit_in_bytes").then(|| size.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes
}

pub(crate) fn stats(at: At, out: &mut BTreeMap<String, Hugetlb>) -> FResult<()> {
    let dir = at.dir();
    for size in page_sizes(at) {
        let entry = match at {
            At::V1(_) => Hugetlb {
                usage: fsio::read_u64(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: fsio::read_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: fsio::read_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
            },
            At::V2(_) => Hugetlb {
                usage: fsio::read_u64(dir, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: fsio::read_key(dir, &format!("hugetlb.{size}.events"), "max")?
                    .unwrap_or(0),
            },
        };
        out.insert(size, entry);
    }
    Ok(())
}
