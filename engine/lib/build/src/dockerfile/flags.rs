//! An instruction's `--name=value` flags, checked as dockerd checks them: only the flags
//! the instruction knows, each once (except repeatable ones), each with a value.

use std::collections::HashMap;

/// How a flag may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Once, with a value.
    Single,
    /// Any number of times, each with a value.
    Repeated,
}

/// The values given, by flag name.
#[derive(Debug, Default)]
pub(crate) struct Given {
    values: HashMap<String, Vec<String>>,
}

impl Given {
    /// The value of a single flag, None when absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The value of a single flag, None when absent or empty (dockerd treats both alike).
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Every value of a repeatable flag.
    pub fn all(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }
}

/// Checks `flags` (as written, `--name=value`) against the known ones.
pub(crate) fn parse(flags: &[String], known: &[(&str, Kind)]) -> Result<Given, String> {
    let mut given = Given::default();
    for arg in flags {
        let Some(body) = arg.strip_prefix("--") else {
            return Err(format!("Arg should start with -- : {arg}"));
        };
        if body.is_empty() {
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(_, kind)) = known.iter().find(|(k, _)| *k == name) else {
            return Err(format!("Unknown flag: {name}"));
        };
        if kind == Kind::Single && given.values.contains_key(name) {
            return Err(format!("Duplicate flag specified: {name}"));
        }
        let Some(value) = value else {
            return Err(format!("Missing a value on flag: {name}"));
        };
        given
            .values
            .entry(name.to_string())
            .or_default()
            .push(value.to_string());
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COPY: &[(&str, Kind)] = &[("chown", Kind::Single), ("from", Kind::Single)];

    fn p(flags: &[&str], known: &[(&str, Kind)]) -> Result<Given, String> {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        parse(&flags, known)
    }

    // Messages as dockerd 20.10 answers (after "dockerfile parse error line N: ").
    #[test]
    fn checks_flags_like_dockerd() {
        let g = p(&["--chown=1:2", "--from="], COPY).unwrap();
        assert_eq!(g.get("chown"), Some("1:2"));
        assert_eq!(g.get("from"), Some(""));
        assert_eq!(g.non_empty("from"), None);
        assert_eq!(g.get("other"), None);
        assert_eq!(p(&["--foo=1"], COPY).unwrap_err(), "Unknown flag: foo");
        assert_eq!(
            p(&["--chown"], COPY).unwrap_err(),
            "Missing a value on flag: chown"
        );
        assert_eq!(
            p(&["--chown=1", "--chown=2"], COPY).unwrap_err(),
            "Duplicate flag specified: chown"
        );
        assert_eq!(
            p(&["-x"], COPY).unwrap_err(),
            "Arg should start with -- : -x"
        );
        assert_eq!(p(&["--foo"], &[]).unwrap_err(), "Unknown flag: foo");
        let g = p(&["--mount=a", "--mount=b"], &[("mount", Kind::Repeated)]).unwrap();
        assert_eq!(g.all("mount"), ["a", "b"]);
        assert!(g.all("none").is_empty());
    }
}
