//! What every command needs: the daemon client (from `-H`, `--context`, the environment
//! or the current docker context, with TLS flags) and the configuration directory.

use std::cell::OnceCell;
use std::path::PathBuf;

use crate::cli::GlobalOpts;
use crate::client::endpoint::{Endpoint, DEFAULT_HOST};
use crate::client::tls::{client_config, TlsOptions};
use crate::client::Client;
use crate::daemon_contexts::{Store, DEFAULT_CONTEXT};
use crate::error::{CliError, EXIT_DAEMON};

pub struct Ctx {
    global: GlobalOpts,
    client: OnceCell<Client>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `BERTH_<NAME>`, else docker's `DOCKER_<NAME>`.
pub fn berth_or_docker_env(name: &str) -> Option<String> {
    env(&format!("BERTH_{name}")).or_else(|| env(&format!("DOCKER_{name}")))
}

/// Where the daemon is and how to reach it, before any connection.
struct Target {
    host: String,
    tls: Option<TlsOptions>,
}

/// Which docker context applies, and why: the name and whether `--context` chose it.
pub enum ContextChoice {
    /// `-H` or a host variable: the context store is not consulted.
    Host,
    Named(String),
}

impl Ctx {
    pub fn new(global: GlobalOpts) -> Ctx {
        Ctx {
            global,
            client: OnceCell::new(),
        }
    }

    /// The directory given by `--config`, `BERTH_CONFIG` or `DOCKER_CONFIG`, if any.
    fn explicit_config_dir(&self) -> Option<PathBuf> {
        self.global
            .config
            .clone()
            .or_else(|| berth_or_docker_env("CONFIG").map(PathBuf::from))
    }

    fn home() -> PathBuf {
        PathBuf::from(env("HOME").unwrap_or_else(|| "/root".into()))
    }

    /// The client configuration directory: `--config`, `BERTH_CONFIG`, `DOCKER_CONFIG`,
    /// or `~/.berth`.
    pub fn config_dir(&self) -> PathBuf {
        self.explicit_config_dir()
            .unwrap_or_else(|| Self::home().join(".berth"))
    }

    /// The directory of the docker context store and `currentContext`: the configuration
    /// directory when one is given, else docker's `~/.docker`, so both CLIs share contexts.
    pub fn contexts_dir(&self) -> PathBuf {
        self.explicit_config_dir()
            .unwrap_or_else(|| Self::home().join(".docker"))
    }

    pub fn context_store(&self) -> Store {
        Store::new(self.contexts_dir())
    }

    /// The context in use, by docker's precedence: `--host`, then `--context`, then a
    /// host variable, then `DOCKER_CONTEXT` (`BERTH_CONTEXT`), then `currentContext`.
    pub fn context_choice(&self) -> Result<ContextChoice, CliError> {
        let g = &self.global;
        if !g.host.is_empty() && g.context.is_some() {
            return Err(CliError::new(
                "conflicting options: either specify --host or --context, not both",
            )
            .code(EXIT_DAEMON));
        }
        if !g.host.is_empty() {
            return Ok(ContextChoice::Host);
        }
        if let Some(c) = &g.context {
            return Ok(ContextChoice::Named(c.clone()));
        }
        if berth_or_docker_env("HOST").is_some() {
            return Ok(ContextChoice::Host);
        }
        if let Some(c) = berth_or_docker_env("CONTEXT") {
            return Ok(ContextChoice::Named(c));
        }
        let config = crate::config::Config::load(&self.contexts_dir()).map_err(CliError::new)?;
        Ok(ContextChoice::Named(
            config
                .current_context()
                .unwrap_or(DEFAULT_CONTEXT)
                .to_string(),
        ))
    }

    /// The name `context show` prints and `context ls` stars.
    pub fn current_context_name(&self) -> Result<String, CliError> {
        Ok(match self.context_choice()? {
            ContextChoice::Host => DEFAULT_CONTEXT.to_string(),
            ContextChoice::Named(n) => n,
        })
    }

    /// The daemon client, built on first use.
    pub fn client(&self) -> Result<&Client, CliError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = self.build_client()?;
        Ok(self.client.get_or_init(|| c))
    }

    /// The host of the default context: `-H`, the host variable or the default socket.
    pub fn default_host(&self) -> String {
        self.global
            .host
            .first()
            .cloned()
            .or_else(|| berth_or_docker_env("HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string())
    }

    /// `-H`/host variable with the TLS flags and variables.
    fn flag_target(&self) -> Target {
        let g = &self.global;
        let verify = g.tlsverify || berth_or_docker_env("TLS_VERIFY").is_some();
        let use_tls = g.tls || verify;
        let dir = berth_or_docker_env("CERT_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.config_dir());
        let tls = use_tls.then(|| TlsOptions {
            verify,
            ca: g.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem")),
            cert: g.tlscert.clone().unwrap_or_else(|| dir.join("cert.pem")),
            key: g.tlskey.clone().unwrap_or_else(|| dir.join("key.pem")),
            explicit_cert: g.tlscert.is_some() || g.tlskey.is_some(),
        });
        Target {
            host: self.default_host(),
            tls,
        }
    }

    /// A stored context's docker endpoint and its TLS material.
    fn context_target(&self, name: &str) -> Result<Target, CliError> {
        if name == DEFAULT_CONTEXT {
            return Ok(self.flag_target());
        }
        let store = self.context_store();
        let c = store.get(name).map_err(CliError::new)?;
        let dir = store.tls_dir(name);
        let tls = (!c.tls_files.is_empty() || c.skip_tls_verify).then(|| TlsOptions {
            verify: !c.skip_tls_verify,
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            explicit_cert: false,
        });
        Ok(Target { host: c.host, tls })
    }

    fn build_client(&self) -> Result<Client, CliError> {
        let g = &self.global;
        if g.host.len() > 1 {
            return Err(CliError::new("specify only one -H").code(EXIT_DAEMON));
        }
        let target = match self.context_choice()? {
            ContextChoice::Host => self.flag_target(),
            ContextChoice::Named(n) => self.context_target(&n)?,
        };
        let endpoint = Endpoint::parse(&target.host, target.tls.is_some())
            .map_err(|e| CliError::new(e).code(EXIT_DAEMON))?;
        let tls = match (&endpoint, &target.tls) {
            (Endpoint::Tcp { .. }, Some(opts)) => Some(client_config(opts).map_err(CliError::new)?),
            _ => None,
        };
        let version = env("BERTH_API_VERSION");
        Ok(Client::new(endpoint, tls, version.as_deref()).with_debug(g.debug))
    }
}
