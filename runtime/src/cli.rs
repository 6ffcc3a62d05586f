//! Command-line parsing in the style runc uses (Go's flag package): `-flag`, `--flag`,
//! `--flag=value`, `--flag value`, boolean flags with an optional `=true|false`.
//! Hand-written because the runtime starts for every container operation and must be lean.

use std::collections::HashMap;

/// One flag a command accepts: its names (long first) and whether it takes a value.
pub struct FlagSpec {
    pub names: &'static [&'static str],
    pub takes_value: bool,
}

pub const fn flag(names: &'static [&'static str]) -> FlagSpec {
    FlagSpec {
        names,
        takes_value: false,
    }
}

pub const fn opt(names: &'static [&'static str]) -> FlagSpec {
    FlagSpec {
        names,
        takes_value: true,
    }
}

/// Parsed flags (by their first name) and positional arguments.
#[derive(Default, Debug)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    pub positional: Vec<String>,
}

impl Parsed {
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn is_set(&self, name: &str) -> bool {
        match self.value(name) {
            Some(v) => v != "false",
            None => false,
        }
    }
}

/// How parsing treats arguments after the first positional one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Trailing {
    /// Flags may also follow positionals (`delete ID --force`).
    Flags,
    /// Everything after this many positionals is kept verbatim (`exec ID cmd -x`).
    VerbatimAfter(usize),
}

/// Parses `args` against `specs`. `context` names the command in errors.
pub fn parse(
    args: &[String],
    specs: &[FlagSpec],
    trailing: Trailing,
    context: &str,
) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if let Trailing::VerbatimAfter(n) = trailing {
            if out.positional.len() >= n {
                out.positional.push(arg.clone());
                continue;
            }
        }
        if arg == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        if arg.len() < 2 || !arg.starts_with('-') {
            out.positional.push(arg.clone());
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spec = specs
            .iter()
            .find(|s| s.names.contains(&name))
            .ok_or_else(|| format!("{context}: unknown flag {arg} (see --help)"))?;
        let value = if spec.takes_value {
            match inline {
                Some(v) => v,
                None => {
                    let v = args
                        .get(i)
                        .ok_or_else(|| format!("{context}: flag {arg} needs a value"))?;
                    i += 1;
                    v.clone()
                }
            }
        } else {
            match inline.as_deref() {
                None | Some("true") | Some("1") => "true".to_string(),
                Some("false") | Some("0") => "false".to_string(),
                Some(v) => return Err(format!("{context}: flag {arg}: bad boolean {v:?}")),
            }
        };
        out.values.entry(spec.names[0]).or_default().push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[FlagSpec] = &[
        opt(&["bundle", "b"]),
        flag(&["detach", "d"]),
        opt(&["env", "e"]),
    ];

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn go_style_flags() {
        let p = parse(
            &s(&["-bundle", "/b", "--detach", "-e=A=1", "--env", "B=2", "id"]),
            SPECS,
            Trailing::Flags,
            "t",
        )
        .unwrap();
        assert_eq!(p.value("bundle"), Some("/b"));
        assert!(p.is_set("detach"));
        assert_eq!(p.values("env"), &["A=1".to_string(), "B=2".to_string()]);
        assert_eq!(p.positional, vec!["id"]);
    }

    #[test]
    fn verbatim_after_id() {
        let p = parse(
            &s(&["-d", "id", "sh", "-c", "x"]),
            SPECS,
            Trailing::VerbatimAfter(1),
            "t",
        )
        .unwrap();
        assert_eq!(p.positional, vec!["id", "sh", "-c", "x"]);
    }

    #[test]
    fn errors() {
        assert!(parse(&s(&["--nope"]), SPECS, Trailing::Flags, "t").is_err());
        assert!(parse(&s(&["--bundle"]), SPECS, Trailing::Flags, "t").is_err());
        assert!(parse(&s(&["--detach=maybe"]), SPECS, Trailing::Flags, "t").is_err());
        let p = parse(&s(&["--detach=false", "x"]), SPECS, Trailing::Flags, "t").unwrap();
        assert!(!p.is_set("detach"));
    }
}
