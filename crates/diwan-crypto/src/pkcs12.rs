//! Signing identities from PKCS#12 files (`.p12`/`.pfx`), as issued by accredited providers:
//! the private key, its certificate and the rest of the chain.

use crate::keys::PrivateKey;
use crate::pki::Certificate;
use crate::{CryptoError, Result};

/// A private key with its certificate and the certificates above it.
pub struct Identity {
    pub key: PrivateKey,
    pub cert: Certificate,
    /// Issuers of `cert`, nearest first (may be empty).
    pub chain: Vec<Certificate>,
}

/// Opens a PKCS#12 file with its password. The first key with a certificate is taken.
pub fn open(data: &[u8], password: &str) -> Result<Identity> {
    let store = p12_keystore::KeyStore::from_pkcs12(
        data,
        password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| CryptoError::Malformed {
        what: "PKCS#12 file",
        detail: format!("{e} (wrong password or damaged file)"),
    })?;
    let (_, chain) = store.private_key_chain().ok_or(CryptoError::Malformed {
        what: "PKCS#12 file",
        detail: "it holds no private key with its certificate".into(),
    })?;
    let key = PrivateKey::from_pkcs8_der(chain.key().as_der())?;
    let mut certs = chain
        .certs()
        .iter()
        .map(|c| Certificate::from_der(c.as_der()))
        .collect::<Result<Vec<_>>>()?;
    if certs.is_empty() {
        return Err(CryptoError::Malformed {
            what: "PKCS#12 file",
            detail: "the key has no certificate".into(),
        });
    }
    let cert = certs.remove(0);
    Ok(Identity {
        key,
        cert,
        chain: certs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn openssl(args: &[&str], dir: &std::path::Path) -> bool {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// PKCS#12 files made by OpenSSL (modern AES and legacy 3DES encryption, the formats
    /// providers deliver) open with their password, and only with it.
    #[test]
    fn opens_openssl_pkcs12() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        if !openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "k.pem",
                "-out",
                "c.pem",
                "-days",
                "30",
                "-subj",
                "/CN=Amina Signataire/O=Test",
            ],
            d,
        ) {
            assert!(
                std::env::var("DIWAN_REQUIRE_TOOLS").is_err(),
                "openssl is required"
            );
            return;
        }
        for extra in [&[][..], &["-legacy"][..]] {
            let mut args = vec![
                "pkcs12",
                "-export",
                "-inkey",
                "k.pem",
                "-in",
                "c.pem",
                "-out",
                "id.p12",
                "-passout",
                "pass:s3cret",
            ];
            args.extend_from_slice(extra);
            if !openssl(&args, d) {
                continue; // -legacy needs OpenSSL 3's legacy provider
            }
            let bytes = std::fs::read(d.join("id.p12")).unwrap();
            let id = open(&bytes, "s3cret").unwrap();
            assert_eq!(id.cert.common_name(), "Amina Signataire");
            assert!(id.chain.is_empty());
            // The key is the certificate's.
            assert_eq!(
                id.key.public_key_der().unwrap(),
                id.cert.spki_der().unwrap()
            );
            assert!(open(&bytes, "wrong").is_err());
        }
        assert!(open(b"not a p12", "x").is_err());
    }
}
