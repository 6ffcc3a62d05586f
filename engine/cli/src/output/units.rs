//! Sizes, durations and times in docker's words: "1.24MB", "1.5MiB", "3 minutes ago",
//! `10m` for --since. Sizes are go-units' (berth-gocompat).

/// "Less than a second", "5 seconds", "About a minute", "3 hours", "2 weeks".
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0 + 0.5) as i64;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

/// "5 seconds ago" for a unix time (seconds).
pub fn ago(unix: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!("{} ago", human_duration(now - unix))
}

/// `--cpus 1.5` as nano-CPUs.
pub fn parse_nano_cpus(s: &str) -> Result<i64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("failed to parse {s} as a rational number"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("failed to parse {s} as a rational number"));
    }
    let nanos = v * 1e9;
    if nanos.fract() != 0.0 {
        return Err("value is too precise".into());
    }
    Ok(nanos as i64)
}

/// `--since`/`--until` values as the API takes them (unix seconds, possibly fractional):
/// a duration counts back from now; RFC 3339 and date forms are converted; anything else
/// (already a unix timestamp) passes through.
pub fn api_timestamp(s: &str) -> String {
    // A Go duration; "0" is a timestamp, as the docker CLI reads it.
    if let Some(nanos) = berth_gocompat::duration::parse(s).ok().filter(|_| s != "0") {
        let now = chrono::Utc::now();
        let t = now.timestamp() as f64 + f64::from(now.timestamp_subsec_nanos()) / 1e9
            - nanos as f64 / 1e9;
        return format!("{t:.9}");
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos());
    }
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, layout) {
            return local_unix(t);
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return local_unix(d.and_hms_opt(0, 0, 0).unwrap_or_default());
    }
    s.to_string()
}

fn local_unix(t: chrono::NaiveDateTime) -> String {
    use chrono::TimeZone;
    match chrono::Local.from_local_datetime(&t).earliest() {
        Some(lt) => lt.timestamp().to_string(),
        None => t.and_utc().timestamp().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3700), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn parses_flag_values() {
        assert_eq!(parse_nano_cpus("1.5").unwrap(), 1_500_000_000);
        assert!(parse_nano_cpus("abc").is_err());
        assert_eq!(api_timestamp("1700000000"), "1700000000");
        assert_eq!(api_timestamp("0"), "0");
        assert_eq!(
            api_timestamp("2024-01-02T03:04:05Z"),
            "1704164645.000000000"
        );
        let now = chrono::Utc::now().timestamp() as f64;
        let ago: f64 = api_timestamp("1h30m").parse().unwrap();
        assert!((now - 5400.0 - ago).abs() < 60.0, "{ago}");
    }
}
