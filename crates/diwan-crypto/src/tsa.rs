//! RFC 3161 time-stamping: the platform's own time-stamping authority, a client for an external
//! one, and verification of tokens.

use crate::cms::{self, CmsSigner};
use crate::digest::DigestAlg;
use crate::pki::Certificate;
use crate::{oids, CryptoError, PrivateKey, Result};
use ::cms::content_info::ContentInfo;
use der::asn1::{BitString, GeneralizedTime, Int, OctetString, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TspVersion, TstInfo};

/// `PKIStatusInfo` (RFC 3161 §2.4.2), with the failure info as a plain bit string.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct StatusInfo<'a> {
    status: u8,
    #[asn1(optional = "true")]
    status_string: Option<Vec<Utf8StringRef<'a>>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// `TimeStampResp`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Response<'a> {
    status: StatusInfo<'a>,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// RFC 3161 failure reasons (bit positions of PKIFailureInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    BadAlg = 0,
    BadRequest = 2,
    BadDataFormat = 5,
    TimeNotAvailable = 14,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
    SystemFailure = 25,
}

fn fail_bits(f: Failure) -> Option<BitString> {
    let n = f as usize;
    let mut bytes = vec![0u8; n / 8 + 1];
    bytes[n / 8] = 0x80 >> (n % 8);
    BitString::new((7 - (n % 8)) as u8, bytes).ok()
}

/// Something that time-stamps a SHA-256 digest, returning a `TimeStampToken` (DER ContentInfo).
pub trait TimestampSource: Send + Sync {
    fn timestamp(&self, imprint_sha256: &[u8; 32]) -> Result<Vec<u8>>;
    /// An upper bound of a token's size.
    fn max_token_size(&self) -> usize {
        8192
    }
}

/// The platform's time-stamping unit.
pub struct TimestampAuthority {
    key: PrivateKey,
    cert: Certificate,
    chain: Vec<Certificate>,
    policy: const_oid::ObjectIdentifier,
    counter: AtomicU64,
    serial_prefix: [u8; 8],
}

impl TimestampAuthority {
    pub fn new(key: PrivateKey, cert: Certificate, chain: Vec<Certificate>) -> Self {
        let mut serial_prefix = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial_prefix);
        serial_prefix[0] &= 0x7f;
        serial_prefix[0] |= 0x01;
        Self {
            key,
            cert,
            chain,
            policy: oids::DIWAN_TSA_POLICY,
            counter: AtomicU64::new(0),
            serial_prefix,
        }
    }

    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// A unique serial: random per process, then a counter (RFC 3161 requires uniqueness).
    fn next_serial(&self) -> Result<Int> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut b = self.serial_prefix.to_vec();
        b.extend_from_slice(&n.to_be_bytes());
        Ok(Int::new(&b)?)
    }

    /// Issues a token for a digest.
    pub fn issue_token(
        &self,
        alg: DigestAlg,
        imprint: &[u8],
        nonce: Option<Int>,
        with_certs: bool,
    ) -> Result<Vec<u8>> {
        let now = OffsetDateTime::now_utc();
        let millis = (now.unix_timestamp_nanos() / 1_000_000) as u64;
        let secs = millis / 1000;
        let gen_time = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
        let tst = TstInfo {
            version: TspVersion::V1,
            policy: self.policy,
            message_imprint: MessageImprint {
                hash_algorithm: spki::AlgorithmIdentifier {
                    oid: alg.oid(),
                    parameters: None,
                },
                hashed_message: OctetString::new(imprint.to_vec())?,
            },
            serial_number: self.next_serial()?,
            gen_time,
            // The clock is the server's (NTP-disciplined); one second covers truncation.
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce,
            tsa: None,
            extensions: None,
        };
        let tst_der = tst.to_der()?;
        let digest = DigestAlg::Sha256.digest(&tst_der);
        let signer = CmsSigner {
            key: &self.key,
            cert: &self.cert,
            chain: &self.chain,
        };
        cms::build(cms::Build {
            signer: &signer,
            econtent_type: oids::ID_CT_TST_INFO,
            econtent: Some(tst_der),
            message_digest: &digest,
            signing_time: Some(now),
            timestamp: None,
            include_chain: with_certs,
        })
    }

    /// Answers an RFC 3161 request (DER `TimeStampReq`) with a DER `TimeStampResp`; malformed or
    /// unsupported requests get a rejection with the matching failure info.
    pub fn respond(&self, request_der: &[u8]) -> Vec<u8> {
        let rejection = |f: Failure| -> Vec<u8> {
            let resp = Response {
                status: StatusInfo {
                    status: 2,
                    status_string: None,
                    fail_info: fail_bits(f),
                },
                time_stamp_token: None,
            };
            resp.to_der().unwrap_or_default()
        };
        let Ok(req) = TimeStampReq::from_der(request_der) else {
            return rejection(Failure::BadDataFormat);
        };
        let Ok(alg) = DigestAlg::from_oid(&req.message_imprint.hash_algorithm.oid) else {
            return rejection(Failure::BadAlg);
        };
        let imprint = req.message_imprint.hashed_message.as_bytes();
        if imprint.len() != alg.digest(b"").len() || alg == DigestAlg::Sha1 {
            return rejection(Failure::BadAlg);
        }
        if req.req_policy.is_some_and(|p| p != self.policy) {
            return rejection(Failure::UnacceptedPolicy);
        }
        if req.extensions.is_some() {
            return rejection(Failure::UnacceptedExtension);
        }
        match self.issue_token(alg, imprint, req.nonce.clone(), req.cert_req) {
            Ok(token) => match ContentInfo::from_der(&token) {
                Ok(ci) => Response {
                    status: StatusInfo {
                        status: 0,
                        status_string: None,
                        fail_info: None,
                    },
                    time_stamp_token: Some(ci),
                }
                .to_der()
                .unwrap_or_default(),
                Err(_) => rejection(Failure::SystemFailure),
            },
            Err(_) => rejection(Failure::SystemFailure),
        }
    }
}

impl TimestampSource for TimestampAuthority {
    fn timestamp(&self, imprint_sha256: &[u8; 32]) -> Result<Vec<u8>> {
        self.issue_token(DigestAlg::Sha256, imprint_sha256, None, true)
    }
    fn max_token_size(&self) -> usize {
        self.cert.der().len() + self.chain.iter().map(|c| c.der().len()).sum::<usize>() + 1600
    }
}

/// Builds a DER `TimeStampReq` for a SHA-256 digest (with a random nonce, certificates asked).
pub fn request(imprint_sha256: &[u8; 32]) -> Result<(Vec<u8>, Int)> {
    let mut n = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut n);
    n[0] &= 0x7f;
    n[0] |= 0x01;
    let nonce = Int::new(&n)?;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: spki::AlgorithmIdentifier {
                oid: oids::SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint_sha256.to_vec())?,
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    };
    Ok((req.to_der()?, nonce))
}

/// The token of a DER `TimeStampResp`, checking its status (and the nonce when given).
pub fn token_from_response(resp_der: &[u8], nonce: Option<&Int>) -> Result<Vec<u8>> {
    let resp = Response::from_der(resp_der)
        .map_err(|e| CryptoError::malformed("time-stamp response", e))?;
    // 0 granted, 1 granted with modifications.
    if resp.status.status > 1 {
        let why = resp
            .status
            .status_string
            .iter()
            .flatten()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(CryptoError::Timestamp(format!(
            "the authority refused (status {}) {why}",
            resp.status.status
        )));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| CryptoError::Timestamp("no token in the response".into()))?;
    let der = token.to_der()?;
    if let Some(n) = nonce {
        let info = verify_token_structure(&der)?;
        if info.nonce.as_ref() != Some(n) {
            return Err(CryptoError::Timestamp(
                "the response's nonce does not match the request".into(),
            ));
        }
    }
    Ok(der)
}

/// A client of an external RFC 3161 service (HTTP POST `application/timestamp-query`).
pub struct HttpTimestampClient {
    url: String,
    agent: ureq::Agent,
}

impl HttpTimestampClient {
    pub fn new(url: impl Into<String>) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(15))
            .build();
        Self {
            url: url.into(),
            agent,
        }
    }
}

impl TimestampSource for HttpTimestampClient {
    fn timestamp(&self, imprint_sha256: &[u8; 32]) -> Result<Vec<u8>> {
        let (req, nonce) = request(imprint_sha256)?;
        let resp = self
            .agent
            .post(&self.url)
            .set("Content-Type", "application/timestamp-query")
            .send_bytes(&req)
            .map_err(|e| CryptoError::Timestamp(format!("{}: {e}", self.url)))?;
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader().take(1 << 20), &mut body)
            .map_err(|e| CryptoError::Timestamp(e.to_string()))?;
        token_from_response(&body, Some(&nonce))
    }
}

use std::io::Read as _;

/// What a verified time-stamp token says.
#[derive(Debug, Clone)]
pub struct TimestampInfo {
    pub gen_time: OffsetDateTime,
    pub serial: Vec<u8>,
    pub policy: String,
    pub imprint_alg: DigestAlg,
    pub imprint: Vec<u8>,
    pub nonce: Option<Int>,
    /// The time-stamping unit's certificate.
    pub tsa: Option<Certificate>,
    /// Certificates carried by the token.
    pub certificates: Vec<Certificate>,
    /// The token's own signature verifies.
    pub signature_ok: bool,
}

fn verify_token_structure(token_der: &[u8]) -> Result<TimestampInfo> {
    let v = cms::verify(token_der, &mut |alg| {
        // The message digest of a token is over its encapsulated TSTInfo; filled below.
        Ok(alg.digest(b""))
    })?;
    if v.econtent_type != oids::ID_CT_TST_INFO {
        return Err(CryptoError::malformed("time-stamp token", "not a TSTInfo"));
    }
    let tst_der = v
        .econtent
        .clone()
        .ok_or_else(|| CryptoError::malformed("time-stamp token", "no TSTInfo"))?;
    let tst = TstInfo::from_der(&tst_der).map_err(|e| CryptoError::malformed("TSTInfo", e))?;
    // Verify again with the real content digest.
    let v = cms::verify(token_der, &mut |alg| Ok(alg.digest(&tst_der)))?;
    let s = v
        .signers
        .first()
        .ok_or_else(|| CryptoError::malformed("time-stamp token", "no signer"))?;
    let gen = tst.gen_time.to_unix_duration();
    Ok(TimestampInfo {
        gen_time: OffsetDateTime::from_unix_timestamp(gen.as_secs() as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            + time::Duration::nanoseconds(i64::from(gen.subsec_nanos())),
        serial: tst.serial_number.as_bytes().to_vec(),
        policy: tst.policy.to_string(),
        imprint_alg: DigestAlg::from_oid(&tst.message_imprint.hash_algorithm.oid)?,
        imprint: tst.message_imprint.hashed_message.as_bytes().to_vec(),
        nonce: tst.nonce,
        tsa: s.signer.clone(),
        certificates: v.certificates.clone(),
        signature_ok: s.digest_ok && s.signature_ok && s.signing_certificate_ok != Some(false),
    })
}

/// Verifies a token over `data`: its signature, and that its imprint is the digest of `data`.
/// The TSA's certificate path is for the caller to validate (with `Usage::TimeStamping`).
pub fn verify_token(token_der: &[u8], data: &[u8]) -> Result<TimestampInfo> {
    let info = verify_token_structure(token_der)?;
    if !info.signature_ok {
        return Err(CryptoError::BadSignature);
    }
    if info.imprint != info.imprint_alg.digest(data) {
        return Err(CryptoError::Timestamp(
            "the token does not cover these data (imprint mismatch)".into(),
        ));
    }
    Ok(info)
}

/// Verifies a token over a digest computed by the caller.
pub fn verify_token_digest(
    token_der: &[u8],
    alg_digest: &mut dyn FnMut(DigestAlg) -> Vec<u8>,
) -> Result<TimestampInfo> {
    let info = verify_token_structure(token_der)?;
    if !info.signature_ok {
        return Err(CryptoError::BadSignature);
    }
    if info.imprint != alg_digest(info.imprint_alg) {
        return Err(CryptoError::Timestamp(
            "the token does not cover these data (imprint mismatch)".into(),
        ));
    }
    Ok(info)
}
