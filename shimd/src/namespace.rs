//! The namespace every call works in, read from the `berth-namespace` metadata.

use berth_proto::{DEFAULT_NAMESPACE, NAMESPACE_HEADER};
use tonic::{Request, Status};

/// The validated namespace of a request ("default" when the call names none).
pub fn of<T>(req: &Request<T>) -> Result<String, Status> {
    let ns = match req.metadata().get(NAMESPACE_HEADER) {
        None => return Ok(DEFAULT_NAMESPACE.to_string()),
        Some(v) => v
            .to_str()
            .map_err(|_| Status::invalid_argument("namespace header is not valid text"))?,
    };
    validate(ns)?;
    Ok(ns.to_string())
}

/// Namespaces are path components and database keys: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn validate(ns: &str) -> Result<(), Status> {
    let ok = !ns.is_empty()
        && ns.len() <= 64
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && ns.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "invalid namespace {ns:?}: use lowercase letters, digits, '.', '_' and '-' (at most 64)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_refuses_paths() {
        assert!(validate("berth").is_ok());
        assert!(validate("k8s.io").is_ok());
        assert!(validate("").is_err());
        assert!(validate("../etc").is_err());
        assert!(validate("a/b").is_err());
        assert!(validate("Upper").is_err());
        assert!(validate(&"a".repeat(65)).is_err());
    }
}
