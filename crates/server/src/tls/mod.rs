//! TLS with rustls, configured by Cassandra's keys: `client_encryption_options` for the CQL
//! port and `server_encryption_options` for node-to-node gRPC ([`internode`]). The
//! certificate chain and private key come from one PEM file (`keystore`, as Cassandra's
//! `PEMBasedSslContextFactory` reads it), the certificate authorities that the other side's
//! certificate must chain to from another (`truststore`). The files are read again when they
//! change ([`reload`]), so a renewed certificate takes effect without a restart.

pub mod internode;
mod reload;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use serde::{Deserialize, Serialize};

pub use reload::Reloading;

/// Cassandra's `client_encryption_options` and `server_encryption_options` (the keys Ilion
/// honours; any other is refused, and so is a key of the other section).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionOptions {
    /// Client section: whether the port speaks TLS. Default false.
    pub enabled: bool,
    /// Server section: `none` (default) or `all`, every node-to-node connection in TLS.
    /// Cassandra's `dc` and `rack` are refused.
    pub internode_encryption: Option<String>,
    /// Server section: whether the certificate of the peer connected to must name its
    /// address. Default false (Cassandra's).
    pub require_endpoint_verification: bool,
    /// With `enabled`, whether plain-text connections are accepted on the same port too
    /// (each connection's first byte tells). Default false: TLS only.
    pub optional: bool,
    /// PEM file holding the private key and the certificate chain (Cassandra's
    /// `PEMBasedSslContextFactory` keystore).
    pub keystore: Option<PathBuf>,
    /// Refused when set: encrypted private keys are not read; store the key unencrypted in a
    /// file only the node's user can read.
    pub keystore_password: Option<String>,
    /// PEM file of the certificate authorities a client certificate must chain to.
    pub truststore: Option<PathBuf>,
    /// Refused when set (a PEM truststore has no password).
    pub truststore_password: Option<String>,
    /// Whether every client must present a certificate signed by a `truststore` authority.
    /// Default false.
    pub require_client_auth: bool,
    /// `PEM` (the only one read); JKS and PKCS12 stores are refused.
    pub store_type: Option<String>,
    /// TLS versions accepted: any of `TLSv1.2`, `TLSv1.3`. Default both.
    pub accepted_protocols: Option<Vec<String>>,
}

/// Why TLS cannot be set up; the setting in error is named.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

impl EncryptionOptions {
    /// Checks the settings without reading the files; `section` names the options in errors
    /// (`client_encryption_options`).
    pub fn validate(&self, section: &'static str) -> Result<(), TlsError> {
        let invalid = |reason: &str| {
            Err(TlsError::Invalid {
                setting: section,
                reason: reason.to_owned(),
            })
        };
        if self.internode_encryption.is_some() || self.require_endpoint_verification {
            return invalid(
                "`internode_encryption` and `require_endpoint_verification` belong to server_encryption_options",
            );
        }
        if !self.enabled {
            return Ok(());
        }
        if self.keystore.is_none() {
            return invalid(
                "`keystore` (a PEM file with the private key and certificate chain) is required when enabled",
            );
        }
        if self
            .keystore_password
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return invalid(
                "`keystore_password` is not supported: encrypted private keys are not read; store the key unencrypted, readable only by the node's user",
            );
        }
        if self
            .truststore_password
            .as_deref()
            .is_some_and(|p| !p.is_empty())
        {
            return invalid("`truststore_password` is not supported: a PEM truststore has none");
        }
        if let Some(t) = &self.store_type
            && !t.eq_ignore_ascii_case("PEM")
        {
            return invalid(&format!(
                "`store_type: {t}` is not supported; use PEM files"
            ));
        }
        if self.require_client_auth && self.truststore.is_none() {
            return invalid(
                "`require_client_auth` needs a `truststore` of the authorities client certificates chain to",
            );
        }
        self.versions(section)?;
        Ok(())
    }

    fn versions(
        &self,
        section: &'static str,
    ) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
        let Some(names) = &self.accepted_protocols else {
            return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
        };
        let mut out = Vec::new();
        for n in names {
            match n.as_str() {
                "TLSv1.3" => out.push(&rustls::version::TLS13),
                "TLSv1.2" => out.push(&rustls::version::TLS12),
                other => {
                    return Err(TlsError::Invalid {
                        setting: section,
                        reason: format!(
                            "accepted protocol `{other}` is not supported; use TLSv1.2 and/or TLSv1.3"
                        ),
                    });
                }
            }
        }
        if out.is_empty() {
            return Err(TlsError::Invalid {
                setting: section,
                reason: "`accepted_protocols` must name at least one of TLSv1.2, TLSv1.3".into(),
            });
        }
        Ok(out)
    }

    fn keystore(
        &self,
        section: &'static str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let keystore = self.keystore.as_deref().ok_or_else(|| TlsError::Invalid {
            setting: section,
            reason: "`keystore` is required when enabled".into(),
        })?;
        read_keystore(keystore)
    }

    /// The rustls server configuration the files give now.
    fn server_config(&self, section: &'static str) -> Result<ServerConfig, TlsError> {
        let (chain, key) = self.keystore(section)?;
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&self.versions(section)?)
            .map_err(|e| TlsError::Invalid {
                setting: section,
                reason: e.to_string(),
            })?;
        let builder = match &self.truststore {
            Some(path) => {
                let roots = Arc::new(read_truststore(path)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = if self.require_client_auth {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier.build().map_err(|e| TlsError::File {
                    what: "truststore",
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        builder
            .with_single_cert(chain, key)
            .map_err(|e| self.keystore_error(e))
    }

    fn keystore_error(&self, e: rustls::Error) -> TlsError {
        TlsError::File {
            what: "keystore",
            path: self.keystore.clone().unwrap_or_default(),
            reason: e.to_string(),
        }
    }

    /// The rustls client configuration the files give now: the peer's certificate must chain
    /// to the `truststore`, and name the address connected to when `verify_names`; this
    /// side presents the `keystore`'s certificate.
    fn client_config(
        &self,
        section: &'static str,
        verify_names: bool,
    ) -> Result<ClientConfig, TlsError> {
        let truststore = self
            .truststore
            .as_deref()
            .ok_or_else(|| TlsError::Invalid {
                setting: section,
                reason: "`truststore` is required: peers' certificates are checked against it"
                    .into(),
            })?;
        let roots = Arc::new(read_truststore(truststore)?);
        let provider = provider();
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::File {
                what: "truststore",
                path: truststore.to_owned(),
                reason: e.to_string(),
            })?;
        let verifier: Arc<dyn ServerCertVerifier> = if verify_names {
            verifier
        } else {
            Arc::new(ChainOnly(verifier))
        };
        let (chain, key) = self.keystore(section)?;
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&self.versions(section)?)
            .map_err(|e| TlsError::Invalid {
                setting: section,
                reason: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| self.keystore_error(e))
    }

    fn files(&self) -> Vec<PathBuf> {
        self.keystore
            .iter()
            .chain(self.truststore.iter())
            .cloned()
            .collect()
    }
}

/// ring builds with a C compiler alone (aws-lc-rs needs more); it has no post-quantum key
/// exchange, which is what its deprecation note is about. Cassandra's JVM negotiates none
/// either.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server certificate verifier that checks the chain to the truststore, the validity
/// period and the signatures, but not that the certificate names the address connected to:
/// Cassandra's internode TLS without `require_endpoint_verification`.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn read_keystore(
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let err = |reason: String| TlsError::File {
        what: "keystore",
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if chain.is_empty() {
        return Err(err("no CERTIFICATE in it".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| err(format!("no unencrypted private key in it ({e})")))?;
    Ok((chain, key))
}

fn read_truststore(path: &Path) -> Result<RootCertStore, TlsError> {
    let err = |reason: String| TlsError::File {
        what: "truststore",
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("no CERTIFICATE in it".into()));
    }
    Ok(roots)
}

/// The TLS of a listening port (the CQL port, or the storage port for internode TLS).
#[derive(Debug)]
pub struct ServerTls {
    optional: bool,
    config: Reloading<ServerConfig>,
}

impl ServerTls {
    /// Reads the files of `options` (enabled); `section` names them in errors.
    pub fn new(options: &EncryptionOptions, section: &'static str) -> Result<ServerTls, TlsError> {
        options.validate(section)?;
        let o = options.clone();
        Ok(ServerTls {
            optional: options.optional,
            config: Reloading::new(section, options.files(), move || o.server_config(section))?,
        })
    }

    /// Whether plain-text connections are accepted too.
    pub fn optional(&self) -> bool {
        self.optional
    }

    /// The configuration for a connection arriving now.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.config.current()
    }

    /// A TLS acceptor with the current configuration.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> EncryptionOptions {
        EncryptionOptions {
            enabled: true,
            keystore: Some("/nonexistent/node.pem".into()),
            ..EncryptionOptions::default()
        }
    }

    fn reason(o: &EncryptionOptions) -> String {
        o.validate("client_encryption_options")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn disabled_options_need_nothing() {
        assert!(
            EncryptionOptions::default()
                .validate("client_encryption_options")
                .is_ok()
        );
    }

    #[test]
    fn what_is_not_read_is_refused_naming_the_setting() {
        let no_keystore = EncryptionOptions {
            keystore: None,
            ..enabled()
        };
        assert!(reason(&no_keystore).contains("`keystore`"));
        let password = EncryptionOptions {
            keystore_password: Some("secret".into()),
            ..enabled()
        };
        assert!(reason(&password).contains("encrypted private keys"));
        let jks = EncryptionOptions {
            store_type: Some("JKS".into()),
            ..enabled()
        };
        assert!(reason(&jks).contains("`store_type: JKS` is not supported"));
        let no_ca = EncryptionOptions {
            require_client_auth: true,
            ..enabled()
        };
        assert!(reason(&no_ca).contains("needs a `truststore`"));
        let old = EncryptionOptions {
            accepted_protocols: Some(vec!["TLSv1.1".into()]),
            ..enabled()
        };
        assert!(reason(&old).contains("`TLSv1.1` is not supported"));
        assert!(reason(&old).starts_with("invalid setting `client_encryption_options`"));
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/tls")
            .join(name)
    }

    #[test]
    fn the_test_certificates_load_with_and_without_client_authentication() {
        for (truststore, require_client_auth) in [
            (None, false),
            (Some(fixture("ca.pem")), false),
            (Some(fixture("ca.pem")), true),
        ] {
            let o = EncryptionOptions {
                keystore: Some(fixture("node.pem")),
                truststore,
                require_client_auth,
                ..enabled()
            };
            ServerTls::new(&o, "client_encryption_options").unwrap();
        }
        // A file without a key, and a truststore without a certificate, are named.
        let no_key = EncryptionOptions {
            keystore: Some(fixture("ca.pem")),
            ..enabled()
        };
        let err = ServerTls::new(&no_key, "client_encryption_options").unwrap_err();
        assert!(
            err.to_string().contains("no unencrypted private key"),
            "{err}"
        );
        let bad_ca = EncryptionOptions {
            keystore: Some(fixture("node.pem")),
            truststore: Some(fixture("README.md")),
            ..enabled()
        };
        let err = ServerTls::new(&bad_ca, "client_encryption_options").unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read truststore"),
            "{err}"
        );
    }

    #[test]
    fn a_changed_certificate_is_read_again_and_a_broken_one_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let keystore = dir.path().join("node.pem");
        std::fs::copy(fixture("node.pem"), &keystore).unwrap();
        let o = EncryptionOptions {
            keystore: Some(keystore.clone()),
            ..enabled()
        };
        let tls = ServerTls::new(&o, "client_encryption_options").unwrap();
        let first = tls.current();
        assert!(Arc::ptr_eq(&first, &tls.current()), "nothing changed");

        // A broken file: the previous configuration stays.
        std::fs::write(&keystore, b"not a pem file").unwrap();
        let mut state = tls.config.state.lock();
        state.checked -= reload::RELOAD_CHECK;
        // The file's modification time may not have moved within the clock's resolution.
        state.seen.clear();
        drop(state);
        assert!(Arc::ptr_eq(&first, &tls.current()));

        // A new certificate: taken on the next connection after the check period.
        std::fs::copy(fixture("other.pem"), &keystore).unwrap();
        let mut state = tls.config.state.lock();
        state.checked -= reload::RELOAD_CHECK;
        state.seen.clear();
        drop(state);
        assert!(!Arc::ptr_eq(&first, &tls.current()));
    }

    #[test]
    fn a_missing_keystore_file_is_named() {
        let err = ServerTls::new(&enabled(), "client_encryption_options").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read keystore /nonexistent/node.pem"),
            "{err}"
        );
    }
}
