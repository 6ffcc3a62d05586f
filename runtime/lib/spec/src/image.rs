//! The parts of an OCI/docker image config that shape a container's process.

use serde_json::Value;

use crate::{Error, Result};

/// `config.{User,Env,Entrypoint,Cmd,WorkingDir}` of an image config.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    pub user: Option<String>,
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: Option<String>,
}

fn strings(v: &Value, field: &str) -> Result<Vec<String>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::ImageConfig(format!("{field} holds a non-string")))
            })
            .collect(),
        Some(_) => Err(Error::ImageConfig(format!("{field} is not a list"))),
    }
}

fn string(v: &Value, field: &str) -> Result<Option<String>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::ImageConfig(format!("{field} is not a string"))),
    }
}

impl ImageConfig {
    /// Parses an image config JSON (the blob an image manifest's `config` points at).
    pub fn from_json(bytes: &[u8]) -> Result<ImageConfig> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| Error::ImageConfig(e.to_string()))?;
        let c = match v.get("config") {
            None | Some(Value::Null) => return Ok(ImageConfig::default()),
            Some(c @ Value::Object(_)) => c,
            Some(_) => return Err(Error::ImageConfig("config is not an object".into())),
        };
        Ok(ImageConfig {
            user: string(c, "User")?,
            env: strings(c, "Env")?,
            entrypoint: strings(c, "Entrypoint")?,
            cmd: strings(c, "Cmd")?,
            working_dir: string(c, "WorkingDir")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_wrong_types() {
        let c = ImageConfig::from_json(br#"{"config":{"Cmd":null,"Env":["A=1"]}}"#).unwrap();
        assert_eq!(c.env, vec!["A=1"]);
        assert!(c.cmd.is_empty());
        assert!(ImageConfig::from_json(br#"{"config":{"Cmd":"sh"}}"#).is_err());
        assert!(ImageConfig::from_json(b"not json").is_err());
    }
}
