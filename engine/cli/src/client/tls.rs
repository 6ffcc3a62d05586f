//! TLS for `tcp://` daemons, with docker's flags: `--tls` encrypts without checking the
//! daemon's certificate, `--tlsverify` checks it against `--tlscacert`; `--tlscert` and
//! `--tlskey` present a client certificate (needed by daemons that verify clients).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The files and mode chosen on the command line (or by default from the cert directory).
pub struct TlsOptions {
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Whether the user named the files (then missing ones are errors, not skipped).
    pub explicit_cert: bool,
}

pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if opts.verify {
        let mut roots = RootCertStore::empty();
        for cert in read_certs(&opts.ca)? {
            roots
                .add(cert)
                .map_err(|e| format!("CA certificate {}: {e}", opts.ca.display()))?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
    };
    let has_pair = opts.cert.exists() && opts.key.exists();
    let config = if has_pair || opts.explicit_cert {
        let certs = read_certs(&opts.cert)?;
        let key = PrivateKeyDer::from_pem_file(&opts.key)
            .map_err(|e| format!("could not read the TLS key {}: {e}", opts.key.display()))?;
        builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| format!("client certificate {}: {e}", opts.cert.display()))?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "could not read the certificate file {}: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs)
}

/// `--tls` without `--tlsverify`: the connection is encrypted but the daemon is not
/// authenticated (docker's behaviour). Signatures are still checked so the handshake is sound.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
