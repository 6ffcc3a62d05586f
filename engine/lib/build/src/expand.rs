//! Variable substitution in instruction arguments, as dockerd's classic builder does it
//! (the word lexer of buildkit's Dockerfile frontend, version vendored in dockerd 20.10):
//!
//! - `$VAR`, `${VAR}`; `${VAR:-word}` (word when unset or empty), `${VAR:+word}` (word when
//!   set and not empty), `${VAR:?msg}` and `${VAR?msg}` (error when unset, or empty for
//!   `:?`); the word is itself expanded. `${VAR-word}` is *not* supported: dockerd answers
//!   `missing ':' in substitution`.
//! - `'…'` keeps everything literally; `"…"` expands `$` and lets the escape character
//!   escape `"`, `$` and itself only; quotes are removed.
//! - Outside quotes the escape character (`\` or the `# escape=` one) keeps the next
//!   character literally.
//! - Unset variables expand to nothing.
//!
//! Which arguments are expanded (and with which variables) is decided per instruction in
//! [`Command::expanded`]; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER and ONBUILD
//! are left alone (the shell does its own expansion).

use crate::dockerfile::{ArgDef, Command, KeyValue};
use berth_gocompat::quote;
use std::collections::HashMap;
use std::fmt;

/// Variables for substitution: name to value.
pub type Env = HashMap<String, String>;

/// Builds an [`Env`] from `NAME=value` strings (a later one wins; a bare `NAME` is empty).
pub fn env_map<I, S>(list: I) -> Env
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    list.into_iter()
        .map(|e| match e.as_ref().split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.as_ref().to_string(), String::new()),
        })
        .collect()
}

/// A word that cannot be expanded; prints as dockerd: `failed to process "…": reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    /// The word as written.
    pub word: String,
    /// Why, in dockerd's words.
    pub reason: String,
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to process {}: {}",
            quote::quote(&self.word),
            self.reason
        )
    }
}

impl std::error::Error for ExpandError {}

/// The word lexer, for one escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer { escape }
    }

    /// Expands and unquotes `word` into one string (spaces kept).
    pub fn word(&self, word: &str, env: &Env) -> Result<String, ExpandError> {
        self.run(word, env).map(|(w, _)| w)
    }

    /// Expands and unquotes `word`, then splits it into words at unquoted whitespace,
    /// including whitespace that came from variables (EXPOSE does so).
    pub fn words(&self, word: &str, env: &Env) -> Result<Vec<String>, ExpandError> {
        self.run(word, env).map(|(_, ws)| ws)
    }

    fn run(&self, word: &str, env: &Env) -> Result<(String, Vec<String>), ExpandError> {
        let mut scan = Scan {
            chars: word.chars().collect(),
            pos: 0,
            env,
            escape: self.escape,
        };
        scan.until(None).map_err(|reason| ExpandError {
            word: word.to_string(),
            reason,
        })
    }
}

struct Scan<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a Env,
    escape: char,
}

/// Words being split while the string is built.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

type Step<T> = Result<T, String>;

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end.
    fn until(&mut self, stop: Option<char>) -> Step<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '\'' | '"' => {
                    let s = if c == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted()?
                    };
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.next();
                    if c == self.escape {
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Step<String> {
        self.next();
        let mut s = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Step<String> {
        self.next();
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    return Ok(s);
                }
                Some('$') => s.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.escape {
                        match self.peek() {
                            // A trailing escape is dropped; the quote stays unclosed.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.next();
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    s.push(c);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<&str> {
        self.env.get(name).map(String::as_str)
    }

    /// A substitution word up to `}`.
    fn braced_word(&mut self) -> Step<String> {
        match self.until(Some('}')) {
            Ok((w, _)) => Ok(w),
            Err(_) if self.peek().is_none() => Err("syntax error: missing '}'".into()),
            Err(e) => Err(e),
        }
    }

    fn dollar(&mut self) -> Step<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.lookup(&name).unwrap_or_default().to_string());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let unset_message = |word: &str, default: &str| {
            let msg = if word.is_empty() { default } else { word };
            format!("{name}: {msg}")
        };
        match self.next() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default().to_string()),
            Some('?') => {
                let word = self.braced_word()?;
                match self.lookup(&name) {
                    Some(v) => Ok(v.to_string()),
                    None => Err(unset_message(&word, "is not allowed to be unset")),
                }
            }
            Some(':') => {
                let modifier = self.next();
                let word = self.braced_word()?;
                let value = self.lookup(&name);
                let set_and_not_empty = value.is_some_and(|v| !v.is_empty());
                match modifier {
                    Some('+') => Ok(if set_and_not_empty {
                        word
                    } else {
                        String::new()
                    }),
                    Some('-') => Ok(match value {
                        Some(v) if !v.is_empty() => v.to_string(),
                        _ => word,
                    }),
                    Some('?') => match value {
                        None => Err(unset_message(&word, "is not allowed to be unset")),
                        Some("") => Err(unset_message(&word, "is not allowed to be empty")),
                        Some(v) => Ok(v.to_string()),
                    },
                    m => Err(format!(
                        "unsupported modifier ({}) in substitution",
                        m.unwrap_or('\u{fffd}')
                    )),
                }
            }
            _ => Err("missing ':' in substitution".into()),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special
    /// parameter character (`@*#?-$!0`).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(c) {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphabetic() || is_digit(c) || c == '_') {
                break;
            }
            self.next();
            name.push(c);
        }
        name
    }
}

/// Go's `unicode.IsDigit` (decimal digits), approximated beyond ASCII by Rust's numerics.
fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

impl Command {
    /// This instruction with its arguments expanded as dockerd does before dispatching it,
    /// with `env` = the config's environment plus the build arguments in effect (see
    /// [`crate::buildargs::BuildArgs::expansion_env`]):
    ///
    /// - ENV and LABEL: keys and values; ARG: names and defaults;
    /// - COPY and ADD: sources, destination and `--chown` (not `--from`, not `--chmod`);
    /// - WORKDIR, USER, STOPSIGNAL, each VOLUME;
    /// - EXPOSE: each port, split into several where a variable holds spaces.
    ///
    /// FROM is expanded with the global (pre-FROM) build arguments only: see
    /// [`crate::dockerfile::FromSpec::expanded`]. Other instructions come back unchanged.
    pub fn expanded(&self, lexer: &Lexer, env: &Env) -> Result<Command, ExpandError> {
        let w = |s: &str| lexer.word(s, env);
        let pairs = |kv: &[KeyValue]| -> Result<Vec<KeyValue>, ExpandError> {
            kv.iter()
                .map(|p| {
                    Ok(KeyValue {
                        key: w(&p.key)?,
                        value: w(&p.value)?,
                    })
                })
                .collect()
        };
        let list =
            |l: &[String]| -> Result<Vec<String>, ExpandError> { l.iter().map(|s| w(s)).collect() };
        let opt = |o: &Option<String>| o.as_deref().map(w).transpose();
        let mut out = self.clone();
        match &mut out {
            Command::Env(kv) | Command::Label(kv) => *kv = pairs(kv)?,
            Command::Arg(args) => {
                for a in args.iter_mut() {
                    *a = ArgDef {
                        key: w(&a.key)?,
                        value: opt(&a.value)?,
                    };
                }
            }
            Command::Copy(c) => {
                c.sources = list(&c.sources)?;
                c.dest = w(&c.dest)?;
                c.chown = opt(&c.chown)?.filter(|s| !s.is_empty());
            }
            Command::Add(a) => {
                a.sources = list(&a.sources)?;
                a.dest = w(&a.dest)?;
                a.chown = opt(&a.chown)?.filter(|s| !s.is_empty());
            }
            Command::Workdir(s) | Command::User(s) | Command::StopSignal(s) => *s = w(s)?,
            Command::Volume(v) => *v = list(v)?,
            Command::Expose(ports) => {
                let mut all = Vec::new();
                for p in ports.iter() {
                    all.extend(lexer.words(p, env)?);
                }
                *ports = all;
            }
            Command::From(_)
            | Command::Run(_)
            | Command::Cmd(_)
            | Command::Entrypoint(_)
            | Command::Shell(_)
            | Command::Healthcheck(_)
            | Command::Maintainer(_)
            | Command::Onbuild(_) => {}
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        env_map(["A=a", "SP=x  y", "EMPTY=", "N=1", "Q=\"q\"", "A=again"])
    }

    fn word(s: &str) -> Result<String, String> {
        Lexer::new('\\').word(s, &env()).map_err(|e| e.to_string())
    }

    #[test]
    fn later_env_entries_win_and_bare_names_are_empty() {
        let e = env_map(["X=1", "X=2", "Y", "Z=a=b"]);
        assert_eq!(e["X"], "2");
        assert_eq!(e["Y"], "");
        assert_eq!(e["Z"], "a=b");
    }

    #[test]
    fn substitutes_like_dockerd() {
        for (input, want) in [
            ("$A", "again"),
            ("${A}", "again"),
            ("x$A-y", "xagain-y"),
            ("$UNSET|${UNSET}", "|"),
            ("${UNSET:-def}", "def"),
            ("${EMPTY:-def}", "def"),
            ("${A:-def}", "again"),
            ("${A:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${UNSET:+alt}", ""),
            ("${A?msg}", "again"),
            ("${EMPTY?msg}", ""),
            ("${A:?msg}", "again"),
            ("${UNSET:-$A}", "again"),
            ("${UNSET:-${N:+n$N}}", "n1"),
            ("${UNSET:-'x y'}", "x y"),
            ("$", "$"),
            ("a$", "a$"),
            ("$.x", "$.x"),
            ("$1x", "x"),
            ("$@", ""),
            ("\\$A", "$A"),
            ("\\\\$A", "\\again"),
            ("'$A'", "$A"),
            ("'a\\b'", "a\\b"),
            ("\"$A\"", "again"),
            ("\"\\$A\"", "$A"),
            ("\"a\\\"b\"", "a\"b"),
            ("\"a\\b\"", "a\\b"),
            ("\"a\\\\b\"", "a\\b"),
            ("\"'$A'\"", "'again'"),
            ("'\"$A\"'", "\"$A\""),
            ("a\\ b", "a b"),
            ("trailing\\", "trailing"),
            ("$Q", "\"q\""),
            ("x${SP}y", "xx  yy"),
        ] {
            assert_eq!(word(input), Ok(want.to_string()), "{input:?}");
        }
    }

    // Messages as dockerd 20.10 answers `ENV a=<word>` with them.
    #[test]
    fn refuses_like_dockerd() {
        for (input, msg) in [
            (
                "${b-x}",
                r#"failed to process "${b-x}": missing ':' in substitution"#,
            ),
            (
                "${}",
                r#"failed to process "${}": syntax error: bad substitution"#,
            ),
            (
                "${:a}",
                r#"failed to process "${:a}": syntax error: bad substitution"#,
            ),
            (
                "${{a}",
                r#"failed to process "${{a}": syntax error: bad substitution"#,
            ),
            ("${", r#"failed to process "${": syntax error: missing '}'"#),
            (
                "${b",
                r#"failed to process "${b": missing ':' in substitution"#,
            ),
            (
                "${b:-x",
                r#"failed to process "${b:-x": syntax error: missing '}'"#,
            ),
            (
                "\"b",
                r#"failed to process "\"b": unexpected end of statement while looking for matching double-quote"#,
            ),
            (
                "\"b\\",
                r#"failed to process "\"b\\": unexpected end of statement while looking for matching double-quote"#,
            ),
            (
                "'b",
                r#"failed to process "'b": unexpected end of statement while looking for matching single-quote"#,
            ),
            ("${b?oops}", r#"failed to process "${b?oops}": b: oops"#),
            (
                "${b?}",
                r#"failed to process "${b?}": b: is not allowed to be unset"#,
            ),
            (
                "${b:?}",
                r#"failed to process "${b:?}": b: is not allowed to be unset"#,
            ),
            (
                "${EMPTY:?}",
                r#"failed to process "${EMPTY:?}": EMPTY: is not allowed to be empty"#,
            ),
            (
                "${EMPTY:?no $A}",
                r#"failed to process "${EMPTY:?no $A}": EMPTY: no again"#,
            ),
            (
                "${b:=x}",
                r#"failed to process "${b:=x}": unsupported modifier (=) in substitution"#,
            ),
            (
                "${b:-\"x}",
                r#"failed to process "${b:-\"x}": syntax error: missing '}'"#,
            ),
        ] {
            assert_eq!(word(input), Err(msg.to_string()), "{input:?}");
        }
    }

    #[test]
    fn splits_words_after_substitution() {
        let l = Lexer::new('\\');
        let w = |s: &str| l.words(s, &env()).unwrap();
        assert_eq!(w("$SP"), ["x", "y"]);
        assert_eq!(w("80 $SP/udp"), ["80", "x", "y/udp"]);
        assert_eq!(w("\"$SP\""), ["x  y"]);
        assert_eq!(w("a\\ b c"), ["a b", "c"]);
        assert_eq!(w("  "), Vec::<String>::new());
        assert_eq!(w("\"\""), Vec::<String>::new());
        assert_eq!(w("''x"), ["x"]);
    }

    #[test]
    fn the_escape_character_is_configurable() {
        let l = Lexer::new('`');
        let e = env();
        assert_eq!(l.word("`$A", &e).unwrap(), "$A");
        assert_eq!(l.word("c:\\dir\\$A", &e).unwrap(), "c:\\dir\\again");
        assert_eq!(l.word("\"`\"`$A\"", &e).unwrap(), "\"$A");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[-a-zA-Z0-9 ${}:?+'\"\\\\`]{0,24}") {
            let e = env();
            let _ = Lexer::new('\\').word(&s, &e);
            let _ = Lexer::new('`').words(&s, &e);
        }

        #[test]
        fn plain_text_is_unchanged(s in "[a-zA-Z0-9 ./_-]{0,24}") {
            proptest::prop_assert_eq!(Lexer::new('\\').word(&s, &env()).unwrap(), s);
        }
    }
}
