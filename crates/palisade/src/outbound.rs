//! The one way the binary builds its HTTP clients (advisory downloads, `inventory push`,
//! `affected`), so that every outbound connection verifies the server's certificate: rustls with
//! the built-in web PKI roots, plus the CAs of a configured `ca_file` for a server whose
//! certificate a private CA issued. Verification is never turned off.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The CA certificates in a PEM file, each checked to be one a client can trust.
pub fn ca_certificates(file: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let ders = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate file", file.display()))?;
    if ders.is_empty() {
        bail!("{} holds no PEM CERTIFICATE block", file.display());
    }
    let mut roots = rustls::RootCertStore::empty();
    let mut certs = Vec::with_capacity(ders.len());
    for (i, der) in ders.into_iter().enumerate() {
        // reqwest would only say "invalid certificate" when the client is built; this names the
        // file and the position.
        roots.add(der.clone()).with_context(|| {
            format!(
                "{}: certificate {} is not a usable CA certificate",
                file.display(),
                i + 1
            )
        })?;
        certs.push(reqwest::Certificate::from_der(&der)?);
    }
    Ok(certs)
}

/// An HTTP client that verifies certificates against the web PKI roots and those of `ca_file`.
pub fn client(ca_file: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(true)
        .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(20));
    if let Some(file) = ca_file {
        for cert in ca_certificates(file)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

/// Whether a request failed because the server's certificate was not accepted, so the error can
/// say what to do about it.
pub fn is_certificate_error(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(tls) = err.downcast_ref::<rustls::Error>() {
        return matches!(tls, rustls::Error::InvalidCertificate(_));
    }
    // rustls errors reach reqwest inside io::Errors (nested ones, too), whose source() skips the
    // error they wrap.
    if let Some(inner) = err
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        return is_certificate_error(inner);
    }
    err.source().is_some_and(is_certificate_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_usable_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("ca.pem");
        let err = |text: &str| {
            std::fs::write(&file, text).expect("write");
            format!("{:#}", ca_certificates(&file).expect_err(text))
        };
        assert!(err("hello").contains("no PEM CERTIFICATE block"));
        assert!(
            err("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n").contains("ca.pem")
        );
        let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        assert!(err(not_der).contains("certificate 1 is not a usable CA certificate"));

        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".to_owned()]).expect("ca");
        std::fs::write(&file, ca.cert.pem()).expect("write");
        assert_eq!(ca_certificates(&file).expect("certificates").len(), 1);
        client(Some(&file)).expect("client");
        assert!(client(Some(&dir.path().join("missing.pem"))).is_err());
    }
}
