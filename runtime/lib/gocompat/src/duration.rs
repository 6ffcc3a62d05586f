//! Go durations (`1h30m`, `500ms`, `1.5s`, `-2m`), parsed and printed exactly as Go's
//! `time.ParseDuration` and `Duration.String` do: the Docker API and Dockerfile flags
//! (`HEALTHCHECK --interval`) carry them, and dockerd's messages quote Go's errors.
//!
//! Values are signed nanoseconds, the Docker API's representation.

use std::fmt;

/// A duration that Go's `time.ParseDuration` refuses; the text is Go's error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

const NANOS_PER_UNIT: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // micro sign
    ("\u{3bc}s", 1_000), // Greek mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const LIMIT: u64 = 1 << 63;

/// Parses a Go duration into nanoseconds: a sign, then one or more decimal numbers, each
/// with an optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`). `0` alone
/// needs no unit.
pub fn parse(text: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError(format!("time: invalid duration {}", quote(text)));
    let mut s = text.as_bytes();
    let mut negative = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            negative = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let whole = leading_int(&s[..digits]).ok_or_else(invalid)?;
        s = &s[digits..];
        let mut fraction = (0u64, 1f64);
        let mut has_fraction = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
            fraction = leading_fraction(&s[..n]);
            has_fraction = n > 0;
            s = &s[n..];
        }
        if digits == 0 && !has_fraction {
            return Err(invalid());
        }
        let unit_len = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError(format!(
                "time: missing unit in duration {}",
                quote(text)
            )));
        }
        let unit_text = &s[..unit_len];
        s = &s[unit_len..];
        let Some(&(_, unit)) = NANOS_PER_UNIT
            .iter()
            .find(|(name, _)| name.as_bytes() == unit_text)
        else {
            return Err(DurationError(format!(
                "time: unknown unit {} in duration {}",
                quote(&String::from_utf8_lossy(unit_text)),
                quote(text)
            )));
        };
        if whole > LIMIT / unit {
            return Err(invalid());
        }
        let mut value = whole * unit;
        let (f, scale) = fraction;
        if f > 0 {
            // Go adds the fraction through float64, truncating.
            value += (f as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return Err(invalid());
            }
        }
        total += value;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        return Ok((total as i64).wrapping_neg());
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// The integer part; None on overflow past 2^63.
fn leading_int(digits: &[u8]) -> Option<u64> {
    let mut x: u64 = 0;
    for &c in digits {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > LIMIT {
            return None;
        }
    }
    Some(x)
}

/// The fraction's digits as an integer and its scale (10^digits kept); digits past the
/// precision of an int64 are dropped as Go drops them.
fn leading_fraction(digits: &[u8]) -> (u64, f64) {
    let mut x: u64 = 0;
    let mut scale = 1f64;
    let mut overflow = false;
    for &c in digits {
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale)
}

/// Quotes like Go's `time` package does in its errors: `"` and `\` escaped, bytes of
/// non-ASCII or control characters as `\xNN`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if !c.is_ascii() || (c as u32) < 0x20 {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Prints nanoseconds as Go's `Duration.String`: `0s`, `1.5s`, `1m30s`, `1h0m0s`,
/// `500ms`, `1.5µs`, `100ns`, `-2s`.
pub fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let negative = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        if u < 1_000 {
            out = format!("{u}ns");
        } else if u < 1_000_000 {
            out = format!("{}\u{b5}s", fraction_text(u, 3));
        } else {
            out = format!("{}ms", fraction_text(u, 6));
        }
    } else {
        let seconds = fraction_text(u % 60_000_000_000, 9);
        u /= 60_000_000_000;
        if u > 0 {
            let minutes = u % 60;
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&format!("{minutes}m"));
        }
        out.push_str(&seconds);
        out.push('s');
    }
    if negative {
        out.insert(0, '-');
    }
    out
}

/// `v` as a decimal of `v / 10^prec` with trailing zeros (and a bare point) dropped.
fn fraction_text(v: u64, prec: u32) -> String {
    let div = 10u64.pow(prec);
    let (int, frac) = (v / div, v % div);
    if frac == 0 {
        return int.to_string();
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    // Expected values and messages as Go 1.19's time.ParseDuration answers (the Go that
    // Debian's dockerd 20.10 is built with).
    #[test]
    fn parses_what_go_parses() {
        for (text, nanos) in [
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("0s", 0),
            ("5s", 5 * S),
            ("1h30m", 5400 * S),
            ("500ms", S / 2),
            ("1.5s", 3 * S / 2),
            (".5s", S / 2),
            ("1.s", S),
            ("-2m", -120 * S),
            ("+3h", 3 * 3600 * S),
            ("1us", 1_000),
            ("1\u{b5}s", 1_000),
            ("1\u{3bc}s", 1_000),
            ("7ns", 7),
            ("1h1m1s1ms1us1ns", 3661 * S + 1_001_001),
            ("1.0000000001s", S),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.3333333333333333333h", 1_200_000_000_000),
        ] {
            assert_eq!(parse(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn refuses_with_gos_messages() {
        for (text, msg) in [
            ("", r#"time: invalid duration """#),
            ("abc", r#"time: invalid duration "abc""#),
            ("-", r#"time: invalid duration "-""#),
            (".s", r#"time: invalid duration ".s""#),
            ("1", r#"time: missing unit in duration "1""#),
            ("1.5", r#"time: missing unit in duration "1.5""#),
            ("1x", r#"time: unknown unit "x" in duration "1x""#),
            ("1sec", r#"time: unknown unit "sec" in duration "1sec""#),
            ("1s ", r#"time: unknown unit "s " in duration "1s ""#),
            (
                "1é",
                r#"time: unknown unit "\xc3\xa9" in duration "1\xc3\xa9""#,
            ),
            (
                "2562047h47m16.854775808s",
                r#"time: invalid duration "2562047h47m16.854775808s""#,
            ),
            (
                "9999999999999999999h",
                r#"time: invalid duration "9999999999999999999h""#,
            ),
            ("1s-1s", r#"time: unknown unit "s-" in duration "1s-1s""#),
        ] {
            assert_eq!(parse(text).unwrap_err().to_string(), msg, "{text:?}");
        }
    }

    #[test]
    fn formats_as_go_prints() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (S / 2, "500ms"),
            (1_500_000, "1.5ms"),
            (S, "1s"),
            (3 * S / 2, "1.5s"),
            (30 * S, "30s"),
            (60 * S, "1m0s"),
            (90 * S, "1m30s"),
            (3600 * S, "1h0m0s"),
            (5400 * S + 1, "1h30m0.000000001s"),
            (-2 * S, "-2s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format(nanos), text, "{nanos}");
        }
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_is_identity(nanos in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(parse(&format(nanos)), Ok(nanos));
        }

        #[test]
        fn never_panics(text in "[-+0-9.a-zµμ]{0,24}") {
            let _ = parse(&text);
        }
    }
}
