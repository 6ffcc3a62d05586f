//! From text to logical lines, as dockerd 20.10's parser reads a Dockerfile:
//!
//! - Parser directives (`# escape=` and `# syntax=`, names case-insensitive) count only
//!   while every line so far is a directive: the first other line (an instruction, a
//!   comment, even an empty line) ends them. A directive may appear once.
//! - A line whose first non-blank character is `#` is a comment, also inside a
//!   continuation; a `#` elsewhere is text.
//! - The escape character as the last non-blank character (not itself escaped) continues
//!   the line: it and what follows it are removed, the next physical line is appended as
//!   written (its indentation kept). Blank lines inside a continuation are skipped with a
//!   warning; a continuation at the end of the file just ends.
//! - A leading UTF-8 byte-order mark, a `\r` before each `\n`, and leading blanks of
//!   each logical line are dropped; a physical line may hold 65535 bytes.

use super::error::{ErrorKind, ParseError};
use regex::Regex;
use std::sync::OnceLock;

/// The longest physical line Go's line scanner accepts.
const MAX_LINE: usize = 65_535;

/// One instruction's text, continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logical {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lines {
    pub escape: char,
    pub syntax: Option<String>,
    pub warnings: Vec<String>,
    pub lines: Vec<Logical>,
    /// A physical line was too long: reading stopped there (dockerd reports it only when
    /// instructions came before it).
    pub too_long: bool,
}

struct Directives {
    escape: char,
    syntax: Option<String>,
    done: bool,
    seen_escape: bool,
    seen_syntax: bool,
}

fn directive_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Go's `\s` is ASCII whitespace without \v.
    RE.get_or_init(|| {
        Regex::new(
            r"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$",
        )
        .expect("directive regex")
    })
}

impl Directives {
    /// Looks at a line while directives are still possible.
    fn check(&mut self, line: &str, number: usize) -> Result<(), ParseError> {
        if self.done {
            return Ok(());
        }
        let Some(caps) = directive_regex().captures(line) else {
            self.done = true;
            return Ok(());
        };
        let name = caps[1].to_lowercase();
        let value = &caps[2];
        let err = |msg: String| ParseError::new(ErrorKind::Syntax, (number, number), None, msg);
        let seen = match name.as_str() {
            "escape" => &mut self.seen_escape,
            "syntax" => &mut self.seen_syntax,
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if *seen {
            return Err(err(format!("only one {name} parser directive can be used")));
        }
        *seen = true;
        if name == "escape" {
            self.escape = match value {
                "`" => '`',
                "\\" => '\\',
                _ => {
                    return Err(err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    )))
                }
            };
        } else {
            self.syntax = Some(value.to_string());
        }
        Ok(())
    }
}

/// Go's `unicode.IsSpace`.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_space).starts_with('#')
}

/// Removes a continuation escape at the end of `line`: (text, whether the line ends).
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line.to_string(), true);
    };
    if before.ends_with(escape) {
        // An escaped escape character is text.
        return (line.to_string(), true);
    }
    (before.to_string(), false)
}

/// Splits `text` into logical lines and reads the directives.
pub(crate) fn read(text: &str) -> Result<Lines, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut physical: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') || text.is_empty() {
        physical.pop();
    }
    let mut d = Directives {
        escape: '\\',
        syntax: None,
        done: false,
        seen_escape: false,
        seen_syntax: false,
    };
    let mut out = Lines {
        escape: '\\',
        syntax: None,
        warnings: Vec::new(),
        lines: Vec::new(),
        too_long: false,
    };
    let mut i = 0;
    // Takes the next physical line (without its \r), None at the end or past a too-long one.
    let next_line = |i: &mut usize, too_long: &mut bool| -> Option<&str> {
        let raw = *physical.get(*i)?;
        if raw.len() > MAX_LINE {
            *too_long = true;
            return None;
        }
        *i += 1;
        Some(raw.strip_suffix('\r').unwrap_or(raw))
    };
    while let Some(raw) = next_line(&mut i, &mut out.too_long) {
        let number = i;
        let token = raw.trim_start_matches(is_space);
        d.check(token, number)?;
        let first = if token.starts_with('#') { "" } else { token };
        let (mut line, mut ended) = trim_continuation(first, d.escape);
        if ended && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !ended {
            let Some(raw) = next_line(&mut i, &mut out.too_long) else {
                break;
            };
            d.check(raw, i)?;
            if is_comment(raw) {
                continue;
            }
            if raw.trim_start_matches(is_space).is_empty() {
                empty_continuation = true;
                continue;
            }
            let (more, end) = trim_continuation(raw, d.escape);
            line.push_str(&more);
            ended = end;
        }
        if empty_continuation {
            out.warnings.push(format!(
                "[WARNING]: Empty continuation line found in:\n    {line}"
            ));
        }
        out.lines.push(Logical {
            text: line,
            start: number,
            end: i,
        });
        if out.too_long {
            break;
        }
    }
    if !out.warnings.is_empty() {
        out.warnings.push(
            "[WARNING]: Empty continuation lines will become errors in a future release.".into(),
        );
    }
    out.escape = d.escape;
    out.syntax = d.syntax;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(String, usize, usize)> {
        read(src)
            .unwrap()
            .lines
            .into_iter()
            .map(|l| (l.text, l.start, l.end))
            .collect()
    }

    fn l(t: &str, s: usize, e: usize) -> (String, usize, usize) {
        (t.to_string(), s, e)
    }

    // The joined texts are what dockerd 20.10 prints after "Step N/M : " for them.
    #[test]
    fn joins_continuations_like_dockerd() {
        assert_eq!(
            texts("FROM busybox\nRUN echo a \\\n# c1\n  # c2\n  b\n"),
            [l("FROM busybox", 1, 1), l("RUN echo a   b", 2, 5)]
        );
        assert_eq!(texts("RUN echo a \\  \t\n b\n"), [l("RUN echo a  b", 1, 2)]);
        assert_eq!(
            texts("RUN echo a\\\\\nRUN b\n"),
            [l("RUN echo a\\\\", 1, 1), l("RUN b", 2, 2)]
        );
        assert_eq!(texts("RUN echo a \\\n"), [l("RUN echo a ", 1, 1)]);
        assert_eq!(texts("RUN echo a \\\n#x\n"), [l("RUN echo a ", 1, 2)]);
        assert_eq!(texts("\\\nRUN echo a\n"), [l("RUN echo a", 1, 2)]);
        assert_eq!(
            texts("FROM busybox\r\nRUN a \\\r\n b\r\n"),
            [l("FROM busybox", 1, 1), l("RUN a  b", 2, 3)]
        );
        assert_eq!(texts("   RUN  x  \n\n  # c\n"), [l("RUN  x  ", 1, 1)]);
        assert_eq!(
            texts("RUN a # not a comment"),
            [l("RUN a # not a comment", 1, 1)]
        );
    }

    #[test]
    fn warns_about_empty_continuation_lines_like_dockerd() {
        let lines =
            read("FROM busybox\nRUN   echo  \"$a\"  \\\n # comment\n\n   && true\n").unwrap();
        assert_eq!(lines.lines[1].text, "RUN   echo  \"$a\"     && true");
        assert_eq!(
            lines.warnings,
            [
                "[WARNING]: Empty continuation line found in:\n    RUN   echo  \"$a\"     && true",
                "[WARNING]: Empty continuation lines will become errors in a future release."
            ]
        );
        assert!(read("RUN a \\\n  # only a comment\n b\n")
            .unwrap()
            .warnings
            .is_empty());
    }

    #[test]
    fn reads_directives_only_at_the_top() {
        let r = read("# syntax=docker/dockerfile:1\n  #   ESCAPE  =  `  \nRUN a `\n b\n").unwrap();
        assert_eq!(
            (r.escape, r.syntax.as_deref()),
            ('`', Some("docker/dockerfile:1"))
        );
        assert_eq!(r.lines[0].text, "RUN a  b");
        for src in [
            "# hello\n# escape=`\nRUN a\n",
            "\n# escape=`\nRUN a\n",
            "FROM x\n# escape=`\n",
            "# foo=bar\n# escape=`\n",
        ] {
            assert_eq!(read(src).unwrap().escape, '\\', "{src:?}");
        }
        let bom = read("\u{feff}# escape=`\nRUN a\n").unwrap();
        assert_eq!(bom.escape, '`');
    }

    // Messages as dockerd 20.10 answers (after "failed to parse Dockerfile: ").
    #[test]
    fn refuses_bad_directives_like_dockerd() {
        for (src, msg) in [
            (
                "# escape=x\nFROM a\n",
                "invalid escape token 'x' does not match ` or \\",
            ),
            (
                "# escape=\\\\\nFROM a\n",
                "invalid escape token '\\\\' does not match ` or \\",
            ),
            (
                "# syntax=a\n# syntax=b\n",
                "only one syntax parser directive can be used",
            ),
            (
                "# escape=`\n# ESCAPE=`\n",
                "only one escape parser directive can be used",
            ),
        ] {
            let e = read(src).unwrap_err();
            assert_eq!(
                (e.kind, e.message.as_str()),
                (ErrorKind::Syntax, msg),
                "{src:?}"
            );
        }
    }

    #[test]
    fn stops_at_a_line_longer_than_go_reads() {
        let ok = format!("RUN {}\n", "x".repeat(MAX_LINE - 4));
        assert!(!read(&ok).unwrap().too_long);
        let long = format!("FROM a\nRUN {}\nRUN b\n", "x".repeat(MAX_LINE - 3));
        let r = read(&long).unwrap();
        assert!(r.too_long);
        assert_eq!(r.lines.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[a-z #=`\\\\\r\n\t]{0,40}") {
            let _ = read(&s);
        }
    }
}
