//! blkio (v1) / io (v2): proportional weights where the I/O scheduler offers them, and
//! throttling of bytes and operations per second per device; I/O stats.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::At;
use crate::error::{FResult, Fault};
use crate::fsio;
use crate::stats::{Blkio, BlkioEntry};

pub(crate) fn wanted(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|t| t.as_ref().is_some_and(|v| !v.is_empty()))
}

pub(crate) fn apply(at: At, b: &LinuxBlockIo) -> FResult<()> {
    match at {
        At::V1(dir) => apply_v1(dir, b),
        At::V2(dir) => apply_v2(dir, b),
    }
}

fn no_weight(dir: &Path, field: &str) -> Fault {
    Fault::invalid(format!(
        "linux.resources.blockIO.{field} needs an I/O scheduler with proportional weights \
         (BFQ or CFQ), but {} offers no weight file: remove it, or select the bfq scheduler \
         for the devices",
        dir.display()
    ))
}

fn apply_v1(dir: &Path, b: &LinuxBlockIo) -> FResult<()> {
    // CFQ's files, or BFQ's (same syntax, under blkio.bfq.*)
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| fsio::exists(dir, f));
    if let Some(w) = b.weight() {
        let file = weight_file.ok_or_else(|| no_weight(dir, "weight"))?;
        fsio::write(dir, file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        if !fsio::exists(dir, "blkio.leaf_weight") {
            return Err(no_weight(dir, "leafWeight"));
        }
        fsio::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let file = weight_file.ok_or_else(|| no_weight(dir, "weightDevice"))?;
            fsio::write(
                dir,
                &format!("{file}_device"),
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
        if let Some(w) = wd.leaf_weight() {
            if !fsio::exists(dir, "blkio.leaf_weight_device") {
                return Err(no_weight(dir, "weightDevice leafWeight"));
            }
            fsio::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", wd.major(), wd.minor()),
            )?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (list, file) in throttles {
        for t in list.iter().flatten() {
            fsio::write(
                dir,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// blkio weight (10..1000) to io.weight (1..10000).
pub(crate) fn weight_to_v2(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

fn apply_v2(dir: &Path, b: &LinuxBlockIo) -> FResult<()> {
    if b.leaf_weight().is_some()
        || b.weight_device()
            .iter()
            .flatten()
            .any(|w| w.leaf_weight().is_some())
    {
        return Err(Fault::invalid(
            "leafWeight is not available on cgroup v2: remove it from linux.resources.blockIO",
        ));
    }
    // BFQ takes blkio-style weights directly; io.weight wants the v2 range.
    let (file, convert): (Option<&str>, fn(u16) -> u64) = if fsio::exists(dir, "io.bfq.weight") {
        (Some("io.bfq.weight"), |w| u64::from(w))
    } else if fsio::exists(dir, "io.weight") {
        (Some("io.weight"), weight_to_v2)
    } else {
        (None, weight_to_v2)
    };
    if let Some(w) = b.weight() {
        let file = file.ok_or_else(|| no_weight(dir, "weight"))?;
        fsio::write(dir, file, &convert(w).to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let file = file.ok_or_else(|| no_weight(dir, "weightDevice"))?;
            fsio::write(
                dir,
                file,
                &format!("{}:{} {}", wd.major(), wd.minor(), convert(w)),
            )?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    for (list, key) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            fsio::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={rate}", t.major(), t.minor()),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn stats(at: At, out: &mut Blkio) -> FResult<()> {
    match at {
        At::V1(dir) => stats_v1(dir, out),
        At::V2(dir) => stats_v2(dir, out),
    }
}

/// v1 files: CFQ's when they have data, else BFQ's, else the throttle layer's (which
/// counts every I/O whatever the scheduler).
fn stats_v1(dir: &Path, out: &mut Blkio) -> FResult<()> {
    let read = |file: &str| -> FResult<Vec<BlkioEntry>> {
        match fsio::read(dir, file) {
            Ok(text) => Ok(parse_v1_entries(&text)),
            Err(f) if f.is_not_found() => Ok(Vec::new()),
            Err(f) => Err(f),
        }
    };
    for prefix in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
        let bytes = read(&format!("{prefix}io_service_bytes_recursive"))?;
        let ops = read(&format!("{prefix}io_serviced_recursive"))?;
        if !bytes.is_empty() || !ops.is_empty() || prefix == "blkio.throttle." {
            out.io_service_bytes_recursive = bytes;
            out.io_serviced_recursive = ops;
            if prefix == "blkio." {
                out.io_queued_recursive = read("blkio.io_queued_recursive")?;
                out.io_service_time_recursive = read("blkio.io_service_time_recursive")?;
                out.io_wait_time_recursive = read("blkio.io_wait_time_recursive")?;
                out.io_merged_recursive = read("blkio.io_merged_recursive")?;
                out.io_time_recursive = read("blkio.time_recursive")?;
                out.sectors_recursive = read("blkio.sectors_recursive")?;
            }
            break;
        }
    }
    Ok(())
}

/// `8:0 Read 4096` lines (and `8:0 4096` for time/sectors); the `Total` line is dropped.
pub(crate) fn parse_v1_entries(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dev, op, value) = match f.as_slice() {
                [dev, op, value] => (*dev, op.to_string(), *value),
                [dev, value] if dev.contains(':') => (*dev, String::new(), *value),
                _ => return None,
            };
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn stats_v2(dir: &Path, out: &mut Blkio) -> FResult<()> {
    let text = match fsio::read(dir, "io.stat") {
        Ok(t) => t,
        Err(f) if f.is_not_found() => return Ok(()),
        Err(f) => return Err(f),
    };
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut out.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                "dios" => (&mut out.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxThrottleDeviceBuilder};

    #[test]
    fn v1_entries() {
        let e = parse_v1_entries("8:0 Read 4096\n8:0 Write 0\n8:0 Total 4096\nTotal 4096\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (8, 0, "Read", 4096)
        );
    }

    #[test]
    fn v2_stats_and_throttle() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("io.stat"),
            "8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
        )
        .unwrap();
        let mut s = Blkio::default();
        stats(At::V2(d.path()), &mut s).unwrap();
        assert_eq!(s.io_service_bytes_recursive[1].value, 20);
        assert_eq!(s.io_serviced_recursive[0].op, "Read");

        std::fs::write(d.path().join("io.max"), "").unwrap();
        let t = LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(16)
            .rate(1_048_576u64)
            .build()
            .unwrap();
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![t])
            .build()
            .unwrap();
        apply(At::V2(d.path()), &b).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("io.max")).unwrap(),
            "8:16 rbps=1048576"
        );
        let w = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .build()
            .unwrap();
        let err = apply(At::V2(d.path()), &w).unwrap_err();
        assert!(format!("{err:?}").contains("weight"));
    }

    #[test]
    fn weights() {
        assert_eq!(weight_to_v2(10), 1);
        assert_eq!(weight_to_v2(1000), 10000);
        assert_eq!(weight_to_v2(500), 4950);
    }
}
