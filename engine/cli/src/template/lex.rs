//! Splits a Go template into text and actions, and actions into tokens.

/// A token inside `{{ }}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// `.`, `.A`, `.A.B` (the chain of field names; empty for the dot itself).
    Field(Vec<String>),
    /// `$`, `$x`, `$x.A.B`.
    Var(String, Vec<String>),
    /// A keyword or a function name.
    Ident(String),
    Str(String),
    Num(serde_json::Number),
    Pipe,
    LParen,
    /// `)` optionally followed by a field chain: `(index . 0).Name`.
    RParen(Vec<String>),
    Declare,
    Assign,
    Comma,
}

/// A piece of the template source.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Text(String),
    Action(Vec<Tok>),
}

/// Splits `src` into text and tokenized actions, applying `{{-` and `-}}` trimming.
pub fn pieces(src: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            let text = if trim_next { rest.trim_start() } else { rest };
            out.push(Piece::Text(text.to_string()));
            break;
        };
        let mut text = &rest[..open];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[open + 2..];
        let trim_before =
            after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n");
        if trim_before {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_string()));
        }
        let body_start = if trim_before { 1 } else { 0 };
        let close = find_close(&after[body_start..])
            .ok_or_else(|| "unclosed action: missing \"}}\"".to_string())?;
        let mut body = &after[body_start..body_start + close];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let trimmed = body.trim();
        if !(trimmed.starts_with("/*") && trimmed.ends_with("*/")) {
            out.push(Piece::Action(tokens(trimmed)?));
        }
        rest = &after[body_start + close + 2..];
    }
    Ok(out)
}

/// The offset of the `}}` closing an action, skipping over string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `.A.B.C` starting at a `.`; returns the names and the bytes consumed.
fn field_chain(s: &str) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut i = 0;
    let chars: Vec<char> = s.chars().collect();
    let mut consumed = 0;
    while i < chars.len() && chars[i] == '.' {
        let mut j = i + 1;
        while j < chars.len() && is_ident_char(chars[j]) {
            j += 1;
        }
        if j == i + 1 {
            break;
        }
        names.push(chars[i + 1..j].iter().collect());
        consumed += chars[i..j].iter().map(|c| c.len_utf8()).sum::<usize>();
        i = j;
    }
    (names, consumed)
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(toks);
        };
        match c {
            '|' => {
                toks.push(Tok::Pipe);
                rest = &rest[1..];
            }
            '(' => {
                toks.push(Tok::LParen);
                rest = &rest[1..];
            }
            ')' => {
                let (chain, n) = field_chain(&rest[1..]);
                toks.push(Tok::RParen(chain));
                rest = &rest[1 + n..];
            }
            ',' => {
                toks.push(Tok::Comma);
                rest = &rest[1..];
            }
            ':' if rest.starts_with(":=") => {
                toks.push(Tok::Declare);
                rest = &rest[2..];
            }
            '=' => {
                toks.push(Tok::Assign);
                rest = &rest[1..];
            }
            '.' => {
                let (chain, n) = field_chain(rest);
                if n == 0 {
                    if rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
                        let (num, n) = number(rest)?;
                        toks.push(Tok::Num(num));
                        rest = &rest[n..];
                        continue;
                    }
                    toks.push(Tok::Field(Vec::new()));
                    rest = &rest[1..];
                } else {
                    toks.push(Tok::Field(chain));
                    rest = &rest[n..];
                }
            }
            '$' => {
                let name_len = rest[1..]
                    .find(|c: char| !is_ident_char(c))
                    .unwrap_or(rest.len() - 1);
                let name = format!("${}", &rest[1..1 + name_len]);
                let (chain, n) = field_chain(&rest[1 + name_len..]);
                toks.push(Tok::Var(name, chain));
                rest = &rest[1 + name_len + n..];
            }
            '"' => {
                let (text, n) = quoted(rest)?;
                toks.push(Tok::Str(text));
                rest = &rest[n..];
            }
            '`' => {
                let end = rest[1..]
                    .find('`')
                    .ok_or_else(|| "unterminated raw string".to_string())?;
                toks.push(Tok::Str(rest[1..1 + end].to_string()));
                rest = &rest[end + 2..];
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let (num, n) = number(rest)?;
                toks.push(Tok::Num(num));
                rest = &rest[n..];
            }
            c if is_ident_char(c) => {
                let n = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
                toks.push(Tok::Ident(rest[..n].to_string()));
                rest = &rest[n..];
            }
            other => return Err(format!("unexpected {other:?} in action")),
        }
    }
}

fn quoted(s: &str) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next().map(|(_, c)| c) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(other) => return Err(format!("unknown escape sequence \\{other}")),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string".to_string())
}

fn number(s: &str) -> Result<(serde_json::Number, usize), String> {
    let n = s
        .char_indices()
        .skip(1)
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(s.len());
    let text = &s[..n];
    if let Ok(i) = text.parse::<i64>() {
        return Ok((i.into(), n));
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(|num| (num, n))
        .ok_or_else(|| format!("bad number syntax: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_actions_with_trimming() {
        let p = pieces("a {{- .X -}} b{{/* c */}}{{.Y.Z}}").unwrap();
        assert_eq!(
            p,
            vec![
                Piece::Text("a".into()),
                Piece::Action(vec![Tok::Field(vec!["X".into()])]),
                Piece::Text("b".into()),
                Piece::Action(vec![Tok::Field(vec!["Y".into(), "Z".into()])]),
            ]
        );
    }

    #[test]
    fn tokenizes_calls_vars_and_literals() {
        let p = pieces(r#"{{range $k, $v := index .M "a}}" | len}}"#).unwrap();
        let Piece::Action(t) = &p[0] else { panic!() };
        assert_eq!(t[0], Tok::Ident("range".into()));
        assert_eq!(t[1], Tok::Var("$k".into(), vec![]));
        assert_eq!(t[2], Tok::Comma);
        assert_eq!(t[4], Tok::Declare);
        assert_eq!(t[7], Tok::Str("a}}".into()));
        assert_eq!(t[8], Tok::Pipe);
    }

    #[test]
    fn unclosed_action_is_an_error() {
        assert!(pieces("{{.X").is_err());
        assert!(pieces("{{\"x}}").is_err());
    }
}
