//! Where signature values come from: a [`SigningBackend`] holds (or reaches) a private key and
//! knows its certificate and chain; CMS signatures ([`crate::cms::sign_pades_with`],
//! [`crate::cms::sign_cades_detached_with`]) ask it for one signature over a digest and never
//! see the key.
//!
//! [`InMemoryKey`] (and [`crate::cms::CmsSigner`], which borrows the same parts) sign with a key
//! in this process. Other backends plug in behind the same trait without touching the CMS,
//! PAdES or ASiC code:
//!
//! - **PKCS#11** (smart cards, HSMs): `certificate()`/`chain()` read the certificate objects of
//!   the token once at login; `sign_digest` opens a session on the slot and calls `C_Sign` with
//!   `CKM_ECDSA` on the digest (the DER-encoding of the raw `r‖s` result is the backend's job),
//!   or `CKM_RSA_PKCS` on the DigestInfo for RSA. The PIN stays in the token.
//! - **CSC remote signing** (Cloud Signature Consortium API v2): `certificate()`/`chain()` come
//!   from `credentials/info`; `sign_digest` authorizes the credential (`credentials/authorize`,
//!   with the user's second factor for SCAL2, passing the digest as `hashes`) and calls
//!   `signatures/signHash` with the base64 digest and the algorithm OID. Network failures become
//!   [`CryptoError::Key`], and the signing time is taken before the call.
//!
//! Backends are synchronous: callers in async code run them on a blocking thread, as they
//! already do for signing.

use crate::digest::DigestAlg;
use crate::pki::Certificate;
use crate::{CryptoError, PrivateKey, Result};
use spki::AlgorithmIdentifierOwned;

/// A signer whose key may live elsewhere.
pub trait SigningBackend: Send + Sync {
    /// The signer's certificate.
    fn certificate(&self) -> &Certificate;
    /// Intermediate (and root) certificates sent along with signatures.
    fn chain(&self) -> &[Certificate];
    /// The algorithm identifier of the signatures `sign_digest` returns (e.g. ecdsa-with-SHA256).
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned;
    /// An upper bound of a signature's length, to reserve room in a PDF.
    fn max_signature_len(&self) -> usize;
    /// Signs a digest computed with `alg`: a DER ECDSA signature, or an RSA PKCS#1 v1.5 one.
    fn sign_digest(&self, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>>;
    /// Signs a message hashed with `alg`. By default the message is hashed here and its digest
    /// signed; a key in this process signs the message itself, which lets a faster
    /// implementation (that hashes on its own) do it.
    fn sign_message(&self, alg: DigestAlg, message: &[u8]) -> Result<Vec<u8>> {
        self.sign_digest(alg, &alg.digest(message))
    }
}

/// In-process keys sign with SHA-256 only.
fn sha256_only(alg: DigestAlg) -> Result<()> {
    if alg == DigestAlg::Sha256 {
        Ok(())
    } else {
        Err(CryptoError::Unsupported(format!(
            "signing {} digests",
            alg.name()
        )))
    }
}

fn sign_message_with(key: &PrivateKey, alg: DigestAlg, message: &[u8]) -> Result<Vec<u8>> {
    sha256_only(alg)?;
    key.sign_sha256(message)
}

fn sign_with(key: &PrivateKey, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>> {
    sha256_only(alg)?;
    let d: &[u8; 32] = digest
        .try_into()
        .map_err(|_| CryptoError::Key("a SHA-256 digest has 32 bytes".into()))?;
    key.sign_prehashed_sha256(d)
}

/// A key held in this process, with its certificate and chain.
pub struct InMemoryKey {
    pub key: PrivateKey,
    pub cert: Certificate,
    pub chain: Vec<Certificate>,
}

impl SigningBackend for InMemoryKey {
    fn certificate(&self) -> &Certificate {
        &self.cert
    }
    fn chain(&self) -> &[Certificate] {
        &self.chain
    }
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        self.key.signature_algorithm()
    }
    fn max_signature_len(&self) -> usize {
        self.key.max_signature_len()
    }
    fn sign_digest(&self, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>> {
        sign_with(&self.key, alg, digest)
    }
    fn sign_message(&self, alg: DigestAlg, message: &[u8]) -> Result<Vec<u8>> {
        sign_message_with(&self.key, alg, message)
    }
}

impl SigningBackend for crate::cms::CmsSigner<'_> {
    fn certificate(&self) -> &Certificate {
        self.cert
    }
    fn chain(&self) -> &[Certificate] {
        self.chain
    }
    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        self.key.signature_algorithm()
    }
    fn max_signature_len(&self) -> usize {
        self.key.max_signature_len()
    }
    fn sign_digest(&self, alg: DigestAlg, digest: &[u8]) -> Result<Vec<u8>> {
        sign_with(self.key, alg, digest)
    }
    fn sign_message(&self, alg: DigestAlg, message: &[u8]) -> Result<Vec<u8>> {
        sign_message_with(self.key, alg, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::chain;

    #[test]
    fn in_memory_backend_signs_cades_and_pades() {
        let (_, _, ica, _, seal, sk) = chain();
        let backend = InMemoryKey {
            key: sk,
            cert: seal.clone(),
            chain: vec![ica],
        };
        let data = b"contenu";
        let digest: [u8; 32] = DigestAlg::Sha256.digest(data).try_into().unwrap();
        let p7s = crate::cms::sign_cades_detached_with(
            &backend,
            &digest,
            time::OffsetDateTime::now_utc(),
            None,
        )
        .unwrap();
        let v = crate::cms::verify_detached_data(&p7s, data).unwrap();
        let s = &v.signers[0];
        assert!(s.digest_ok && s.signature_ok && s.signing_certificate_ok == Some(true));
        assert_eq!(s.signer.as_ref(), Some(&seal));
        assert_eq!(v.certificates.len(), 2);
        let pades = crate::cms::sign_pades_with(&backend, &digest, None).unwrap();
        assert!(
            crate::cms::verify_detached_data(&pades, data)
                .unwrap()
                .signers[0]
                .signature_ok
        );
        assert!(backend.sign_digest(DigestAlg::Sha384, &[0; 48]).is_err());
        assert!(backend.sign_message(DigestAlg::Sha384, data).is_err());
        assert!(backend.sign_digest(DigestAlg::Sha256, &[0; 31]).is_err());
    }
}
