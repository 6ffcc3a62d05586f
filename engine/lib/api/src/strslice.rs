//! `StrSlice`: a list of strings that old clients may also send as one plain string
//! (`"Cmd": "echo hi"`), as dockerd accepts for `Cmd`, `Entrypoint` and `Shell`.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StrSlice(pub Vec<String>);

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        match Form::deserialize(d) {
            Ok(Form::One(s)) => Ok(StrSlice(vec![s])),
            Ok(Form::Many(v)) => Ok(StrSlice(v)),
            Err(_) => Err(serde::de::Error::custom(
                "expected a string or an array of strings",
            )),
        }
    }
}

impl From<Vec<String>> for StrSlice {
    fn from(v: Vec<String>) -> Self {
        StrSlice(v)
    }
}

impl StrSlice {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_string_array_and_null() {
        let s: StrSlice = serde_json::from_str(r#""echo hi""#).unwrap();
        assert_eq!(s.0, vec!["echo hi"]);
        let s: StrSlice = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(s.0, vec!["a", "b"]);
        let s: Option<StrSlice> = serde_json::from_str("null").unwrap();
        assert!(s.is_none());
        assert!(serde_json::from_str::<StrSlice>("3").is_err());
    }
}
