//! Sizes ("64GiB", "512M", "1000", docker's units) and durations ("1h", "30m", "90s",
//! "2d", "3600") in flags and the config file.

use std::time::Duration;

/// Bytes as docker's `RAMInBytes` reads them: a number with an optional unit (K/KB/KiB,
/// M, G, T, P: powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    berth_gocompat::units::ram_in_bytes(s.trim())
        // A size has no sign, so it is never negative.
        .map(|n| n as u64)
        .map_err(|e| format!("{e} (want a number of bytes like 64GiB)"))
}

/// A duration: a number with an optional unit (s, m, h, d; seconds without one).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: want e.g. 1h, 30m or 90s"))?;
    let secs = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// A number, or a string `parse` understands.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(u64),
    Text(String),
}

pub fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match <NumOrText as serde::Deserialize>::deserialize(d)? {
        NumOrText::Num(n) => Ok(n),
        NumOrText::Text(t) => parse_size(&t).map_err(serde::de::Error::custom),
    }
}

pub fn de_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match <NumOrText as serde::Deserialize>::deserialize(d)? {
        NumOrText::Num(n) => Ok(Duration::from_secs(n)),
        NumOrText::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64GiB"), Ok(64 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert!(parse_size("12 parsecs")
            .unwrap_err()
            .contains("invalid size: '12 parsecs'"));
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("1y").is_err());
    }
}
