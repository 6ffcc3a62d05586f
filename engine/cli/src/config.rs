//! The client configuration file, `config.json` in docker's format, and the registry
//! credentials it holds (`auths.<registry>.auth` = base64 of `user:password`). The file
//! is private to its owner (0600, directory 0700).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_api::auth::AuthConfig;
use serde_json::{json, Map, Value};

pub struct Config {
    path: PathBuf,
    data: Map<String, Value>,
}

/// Credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Config {
    pub fn load(dir: &Path) -> Result<Config, String> {
        let path = dir.join("config.json");
        let data = match fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(format!(
                        "{} is not a JSON object: fix or remove it",
                        path.display()
                    ))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        Ok(Config { path, data })
    }

    pub fn credentials(&self, key: &str) -> Option<Credentials> {
        let auth = self.data.get("auths")?.get(key)?;
        if let (Some(u), Some(p)) = (
            auth.get("username").and_then(Value::as_str),
            auth.get("password").and_then(Value::as_str),
        ) {
            return Some(Credentials {
                username: u.into(),
                password: p.into(),
            });
        }
        let decoded = STANDARD.decode(auth.get("auth")?.as_str()?).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        Some(Credentials {
            username: u.into(),
            password: p.into(),
        })
    }

    pub fn store(&mut self, key: &str, c: &Credentials) {
        let auths = self.data.entry("auths").or_insert_with(|| json!({}));
        if !auths.is_object() {
            *auths = json!({});
        }
        let encoded = STANDARD.encode(format!("{}:{}", c.username, c.password));
        auths
            .as_object_mut()
            .expect("made an object above")
            .insert(key.to_string(), json!({ "auth": encoded }));
    }

    /// `currentContext`: the docker context commands use when nothing else names one.
    pub fn current_context(&self) -> Option<&str> {
        self.data
            .get("currentContext")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
    }

    /// Sets `currentContext` (`None`, or "default", removes it as docker does).
    pub fn set_current_context(&mut self, name: Option<&str>) {
        match name.filter(|n| *n != "default") {
            Some(n) => {
                self.data.insert("currentContext".into(), json!(n));
            }
            None => {
                self.data.remove("currentContext");
            }
        }
    }

    /// Removes the credentials; false when there were none.
    pub fn remove(&mut self, key: &str) -> bool {
        self.data
            .get_mut("auths")
            .and_then(Value::as_object_mut)
            .is_some_and(|a| a.remove(key).is_some())
    }

    /// Writes the file atomically with owner-only permissions.
    pub fn save(&self) -> Result<(), String> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let text = serde_json::to_string_pretty(&Value::Object(self.data.clone()))
            .expect("JSON values serialize");
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.write_all(b"\n")?;
                f.sync_all()
            })
            .and_then(|_| fs::rename(&tmp, &self.path));
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            format!("saving {}: {e}", self.path.display())
        })
    }
}

/// The `X-Registry-Auth` header value: the shared auth type, encoded (an empty object when
/// there are no credentials, which daemons take as anonymous access).
pub fn registry_auth_header(creds: Option<&Credentials>, server: &str) -> String {
    match creds {
        Some(c) => AuthConfig {
            username: c.username.clone(),
            password: c.password.clone(),
            server_address: server.to_string(),
            ..Default::default()
        },
        None => AuthConfig::default(),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stores_reads_and_removes_privately() {
        let dir = tempfile::tempdir().unwrap();
        let conf_dir = dir.path().join("conf");
        let mut c = Config::load(&conf_dir).unwrap();
        assert_eq!(c.credentials("r:5000"), None);
        let creds = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        c.store("r:5000", &creds);
        c.save().unwrap();
        let file = conf_dir.join("config.json");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&conf_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let text = fs::read_to_string(&file).unwrap();
        assert!(!text.contains("p:w"), "password stored in clear: {text}");
        let mut c = Config::load(&conf_dir).unwrap();
        assert_eq!(c.credentials("r:5000"), Some(creds));
        assert!(c.remove("r:5000"));
        assert!(!c.remove("r:5000"));
    }

    #[test]
    fn keeps_unknown_settings_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("config.json"), r#"{"psFormat": "x"}"#).unwrap();
        let mut c = Config::load(dir.path()).unwrap();
        c.store(
            "h",
            &Credentials {
                username: "a".into(),
                password: "b".into(),
            },
        );
        c.save().unwrap();
        let v: Value =
            serde_json::from_slice(&fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "x");
        fs::write(dir.path().join("config.json"), "[1]").unwrap();
        assert!(Config::load(dir.path()).is_err());
    }
}
