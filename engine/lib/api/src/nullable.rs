//! Go's encoding/json leaves a field at its zero value when the JSON says `null`, and
//! clients rely on it (docker-py sends `"Driver": null`, `"Gateway": null`, ...). Fields of
//! request types that clients may send as `null` deserialize with `or_default`.

use serde::{Deserialize, Deserializer};

/// Deserializes `null` as the type's default value.
pub fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Default)]
    #[serde(default)]
    struct S {
        #[serde(deserialize_with = "super::or_default")]
        a: String,
        #[serde(deserialize_with = "super::or_default")]
        b: bool,
    }

    #[test]
    fn null_is_the_default_and_values_are_kept() {
        let s: S = serde_json::from_str(r#"{"a": null, "b": null}"#).unwrap();
        assert_eq!((s.a.as_str(), s.b), ("", false));
        let s: S = serde_json::from_str(r#"{"a": "x", "b": true}"#).unwrap();
        assert_eq!((s.a.as_str(), s.b), ("x", true));
        assert!(serde_json::from_str::<S>(r#"{"a": 3}"#).is_err());
    }
}
