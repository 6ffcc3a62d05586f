//! Talking to OCI distribution registries, through the `oci-client` crate (auth challenges,
//! bearer tokens, manifests, ranged blob fetches, chunked and monolithic uploads).
//!
//! Which endpoints are tried, in order: the registry's mirrors first, then the registry
//! itself; for each, HTTPS, then plain HTTP when the registry is allowed it
//! (loopback addresses always are, like dockerd; others when marked insecure). An insecure
//! registry's TLS certificate is not verified.

use std::sync::Once;

use futures::{Stream, StreamExt, TryStreamExt};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{sniff_media_type, Descriptor};
use crate::media;
use crate::reference::{Reference, DOCKER_HUB};

/// How to reach one registry host.
#[derive(Clone, Debug, Default)]
pub struct HostOptions {
    /// Allow plain HTTP and unverified TLS.
    pub insecure: bool,
    /// Extra CA certificates (PEM) to trust for this host.
    pub ca_pem: Vec<Vec<u8>>,
    /// Mirrors to try first ("https://mirror.example:5000", "http://..." or "host:port").
    pub mirrors: Vec<String>,
}

/// Credentials for a registry (all empty: anonymous).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// A refresh token of a token server (docker's "identitytoken").
    pub identity_token: String,
    /// A bearer token to send as is.
    pub registry_token: String,
}

impl Credentials {
    fn to_auth(&self) -> Result<RegistryAuth> {
        if !self.registry_token.is_empty() {
            return Ok(RegistryAuth::Bearer(self.registry_token.clone()));
        }
        if !self.identity_token.is_empty() {
            // Token servers accept the refresh token as the password of a basic-auth token
            // request (docker's credential helpers rely on the same).
            let user = if self.username.is_empty() {
                "<token>".to_string()
            } else {
                self.username.clone()
            };
            return Ok(RegistryAuth::Basic(user, self.identity_token.clone()));
        }
        if !self.username.is_empty() {
            return Ok(RegistryAuth::Basic(
                self.username.clone(),
                self.password.clone(),
            ));
        }
        Ok(RegistryAuth::Anonymous)
    }
}

struct Endpoint {
    /// "https://host:port"
    url: String,
    host: String,
    client: Client,
    /// The same endpoint configured for monolithic uploads (small blobs).
    mono: Client,
}

/// A session with the registry of one reference.
pub struct Remote {
    reference: Reference,
    endpoints: Vec<Endpoint>,
    chosen: usize,
    auth: RegistryAuth,
}

static CRYPTO: Once = Once::new();

fn install_crypto_provider() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn split_url(m: &str) -> (Option<&str>, &str) {
    if let Some(h) = m.strip_prefix("https://") {
        (Some("https"), h.trim_end_matches('/'))
    } else if let Some(h) = m.strip_prefix("http://") {
        (Some("http"), h.trim_end_matches('/'))
    } else {
        (None, m.trim_end_matches('/'))
    }
}

fn make_client(https: bool, host: &str, opts: &HostOptions, monolithic: bool) -> Client {
    let cfg = ClientConfig {
        protocol: if https {
            ClientProtocol::Https
        } else {
            ClientProtocol::HttpsExcept(vec![host.to_string()])
        },
        accept_invalid_certificates: opts.insecure,
        use_monolithic_push: monolithic,
        extra_root_certificates: opts
            .ca_pem
            .iter()
            .map(|p| Certificate {
                encoding: CertificateEncoding::Pem,
                data: p.clone(),
            })
            .collect(),
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(15)),
        read_timeout: Some(std::time::Duration::from_secs(120)),
        user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    };
    Client::new(cfg)
}

impl Remote {
    /// A session for `reference`; `host_opts` looks up the options of a host.
    pub async fn new(
        reference: &Reference,
        creds: &Credentials,
        host_opts: impl Fn(&str) -> HostOptions,
    ) -> Result<Remote> {
        install_crypto_provider();
        let auth = creds.to_auth()?;
        let own = host_opts(&reference.registry);
        let mut hosts: Vec<(Option<String>, String, HostOptions)> = Vec::new();
        for m in &own.mirrors {
            let (scheme, h) = split_url(m);
            let mo = host_opts(h);
            hosts.push((scheme.map(str::to_string), h.to_string(), mo));
        }
        hosts.push((None, reference.registry.clone(), own));
        let mut endpoints = Vec::new();
        for (scheme, host, opts) in hosts {
            let plain_ok = opts.insecure || crate::reference::is_loopback_host(&host);
            let schemes: Vec<bool> = match scheme.as_deref() {
                Some("http") => vec![false],
                Some(_) => vec![true],
                None if plain_ok => vec![true, false],
                None => vec![true],
            };
            for https in schemes {
                let client = make_client(https, &host, &opts, false);
                let mono = make_client(https, &host, &opts, true);
                let oci_host = oci_host(&host);
                client.store_auth_if_needed(&oci_host, &auth).await;
                mono.store_auth_if_needed(&oci_host, &auth).await;
                endpoints.push(Endpoint {
                    url: format!("{}://{host}", if https { "https" } else { "http" }),
                    host: host.clone(),
                    client,
                    mono,
                });
            }
        }
        Ok(Remote {
            reference: reference.clone(),
            endpoints,
            chosen: 0,
            auth,
        })
    }

    fn ep(&self) -> &Endpoint {
        &self.endpoints[self.chosen]
    }

    fn oci_ref(&self, digest: Option<&Digest>) -> oci_client::Reference {
        let mut r = self.reference.clone();
        if let Some(d) = digest {
            r.digest = Some(d.clone());
            r.tag = None;
        }
        r.to_oci(&self.ep().host)
    }

    /// Where the session talks to, e.g. "http://127.0.0.1:5000".
    pub fn endpoint(&self) -> &str {
        &self.ep().url
    }

    /// Fetches the reference's manifest or index, trying endpoints in order; returns its
    /// descriptor and bytes. A digest reference is verified against the bytes.
    pub async fn resolve(&mut self) -> Result<(Descriptor, Vec<u8>)> {
        let mut errors = Vec::new();
        for i in 0..self.endpoints.len() {
            self.chosen = i;
            let r = self.oci_ref(None);
            match self
                .ep()
                .client
                .pull_manifest_raw(&r, &self.auth, media::MANIFEST_ACCEPT)
                .await
            {
                Ok((body, _)) => {
                    let digest = Digest::of(&body);
                    if let Some(want) = &self.reference.digest {
                        if *want != digest {
                            return Err(Error::DigestMismatch {
                                what: format!("manifest of {}", self.reference),
                                expected: want.to_string(),
                                actual: digest.to_string(),
                            });
                        }
                    }
                    let mt = sniff_media_type(&body)?;
                    let desc = Descriptor::new(&mt, &digest, body.len() as u64);
                    return Ok((desc, body.to_vec()));
                }
                Err(e) => {
                    let not_found = is_not_found(&e);
                    let fatal = not_found || is_auth(&e);
                    errors.push(format!("{}: {}", self.ep().url, describe(&e)));
                    // A registry that answered decides; only unreachable endpoints fall through.
                    if fatal && (i + 1 == self.endpoints.len() || !is_mirror(self, i)) {
                        if not_found {
                            return Err(Error::NotFound(format!(
                                "image {} not found in the registry ({})",
                                self.reference,
                                self.ep().url
                            )));
                        }
                        return Err(self.err("manifest", e));
                    }
                }
            }
        }
        Err(Error::Registry(format!(
            "cannot reach the registry of {}: {}{}",
            self.reference,
            errors.join("; "),
            tls_hint(&errors)
        )))
    }

    /// Fetches a manifest or config by digest, verified.
    pub async fn fetch_small(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let d = desc.digest()?;
        let mut out = Vec::new();
        let mut s = self.fetch_blob(desc, 0).await?.0;
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        let actual = Digest::of(&out);
        if actual != d {
            return Err(Error::DigestMismatch {
                what: format!("blob {d} from {}", self.ep().url),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(out)
    }

    /// Fetches a manifest by digest from the repository (manifests are not blobs).
    pub async fn fetch_manifest(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let d = desc.digest()?;
        let r = self.oci_ref(Some(&d));
        let (body, _) = self
            .ep()
            .client
            .pull_manifest_raw(&r, &self.auth, media::MANIFEST_ACCEPT)
            .await
            .map_err(|e| self.err(&format!("manifest {d}"), e))?;
        let actual = Digest::of(&body);
        if actual != d {
            return Err(Error::DigestMismatch {
                what: format!("manifest {d} from {}", self.ep().url),
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(body.to_vec())
    }

    /// A byte stream of a blob from `offset`. The flag is true when the registry honoured
    /// the offset (false: the stream starts at 0). The caller verifies the digest.
    pub async fn fetch_blob(
        &self,
        desc: &Descriptor,
        offset: u64,
    ) -> Result<(
        std::pin::Pin<Box<dyn Stream<Item = Result<bytes::Bytes>> + Send>>,
        bool,
    )> {
        let d = desc.digest()?;
        let r = self.oci_ref(None);
        let layer = oci_client::manifest::OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: d.to_string(),
            size: desc.size,
            ..Default::default()
        };
        let map = |s: oci_client::client::SizedStream| {
            s.stream
                .map_err(|e| Error::io("reading a blob from the registry", e))
                .boxed()
        };
        if offset > 0 {
            let len = (desc.size as u64).saturating_sub(offset);
            let resp = self
                .ep()
                .client
                .pull_blob_stream_partial(&r, &layer, offset, Some(len))
                .await
                .map_err(|e| self.err(&format!("blob {d}"), e))?;
            return Ok(match resp {
                oci_client::client::BlobResponse::Full(s) => (map(s), false),
                oci_client::client::BlobResponse::Partial(s) => (map(s), true),
            });
        }
        let s = self
            .ep()
            .client
            .pull_blob_stream(&r, &layer)
            .await
            .map_err(|e| self.err(&format!("blob {d}"), e))?;
        Ok((map(s), true))
    }

    /// Asks for push access (a token with push scope where the registry uses tokens).
    pub async fn authorize_push(&self) -> Result<()> {
        let r = self.oci_ref(None);
        for c in [&self.ep().client, &self.ep().mono] {
            c.auth(&r, &self.auth, RegistryOperation::Push)
                .await
                .map_err(|e| self.err("authorizing push", e))?;
        }
        Ok(())
    }

    pub async fn blob_exists(&self, d: &Digest) -> Result<bool> {
        let r = self.oci_ref(None);
        self.ep()
            .client
            .blob_exists(&r, &d.to_string())
            .await
            .map_err(|e| self.err(&format!("checking blob {d}"), e))
    }

    /// Asks the registry to link a blob it holds in repository `from` into this
    /// reference's repository (a cross-repository mount). False when it did not, for
    /// whatever reason: the blob must then be uploaded.
    pub async fn mount_blob(&self, d: &Digest, from: &str) -> bool {
        let r = self.oci_ref(None);
        let mut source = self.reference.clone();
        source.repository = from.to_string();
        source.digest = None;
        let source = source.to_oci(&self.ep().host);
        self.ep()
            .client
            .mount_blob(&r, &source, &d.to_string())
            .await
            .is_ok()
    }

    /// Uploads a small blob in one request (monolithic upload).
    pub async fn push_small(&self, d: &Digest, data: Vec<u8>) -> Result<()> {
        let r = self.oci_ref(None);
        self.ep()
            .mono
            .push_blob(&r, data, &d.to_string())
            .await
            .map_err(|e| self.err(&format!("pushing blob {d}"), e))?;
        Ok(())
    }

    /// Uploads a blob from a byte stream in chunks (chunked upload).
    pub async fn push_stream<S>(&self, d: &Digest, size: u64, stream: S) -> Result<()>
    where
        S: Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    {
        let r = self.oci_ref(None);
        let stream = stream.map_err(OciDistributionError::IoError);
        self.ep()
            .client
            .push_blob_stream(&r, stream, &d.to_string(), Some(size))
            .await
            .map_err(|e| self.err(&format!("pushing blob {d}"), e))?;
        Ok(())
    }

    /// Puts a manifest or index under `digest`, or (None) under the reference's tag.
    pub async fn push_manifest_at(
        &self,
        digest: Option<&Digest>,
        media_type: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        let r = self.oci_ref(digest);
        let ct = http::HeaderValue::from_str(media_type)
            .map_err(|_| Error::InvalidArgument(format!("invalid media type {media_type:?}")))?;
        self.ep()
            .client
            .push_manifest_raw(&r, body, ct)
            .await
            .map_err(|e| self.err("pushing the manifest", e))?;
        Ok(())
    }

    /// Picks the first endpoint that answers (for push, which has no manifest to probe).
    pub async fn select_reachable(&mut self) -> Result<()> {
        let mut errors = Vec::new();
        for i in 0..self.endpoints.len() {
            self.chosen = i;
            let r = self.oci_ref(None);
            match self
                .ep()
                .client
                .blob_exists(&r, &Digest::of(b"").to_string())
                .await
            {
                Ok(_) => return Ok(()),
                // Answered: credentials are checked when pushing starts.
                Err(e) if is_auth(&e) => return Ok(()),
                Err(e) => errors.push(format!("{}: {}", self.ep().url, describe(&e))),
            }
        }
        Err(Error::Registry(format!(
            "cannot reach the registry of {}: {}{}",
            self.reference,
            errors.join("; "),
            tls_hint(&errors)
        )))
    }

    fn err(&self, what: &str, e: OciDistributionError) -> Error {
        if is_auth(&e) {
            let who = match &self.auth {
                RegistryAuth::Anonymous => {
                    "it wants credentials and none were given: log in with a user and password"
                        .to_string()
                }
                RegistryAuth::Basic(user, _) => format!(
                    "it refused the credentials of user {user:?} (or that user may not do this): check the user name and password"
                ),
                RegistryAuth::Bearer(_) => {
                    "it refused the registry token given as credentials: get a new token".into()
                }
            };
            return Error::Unauthorized(format!(
                "{what} of {} ({}): {who} ({})",
                self.reference,
                self.ep().url,
                describe(&e)
            ));
        }
        if is_not_found(&e) {
            return Error::NotFound(format!(
                "{what} of {} not found in the registry ({})",
                self.reference,
                self.ep().url
            ));
        }
        Error::Registry(format!(
            "{what} of {} ({}): {}",
            self.reference,
            self.ep().url,
            describe(&e)
        ))
    }
}

/// What to do when a registry's certificate was refused.
fn tls_hint(errors: &[String]) -> &'static str {
    if errors.iter().any(|e| e.contains("certificate")) {
        " (if the registry's certificate comes from a private CA, name that CA as ca_file for this registry in the configuration, or mark the registry insecure)"
    } else {
        ""
    }
}

fn is_mirror(r: &Remote, i: usize) -> bool {
    r.endpoints[i].host != r.reference.registry
}

/// oci-client's own name for docker.io.
fn oci_host(host: &str) -> String {
    if host == DOCKER_HUB {
        "index.docker.io".into()
    } else {
        host.into()
    }
}

fn describe(e: &OciDistributionError) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            use oci_client::errors::OciErrorCode as C;
            matches!(
                x.code,
                C::ManifestUnknown | C::NameUnknown | C::BlobUnknown | C::NotFound
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RequestError(r) => r.status().is_some_and(|s| s.as_u16() == 404),
        _ => false,
    }
}

fn is_auth(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => true,
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        OciDistributionError::RequestError(r) => r
            .status()
            .is_some_and(|s| s.as_u16() == 401 || s.as_u16() == 403),
        _ => false,
    }
}
