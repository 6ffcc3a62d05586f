//! The `filters` query parameter: JSON `{"key": ["v1", "v2"]}`, or the legacy form
//! `{"key": {"v1": true}}` that old clients send.

use std::collections::BTreeMap;

/// Parsed filters: each key with the values given for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the query value; an empty string means no filters.
    pub fn parse(s: &str) -> Result<Filters, String> {
        if s.trim().is_empty() {
            return Ok(Filters::default());
        }
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| format!("invalid filter: {e}"))?;
        let obj = v
            .as_object()
            .ok_or_else(|| "invalid filter: expected a JSON object".to_string())?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("invalid filter '{k}': values must be strings"))
                    })
                    .collect::<Result<_, _>>()?,
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(x, _)| x.clone())
                    .collect(),
                _ => return Err(format!("invalid filter '{k}'")),
            };
            out.insert(k.clone(), list);
        }
        Ok(Filters(out))
    }

    /// The JSON form (`{"key":["v"]}`) to send as the `filters` query parameter.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Refuses keys outside `allowed`, with dockerd's message.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("invalid filter '{k}'")),
            None => Ok(()),
        }
    }

    /// True when `key` is absent, or one of its values equals `value`.
    pub fn matches_exact(&self, key: &str, value: &str) -> bool {
        match self.0.get(key) {
            None => true,
            Some(vals) => vals.iter().any(|v| v == value),
        }
    }

    /// Label filters (`label=key` or `label=key=value`, all must hold) against `labels`.
    pub fn matches_labels(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).map(|x| x == v).unwrap_or(false),
            None => labels.contains_key(f.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let f = Filters::parse(r#"{"name":["a","b"],"status":{"running":true}}"#).unwrap();
        assert_eq!(f.get("name"), ["a", "b"]);
        assert_eq!(f.get("status"), ["running"]);
        assert!(Filters::parse("").unwrap().is_empty());
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{").is_err());
        assert!(Filters::parse(r#"{"a":[1]}"#).is_err());
    }

    #[test]
    fn validates_keys_and_labels() {
        let f = Filters::parse(r#"{"label":["a","b=c"]}"#).unwrap();
        assert!(f.validate(&["label"]).is_ok());
        assert_eq!(f.validate(&["name"]).unwrap_err(), "invalid filter 'label'");
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "x".to_string());
        assert!(!f.matches_labels("label", &l));
        l.insert("b".to_string(), "c".to_string());
        assert!(f.matches_labels("label", &l));
    }
}
