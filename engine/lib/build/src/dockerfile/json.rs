//! The exec (JSON) form of instruction arguments, decided as dockerd decides it: the
//! arguments are one JSON value read with Go's `encoding/json` decoder (text after the
//! value is ignored); a malformed value means "not JSON" and the instruction falls back
//! to its shell form, but a well-formed array holding anything but strings is an error.

/// What the arguments of an instruction are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonArgs {
    /// A JSON array of strings.
    Strings(Vec<String>),
    /// A well-formed JSON array with an element that is no string.
    NotStrings,
    /// Not a well-formed JSON array: the shell form applies.
    NotJson,
}

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

/// Reads `text` (leading whitespace allowed) as a JSON array of strings.
pub(crate) fn parse_args(text: &str) -> JsonArgs {
    let b = text.trim_start().as_bytes();
    if b.first() != Some(&b'[') {
        return JsonArgs::NotJson;
    }
    match top_array(b) {
        Ok(elements) => match elements.into_iter().collect::<Option<Vec<String>>>() {
            Some(strings) => JsonArgs::Strings(strings),
            None => JsonArgs::NotStrings,
        },
        Err(Malformed) => JsonArgs::NotJson,
    }
}

struct Malformed;

type Res<T> = Result<T, Malformed>;

/// The elements of the array at the start of `b`: Some(string) or None for other values.
fn top_array(b: &[u8]) -> Res<Vec<Option<String>>> {
    let mut pos = skip_ws(b, 1);
    let mut out = Vec::new();
    if b.get(pos) == Some(&b']') {
        return Ok(out);
    }
    loop {
        pos = skip_ws(b, pos);
        if b.get(pos) == Some(&b'"') {
            let (s, end) = string(b, pos)?;
            out.push(Some(s));
            pos = end;
        } else {
            pos = skip_value(b, pos)?;
            out.push(None);
        }
        pos = skip_ws(b, pos);
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b']') => return Ok(out),
            _ => return Err(Malformed),
        }
    }
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// Skips one well-formed value (nested ones with an explicit stack); the index after it.
fn skip_value(b: &[u8], mut pos: usize) -> Res<usize> {
    let mut stack: Vec<u8> = Vec::new();
    'value: loop {
        pos = skip_ws(b, pos);
        match b.get(pos).copied().ok_or(Malformed)? {
            open @ (b'[' | b'{') => {
                // The top-level array is depth 1.
                if stack.len() + 2 > MAX_DEPTH {
                    return Err(Malformed);
                }
                stack.push(open);
                pos = skip_ws(b, pos + 1);
                let close = if open == b'[' { b']' } else { b'}' };
                if b.get(pos) == Some(&close) {
                    stack.pop();
                    pos += 1;
                } else {
                    if open == b'{' {
                        pos = object_key(b, pos)?;
                    }
                    continue 'value;
                }
            }
            b'"' => pos = string(b, pos)?.1,
            b't' => pos = literal(b, pos, b"true")?,
            b'f' => pos = literal(b, pos, b"false")?,
            b'n' => pos = literal(b, pos, b"null")?,
            b'-' | b'0'..=b'9' => pos = number(b, pos)?,
            _ => return Err(Malformed),
        }
        // After a value: close containers, or go on with the next element.
        loop {
            let Some(&top) = stack.last() else {
                return Ok(pos);
            };
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b',') => {
                    pos += 1;
                    if top == b'{' {
                        pos = object_key(b, skip_ws(b, pos))?;
                    }
                    continue 'value;
                }
                Some(b']') if top == b'[' => {
                    stack.pop();
                    pos += 1;
                }
                Some(b'}') if top == b'{' => {
                    stack.pop();
                    pos += 1;
                }
                _ => return Err(Malformed),
            }
        }
    }
}

/// `"key" :` at `pos`; the index after the colon.
fn object_key(b: &[u8], pos: usize) -> Res<usize> {
    if b.get(pos) != Some(&b'"') {
        return Err(Malformed);
    }
    let pos = skip_ws(b, string(b, pos)?.1);
    if b.get(pos) != Some(&b':') {
        return Err(Malformed);
    }
    Ok(pos + 1)
}

fn literal(b: &[u8], pos: usize, word: &[u8]) -> Res<usize> {
    if b[pos..].starts_with(word) {
        Ok(pos + word.len())
    } else {
        Err(Malformed)
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn number(b: &[u8], mut pos: usize) -> Res<usize> {
    let digits = |pos: usize| b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    if b.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match b.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos += digits(pos),
        _ => return Err(Malformed),
    }
    if b.get(pos) == Some(&b'.') {
        let n = digits(pos + 1);
        if n == 0 {
            return Err(Malformed);
        }
        pos += 1 + n;
    }
    if matches!(b.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(b.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let n = digits(pos);
        if n == 0 {
            return Err(Malformed);
        }
        pos += n;
    }
    Ok(pos)
}

/// The string starting with the quote at `pos`, decoded as Go decodes it (a lone UTF-16
/// surrogate becomes U+FFFD); the index after its closing quote.
fn string(b: &[u8], pos: usize) -> Res<(String, usize)> {
    let mut out: Vec<u8> = Vec::new();
    let mut i = pos + 1;
    loop {
        let c = *b.get(i).ok_or(Malformed)?;
        match c {
            b'"' => {
                let s = String::from_utf8(out).map_err(|_| Malformed)?;
                return Ok((s, i + 1));
            }
            0..=0x1f => return Err(Malformed),
            b'\\' => {
                let e = *b.get(i + 1).ok_or(Malformed)?;
                i += 2;
                let simple = match e {
                    b'"' => Some('"'),
                    b'\\' => Some('\\'),
                    b'/' => Some('/'),
                    b'b' => Some('\u{8}'),
                    b'f' => Some('\u{c}'),
                    b'n' => Some('\n'),
                    b'r' => Some('\r'),
                    b't' => Some('\t'),
                    b'u' => None,
                    _ => return Err(Malformed),
                };
                let ch = match simple {
                    Some(ch) => ch,
                    None => {
                        let first = hex4(b, i)?;
                        i += 4;
                        if (0xd800..0xdc00).contains(&first)
                            && b.get(i) == Some(&b'\\')
                            && b.get(i + 1) == Some(&b'u')
                        {
                            let second = hex4(b, i + 2)?;
                            if (0xdc00..0xe000).contains(&second) {
                                i += 6;
                                let cp = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                                char::from_u32(cp).unwrap_or('\u{fffd}')
                            } else {
                                '\u{fffd}'
                            }
                        } else {
                            char::from_u32(first).unwrap_or('\u{fffd}')
                        }
                    }
                };
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn hex4(b: &[u8], i: usize) -> Res<u32> {
    let digits = b.get(i..i + 4).ok_or(Malformed)?;
    let text = std::str::from_utf8(digits).map_err(|_| Malformed)?;
    if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(Malformed);
    }
    u32::from_str_radix(text, 16).map_err(|_| Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> JsonArgs {
        JsonArgs::Strings(list.iter().map(|s| s.to_string()).collect())
    }

    // Expected answers as Go 1.19's json.Decoder gives them (Decode into []interface{}).
    #[test]
    fn reads_arrays_like_go() {
        for (text, want) in [
            (r#"["a"]"#, strings(&["a"])),
            (r#"  [ "a" , "b c" ]"#, strings(&["a", "b c"])),
            ("[]", strings(&[])),
            ("[ ]", strings(&[])),
            (r#"["a"] trailing"#, strings(&["a"])),
            (r#"["a"]]"#, strings(&["a"])),
            (r#"["\u00e9\n\t\"\\\/"]"#, strings(&["é\n\t\"\\/"])),
            (r#"["\ud83d\ude00"]"#, strings(&["😀"])),
            (r#"["\ud83dx"]"#, strings(&["\u{fffd}x"])),
            (r#"["\ud83d\u0041"]"#, strings(&["\u{fffd}A"])),
            (r#"["\ude00"]"#, strings(&["\u{fffd}"])),
            ("[\"é☃\"]", strings(&["é☃"])),
            ("[1]", JsonArgs::NotStrings),
            (r#"["a", 1]"#, JsonArgs::NotStrings),
            (r#"["a", null]"#, JsonArgs::NotStrings),
            (r#"[["a"]]"#, JsonArgs::NotStrings),
            (
                r#"[{"a": [1, {"b": []}]}, true, false, -0.5e+3]"#,
                JsonArgs::NotStrings,
            ),
            (r#"["a" "#, JsonArgs::NotJson),
            (r#"["a""#, JsonArgs::NotJson),
            (r#"["a",]"#, JsonArgs::NotJson),
            ("[1, \"a\"", JsonArgs::NotJson),
            ("['a']", JsonArgs::NotJson),
            ("[a]", JsonArgs::NotJson),
            ("[\"a\tb\"]", JsonArgs::NotJson),
            (r#"["\x"]"#, JsonArgs::NotJson),
            (r#"["\u12"]"#, JsonArgs::NotJson),
            ("[01]", JsonArgs::NotJson),
            ("[1.]", JsonArgs::NotJson),
            ("[1e]", JsonArgs::NotJson),
            ("[-]", JsonArgs::NotJson),
            ("[tru]", JsonArgs::NotJson),
            (r#"[{"a" 1}]"#, JsonArgs::NotJson),
            (r#"[{a: 1}]"#, JsonArgs::NotJson),
            (r#"[{"a": 1,}]"#, JsonArgs::NotJson),
            ("[[1]", JsonArgs::NotJson),
            ("[[1]}", JsonArgs::NotJson),
            ("echo hi", JsonArgs::NotJson),
            ("", JsonArgs::NotJson),
            ("[", JsonArgs::NotJson),
        ] {
            assert_eq!(parse_args(text), want, "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_limited_like_go() {
        let ok = format!("[{}{}]", "[".repeat(9_998), "]".repeat(9_998));
        assert_eq!(parse_args(&ok), JsonArgs::NotStrings);
        let deep = format!("[{}{}]", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_args(&deep), JsonArgs::NotJson);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[\\[\\]{}\",:a-z0-9 \\\\.eE+-]{0,30}") {
            let _ = parse_args(&s);
        }
    }
}
