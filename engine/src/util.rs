//! Small helpers: ids, docker's time and duration formats, atomic file writes.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

/// A new 64-hex-digit id (containers, execs).
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    fill_random(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fill_random(buf: &mut [u8]) {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: getrandom writes at most `len` bytes into the buffer it is given.
        let n = unsafe { libc::getrandom(buf[off..].as_mut_ptr().cast(), buf.len() - off, 0) };
        if n > 0 {
            off += n as usize;
        }
    }
}

/// A random index below `n`, for name generation.
pub fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    fill_random(&mut b);
    (u64::from_le_bytes(b) % n as u64) as usize
}

/// The first 12 characters of an id, as docker shows ids.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Go's RFC 3339 with nanoseconds, trailing zeros trimmed: "2026-11-22T12:00:00.5Z".
pub fn rfc3339_nano(t: &DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// The zero time as Go prints it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn rfc3339_or_zero(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref()
        .map(rfc3339_nano)
        .unwrap_or_else(|| ZERO_TIME.into())
}

/// Parses a docker time parameter (`since`, `until`): unix seconds with an optional
/// fraction ("1700000000.5"), an RFC 3339 date, or a duration before now ("10m", "1h30m").
pub fn parse_time_param(s: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Some((secs, frac)) = s.split_once('.').or(Some((s, ""))) {
        if !secs.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
        {
            let sec: i64 = secs.parse().ok()?;
            let nanos: u32 = if frac.is_empty() {
                0
            } else {
                format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?
            };
            return DateTime::from_timestamp(sec, nanos);
        }
    }
    berth_gocompat::duration::parse(s)
        .ok()
        .map(|nanos| now - chrono::Duration::nanoseconds(nanos))
}

/// docker's human durations: "Less than a second", "5 seconds", "About a minute", ...
pub fn human_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let mins = d.num_minutes();
    let hours = ((d.num_seconds() as f64) / 3600.0 + 0.5) as i64;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if mins == 1 {
        "About a minute".into()
    } else if mins < 60 {
        format!("{mins} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, renamed
/// over the target, so a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex() {
        let a = new_id();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_id());
        assert_eq!(short_id(&a).len(), 12);
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }

    #[test]
    fn times_format_and_parse() {
        let t = DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap();
        assert_eq!(rfc3339_nano(&t), "2023-11-14T22:13:20.5Z");
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(rfc3339_nano(&t0), "2023-11-14T22:13:20Z");
        let now = t0;
        assert_eq!(parse_time_param("1700000000.5", now), Some(t));
        assert_eq!(parse_time_param("2023-11-14T22:13:20.5Z", now), Some(t));
        assert_eq!(
            parse_time_param("10m", now),
            Some(now - chrono::Duration::minutes(10))
        );
        assert_eq!(parse_time_param("nonsense", now), None);
        assert_eq!(
            parse_time_param("1h30m", now),
            Some(now - chrono::Duration::minutes(90))
        );
        assert_eq!(parse_time_param("1h30", now), None);
    }

    #[test]
    fn durations_read_like_docker() {
        use chrono::Duration as D;
        assert_eq!(human_duration(D::milliseconds(10)), "Less than a second");
        assert_eq!(human_duration(D::seconds(1)), "1 second");
        assert_eq!(human_duration(D::seconds(30)), "30 seconds");
        assert_eq!(human_duration(D::seconds(70)), "About a minute");
        assert_eq!(human_duration(D::minutes(5)), "5 minutes");
        assert_eq!(human_duration(D::minutes(61)), "About an hour");
        assert_eq!(human_duration(D::hours(5)), "5 hours");
        assert_eq!(human_duration(D::days(3)), "3 days");
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
