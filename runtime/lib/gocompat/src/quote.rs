//! Go's `strconv.Quote` and `fmt`'s `%q`/`%v` of string lists: dockerd writes them into
//! build errors (`failed to process "…"`) and image history (`CMD ["sh" "-c" "x"]`,
//! `VOLUME [/a /b]`), so the same bytes must come out here.

/// `strconv.Quote`: a double-quoted Go string literal.
pub fn quote(s: &str) -> String {
    quote_with(s, '"')
}

/// `strconv.QuoteRune` of an integer as `fmt`'s `%q` prints an `int`: a single-quoted
/// character literal, U+FFFD for values that are no character.
pub fn quote_int_as_rune(v: i64) -> String {
    let c = u32::try_from(v)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    quote_with(&c.to_string(), '\'')
}

/// `fmt.Sprintf("%q", list)`: `["a" "b"]`.
pub fn quote_list(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// `fmt.Sprintf("%v", list)`: `[a b]`.
pub fn plain_list(list: &[String]) -> String {
    format!("[{}]", list.join(" "))
}

fn quote_with(s: &str, delim: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(delim);
    for c in s.chars() {
        match c {
            _ if c == delim || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            _ if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            _ if is_print(c) => out.push(c),
            _ if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(delim);
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Without Unicode category tables this knows the control, space, format and
/// private-use characters; unassigned code points count as printable.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x8e2 | 0x180e | 0x200b..=0x200f
        | 0x202a..=0x202e | 0x2060..=0x2064 | 0x2066..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a | 0xe0001
        | 0xe0020..=0xe007f | 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    !format_or_private
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected texts as Go 1.19's strconv.Quote and fmt print them.
    #[test]
    fn quotes_like_go() {
        assert_eq!(quote("a b"), r#""a b""#);
        assert_eq!(quote(r#""b"#), r#""\"b""#);
        assert_eq!(quote("a\\b"), r#""a\\b""#);
        assert_eq!(quote("\t\n\r\u{7}\u{8}\u{b}\u{c}"), r#""\t\n\r\a\b\v\f""#);
        assert_eq!(quote("\u{1b}\u{7f}"), r#""\x1b\x7f""#);
        assert_eq!(quote("é ü µ ☃"), "\"é ü µ ☃\"");
        assert_eq!(quote("\u{a0}\u{200b}\u{feff}"), r#""\u00a0\u200b\ufeff""#);
        assert_eq!(quote("\u{f0000}😀"), "\"\\U000f0000😀\"");
        assert_eq!(quote("'"), r#""'""#);
    }

    #[test]
    fn quotes_ints_as_runes_like_fmt() {
        assert_eq!(quote_int_as_rune(0), r"'\x00'");
        assert_eq!(quote_int_as_rune(3), r"'\x03'");
        assert_eq!(quote_int_as_rune(65), "'A'");
        assert_eq!(quote_int_as_rune(39), r"'\''");
        assert_eq!(quote_int_as_rune(34), "'\"'");
        assert_eq!(quote_int_as_rune(0xd800), "'\u{fffd}'");
        assert_eq!(quote_int_as_rune(-1), "'\u{fffd}'");
    }

    #[test]
    fn lists_like_fmt() {
        let l = vec!["/bin/sh".to_string(), "-c".into(), "echo \"hi\"".into()];
        assert_eq!(quote_list(&l), r#"["/bin/sh" "-c" "echo \"hi\""]"#);
        assert_eq!(plain_list(&l), r#"[/bin/sh -c echo "hi"]"#);
        assert_eq!(quote_list(&[]), "[]");
        assert_eq!(plain_list(&[]), "[]");
    }
}
