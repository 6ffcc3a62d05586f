//! The OCI documents clients give shimd — a container's runtime spec, an exec's process —
//! read typed (`oci_spec::runtime`), with errors that say what is wrong and where.

use oci_spec::runtime::{Process, Spec, User};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// `data` as a `what` ("an OCI spec"); the error completes "the ... of container X":
/// "is not valid JSON: ...", "is not a JSON object" or "is not an OCI spec: at
/// process.user.uid: invalid type ...".
fn parse<T: DeserializeOwned>(data: &[u8], what: &str) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    let v = serde_path_to_error::deserialize(&mut *de)
        .map_err(|e| describe(e.inner(), &e.path().to_string(), data, what))?;
    de.end().map_err(|e| describe(&e, ".", data, what))?;
    // A struct reads from a JSON array too: only an object is a document.
    if !data.trim_ascii_start().starts_with(b"{") {
        return Err("is not a JSON object".into());
    }
    Ok(v)
}

/// What is wrong with `data`, found at `path` ("." for the whole document).
fn describe(e: &serde_json::Error, path: &str, data: &[u8], what: &str) -> String {
    if matches!(e.classify(), Category::Syntax | Category::Eof) {
        return format!("is not valid JSON: {e}");
    }
    if !data.trim_ascii_start().starts_with(b"{") {
        return "is not a JSON object".into();
    }
    if path == "." {
        format!("is not {what}: {e}")
    } else {
        format!("is not {what}: at {path}: {e}")
    }
}

/// A container's OCI runtime spec.
pub fn spec(data: &[u8]) -> Result<Spec, String> {
    parse(data, "an OCI spec")
}

/// An exec's OCI process. Its `user` may be left out: shimd decides who it runs as.
pub fn process(data: &[u8]) -> Result<Process, String> {
    #[derive(serde::Deserialize)]
    struct Any(serde_json::Map<String, serde_json::Value>);
    let Any(mut fields) = parse(data, "an OCI process")?;
    fields
        .entry("user")
        .or_insert_with(|| serde_json::json!({}));
    let text = serde_json::Value::Object(fields).to_string();
    parse(text.as_bytes(), "an OCI process")
}

/// A user identity resolved in a rootfs as the OCI `process.user`.
pub fn user(u: &berth_spec::user::User) -> User {
    let mut o = User::default();
    o.set_uid(u.uid)
        .set_gid(u.gid)
        .set_additional_gids(Some(u.additional_gids.clone()));
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::to_value(berth_spec::default_spec("ns", "id")).unwrap()
    }

    #[test]
    fn specs_are_read_typed_and_bad_ones_named() {
        let s = spec(base().to_string().as_bytes()).unwrap();
        assert_eq!(
            s.process().as_ref().unwrap().cwd(),
            std::path::Path::new("/")
        );
        assert!(spec(b"{not json")
            .unwrap_err()
            .starts_with("is not valid JSON"));
        assert_eq!(spec(b"[]").unwrap_err(), "is not a JSON object");
        assert!(spec(b"{} x").unwrap_err().starts_with("is not valid JSON"));
        let mut bad = base();
        bad["process"]["user"]["uid"] = serde_json::json!("root");
        let e = spec(bad.to_string().as_bytes()).unwrap_err();
        assert!(
            e.starts_with("is not an OCI spec: at process.user.uid: invalid type"),
            "{e}"
        );
        let mut bad = base();
        bad["linux"]["namespaces"][0]["type"] = serde_json::json!("bogus");
        let e = spec(bad.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("at linux.namespaces[0].type"), "{e}");
    }

    #[test]
    fn exec_processes_may_leave_out_the_user() {
        let p = process(br#"{"args":["ls"],"cwd":"/"}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        let e = process(br#"{"args":["ls"]}"#).unwrap_err();
        assert!(e.contains("cwd"), "{e}");
        assert_eq!(process(b"[]").unwrap_err(), "is not a JSON object");
        let e = process(br#"{"args":"ls","cwd":"/"}"#).unwrap_err();
        assert!(e.contains("at args"), "{e}");
        let u = user(&berth_spec::user::User {
            uid: 1,
            gid: 2,
            additional_gids: vec![3],
        });
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            serde_json::json!({"uid": 1, "gid": 2, "additionalGids": [3]})
        );
    }
}
