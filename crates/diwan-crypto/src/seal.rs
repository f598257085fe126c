//! Private keys at rest: AES-256-GCM under the platform's master key, with the key's identifier
//! as associated data (a sealed key cannot be moved to another identity unnoticed).
//! Layout: `"DWK1" ‖ nonce (12) ‖ ciphertext+tag`.

use crate::keys::PrivateKey;
use crate::{CryptoError, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

const MAGIC: &[u8; 4] = b"DWK1";

/// Encrypts a private key.
pub fn seal(master: &[u8; 32], key_id: &str, key: &PrivateKey) -> Result<Vec<u8>> {
    seal_bytes(master, key_id, &key.to_pkcs8_der()?)
}

/// Decrypts a private key sealed by [`seal`].
pub fn open(master: &[u8; 32], key_id: &str, sealed: &[u8]) -> Result<PrivateKey> {
    PrivateKey::from_pkcs8_der(&open_bytes(master, key_id, sealed)?)
}

/// Encrypts arbitrary secret bytes.
pub fn seal_bytes(master: &[u8; 32], aad: &str, secret: &[u8]) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new_from_slice(master).map_err(|e| CryptoError::Key(e.to_string()))?;
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|e| CryptoError::Key(e.to_string()))?;
    let mut out = Vec::with_capacity(4 + 12 + ct.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts bytes sealed by [`seal_bytes`].
pub fn open_bytes(master: &[u8; 32], aad: &str, sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < 4 + 12 + 16 || &sealed[..4] != MAGIC {
        return Err(CryptoError::Unseal);
    }
    let cipher = Aes256Gcm::new_from_slice(master).map_err(|e| CryptoError::Key(e.to_string()))?;
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[4..16]),
            Payload {
                msg: &sealed[16..],
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| CryptoError::Unseal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;

    #[test]
    fn round_trip_and_binding() {
        let master = [7u8; 32];
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let s = seal(&master, "seal:MTNRA", &k).unwrap();
        assert_eq!(
            open(&master, "seal:MTNRA", &s).unwrap().public_key(),
            k.public_key()
        );
        assert!(matches!(
            open(&master, "seal:OTHER", &s),
            Err(CryptoError::Unseal)
        ));
        assert!(matches!(
            open(&[8u8; 32], "seal:MTNRA", &s),
            Err(CryptoError::Unseal)
        ));
        let mut bad = s.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(open(&master, "seal:MTNRA", &bad).is_err());
        assert!(open(&master, "x", b"DWK1").is_err());
    }
}
