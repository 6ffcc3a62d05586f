//! From one logical line to a raw node: the instruction name, its `--flags`, and its
//! arguments split the way dockerd's parser splits them for that instruction (JSON or
//! shell form, whitespace-separated words, `name=value` pairs). Errors found here are
//! dockerd's "failed to parse Dockerfile" errors.

use super::json::{self, JsonArgs};
use super::lines::is_space;
use berth_gocompat::quote;

/// A parsed line before it becomes a typed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// The instruction name, lower-case.
    pub cmd: String,
    pub flags: Vec<String>,
    /// The arguments; for ONBUILD the trigger's name followed by its arguments.
    pub args: Vec<String>,
    /// The arguments were a JSON array.
    pub json: bool,
    /// The logical line as read.
    pub original: String,
    /// ONBUILD's trigger.
    pub child: Option<Box<Node>>,
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// dockerd's whitespace between words (`[\t\v\f\r ]+`).
fn is_word_gap(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits at the first run of word gaps: (before, after) with `after` None without a gap.
fn split_first_gap(s: &str) -> (&str, Option<&str>) {
    match s.find(is_word_gap) {
        Some(i) => (&s[..i], Some(s[i..].trim_start_matches(is_word_gap))),
        None => (s, None),
    }
}

fn split_gaps(s: &str) -> Vec<String> {
    s.split(is_word_gap)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn parse_line(line: &str, escape: char) -> Result<Node, String> {
    let trimmed = line.trim_matches(is_space);
    let (cmd, rest) = split_first_gap(trimmed);
    let cmd = cmd.to_lowercase();
    let (args_text, flags) = match rest {
        Some(rest) => extract_flags(rest),
        None => (String::new(), Vec::new()),
    };
    let rest = args_text.trim_matches(is_space);
    let mut node = Node {
        cmd,
        flags,
        args: Vec::new(),
        json: false,
        original: line.to_string(),
        child: None,
    };
    match node.cmd.as_str() {
        "add" | "copy" | "volume" => (node.args, node.json) = maybe_json_list(rest)?,
        "cmd" | "entrypoint" | "run" | "shell" => (node.args, node.json) = maybe_json(rest)?,
        "arg" => node.args = words(rest, escape),
        "env" => node.args = name_values(rest, "ENV", escape)?,
        "label" => node.args = name_values(rest, "LABEL", escape)?,
        "expose" | "from" => node.args = split_gaps(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" if !rest.is_empty() => {
            node.args = vec![rest.to_string()];
        }
        "healthcheck" => (node.args, node.json) = health(rest)?,
        "onbuild" if !rest.is_empty() => {
            let child = parse_line(rest, escape)?;
            node.args = std::iter::once(child.cmd.clone())
                .chain(child.args.iter().cloned())
                .collect();
            node.child = Some(Box::new(child));
        }
        // Instructions without arguments, and unknown ones (refused later, with their
        // line number).
        _ => {}
    }
    Ok(node)
}

/// Leading `--name[=value]` words (quotes and `\` processed in them) and the rest of the
/// line. A lone `--` ends the flags and is dropped.
fn extract_flags(line: &str) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut i = 0;
    loop {
        let Some(&(at, c)) = chars.get(i) else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            return (String::new(), flags);
        };
        match phase {
            Phase::Spaces => {
                if is_space(c) {
                    i += 1;
                    continue;
                }
                let dash_dash = c == '-' && chars.get(i + 1).is_some_and(|&(_, n)| n == '-');
                if !dash_dash {
                    return (line[at..].to_string(), flags);
                }
                phase = Phase::Word;
            }
            Phase::Word => {
                if is_space(c) {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (line[at..].to_string(), flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                    i += 1;
                    continue;
                }
                if c == '\\' {
                    match chars.get(i + 1) {
                        None => {
                            i += 1;
                            continue;
                        }
                        Some(&(_, n)) => {
                            word.push(n);
                            i += 2;
                            continue;
                        }
                    }
                }
                word.push(c);
                i += 1;
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                if c == '\\' {
                    match chars.get(i + 1) {
                        None => {
                            phase = Phase::Word;
                            i += 1;
                            continue;
                        }
                        Some(&(_, n)) => {
                            word.push(n);
                            i += 2;
                            continue;
                        }
                    }
                }
                word.push(c);
                i += 1;
            }
        }
    }
}

/// Words separated by whitespace; quotes and escapes are kept in the words (they are
/// processed when the words are expanded), but quoted or escaped whitespace does not split.
pub(crate) fn words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut i = 0;
    loop {
        let Some(&c) = chars.get(i) else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                out.push(word);
            }
            return out;
        };
        i += 1;
        if phase == Phase::Spaces {
            if is_space(c) {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Spaces => unreachable!("handled above"),
            Phase::Word => {
                if is_space(c) {
                    phase = Phase::Spaces;
                    if blank_ok || !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                }
                if c == escape {
                    let Some(&n) = chars.get(i) else {
                        // An escape at the very end is dropped.
                        continue;
                    };
                    word.push(c);
                    word.push(n);
                    i += 1;
                    continue;
                }
                word.push(c);
            }
            Phase::Quote(q) => {
                if c == q {
                    phase = Phase::Word;
                }
                if c == escape && q != '\'' {
                    let Some(&n) = chars.get(i) else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(c);
                    word.push(n);
                    i += 1;
                    continue;
                }
                word.push(c);
            }
        }
    }
}

/// ENV and LABEL: `KEY value` (one pair, the value is the rest of the line) or
/// `k=v k2="v 2" ...`; as a flat key, value, key, value list.
fn name_values(rest: &str, what: &str, escape: char) -> Result<Vec<String>, String> {
    let ws = words(rest, escape);
    let Some(first) = ws.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        return match split_first_gap(rest) {
            (key, Some(value)) => Ok(vec![key.to_string(), value.to_string()]),
            _ => Err(format!("{what} must have two arguments")),
        };
    }
    let mut out = Vec::new();
    for w in &ws {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                quote::quote(w)
            ));
        };
        out.push(k.to_string());
        out.push(v.to_string());
    }
    Ok(out)
}

/// CMD, ENTRYPOINT, RUN, SHELL: a JSON array, or the whole text as one argument.
fn maybe_json(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    match json::parse_args(rest) {
        JsonArgs::Strings(list) => Ok((list, true)),
        JsonArgs::NotStrings => Err(NOT_STRINGS.into()),
        JsonArgs::NotJson => Ok((vec![rest.to_string()], false)),
    }
}

/// COPY, ADD, VOLUME: a JSON array, or whitespace-separated words.
fn maybe_json_list(rest: &str) -> Result<(Vec<String>, bool), String> {
    match json::parse_args(rest) {
        JsonArgs::Strings(list) => Ok((list, true)),
        JsonArgs::NotStrings => Err(NOT_STRINGS.into()),
        JsonArgs::NotJson => Ok((split_gaps(rest), false)),
    }
}

/// HEALTHCHECK: a type word, then a command in JSON or shell form.
fn health(rest: &str) -> Result<(Vec<String>, bool), String> {
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    let (typ, cmd) = match rest.find(is_space) {
        Some(i) => (&rest[..i], rest[i..].trim_start_matches(is_space)),
        None => (rest, ""),
    };
    let (cmd, json) = maybe_json(cmd)?;
    Ok((std::iter::once(typ.to_string()).chain(cmd).collect(), json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(line: &str) -> Node {
        parse_line(line, '\\').unwrap()
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_are_case_insensitive_and_flags_come_first() {
        let n = node("  CoPy --chown=1:1 --from='st age' a b  ");
        assert_eq!(n.cmd, "copy");
        assert_eq!(n.flags, ["--chown=1:1", "--from=st age"]);
        assert_eq!(n.args, ["a", "b"]);
        assert_eq!(node("COPY -- a b").flags, Vec::<String>::new());
        assert_eq!(node("COPY -- a b").args, ["a", "b"]);
        assert_eq!(node("COPY a --chown=1 b").args, ["a", "--chown=1", "b"]);
        assert_eq!(node("COPY --x=\"a\\\"b\" c d").flags, ["--x=a\"b"]);
        assert_eq!(node("COPY --x=a\\ b c d").flags, ["--x=a b"]);
        assert_eq!(node("RUN --mount=type=cache").flags, ["--mount=type=cache"]);
        assert_eq!(node("RUN --mount=type=cache").args, Vec::<String>::new());
        assert_eq!(node("FROM").args, Vec::<String>::new());
    }

    #[test]
    fn json_and_shell_forms_as_dockerd_reads_them() {
        let n = node(r#"CMD ["a", "b c"]"#);
        assert_eq!((n.args, n.json), (strs(&["a", "b c"]), true));
        let n = node(r#"CMD ["a"] b"#);
        assert_eq!((n.args, n.json), (strs(&["a"]), true));
        let n = node(r#"CMD ["a" "#);
        assert_eq!((n.args, n.json), (strs(&[r#"["a""#]), false));
        let n = node("RUN  echo   a ");
        assert_eq!((n.args, n.json), (strs(&["echo   a"]), false));
        assert_eq!(
            parse_line("CMD [\"a\", 1]", '\\').unwrap_err(),
            "when using JSON array syntax, arrays must be comprised of strings only"
        );
        let n = node("COPY [\"a b\", \"/c d/\"]");
        assert_eq!((n.args, n.json), (strs(&["a b", "/c d/"]), true));
        let n = node("VOLUME /a\t/b");
        assert_eq!((n.args, n.json), (strs(&["/a", "/b"]), false));
        let n = node("HEALTHCHECK --retries=3 CMD [\"curl\", \"x\"]");
        assert_eq!((n.args, n.json), (strs(&["CMD", "curl", "x"]), true));
        let n = node("HEALTHCHECK CMD curl  x");
        assert_eq!((n.args, n.json), (strs(&["CMD", "curl  x"]), false));
        assert_eq!(node("HEALTHCHECK NONE").args, ["NONE"]);
    }

    #[test]
    fn env_and_label_pairs_as_dockerd_splits_them() {
        assert_eq!(node("ENV a  b  c").args, ["a", "b  c"]);
        assert_eq!(
            node(r#"ENV a=1 b="x y" c=x\ y d='q'"#).args,
            ["a", "1", "b", "\"x y\"", "c", "x\\ y", "d", "'q'"]
        );
        assert_eq!(node(r#"LABEL "k 1"=v"#).args, ["\"k 1\"", "v"]);
        assert_eq!(node("ENV =b").args, ["", "b"]);
        assert_eq!(node("ENV").args, Vec::<String>::new());
        for (line, msg) in [
            ("ENV a", "ENV must have two arguments"),
            ("LABEL a", "LABEL must have two arguments"),
            (
                "ENV a=b c",
                "Syntax error - can't find = in \"c\". Must be of the form: name=value",
            ),
        ] {
            assert_eq!(parse_line(line, '\\').unwrap_err(), msg);
        }
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            words(r#"a="x y" b c\ d"#, '\\'),
            ["a=\"x y\"", "b", "c\\ d"]
        );
        assert_eq!(words(r#"'a\' b"#, '\\'), ["'a\\'", "b"]);
        assert_eq!(words("a`  b", '`'), ["a` ", "b"]);
        assert_eq!(words("\"\" x", '\\'), ["\"\"", "x"]);
        assert_eq!(words("end\\", '\\'), ["end"]);
        assert_eq!(words("\"a\\", '\\'), ["\"a"]);
    }

    #[test]
    fn onbuild_carries_its_trigger() {
        let n = node("ONBUILD run --mount=x echo hi");
        assert_eq!(n.args, ["run", "echo hi"]);
        let child = n.child.unwrap();
        assert_eq!(child.flags, ["--mount=x"]);
        assert_eq!(
            parse_line("ONBUILD ENV a", '\\').unwrap_err(),
            "ENV must have two arguments"
        );
        assert!(node("ONBUILD").child.is_none());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "[a-zA-Z =\"'\\\\`\\[\\],-]{0,30}") {
            let _ = parse_line(&s, '\\');
            let _ = parse_line(&s, '`');
        }
    }
}
