//! Docker contexts: named daemon endpoints (`berth context create/ls/use/...`), kept in
//! the docker CLI's own store so a context made by one CLI works in the other. (Not to be
//! confused with `context::Ctx`, what one command runs with.)
//!
//! Layout under the configuration directory: `contexts/meta/<sha256 of name>/meta.json`
//! holds the name, description and docker endpoint; TLS material is
//! `contexts/tls/<sha256 of name>/docker/{ca,cert,key}.pem`; the current context is
//! `currentContext` in `config.json`.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The context that stands for "the host from the environment or the default socket".
pub const DEFAULT_CONTEXT: &str = "default";

/// TLS files of a context's docker endpoint.
pub const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// One stored context.
#[derive(Debug, Clone)]
pub struct Context {
    pub name: String,
    pub description: String,
    pub host: String,
    pub skip_tls_verify: bool,
    /// The TLS files this context has (a subset of [`TLS_FILES`]).
    pub tls_files: Vec<&'static str>,
    /// meta.json as stored (other endpoints and metadata are kept as they are).
    pub meta: Value,
}

/// What `context create` stores for the docker endpoint.
pub struct NewEndpoint {
    pub host: String,
    pub skip_tls_verify: bool,
    /// Contents of ca.pem, cert.pem, key.pem, where given.
    pub tls: Vec<(&'static str, Vec<u8>)>,
}

/// The context store of one configuration directory.
pub struct Store {
    root: PathBuf,
}

/// docker's rule for context names.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'));
    if !(first_ok && rest_ok) {
        return Err(format!(
            "context name {name:?} is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""
        ));
    }
    if name == DEFAULT_CONTEXT {
        return Err(format!("\"{DEFAULT_CONTEXT}\" is a reserved context name"));
    }
    Ok(())
}

fn private_dir(dir: &Path) -> Result<(), String> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::io::Write;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    fn id(name: &str) -> String {
        hex::encode(Sha256::digest(name.as_bytes()))
    }

    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.root.join("contexts/meta").join(Self::id(name))
    }

    pub fn tls_root(&self, name: &str) -> PathBuf {
        self.root.join("contexts/tls").join(Self::id(name))
    }

    /// Where the docker endpoint's TLS files are.
    pub fn tls_dir(&self, name: &str) -> PathBuf {
        self.tls_root(name).join("docker")
    }

    fn parse(&self, meta: Value) -> Option<Context> {
        let name = meta.get("Name")?.as_str()?.to_string();
        let docker = meta.pointer("/Endpoints/docker");
        let field = |k: &str| docker.and_then(|d| d.get(k));
        let tls_dir = self.tls_dir(&name);
        Some(Context {
            description: meta
                .pointer("/Metadata/Description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            host: field("Host")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            skip_tls_verify: field("SkipTLSVerify")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tls_files: TLS_FILES
                .into_iter()
                .filter(|f| tls_dir.join(f).is_file())
                .collect(),
            name,
            meta,
        })
    }

    /// The named context; an error naming it when it does not exist.
    pub fn get(&self, name: &str) -> Result<Context, String> {
        let path = self.meta_dir(name).join("meta.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("context {name:?} does not exist"))
            }
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        serde_json::from_slice(&bytes)
            .ok()
            .and_then(|v| self.parse(v))
            .ok_or_else(|| format!("{} is not a context's meta.json", path.display()))
    }

    /// Every stored context, sorted by name (unreadable entries are skipped).
    pub fn list(&self) -> Vec<Context> {
        let mut out: Vec<Context> = fs::read_dir(self.root.join("contexts/meta"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read(e.path().join("meta.json")).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .filter_map(|v| self.parse(v))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn create(&self, name: &str, description: &str, ep: &NewEndpoint) -> Result<(), String> {
        check_name(name)?;
        if self.meta_dir(name).join("meta.json").exists() {
            return Err(format!("context {name:?} already exists"));
        }
        let metadata = if description.is_empty() {
            json!({})
        } else {
            json!({ "Description": description })
        };
        let meta = json!({
            "Name": name,
            "Metadata": metadata,
            "Endpoints": { "docker": { "Host": ep.host, "SkipTLSVerify": ep.skip_tls_verify } },
        });
        if !ep.tls.is_empty() {
            let dir = self.tls_dir(name);
            private_dir(&dir)?;
            for (file, data) in &ep.tls {
                write_file(&dir.join(file), data, 0o600)?;
            }
        }
        let dir = self.meta_dir(name);
        private_dir(&dir)?;
        write_file(
            &dir.join("meta.json"),
            serde_json::to_string(&meta)
                .expect("JSON values serialize")
                .as_bytes(),
            0o644,
        )
    }

    pub fn remove(&self, name: &str) -> Result<(), String> {
        self.get(name)?;
        for dir in [self.meta_dir(name), self.tls_root(name)] {
            match fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("removing {}: {e}", dir.display())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_under_the_name_digest_and_lists_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf());
        let ep = NewEndpoint {
            host: "tcp://127.0.0.1:2376".into(),
            skip_tls_verify: false,
            tls: vec![("ca.pem", b"CA".to_vec())],
        };
        store.create("remote", "a box", &ep).unwrap();
        // The directory is named by sha256("remote") in hex, as docker names it.
        let meta = dir
            .path()
            .join("contexts/meta/b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a/meta.json");
        assert!(meta.is_file());
        let c = store.get("remote").unwrap();
        assert_eq!(
            (c.host.as_str(), c.description.as_str()),
            ("tcp://127.0.0.1:2376", "a box")
        );
        assert_eq!(c.tls_files, ["ca.pem"]);
        assert!(store.create("remote", "", &ep).is_err());
        assert_eq!(store.list().len(), 1);
        store.remove("remote").unwrap();
        assert!(store.get("remote").unwrap_err().contains("does not exist"));
    }

    #[test]
    fn names_as_docker_checks_them() {
        assert!(check_name("ok-1.x_y+z").is_ok());
        assert!(check_name("a").is_err());
        assert!(check_name("-a").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("default").unwrap_err().contains("reserved"));
    }
}
