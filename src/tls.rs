//! HTTPS for the API: the rustls server configuration from PEM files, and client certificates.
//!
//! With `tls_client_ca` set, the server asks every client for a certificate and verifies any it
//! gets against those CAs (a bad one fails the handshake). A client may still come without one
//! and use Basic or SCRAM, unless `tls_client_cert_required` is set. A verified certificate's
//! subject common name reaches the auth layer as a [`ClientIdentity`]; there it names the user
//! a request without an `Authorization` header runs as (`crate::auth`).

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use axum::middleware::AddExtension;
use axum::Extension;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tower::Layer;
use x509_cert::der::Decode;

/// The HTTP listener's TLS certificate chain and key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// PEM file of the CAs whose client certificates are accepted ; none:
    /// clients are not asked for one.
    pub client_ca: Option<PathBuf>,
    /// Refuse connections without a valid client certificate (needs `client_ca`).
    pub client_cert_required: bool,
}

/// The subject common name of the client certificate the connection was verified with, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdentity(pub Option<String>);

/// The rustls configuration `files` describe.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<RustlsConfig> {
    // Installing twice (several servers in one process) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!("cannot read TLS certificate {}: {e}", files.cert.display())
        })?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| anyhow::anyhow!("cannot read TLS key {}: {e}", files.key.display()))?;
    let builder = rustls::ServerConfig::builder();
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| anyhow::anyhow!("cannot read client CA {}: {e}", ca.display()))?
            {
                let cert = cert
                    .map_err(|e| anyhow::anyhow!("cannot read client CA {}: {e}", ca.display()))?;
                roots.add(cert).map_err(|e| {
                    anyhow::anyhow!("unusable client CA certificate in {}: {e}", ca.display())
                })?;
            }
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots));
            let verifier = if files.client_cert_required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(verifier.build()?)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        anyhow::anyhow!(
            "TLS certificate {} does not fit key {}: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// axum-server's rustls acceptor, plus the client's identity as a request extension.
#[derive(Clone)]
pub struct IdentifyingAcceptor(pub RustlsAcceptor);

impl<I, S> Accept<I, S> for IdentifyingAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = AddExtension<S, ClientIdentity>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            // rustls has verified the chain by now; only the name is read here.
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| common_name(leaf));
            Ok((stream, Extension(ClientIdentity(identity)).layer(service)))
        })
    }
}

/// The certificate subject's common name. A subject with several is refused: tools disagree
/// on which one counts (the first, or the last), and a CA checking one while we read the other
/// would let a certificate name someone else.
fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    only_common_name(&cert.tbs_certificate.subject)
}

fn only_common_name(subject: &x509_cert::name::Name) -> Option<String> {
    let mut names = subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == x509_cert::der::oid::db::rfc4519::CN);
    let only = names.next()?;
    if names.next().is_some() {
        return None;
    }
    Some(only).and_then(|atv| {
        atv.value
            .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
            .map(|s| s.as_str().to_string())
            .or_else(|_| {
                atv.value
                    .decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                    .map(|s| s.as_str().to_string())
            })
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subject_common_name() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ci-pipeline");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(common_name(cert.der()), Some("ci-pipeline".into()));
    }

    #[test]
    fn a_subject_with_two_common_names_names_nobody() {
        use std::str::FromStr;
        let name = |s: &str| x509_cert::name::Name::from_str(s).unwrap();
        assert_eq!(
            only_common_name(&name("CN=alice,O=acme")),
            Some("alice".into())
        );
        assert_eq!(only_common_name(&name("CN=alice,CN=admin")), None);
        assert_eq!(only_common_name(&name("O=acme")), None);
    }
}
