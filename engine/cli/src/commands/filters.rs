//! `--filter key=value` flags as the API's `filters` parameter: a JSON map from each key
//! to the set of its values (`{"status":{"exited":true}}`), the form every daemon accepts.

use serde_json::{Map, Value};

use crate::error::{CliError, EXIT_DAEMON};

pub fn to_json(flags: &[String]) -> Result<Option<String>, CliError> {
    if flags.is_empty() {
        return Ok(None);
    }
    let mut m = Map::new();
    for f in flags {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::new(format!("bad format of filter (expected name=value): {f}"))
                .code(EXIT_DAEMON)
        })?;
        let entry = m
            .entry(k.trim().to_lowercase())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(set) = entry {
            set.insert(v.to_string(), Value::Bool(true));
        }
    }
    Ok(Some(Value::Object(m).to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_values_by_key() {
        let f = super::to_json(&[
            "status=exited".into(),
            "label=a=b".into(),
            "status=created".into(),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            f,
            r#"{"status":{"exited":true,"created":true},"label":{"a=b":true}}"#
        );
        assert!(super::to_json(&["nonsense".into()]).is_err());
        assert_eq!(super::to_json(&[]).unwrap(), None);
    }
}
