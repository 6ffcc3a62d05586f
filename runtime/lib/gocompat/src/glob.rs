//! Shell-style patterns with Go's `filepath.Match` semantics on Linux, as dockerd uses
//! them for COPY/ADD sources:
//!
//! - `*` matches any run of characters but `/`; `?` one character but `/`;
//! - `[abc]`, `[a-z]`, `[^a-z]` one character of (or not of) a class, `/` included;
//! - `\x` matches `x` literally, inside classes too.
//!
//! A malformed pattern (`[`, `[a-`, `[]`, a trailing `\`) is an error once matching
//! reaches the malformed part, as Go 1.19 (the Go of Debian's dockerd 20.10) reports it.
//! The pattern is matched as Go does: a star-free chunk after a
//! star is taken at its first match, and the last chunk must end the name.
//!
//! [`matches_star_only`] is the simpler wildcard of filter languages (shimd's
//! `field~=glob`): `*` matches any run of characters, `/` included, and nothing else is
//! special.

use std::fmt;

/// Go's `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

/// Does `name` match `pattern` (Go's `filepath.Match`)?
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    Pattern::new(pattern).matches(name)
}

/// The plain wildcard: `*` matches any run of characters, `/` included; every other
/// character (`?` and `[` too) matches itself. Not `filepath.Match`: slashes in the text
/// are ordinary characters here.
pub fn matches_star_only(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    // Checked before slicing, so both cuts fall on character boundaries.
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Does a COPY/ADD source contain wildcards (`*`, `?`, `[` not escaped by `\`)? dockerd
/// walks the context and matches every path only for such sources.
pub fn contains_wildcards(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// A pattern split into chunks, to match many names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    chunks: Vec<Chunk>,
}

/// A run of stars (or none) followed by star-free items. A malformed chunk is reported
/// only when matching reaches it, as Go 1.19 does.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Chunk {
    star: bool,
    items: Result<Vec<Item>, BadPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Literal(char),
    AnyButSlash,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let chars: Vec<char> = pattern.chars().collect();
        let mut chunks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let mut star = false;
            while chars.get(i) == Some(&'*') {
                star = true;
                i += 1;
            }
            let end = chunk_end(&chars, i);
            chunks.push(Chunk {
                star,
                items: parse_items(&chars[i..end]),
            });
            i = end;
        }
        Pattern { chunks }
    }

    /// Does `name` match? An error when a malformed part of the pattern had to be used.
    pub fn matches(&self, name: &str) -> Result<bool, BadPattern> {
        let mut rest: &str = name;
        for (n, chunk) in self.chunks.iter().enumerate() {
            let last = n + 1 == self.chunks.len();
            let items = match &chunk.items {
                Ok(items) if chunk.star && items.is_empty() => {
                    // A trailing star takes the rest of the name unless it holds a slash.
                    return Ok(!rest.contains('/'));
                }
                Ok(items) => items,
                Err(e) => return Err(*e),
            };
            let fits = |t: &str| !last || t.is_empty();
            match match_items(items, rest) {
                Some(t) if fits(t) => {
                    rest = t;
                    continue;
                }
                _ => {}
            }
            if !chunk.star {
                return Ok(false);
            }
            let mut found = None;
            for (i, c) in rest.char_indices() {
                if c == '/' {
                    break;
                }
                let after = &rest[i + c.len_utf8()..];
                if let Some(t) = match_items(items, after) {
                    if fits(t) {
                        found = Some(t);
                        break;
                    }
                }
            }
            match found {
                Some(t) => rest = t,
                None => return Ok(false),
            }
        }
        Ok(rest.is_empty())
    }
}

/// Where the chunk starting at `chars[i]` ends: at the next star outside brackets (a `\`
/// hides the character after it).
fn chunk_end(chars: &[char], mut i: usize) -> usize {
    let mut in_range = false;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    i
}

fn parse_items(chars: &[char]) -> Result<Vec<Item>, BadPattern> {
    let mut items = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (item, next) = parse_item(chars, i)?;
        items.push(item);
        i = next;
    }
    Ok(items)
}

/// Matches star-free items at the start of `s`; the remainder when they match.
fn match_items<'a>(items: &[Item], s: &'a str) -> Option<&'a str> {
    let mut rest = s;
    for item in items {
        let c = rest.chars().next()?;
        let ok = match item {
            Item::Literal(l) => *l == c,
            Item::AnyButSlash => c != '/',
            Item::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        };
        if !ok {
            return None;
        }
        rest = &rest[c.len_utf8()..];
    }
    Some(rest)
}

/// One item starting at `chars[i]` (not a star); the index after it.
fn parse_item(chars: &[char], i: usize) -> Result<(Item, usize), BadPattern> {
    match chars[i] {
        '?' => Ok((Item::AnyButSlash, i + 1)),
        '\\' => match chars.get(i + 1) {
            Some(&c) => Ok((Item::Literal(c), i + 2)),
            None => Err(BadPattern),
        },
        '[' => parse_class(chars, i + 1),
        c => Ok((Item::Literal(c), i + 1)),
    }
}

/// A class whose body starts at `chars[i]`: `^`, then ranges up to `]`; at least one range.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Item, usize), BadPattern> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Item::Class { negated, ranges }, i + 1));
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars[i] == '-' {
            let (h, next) = class_char(chars, i + 1)?;
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

/// A character of a class (possibly `\`-escaped); something must follow it.
fn class_char(chars: &[char], mut i: usize) -> Result<(char, usize), BadPattern> {
    match chars.get(i) {
        None | Some('-') | Some(']') => return Err(BadPattern),
        Some('\\') => i += 1,
        _ => {}
    }
    let c = *chars.get(i).ok_or(BadPattern)?;
    if i + 1 >= chars.len() {
        return Err(BadPattern);
    }
    Ok((c, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> Result<bool, BadPattern> {
        matches(p, n)
    }

    // Every expected answer below is what Go 1.19's filepath.Match returns on Linux.
    #[test]
    fn matches_like_go() {
        for (p, n, want) in [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("a[/]b", "a/b", true),
            ("a[^x]b", "a/b", true),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("*x", "xxx", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("**", "ab", true),
            ("**", "a/b", false),
            ("*/*", "a/b", true),
            (".*", ".hidden", true),
            ("*", ".hidden", true),
        ] {
            assert_eq!(m(p, n), Ok(want), "Match({p:?}, {n:?})");
        }
    }

    #[test]
    fn malformed_patterns_are_errors_once_reached_like_go_1_19() {
        for p in [
            "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "[a-", "[\\",
            "*[", "*\\", "[]", "[^]", "x[a-z",
        ] {
            assert_eq!(m(p, "a"), Err(BadPattern), "{p:?}");
            assert_eq!(m(p, "zzz"), Err(BadPattern), "{p:?}");
        }
        // Go 1.19 stops at the first chunk that cannot match and never reads the rest.
        assert_eq!(m("a*[", "a"), Err(BadPattern));
        assert_eq!(m("a*[", "zzz"), Ok(false));
        assert_eq!(m("x*[*", "y"), Ok(false));
        assert_eq!(BadPattern.to_string(), "syntax error in pattern");
    }

    #[test]
    fn star_only_crosses_slashes_and_nothing_else_is_special() {
        assert!(matches_star_only("a*c", "abc"));
        assert!(matches_star_only("a*", "a"));
        assert!(!matches_star_only("a*c", "ab"));
        assert!(matches_star_only("*b*", "abc"));
        assert!(!matches_star_only("ab*ba", "aba"));
        assert!(matches_star_only(
            "*busybox*",
            "docker.io/library/busybox:latest"
        ));
        assert!(!matches_star_only("a?c", "abc"));
        assert!(matches_star_only("a?c", "a?c"));
        assert!(matches_star_only("[x]", "[x]"));
        assert!(!matches_star_only("a*x", "aé"));
    }

    #[test]
    fn finds_wildcards_like_dockerd() {
        assert!(contains_wildcards("*.go"));
        assert!(contains_wildcards("a?"));
        assert!(contains_wildcards("[ab]"));
        assert!(!contains_wildcards("plain/file"));
        assert!(!contains_wildcards("a\\*b"));
        assert!(contains_wildcards("a\\*b*"));
        assert!(!contains_wildcards("trailing\\"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(p in "[a-c*?\\[\\]^\\\\/-]{0,10}", n in "[a-c/-]{0,8}") {
            let _ = matches(&p, &n);
        }

        #[test]
        fn a_literal_name_matches_itself(n in "[a-z0-9./_-]{0,12}") {
            proptest::prop_assert_eq!(matches(&n, &n), Ok(true));
        }
    }
}
