//! Diwan's cryptography, with no I/O of its own (but the optional client of an external
//! time-stamping service).
//!
//! - [`keys`]: ECDSA P-256 and RSA keys, PKCS#8, signatures; [`seal`]: private keys encrypted at
//!   rest under the platform's master key;
//! - [`pki`]: the platform's own certificate authority (root, administration seals, personal
//!   signature certificates, time-stamping and OCSP certificates), trust stores and certification
//!   path validation;
//! - [`backend`]: where signature values come from (in-memory keys; how PKCS#11 and CSC remote
//!   signing plug in);
//! - [`cms`]: CMS `SignedData` for PAdES (`ETSI.CAdES.detached`) and detached CAdES signatures,
//!   and their verification (ours and other tools');
//! - [`ocsp`]: OCSP (RFC 6960) responder, requests and verification of responses;
//! - [`tsa`]: RFC 3161 time-stamping authority, client and verification;
//! - [`merkle`], [`sth`]: the RFC 9162 Merkle tree of the transparency log and its signed heads;
//! - [`asic`]: ASiC-E containers (ETSI EN 319 162-1) with a CAdES signature over a manifest;
//! - [`canonical`]: canonical JSON (RFC 8785) and its signatures, for machine-readable receipts.

pub mod asic;
pub mod backend;
pub mod canonical;
pub mod cms;
pub mod digest;
pub mod keys;
pub mod merkle;
pub mod ocsp;
pub mod oids;
mod p256_sign;
pub mod pkcs12;
pub mod pki;
mod rawder;
pub mod seal;
pub mod sth;
pub mod tsa;

pub use digest::DigestAlg;
pub use keys::{KeyAlgorithm, PrivateKey, PublicKey};
pub use pki::{Certificate, TrustStore};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("key error: {0}")]
    Key(String),
    #[error("the sealed key cannot be opened (wrong master key or damaged data)")]
    Unseal,
    #[error("time-stamping failed: {0}")]
    Timestamp(String),
    #[error("certificate path: {0}")]
    Path(#[from] pki::PathError),
    #[error("encoding error: {0}")]
    Der(#[from] der::Error),
}

impl CryptoError {
    pub fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        CryptoError::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}

pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
