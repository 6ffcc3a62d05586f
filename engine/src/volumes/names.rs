//! Volume names: what the local driver accepts (they name a directory under the data root),
//! and the names anonymous volumes get.

use crate::error::{Error, Result};

/// The characters dockerd allows, as its message shows them.
const ALLOWED: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// A name of at least two characters, starting with a letter or digit, then letters,
/// digits, `_`, `.` and `-`: it never leaves the volumes directory.
pub fn validate(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b.len() <= 255
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "create {name}: {name:?} includes invalid characters for a local volume name, only \"{ALLOWED}\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

/// A fresh name for an anonymous volume: 64 hex digits, like dockerd's.
pub fn anonymous() -> String {
    crate::util::new_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_dockerd() {
        for ok in ["db", "my-vol_1.2", "0abc", &anonymous()] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a",
            "",
            "-x",
            ".x",
            "a/b",
            "..",
            "./app",
            "x y",
            "ü1",
            &"a".repeat(256),
        ] {
            let e = validate(bad).unwrap_err();
            assert_eq!(e.kind, crate::error::Kind::InvalidParameter, "{bad}");
        }
        assert_eq!(
            validate("./app").unwrap_err().message,
            "create ./app: \"./app\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }
}
