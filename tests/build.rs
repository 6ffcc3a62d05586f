//! Turns host-limitations.txt into the enum `berth_tests::skip::Host`: each listed key
//! becomes a variant, so `skip!(host::key)` with a key that is not listed fails to compile.

use std::fmt::Write as _;
use std::path::Path;

const LIST: &str = "host-limitations.txt";

/// The entries of the list, in order: (key, explanation).
fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{LIST}:{}", n + 1);
        let (key, why) = line
            .split_once(':')
            .ok_or_else(|| format!("{at}: expected `key: explanation`, got {line:?}"))?;
        let (key, why) = (key.trim(), why.trim());
        let plain = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(format!(
                "{at}: key {key:?} must be lowercase letters, digits and _ (it becomes a Rust name)"
            ));
        }
        if why.is_empty() {
            return Err(format!("{at}: key {key:?} has no explanation"));
        }
        if entries.iter().any(|(k, _)| k == key) {
            return Err(format!("{at}: key {key:?} is listed twice"));
        }
        entries.push((key.to_string(), why.to_string()));
    }
    Ok(entries)
}

fn render(entries: &[(String, String)]) -> String {
    let mut s = String::new();
    s.push_str(
        "/// A host limitation listed in tests/host-limitations.txt: a reason to skip that \
         holds in strict mode too.\n\
         #[allow(non_camel_case_types)]\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq)]\n\
         pub enum Host {\n",
    );
    for (key, why) in entries {
        let _ = writeln!(s, "    /// {why}\n    {key},");
    }
    s.push_str("}\n\nimpl Host {\n    /// Every listed limitation, in the list's order.\n    pub const ALL: &'static [Host] = &[");
    for (key, _) in entries {
        let _ = write!(s, "Host::{key}, ");
    }
    s.push_str("];\n\n    /// The key, as listed.\n    pub fn key(self) -> &'static str {\n        match self {\n");
    for (key, _) in entries {
        let _ = writeln!(s, "            Host::{key} => {key:?},");
    }
    s.push_str("        }\n    }\n\n    /// The list's explanation.\n    pub fn explanation(self) -> &'static str {\n        match self {\n");
    for (key, why) in entries {
        let _ = writeln!(s, "            Host::{key} => {why:?},");
    }
    s.push_str("        }\n    }\n}\n");
    s
}

fn main() {
    println!("cargo:rerun-if-changed={LIST}");
    let text = std::fs::read_to_string(LIST).unwrap_or_else(|e| panic!("reading {LIST}: {e}"));
    let entries = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"))
        .join("host_limitations.rs");
    std::fs::write(&out, render(&entries))
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
