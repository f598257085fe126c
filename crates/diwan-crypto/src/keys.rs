//! Private and public keys: ECDSA P-256 (the default: small, fast signatures) and RSA (2048 and
//! 3072 bits, for relying parties that still require it).

use crate::digest::DigestAlg;
use crate::{oids, CryptoError, Result};
use der::{Decode, Encode};
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::rngs::OsRng;
use spki::{AlgorithmIdentifierOwned, DecodePublicKey, EncodePublicKey, SubjectPublicKeyInfoRef};

/// Which kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    EcdsaP256,
    Rsa2048,
    Rsa3072,
}

/// A private key.
pub enum PrivateKey {
    P256(P256Key),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A P-256 key, and the same key prepared for `ring`'s signing (made on first use).
///
/// A message signed whole (`PrivateKey::sign_sha256`: CMS signed attributes, canonical JSON,
/// tree heads) goes through `ring`, whose assembly P-256 signs in about 26 µs where the
/// portable arithmetic, even with its fixed-base table, takes about 62 (criterion, `cargo bench
/// -p diwan-crypto --bench sign`); a receipt carries three such signatures. `ring` takes
/// messages, not digests, and draws its nonces from the system's generator mixed with the key
/// and the message: its signatures are valid ECDSA signatures, not the RFC 6979 ones
/// `sign_prehashed_sha256` gives (which stays for callers holding only a digest, such as
/// remote signing). Should `ring` refuse the key, the portable path signs.
pub struct P256Key {
    key: p256::ecdsa::SigningKey,
    fast: std::sync::OnceLock<Option<Box<ring::signature::EcdsaKeyPair>>>,
}

impl From<p256::ecdsa::SigningKey> for P256Key {
    fn from(key: p256::ecdsa::SigningKey) -> Self {
        P256Key {
            key,
            fast: std::sync::OnceLock::new(),
        }
    }
}

impl std::ops::Deref for P256Key {
    type Target = p256::ecdsa::SigningKey;
    fn deref(&self) -> &Self::Target {
        &self.key
    }
}

impl P256Key {
    fn ring(&self) -> Option<&ring::signature::EcdsaKeyPair> {
        self.fast
            .get_or_init(|| {
                let public = self.key.verifying_key().to_encoded_point(false);
                ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
                    &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    &self.key.to_bytes(),
                    public.as_bytes(),
                    &ring::rand::SystemRandom::new(),
                )
                .ok()
                .map(Box::new)
            })
            .as_deref()
    }

    /// A DER ECDSA signature of `message` with SHA-256, by `ring` when it took the key.
    fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>> {
        if let Some(k) = self.ring() {
            if let Ok(sig) = k.sign(&ring::rand::SystemRandom::new(), message) {
                return Ok(sig.as_ref().to_vec());
            }
        }
        let digest: [u8; 32] =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(message)).into();
        let sig = crate::p256_sign::sign_prehash(&self.key, &digest)?;
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.algorithm_name())
    }
}

impl PrivateKey {
    pub fn generate(alg: KeyAlgorithm) -> Result<Self> {
        Ok(match alg {
            KeyAlgorithm::EcdsaP256 => {
                PrivateKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng).into())
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 => {
                let bits = if alg == KeyAlgorithm::Rsa2048 {
                    2048
                } else {
                    3072
                };
                PrivateKey::Rsa(Box::new(
                    rsa::RsaPrivateKey::new(&mut OsRng, bits)
                        .map_err(|e| CryptoError::Key(e.to_string()))?,
                ))
            }
        })
    }

    /// Reads a PKCS#8 DER private key (EC P-256 or RSA).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::Rsa(Box::new(k)));
        }
        Err(CryptoError::Unsupported(
            "private key (expected PKCS#8 EC P-256 or RSA)".into(),
        ))
    }

    /// Reads a PEM private key: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (label, der) = pem_rfc7468_decode(pem)?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
                .map(|k| PrivateKey::P256(p256::ecdsa::SigningKey::from(k).into()))
                .map_err(|e| CryptoError::Key(e.to_string())),
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                rsa::RsaPrivateKey::from_pkcs1_der(&der)
                    .map(|k| PrivateKey::Rsa(Box::new(k)))
                    .map_err(|e| CryptoError::Key(e.to_string()))
            }
            other => Err(CryptoError::Unsupported(format!(
                "PEM block {other:?} (expected a private key)"
            ))),
        }
    }

    /// PKCS#8 DER encoding. Handle with care: this is the secret.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PrivateKey::P256(k) => k.to_pkcs8_der(),
            PrivateKey::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| CryptoError::Key(e.to_string()))?;
        Ok(doc.as_bytes().to_vec())
    }

    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            PrivateKey::Rsa(k) => PublicKey::Rsa(k.to_public_key()),
        }
    }

    /// The SubjectPublicKeyInfo DER of the public key.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        self.public_key().to_spki_der()
    }

    pub fn algorithm_name(&self) -> &'static str {
        match self {
            PrivateKey::P256(_) => "ECDSA P-256",
            PrivateKey::Rsa(_) => "RSA",
        }
    }

    /// The algorithm identifier of this key's SHA-256 signatures.
    pub fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            PrivateKey::P256(_) => AlgorithmIdentifierOwned {
                oid: oids::ECDSA_WITH_SHA256,
                parameters: None,
            },
            PrivateKey::Rsa(_) => AlgorithmIdentifierOwned {
                oid: oids::SHA256_WITH_RSA,
                parameters: Some(der::Any::null()),
            },
        }
    }

    /// Signs `message` with SHA-256: a DER ECDSA signature or an RSA PKCS#1 v1.5 signature.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>> {
        if let PrivateKey::P256(k) = self {
            return k.sign_message(message);
        }
        let digest: [u8; 32] =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(message)).into();
        self.sign_prehashed_sha256(&digest)
    }

    /// Signs a SHA-256 digest.
    pub fn sign_prehashed_sha256(&self, digest: &[u8; 32]) -> Result<Vec<u8>> {
        match self {
            PrivateKey::P256(k) => {
                let sig = crate::p256_sign::sign_prehash(k, digest)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivateKey::Rsa(k) => k
                .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), digest)
                .map_err(|e| CryptoError::Key(e.to_string())),
        }
    }

    /// Largest signature this key produces, in bytes.
    pub fn max_signature_len(&self) -> usize {
        match self {
            PrivateKey::P256(_) => 72,
            PrivateKey::Rsa(k) => rsa::traits::PublicKeyParts::size(k.as_ref()),
        }
    }
}

/// A public key, as found in certificates we issue or verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

impl PublicKey {
    pub fn from_spki_der(der: &[u8]) -> Result<Self> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| CryptoError::malformed("public key", e))?;
        match spki.algorithm.oid {
            oids::EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
                match curve {
                    Some(oids::SECP256R1) => p256::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map(PublicKey::P256)
                        .map_err(|e| CryptoError::malformed("P-256 public key", e)),
                    Some(oids::SECP384R1) => p384::ecdsa::VerifyingKey::from_public_key_der(der)
                        .map(PublicKey::P384)
                        .map_err(|e| CryptoError::malformed("P-384 public key", e)),
                    other => Err(CryptoError::Unsupported(format!(
                        "elliptic curve {other:?}"
                    ))),
                }
            }
            oids::RSA_ENCRYPTION => rsa::RsaPublicKey::from_public_key_der(der)
                .map(PublicKey::Rsa)
                .map_err(|e| CryptoError::malformed("RSA public key", e)),
            other => Err(CryptoError::Unsupported(format!(
                "public key algorithm {other}"
            ))),
        }
    }

    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        }
        .map_err(|e| CryptoError::Key(e.to_string()))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// Verifies `signature` over `message` under `sig_alg`. `digest` is the digest algorithm
    /// when `sig_alg` does not name one (CMS `rsaEncryption`, bare `ecPublicKey`).
    pub fn verify(
        &self,
        sig_alg: &AlgorithmIdentifierOwned,
        digest: Option<DigestAlg>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        let d = match sig_alg.oid {
            oids::SHA256_WITH_RSA | oids::ECDSA_WITH_SHA256 => DigestAlg::Sha256,
            oids::SHA384_WITH_RSA | oids::ECDSA_WITH_SHA384 => DigestAlg::Sha384,
            oids::SHA512_WITH_RSA | oids::ECDSA_WITH_SHA512 => DigestAlg::Sha512,
            oids::SHA1_WITH_RSA => DigestAlg::Sha1,
            oids::RSA_ENCRYPTION | oids::EC_PUBLIC_KEY => digest.ok_or_else(|| {
                CryptoError::Unsupported("signature algorithm without digest".into())
            })?,
            oids::RSASSA_PSS => return self.verify_pss(sig_alg, message, signature),
            other => {
                return Err(CryptoError::Unsupported(format!(
                    "signature algorithm {other}"
                )))
            }
        };
        if self.verify_fast(d, message, signature) {
            return Ok(());
        }
        let hashed = d.digest(message);
        self.verify_prehashed(d, &hashed, signature)
    }

    /// `ring`'s verification (assembly P-256/P-384 field arithmetic, several times faster than
    /// the portable implementation) for the common algorithms. `false` means "not shown valid
    /// here": the portable path then decides, so an encoding `ring` is stricter about, an RSA
    /// modulus outside 2048..8192 bits or SHA-1 never turns a valid signature into a failure.
    fn verify_fast(&self, d: DigestAlg, message: &[u8], signature: &[u8]) -> bool {
        use ring::signature as rs;
        match self {
            PublicKey::P256(k) => {
                let alg = match d {
                    DigestAlg::Sha256 => &rs::ECDSA_P256_SHA256_ASN1,
                    DigestAlg::Sha384 => &rs::ECDSA_P256_SHA384_ASN1,
                    _ => return false,
                };
                let point = k.to_encoded_point(false);
                rs::UnparsedPublicKey::new(alg, point.as_bytes())
                    .verify(message, signature)
                    .is_ok()
            }
            PublicKey::P384(k) => {
                let alg = match d {
                    DigestAlg::Sha256 => &rs::ECDSA_P384_SHA256_ASN1,
                    DigestAlg::Sha384 => &rs::ECDSA_P384_SHA384_ASN1,
                    _ => return false,
                };
                let point = k.to_encoded_point(false);
                rs::UnparsedPublicKey::new(alg, point.as_bytes())
                    .verify(message, signature)
                    .is_ok()
            }
            PublicKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                let alg = match d {
                    DigestAlg::Sha256 => &rs::RSA_PKCS1_2048_8192_SHA256,
                    DigestAlg::Sha384 => &rs::RSA_PKCS1_2048_8192_SHA384,
                    DigestAlg::Sha512 => &rs::RSA_PKCS1_2048_8192_SHA512,
                    DigestAlg::Sha1 => return false,
                };
                rs::RsaPublicKeyComponents {
                    n: k.n().to_bytes_be(),
                    e: k.e().to_bytes_be(),
                }
                .verify(alg, message, signature)
                .is_ok()
            }
        }
    }

    fn verify_prehashed(&self, d: DigestAlg, hashed: &[u8], signature: &[u8]) -> Result<()> {
        use signature::hazmat::PrehashVerifier;
        match self {
            PublicKey::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| CryptoError::BadSignature)?;
                k.verify_prehash(hashed, &sig)
                    .map_err(|_| CryptoError::BadSignature)
            }
            PublicKey::P384(k) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| CryptoError::BadSignature)?;
                k.verify_prehash(hashed, &sig)
                    .map_err(|_| CryptoError::BadSignature)
            }
            PublicKey::Rsa(k) => {
                let scheme = match d {
                    DigestAlg::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                    DigestAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    DigestAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    DigestAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                k.verify(scheme, hashed, signature)
                    .map_err(|_| CryptoError::BadSignature)
            }
        }
    }

    fn verify_pss(
        &self,
        sig_alg: &AlgorithmIdentifierOwned,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        let PublicKey::Rsa(k) = self else {
            return Err(CryptoError::Unsupported(
                "RSASSA-PSS with a non-RSA key".into(),
            ));
        };
        let params = sig_alg
            .parameters
            .as_ref()
            .map(|p| p.decode_as::<rsa::pkcs1::RsaPssParams>())
            .transpose()
            .map_err(|e| CryptoError::malformed("RSASSA-PSS parameters", e))?
            .unwrap_or_default();
        let d = DigestAlg::from_oid(&params.hash.oid)?;
        let salt = usize::from(params.salt_len);
        let hashed = d.digest(message);
        let scheme = match d {
            DigestAlg::Sha1 => rsa::Pss::new_with_salt::<sha1::Sha1>(salt),
            DigestAlg::Sha256 => rsa::Pss::new_with_salt::<sha2::Sha256>(salt),
            DigestAlg::Sha384 => rsa::Pss::new_with_salt::<sha2::Sha384>(salt),
            DigestAlg::Sha512 => rsa::Pss::new_with_salt::<sha2::Sha512>(salt),
        };
        k.verify(scheme, &hashed, signature)
            .map_err(|_| CryptoError::BadSignature)
    }
}

/// Decodes one PEM block: its label and DER content.
pub fn pem_rfc7468_decode(pem: &str) -> Result<(String, Vec<u8>)> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| CryptoError::malformed("PEM", e))?;
    Ok((label.to_string(), der))
}

/// Encodes DER as a PEM block.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}

/// Every PEM block of a text (certificate chains).
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let Some(end_label) = after.find("-----END ") else {
            break;
        };
        let Some(close) = after[end_label + 9..].find("-----") else {
            break;
        };
        let block_end = end_label + 9 + close + 5;
        out.push(pem_rfc7468_decode(&after[..block_end])?);
        rest = &after[block_end..];
    }
    Ok(out)
}

/// The SubjectPublicKeyInfo DER of a key (for callers that only need bytes).
pub fn spki_der(k: &PublicKey) -> Result<Vec<u8>> {
    k.to_spki_der()
}

#[allow(dead_code)]
fn _assert_encode(_: &impl Encode) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages are signed by `ring` (random nonces: two signatures of one message differ),
    /// digests by the portable RFC 6979 code (deterministic); the portable verifier accepts
    /// both, for keys generated here and read back from PKCS#8 or SEC1.
    #[test]
    fn p256_messages_go_through_ring_and_verify_portably() {
        use p256::ecdsa::signature::{DigestVerifier, Verifier};
        let generated = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let der = generated.to_pkcs8_der().unwrap();
        let PrivateKey::P256(inner) = &generated else {
            panic!("not P-256")
        };
        let sec1 = p256::SecretKey::from(inner.key.clone());
        let sec1_pem = sec1.to_sec1_pem(Default::default()).unwrap();
        for k in [
            generated,
            PrivateKey::from_pkcs8_der(&der).unwrap(),
            PrivateKey::from_pem(&sec1_pem).unwrap(),
        ] {
            let PrivateKey::P256(p) = &k else {
                panic!("not P-256")
            };
            assert!(p.ring().is_some(), "ring takes the key");
            let message = b"signed attributes of a receipt";
            let (a, b) = (
                k.sign_sha256(message).unwrap(),
                k.sign_sha256(message).unwrap(),
            );
            assert_ne!(a, b, "ring's nonces are random");
            for sig in [&a, &b] {
                let sig = p256::ecdsa::Signature::from_der(sig).unwrap();
                p.verifying_key().verify(message, &sig).unwrap();
                assert!(p.verifying_key().verify(b"another message", &sig).is_err());
            }
            let digest: [u8; 32] =
                sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(message))
                    .into();
            let d = k.sign_prehashed_sha256(&digest).unwrap();
            assert_eq!(d, k.sign_prehashed_sha256(&digest).unwrap(), "RFC 6979");
            p.verifying_key()
                .verify_digest(
                    <sha2::Sha256 as sha2::Digest>::new_with_prefix(message),
                    &p256::ecdsa::Signature::from_der(&d).unwrap(),
                )
                .unwrap();
        }
    }

    #[test]
    fn p256_sign_verify_and_pkcs8() {
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sig = k.sign_sha256(b"hello").unwrap();
        let p = k.public_key();
        p.verify(&k.signature_algorithm(), None, b"hello", &sig)
            .unwrap();
        assert!(p
            .verify(&k.signature_algorithm(), None, b"hellO", &sig)
            .is_err());
        let again = PrivateKey::from_pkcs8_der(&k.to_pkcs8_der().unwrap()).unwrap();
        assert_eq!(again.public_key(), p);
        let spki = k.public_key_der().unwrap();
        assert_eq!(PublicKey::from_spki_der(&spki).unwrap(), p);
    }

    #[test]
    fn rsa_sign_verify() {
        let k = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        let sig = k.sign_sha256(b"hello").unwrap();
        assert_eq!(sig.len(), 256);
        let p = PublicKey::from_spki_der(&k.public_key_der().unwrap()).unwrap();
        p.verify(&k.signature_algorithm(), None, b"hello", &sig)
            .unwrap();
        // CMS style: rsaEncryption + separate digest algorithm.
        let rsa_enc = AlgorithmIdentifierOwned {
            oid: oids::RSA_ENCRYPTION,
            parameters: None,
        };
        p.verify(&rsa_enc, Some(DigestAlg::Sha256), b"hello", &sig)
            .unwrap();
        assert!(p
            .verify(&rsa_enc, Some(DigestAlg::Sha256), b"other", &sig)
            .is_err());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(PrivateKey::from_pkcs8_der(b"garbage").is_err());
        assert!(PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01]).is_err());
        assert!(PrivateKey::from_pem("not pem").is_err());
    }
}
