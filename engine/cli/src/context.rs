//! What every command needs: the daemon client (from `-H`, `BERTH_HOST`, TLS flags) and
//! the configuration directory.

use std::cell::OnceCell;
use std::path::PathBuf;

use crate::cli::GlobalOpts;
use crate::client::endpoint::{Endpoint, DEFAULT_HOST};
use crate::client::tls::{client_config, TlsOptions};
use crate::client::Client;
use crate::error::CliError;

pub struct Ctx {
    global: GlobalOpts,
    client: OnceCell<Client>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Ctx {
    pub fn new(global: GlobalOpts) -> Ctx {
        Ctx {
            global,
            client: OnceCell::new(),
        }
    }

    /// The client configuration directory: `--config`, `BERTH_CONFIG`, or `~/.berth`.
    pub fn config_dir(&self) -> PathBuf {
        if let Some(d) = &self.global.config {
            return d.clone();
        }
        if let Some(d) = env("BERTH_CONFIG") {
            return PathBuf::from(d);
        }
        let home = env("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".berth")
    }

    /// The daemon client, built on first use.
    pub fn client(&self) -> Result<&Client, CliError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = self.build_client()?;
        Ok(self.client.get_or_init(|| c))
    }

    fn build_client(&self) -> Result<Client, CliError> {
        let g = &self.global;
        if g.host.len() > 1 {
            return Err(CliError::new("specify only one -H").code(crate::error::EXIT_DAEMON));
        }
        let host = g
            .host
            .first()
            .cloned()
            .or_else(|| env("BERTH_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let verify = g.tlsverify || env("BERTH_TLS_VERIFY").is_some();
        let use_tls = g.tls || verify;
        let endpoint = Endpoint::parse(&host, use_tls)
            .map_err(|e| CliError::new(e).code(crate::error::EXIT_DAEMON))?;
        let tls = match (&endpoint, use_tls) {
            (Endpoint::Tcp { .. }, true) => {
                let dir = env("BERTH_CERT_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.config_dir());
                let explicit_cert = g.tlscert.is_some() || g.tlskey.is_some();
                let opts = TlsOptions {
                    verify,
                    ca: g.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem")),
                    cert: g.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem")),
                    key: g.tlskey.clone().unwrap_or_else(|| dir.join("key.pem")),
                    explicit_cert,
                };
                Some(client_config(&opts).map_err(CliError::new)?)
            }
            _ => None,
        };
        let version = env("BERTH_API_VERSION");
        Ok(Client::new(endpoint, tls, version.as_deref()).with_debug(g.debug))
    }
}
