//! `.dockerignore`: reading the file into patterns and deciding which context paths they
//! exclude, as docker 20.10 does (the CLI filters the context it sends; dockerd removes an
//! excluded Dockerfile and `.dockerignore` from the context it received).
//!
//! - Lines starting with `#` are comments (only in the first column); blank lines are
//!   skipped; each pattern is trimmed, cleaned like `filepath.Clean`, and loses a leading
//!   `/`. A `!` makes an exception that re-includes what earlier patterns excluded; the
//!   last matching pattern decides.
//! - `*` and `?` stop at `/`, `**` crosses directories, `[...]` and `\` as in Go's
//!   `filepath.Match`. A pattern also excludes everything under a directory it matches.
//! - Like docker, a pattern is turned into a regular expression, so regex operators that
//!   Go's `filepath.Match` does not know (`+`, `|`, `(…)`, `{n}`) keep their regex meaning.

use berth_gocompat::glob;
use berth_gocompat::path as gopath;
use regex::Regex;
use std::fmt;

/// A pattern list docker refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreError {
    /// A lone `!`.
    IllegalExclusion,
    /// Malformed as a `filepath.Match` pattern or as a regular expression; holds the pattern.
    BadPattern(String),
}

impl fmt::Display for IgnoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // docker's texts; the pattern is added after docker's words, to say which one.
            IgnoreError::IllegalExclusion => f.write_str("illegal exclusion pattern: \"!\""),
            IgnoreError::BadPattern(p) => write!(f, "syntax error in pattern: {p}"),
        }
    }
}

impl std::error::Error for IgnoreError {}

/// The patterns of a `.dockerignore` file, in order, exceptions with their leading `!`.
pub fn read_patterns(content: &str) -> Vec<String> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    let mut out = Vec::new();
    for line in content.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = gopath::clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        out.push(cleaned);
    }
    out
}

/// Decides which context paths a pattern list excludes.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<IgnorePattern>,
}

#[derive(Debug, Clone)]
struct IgnorePattern {
    /// The cleaned pattern without its `!`.
    text: String,
    exception: bool,
    /// Number of path elements of `text`.
    depth: usize,
    regex: Regex,
}

impl Matcher {
    /// Checks and compiles patterns as `read_patterns` returns them.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, IgnoreError> {
        let mut compiled = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let p = gopath::clean(p);
            let (exception, text) = match p.strip_prefix('!') {
                Some("") => return Err(IgnoreError::IllegalExclusion),
                Some(rest) => (true, rest.to_string()),
                None => (false, p),
            };
            let bad = || IgnoreError::BadPattern(text.clone());
            glob::matches(&text, ".").map_err(|_| bad())?;
            let regex = Regex::new(&to_regex(&text)).map_err(|_| bad())?;
            compiled.push(IgnorePattern {
                depth: text.split('/').count(),
                text,
                exception,
                regex,
            });
        }
        Ok(Matcher { patterns: compiled })
    }

    /// Reads a `.dockerignore` file's content.
    pub fn from_dockerignore(content: &str) -> Result<Matcher, IgnoreError> {
        Matcher::new(&read_patterns(content))
    }

    /// Is the context path excluded? `path` is relative to the context root, with `/`; it
    /// is cleaned first, and the root itself (`.`) is never excluded.
    pub fn matches(&self, path: &str) -> bool {
        let path = gopath::clean(path);
        if path == "." {
            return false;
        }
        let parent = gopath::dir(&path);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut excluded = false;
        for p in &self.patterns {
            let mut hit = p.regex.is_match(&path);
            if !hit && parent != "." && p.depth <= parent_dirs.len() {
                hit = p.regex.is_match(&parent_dirs[..p.depth].join("/"));
            }
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Are there exceptions (`!` patterns)?
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// May a walk of the context skip this excluded directory with all it holds? Not when
    /// an exception pattern lies beneath it (docker's archive walk checks the same: the
    /// exception's text starts with `dir/`).
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        if !self.matches(dir) {
            return false;
        }
        let dir_slash = format!("{}/", gopath::clean(dir));
        !self
            .patterns
            .iter()
            .any(|p| p.exception && format!("{}/", p.text).starts_with(&dir_slash))
    }
}

/// The patterns the docker CLI actually applies when it sends a context: `.dockerignore`
/// and the Dockerfile (slash path relative to the context) are re-included when excluded,
/// so the daemon can read them; it removes them from the context afterwards when the
/// file's patterns exclude them (see [`Matcher::matches`]). A Dockerfile read from stdin
/// is not re-included.
pub fn keep_build_files(
    patterns: &[String],
    dockerfile: &str,
    dockerfile_from_stdin: bool,
) -> Result<Vec<String>, IgnoreError> {
    let matcher = Matcher::new(patterns)?;
    let mut out = patterns.to_vec();
    if matcher.matches(".dockerignore") {
        out.push("!.dockerignore".into());
    }
    if matcher.matches(dockerfile) && !dockerfile_from_stdin {
        out.push(format!("!{dockerfile}"));
    }
    Ok(out)
}

/// docker's translation of a pattern into an anchored regular expression.
fn to_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                re.push_str(if i == chars.len() { ".*" } else { "(.*/)?" });
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '.' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    if next.is_ascii_punctuation() {
                        // Go's regexp reads an escaped punctuation mark as itself.
                        re.push_str(&regex::escape(&next.to_string()));
                    } else {
                        re.push('\\');
                        re.push(next);
                    }
                }
                None => re.push('\\'),
            },
            '{' => match repetition_len(&chars[i - 1..]) {
                // Go's regexp reads `{` as a literal unless a repetition follows.
                Some(len) => {
                    re.extend(&chars[i - 1..i - 1 + len]);
                    i += len - 1;
                }
                None => re.push_str("\\{"),
            },
            '}' => re.push_str("\\}"),
            _ => re.push(c),
        }
    }
    re.push('$');
    re
}

/// The length of `{n}`, `{n,}` or `{n,m}` at the start of `chars`, if one is there.
fn repetition_len(chars: &[char]) -> Option<usize> {
    let close = chars.iter().position(|&c| c == '}')?;
    let body: String = chars[1..close].iter().collect();
    let (min, max) = match body.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (body.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = digits(min) && max.is_none_or(|m| m.is_empty() || digits(m));
    ok.then_some(close + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &[&str], path: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Matcher::new(&patterns).unwrap().matches(path)
    }

    #[test]
    fn reads_patterns_like_docker() {
        let file = "\u{feff}# comment\n  # indented is a pattern\n\n  *.md  \n!README.md\n\
                    ! keep \n/abs/./x/\n//\n/\ndir/../other\r\n#!not\n!\n";
        assert_eq!(
            read_patterns(file),
            [
                "# indented is a pattern",
                "*.md",
                "!README.md",
                "!keep",
                "abs/x",
                "/",
                "/",
                "other",
                "!"
            ]
        );
    }

    // Expected answers as pkg/fileutils.Matches of docker 20.10 gives them.
    #[test]
    fn matches_like_docker() {
        for (patterns, path, want) in [
            (&["*"][..], "fileutils.go", true),
            (&["*.go"][..], "fileutils.go", true),
            (&["*.go"][..], "dir/fileutils.go", false),
            (&["**/*.go"][..], "dir/sub/fileutils.go", true),
            (&["**/*.go"][..], "fileutils.go", true),
            (&["**"][..], "a/b/c", true),
            (&["dir/**"][..], "dir/a/b", true),
            (&["dir/**"][..], "dir", false),
            (&["**/dir"][..], "a/dir/file", true),
            (&["dir"][..], "dir/sub/file", true),
            (&["dir/"][..], "dir/sub/file", true),
            (&["/dir"][..], "dir/file", false),
            (&["d?r"][..], "dir/file", true),
            (&["di*"][..], "dir/x", true),
            (&["dir/*"][..], "dir/a/b", true),
            (&["*/b"][..], "a/b/c", true),
            (&["a/b"][..], "a", false),
            (&["docs", "!docs/keep.md"][..], "docs/keep.md", false),
            (&["docs", "!docs/keep.md"][..], "docs/other.md", true),
            (&["!docs/keep.md", "docs"][..], "docs/keep.md", true),
            (
                &["*.md", "!README*.md", "README-secret.md"][..],
                "README-secret.md",
                true,
            ),
            (
                &["*.md", "!README*.md", "README-secret.md"][..],
                "README-x.md",
                false,
            ),
            (&["a.b"][..], "axb", false),
            (&["a$b"][..], "a$b", true),
            (&["a+b"][..], "aab", true),
            (&["a\\*b"][..], "a*b", true),
            (&["a\\*b"][..], "axb", false),
            (&["[a-c]x"][..], "bx", true),
            (&["[^a]x"][..], "bx", true),
            (&["a{b"][..], "a{b", true),
            (&["a{2}"][..], "aa", true),
            (&["a\\<b"][..], "a<b", true),
            (&["Dockerfile"][..], "./Dockerfile", true),
            (&["*"][..], ".", false),
            (&["x"][..], "", false),
        ] {
            assert_eq!(excluded(patterns, path), want, "{patterns:?} on {path:?}");
        }
    }

    #[test]
    fn a_leading_slash_is_dropped_when_the_file_is_read() {
        let m = Matcher::from_dockerignore("/dir\n").unwrap();
        assert!(m.matches("dir/file"));
        assert!(!m.matches("sub/dir/file"));
    }

    #[test]
    fn refuses_what_docker_refuses() {
        assert_eq!(
            Matcher::new(&["!"]).unwrap_err().to_string(),
            "illegal exclusion pattern: \"!\""
        );
        assert_eq!(
            Matcher::new(&["ok", "[x"]).unwrap_err(),
            IgnoreError::BadPattern("[x".into())
        );
        assert_eq!(
            Matcher::new(&["a(b"]).unwrap_err().to_string(),
            "syntax error in pattern: a(b"
        );
        assert!(Matcher::new(&["trailing\\"]).is_err());
        assert!(Matcher::from_dockerignore("# only comments\n\n").is_ok());
    }

    #[test]
    fn dirs_with_exceptions_beneath_are_walked() {
        let m = Matcher::new(&["docs", "!docs/keep/*.md", "build"]).unwrap();
        assert!(m.has_exceptions());
        assert!(!m.can_skip_dir("docs"));
        assert!(m.can_skip_dir("build"));
        assert!(!m.can_skip_dir("src"), "not excluded at all");
        let m = Matcher::new(&["build"]).unwrap();
        assert!(!m.has_exceptions());
        assert!(m.can_skip_dir("build"));
    }

    // As docker 20.10's CLI sends a context: an excluded Dockerfile and .dockerignore are
    // sent anyway.
    #[test]
    fn build_files_are_still_sent() {
        let p: Vec<String> = read_patterns("*\n");
        let kept = keep_build_files(&p, "sub/Dockerfile.dev", false).unwrap();
        assert_eq!(kept, ["*", "!.dockerignore", "!sub/Dockerfile.dev"]);
        let m = Matcher::new(&kept).unwrap();
        assert!(!m.matches("sub/Dockerfile.dev"));
        assert!(!m.matches(".dockerignore"));
        assert!(m.matches("sub/other"));
        let p: Vec<String> = read_patterns("Dockerfile*\n");
        let kept = keep_build_files(&p, "Dockerfile", false).unwrap();
        assert_eq!(kept, ["Dockerfile*", "!Dockerfile"]);
        let kept = keep_build_files(&p, "Dockerfile", true).unwrap();
        assert_eq!(
            kept,
            ["Dockerfile*"],
            "a Dockerfile from stdin is not in the context"
        );
        assert_eq!(
            keep_build_files(&["x".into()], "Dockerfile", false).unwrap(),
            ["x"]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(p in "[a-c*?!/.\\\\{}+()\\[\\]^-]{0,10}", path in "[a-c/.]{0,10}") {
            if let Ok(m) = Matcher::new(&[p]) {
                let _ = m.matches(&path);
                let _ = m.can_skip_dir(&path);
            }
        }
    }
}
