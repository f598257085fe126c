//! Signed tree heads of the transparency log.
//!
//! The signed bytes follow RFC 6962's `TreeHeadSignature`: version (1 byte, 0), signature type
//! (1 byte, 1 = tree_hash), timestamp (8 bytes, milliseconds since the epoch, big-endian),
//! tree size (8 bytes, big-endian), root hash (32 bytes). The log key signs them with
//! ECDSA P-256 / SHA-256.

use crate::keys::{PrivateKey, PublicKey};
use crate::{CryptoError, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A signed tree head, as published at `/api/v1/log/sth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    pub tree_size: u64,
    /// Base64.
    pub root_hash: String,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// Base64 DER ECDSA signature.
    pub signature: String,
}

/// The bytes a tree head signature covers.
pub fn signed_bytes(tree_size: u64, timestamp: u64, root: &[u8; 32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(50);
    v.push(0);
    v.push(1);
    v.extend_from_slice(&timestamp.to_be_bytes());
    v.extend_from_slice(&tree_size.to_be_bytes());
    v.extend_from_slice(root);
    v
}

impl SignedTreeHead {
    pub fn sign(key: &PrivateKey, tree_size: u64, root: &[u8; 32], timestamp: u64) -> Result<Self> {
        let sig = key.sign_sha256(&signed_bytes(tree_size, timestamp, root))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(Self {
            tree_size,
            root_hash: b64.encode(root),
            timestamp,
            signature: b64.encode(sig),
        })
    }

    pub fn root(&self) -> Result<[u8; 32]> {
        let b = base64::engine::general_purpose::STANDARD
            .decode(&self.root_hash)
            .map_err(|e| CryptoError::malformed("root hash", e))?;
        b.try_into()
            .map_err(|_| CryptoError::malformed("root hash", "not 32 bytes"))
    }

    /// Checks the signature with the log's public key.
    pub fn verify(&self, log_key: &PublicKey) -> Result<()> {
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|e| CryptoError::malformed("tree head signature", e))?;
        let alg = spki::AlgorithmIdentifierOwned {
            oid: crate::oids::ECDSA_WITH_SHA256,
            parameters: None,
        };
        let alg = match log_key {
            PublicKey::Rsa(_) => spki::AlgorithmIdentifierOwned {
                oid: crate::oids::SHA256_WITH_RSA,
                parameters: None,
            },
            _ => alg,
        };
        log_key.verify(
            &alg,
            None,
            &signed_bytes(self.tree_size, self.timestamp, &self.root()?),
            &sig,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;

    #[test]
    fn sign_and_verify() {
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sth = SignedTreeHead::sign(&k, 7, &[3u8; 32], 1_700_000_000_000).unwrap();
        sth.verify(&k.public_key()).unwrap();
        let mut bad = sth.clone();
        bad.tree_size = 8;
        assert!(bad.verify(&k.public_key()).is_err());
    }
}
