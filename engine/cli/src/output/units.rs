//! Sizes, durations and times in docker's words: "1.24MB", "1.5MiB", "3 minutes ago",
//! `512m`, `10m` for --since.

/// Go's `%.<prec>g`: `prec` significant digits, trailing zeros dropped, exponent form
/// when the exponent is below -4 or at least `prec`.
pub fn format_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn scaled(size: f64, base: f64, units: &[&str]) -> (f64, usize) {
    let mut s = size;
    let mut i = 0;
    while s >= base && i + 1 < units.len() {
        s /= base;
        i += 1;
    }
    (s, i)
}

/// Decimal sizes with `prec` significant digits, as `docker images` prints them ("1.24MB").
pub fn human_size(size: f64, prec: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let (s, i) = scaled(size, 1000.0, &UNITS);
    format!("{}{}", format_g(s, prec), UNITS[i])
}

/// Binary sizes, as `docker stats` prints memory ("1.5MiB").
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let (s, i) = scaled(size, 1024.0, &UNITS);
    format!("{}{}", format_g(s, 4), UNITS[i])
}

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

/// A memory size as docker's flags take it: `512m`, `1g`, `1.5G`, `100k`, `1024`, `2mb`
/// (binary multiples).
pub fn parse_ram(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let t = s.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    let num: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((num * mult) as i64)
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

/// A Go duration such as `10m`, `1h30m`, `2.5s`, `300ms`, in seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[u_end..];
    }
    Some(total)
}

/// `--since`/`--until` values as the API takes them (unix seconds, possibly fractional):
/// a duration counts back from now; RFC 3339 and date forms are converted; anything else
/// (already a unix timestamp) passes through.
pub fn api_timestamp(s: &str) -> String {
    if let Some(d) = parse_duration(s) {
        let now = chrono::Utc::now();
        let t = now.timestamp() as f64 + f64::from(now.timestamp_subsec_nanos()) / 1e9 - d;
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
    fn go_g_formatting() {
        assert_eq!(format_g(1.2345, 3), "1.23");
        assert_eq!(format_g(4.0, 3), "4");
        assert_eq!(format_g(999.9, 3), "1e+03");
        assert_eq!(format_g(123.456, 4), "123.5");
        assert_eq!(format_g(0.00001, 3), "1e-05");
    }

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(1_240_000.0, 3), "1.24MB");
        assert_eq!(human_size(4_861_442.0, 3), "4.86MB");
        assert_eq!(human_size(999.0, 3), "999B");
        assert_eq!(bytes_size(1_572_864.0), "1.5MiB");
        assert_eq!(bytes_size(25_000_000_000.0), "23.28GiB");
    }

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
        assert_eq!(parse_ram("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(parse_ram("1g").unwrap(), 1 << 30);
        assert_eq!(parse_ram("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_ram("2mb").unwrap(), 2 << 20);
        assert_eq!(parse_ram("1024").unwrap(), 1024);
        assert!(parse_ram("lots")
            .unwrap_err()
            .contains("invalid size: 'lots'"));
        assert!(parse_ram("5x").is_err());
        assert_eq!(parse_nano_cpus("1.5").unwrap(), 1_500_000_000);
        assert!(parse_nano_cpus("abc").is_err());
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("300ms"), Some(0.3));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(api_timestamp("1700000000"), "1700000000");
        assert_eq!(
            api_timestamp("2024-01-02T03:04:05Z"),
            "1704164645.000000000"
        );
    }
}
