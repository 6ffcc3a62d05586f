//! docker's size units (`github.com/docker/go-units`, as the docker CLI and dockerd 20.10
//! use them): two parsing forms that read the same texts with different multiples, and
//! the two printing forms.
//!
//! | text | [`ram_in_bytes`] (`RAMInBytes`) | [`from_human_size`] (`FromHumanSize`) |
//! |---|---|---|
//! | `64m`, `64MB`, `64MiB` | 64 × 1024² | 64 × 1000² |
//! | used for | memory flags, tmpfs, shm and volume sizes | log `max-size` |
//!
//! Both accept digits with optional fractions (`1.5`), at most one space, then an optional
//! unit letter `k`, `m`, `g`, `t` or `p` (any case), an optional `i` and an optional `b`;
//! nothing else (no sign, no surrounding space). One deliberate difference from Go: a size
//! of 2^63 bytes or more is an error here, where Go's conversion wraps it to a negative
//! number.

use std::fmt;

/// A size that go-units refuses; the text is its error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeError(String);

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SizeError {}

/// `RAMInBytes`: a size in bytes with binary multiples (`512m` is 512 × 1024²).
pub fn ram_in_bytes(text: &str) -> Result<i64, SizeError> {
    parse(text, 1024.0)
}

/// `FromHumanSize`: a size in bytes with decimal multiples (`10m` and `10MiB` are
/// 10 × 1000²).
pub fn from_human_size(text: &str) -> Result<i64, SizeError> {
    parse(text, 1000.0)
}

fn parse(text: &str, base: f64) -> Result<i64, SizeError> {
    let invalid = || SizeError(format!("invalid size: '{text}'"));
    let b = text.as_bytes();
    // The number: digits, then any number of `.digits`.
    let mut i = 0;
    loop {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return Err(invalid());
        }
        if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            continue;
        }
        break;
    }
    let number = &text[..i];
    let mut rest = &b[i..];
    if rest.first() == Some(&b' ') {
        rest = &rest[1..];
    }
    let mut power = 0;
    if let Some(p) = rest
        .first()
        .and_then(|c| b"kmgtp".iter().position(|u| *u == c.to_ascii_lowercase()))
    {
        power = p as i32 + 1;
        rest = &rest[1..];
    }
    for optional in [b'i', b'b'] {
        if rest.first().map(u8::to_ascii_lowercase) == Some(optional) {
            rest = &rest[1..];
        }
    }
    if !rest.is_empty() {
        return Err(invalid());
    }
    // `1.2.3` passes the pattern and fails as a float, as in Go.
    let n: f64 = number.parse().map_err(|_| {
        SizeError(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            crate::quote::quote(number)
        ))
    })?;
    let size = n * base.powi(power);
    if size >= 9_223_372_036_854_775_808.0 {
        return Err(SizeError(format!("invalid size: '{text}': too large")));
    }
    Ok(size as i64)
}

/// `HumanSize`: decimal units with 4 significant digits (`1.235MB`), as docker's pull
/// progress prints sizes.
pub fn human_size(size: f64) -> String {
    human_size_with_precision(size, 4)
}

/// `HumanSizeWithPrecision`: decimal units (`B`, `kB`, `MB`, …) with `precision`
/// significant digits, as `docker images` (3) and `docker system df` (4) print sizes.
pub fn human_size_with_precision(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let (s, i) = scaled(size, 1000.0, &UNITS);
    format!("{}{}", format_g(s, precision), UNITS[i])
}

/// `BytesSize`: binary units with 4 significant digits, as `docker stats` prints memory
/// (`1.5MiB`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let (s, i) = scaled(size, 1024.0, &UNITS);
    format!("{}{}", format_g(s, 4), UNITS[i])
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

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values as go-units v0.4.0 (the docker CLI's and dockerd 20.10's) answers.
    #[test]
    fn parses_binary_sizes_like_ram_in_bytes() {
        for (text, want) in [
            ("0", 0),
            ("1024", 1024),
            ("100b", 100),
            ("512k", 512 << 10),
            ("512m", 512 << 20),
            ("64MiB", 64 << 20),
            ("2mb", 2 << 20),
            ("1g", 1 << 30),
            ("1.5G", 3 << 29),
            ("1.5k", 1536),
            ("64GiB", 64 << 30),
            ("32 MB", 32 << 20),
            ("1t", 1 << 40),
            ("1p", 1 << 50),
            ("1ib", 1),
            ("1 ", 1),
        ] {
            assert_eq!(ram_in_bytes(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn parses_decimal_sizes_like_from_human_size() {
        for (text, want) in [
            ("0", 0),
            ("1000", 1000),
            ("10m", 10_000_000),
            ("10MiB", 10_000_000),
            ("1k", 1000),
            ("1.5kB", 1500),
            ("1g", 1_000_000_000),
            ("2 GB", 2_000_000_000),
        ] {
            assert_eq!(from_human_size(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn refuses_like_go_units() {
        for text in [
            "", "lots", "5x", "-1", "1.", ".5", " 1", "1  m", "1kk", "1bi", "1e3", "1y",
        ] {
            assert_eq!(
                ram_in_bytes(text).unwrap_err().to_string(),
                format!("invalid size: '{text}'"),
                "{text:?}"
            );
            assert!(from_human_size(text).is_err(), "{text:?}");
        }
        assert_eq!(
            ram_in_bytes("1.2.3").unwrap_err().to_string(),
            r#"strconv.ParseFloat: parsing "1.2.3": invalid syntax"#
        );
        assert!(ram_in_bytes("99999999999t")
            .unwrap_err()
            .to_string()
            .contains("too large"));
        assert_eq!(ram_in_bytes("8191p"), Ok(8191 << 50));
    }

    #[test]
    fn formats_like_go_g() {
        assert_eq!(format_g(1.2345, 3), "1.23");
        assert_eq!(format_g(4.0, 3), "4");
        assert_eq!(format_g(999.9, 3), "1e+03");
        assert_eq!(format_g(123.456, 4), "123.5");
        assert_eq!(format_g(0.00001, 3), "1e-05");
    }

    #[test]
    fn prints_sizes_like_docker() {
        assert_eq!(human_size_with_precision(0.0, 3), "0B");
        assert_eq!(human_size_with_precision(1_240_000.0, 3), "1.24MB");
        assert_eq!(human_size_with_precision(4_861_442.0, 3), "4.86MB");
        assert_eq!(human_size_with_precision(999.0, 3), "999B");
        assert_eq!(human_size(1234.0), "1.234kB");
        assert_eq!(human_size(4_200_000.0), "4.2MB");
        assert_eq!(human_size(32_510_000.0), "32.51MB");
        assert_eq!(bytes_size(1_572_864.0), "1.5MiB");
        assert_eq!(bytes_size(25_000_000_000.0), "23.28GiB");
    }
}
