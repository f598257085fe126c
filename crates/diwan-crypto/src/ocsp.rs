//! OCSP (RFC 6960): the platform's responder, requests for clients, and verification of
//! responses for signature validation.
//!
//! Responses are signed directly by the certificate authority whose certificates they speak of
//! (RFC 6960 §4.2.2.2, first case): the responder ID is the SHA-1 hash of that authority's key and
//! no delegated OCSP-signing certificate is needed, so a relying party that trusts the root trusts
//! its answers without a further certificate (and without the id-pkix-ocsp-nocheck question).
//! Responses verified here may also come from a delegated responder: a certificate in the
//! response, issued by the same authority, with the id-kp-OCSPSigning extended key usage.
//!
//! A request's nonce extension (RFC 8954) is echoed unchanged in the response.

use crate::digest::DigestAlg;
use crate::pki::Certificate;
use crate::{oids, rawder, CryptoError, PrivateKey, Result};
use const_oid::ObjectIdentifier as Oid;
use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Any, Choice, Decode, Encode, Enumerated, Sequence};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

/// `id-pkix-ocsp-basic`.
pub const ID_PKIX_OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// `id-pkix-ocsp-nonce`.
pub const ID_PKIX_OCSP_NONCE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// `CertID`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct CertId {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub issuer_name_hash: OctetString,
    pub issuer_key_hash: OctetString,
    pub serial_number: SerialNumber,
}

/// `Request`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct Request {
    req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Vec<Extension>>,
}

/// `TBSRequest`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TbsRequest {
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    version: x509_cert::Version,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    requestor_name: Option<Any>,
    request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Vec<Extension>>,
}

/// `OCSPRequest` (a signature, if any, is ignored: the responder answers everyone).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct OcspRequestAsn1 {
    tbs_request: TbsRequest,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    optional_signature: Option<Any>,
}

/// `OCSPResponseStatus`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Enumerated)]
#[repr(u8)]
pub enum ResponseStatus {
    Successful = 0,
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    SigRequired = 5,
    Unauthorized = 6,
}

/// `ResponseBytes`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct ResponseBytes {
    response_type: Oid,
    response: OctetString,
}

/// `OCSPResponse`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct OcspResponseAsn1 {
    response_status: ResponseStatus,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

/// `ResponderID`.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
enum ResponderId {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// `RevokedInfo`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<CrlReason>,
}

/// `CertStatus`.
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
enum CertStatusAsn1 {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// `SingleResponse`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SingleResponse {
    cert_id: CertId,
    cert_status: CertStatusAsn1,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Vec<Extension>>,
}

/// `ResponseData`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct ResponseData {
    #[asn1(
        context_specific = "0",
        tag_mode = "EXPLICIT",
        default = "Default::default"
    )]
    version: x509_cert::Version,
    responder_id: ResponderId,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Vec<Extension>>,
}

/// `BasicOCSPResponse`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: ResponseData,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<x509_cert::Certificate>>,
}

/// The certificate status a responder gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason: Option<CrlReason>,
    },
    Unknown,
}

/// A parsed OCSP request.
#[derive(Debug, Clone)]
pub struct OcspRequest {
    /// The certificates asked about.
    pub cert_ids: Vec<CertId>,
    /// The nonce extension as received (echoed in the response).
    nonce: Option<Extension>,
}

impl OcspRequest {
    /// The nonce's value (the extension's extnValue), if the request carries one.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_ref().map(|e| e.extn_value.as_bytes())
    }
}

/// Reads an `OCSPRequest` (DER).
pub fn parse_request(der: &[u8]) -> Result<OcspRequest> {
    let r =
        OcspRequestAsn1::from_der(der).map_err(|e| CryptoError::malformed("OCSP request", e))?;
    if r.tbs_request.request_list.is_empty() {
        return Err(CryptoError::malformed(
            "OCSP request",
            "no certificate asked about",
        ));
    }
    let nonce = r
        .tbs_request
        .request_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
        .cloned();
    if nonce
        .as_ref()
        .is_some_and(|n| n.extn_value.as_bytes().len() > 130)
    {
        return Err(CryptoError::malformed("OCSP request", "nonce too long"));
    }
    Ok(OcspRequest {
        cert_ids: r
            .tbs_request
            .request_list
            .into_iter()
            .map(|r| r.req_cert)
            .collect(),
        nonce,
    })
}

/// The value hashed into `issuerKeyHash` and `KeyHash`: the subject public key's bits.
fn key_bits(cert: &Certificate) -> Vec<u8> {
    cert.x509()
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

fn sha1_key_hash(cert: &Certificate) -> Vec<u8> {
    DigestAlg::Sha1.digest(&key_bits(cert))
}

impl CertId {
    /// The identifier of `cert` issued by `issuer`, hashed with `alg` (SHA-1 is what most
    /// responders expect, RFC 5019).
    pub fn new(cert: &Certificate, issuer: &Certificate, alg: DigestAlg) -> Result<Self> {
        let mut hash_algorithm = alg.algorithm_identifier();
        if alg == DigestAlg::Sha1 {
            hash_algorithm.parameters = Some(Any::null());
        }
        Ok(CertId {
            hash_algorithm,
            issuer_name_hash: OctetString::new(
                alg.digest(&cert.x509().tbs_certificate.issuer.to_der()?),
            )?,
            issuer_key_hash: OctetString::new(alg.digest(&key_bits(issuer)))?,
            serial_number: cert.x509().tbs_certificate.serial_number.clone(),
        })
    }

    /// Whether this identifier names a certificate issued by `issuer`.
    pub fn is_issued_by(&self, issuer: &Certificate) -> bool {
        let Ok(alg) = DigestAlg::from_oid(&self.hash_algorithm.oid) else {
            return false;
        };
        let Ok(name) = issuer.x509().tbs_certificate.subject.to_der() else {
            return false;
        };
        self.issuer_name_hash.as_bytes() == alg.digest(&name).as_slice()
            && self.issuer_key_hash.as_bytes() == alg.digest(&key_bits(issuer)).as_slice()
    }

    /// The serial number's bytes (as in [`Certificate::serial_hex`]).
    pub fn serial(&self) -> &[u8] {
        self.serial_number.as_bytes()
    }

    /// Whether this identifier names `cert` issued by `issuer`.
    pub fn matches(&self, cert: &Certificate, issuer: &Certificate) -> bool {
        self.serial_number == cert.x509().tbs_certificate.serial_number && self.is_issued_by(issuer)
    }
}

fn gtime(t: OffsetDateTime) -> Result<GeneralizedTime> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CryptoError::malformed("time", "before 1970"))?;
    Ok(GeneralizedTime::from_unix_duration(
        std::time::Duration::from_secs(secs),
    )?)
}

fn from_gtime(t: &GeneralizedTime) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An unsuccessful response (no signature): malformed request, internal error, try later…
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    OcspResponseAsn1 {
        response_status: status,
        response_bytes: None,
    }
    .to_der()
    // Encoding a one-field enumerated cannot fail; an empty body is the last resort.
    .unwrap_or_default()
}

/// The responder of a certificate authority: it signs with the authority's own key.
pub struct Responder<'a> {
    /// The authority whose certificates are answered for (and the signer).
    pub issuer: &'a Certificate,
    pub key: &'a PrivateKey,
}

impl Responder<'_> {
    /// A signed `BasicOCSPResponse` for every certificate of `request`. `status` gives the
    /// status of a serial number of this authority; certificates of other issuers are
    /// `unknown`. `this_update`/`next_update` bound the validity of the answer.
    pub fn respond(
        &self,
        request: &OcspRequest,
        status: &dyn Fn(&[u8]) -> CertStatus,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>> {
        let mut responses = Vec::new();
        for id in &request.cert_ids {
            let s = if id.is_issued_by(self.issuer) {
                status(id.serial())
            } else {
                CertStatus::Unknown
            };
            let cert_status = match s {
                CertStatus::Good => CertStatusAsn1::Good(Null),
                CertStatus::Unknown => CertStatusAsn1::Unknown(Null),
                CertStatus::Revoked { at, reason } => CertStatusAsn1::Revoked(RevokedInfo {
                    revocation_time: gtime(at)?,
                    revocation_reason: reason,
                }),
            };
            responses.push(SingleResponse {
                cert_id: id.clone(),
                cert_status,
                this_update: gtime(this_update)?,
                next_update: Some(gtime(next_update)?),
                single_extensions: None,
            });
        }
        let tbs = ResponseData {
            version: x509_cert::Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(sha1_key_hash(self.issuer))?),
            produced_at: gtime(OffsetDateTime::now_utc())?,
            responses,
            response_extensions: request.nonce.clone().map(|n| vec![n]),
        };
        let signature = self.key.sign_sha256(&tbs.to_der()?)?;
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: self.key.signature_algorithm(),
            signature: BitString::from_bytes(&signature)?,
            certs: None,
        };
        Ok(OcspResponseAsn1 {
            response_status: ResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der()?)?,
            }),
        }
        .to_der()?)
    }
}

/// A DER `OCSPRequest` for one certificate (SHA-1 CertID), with a random nonce if asked.
pub fn build_request(cert: &Certificate, issuer: &Certificate, nonce: bool) -> Result<Vec<u8>> {
    let request_extensions = if nonce {
        let mut n = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut n);
        Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(n.to_vec())?.to_der()?)?,
        }])
    } else {
        None
    };
    Ok(OcspRequestAsn1 {
        tbs_request: TbsRequest {
            version: x509_cert::Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: CertId::new(cert, issuer, DigestAlg::Sha1)?,
                single_request_extensions: None,
            }],
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()?)
}

/// What a verified OCSP response says about one certificate.
#[derive(Debug, Clone)]
pub struct OcspAnswer {
    pub status: CertStatus,
    pub produced_at: OffsetDateTime,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// The response's nonce (extnValue), if any.
    pub nonce: Option<Vec<u8>>,
    /// The delegated responder's certificate, when the authority did not sign itself.
    pub responder: Option<Certificate>,
}

impl OcspAnswer {
    /// Whether the answer was current at `at` (thisUpdate ≤ at ≤ nextUpdate, with `slack`
    /// seconds of clock skew allowed).
    pub fn current_at(&self, at: OffsetDateTime, slack: time::Duration) -> bool {
        self.this_update - slack <= at && self.next_update.is_none_or(|n| at <= n + slack)
    }
}

/// Verifies an `OCSPResponse` about `cert` issued by `issuer`: a successful basic response,
/// signed by the issuer itself or by a delegated OCSP-signing certificate the issuer issued, with
/// a single response for that certificate. The freshness of the answer is left to the caller
/// ([`OcspAnswer::current_at`]).
pub fn verify_response(der: &[u8], cert: &Certificate, issuer: &Certificate) -> Result<OcspAnswer> {
    let resp =
        OcspResponseAsn1::from_der(der).map_err(|e| CryptoError::malformed("OCSP response", e))?;
    if resp.response_status != ResponseStatus::Successful {
        return Err(CryptoError::malformed(
            "OCSP response",
            format!("the responder answered {:?}", resp.response_status),
        ));
    }
    let bytes = resp
        .response_bytes
        .ok_or_else(|| CryptoError::malformed("OCSP response", "no response bytes"))?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(CryptoError::Unsupported(format!(
            "OCSP response type {}",
            bytes.response_type
        )));
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der)
        .map_err(|e| CryptoError::malformed("basic OCSP response", e))?;
    // The signed bytes exactly as received.
    let (outer, _) = rawder::read(basic_der)?;
    let tbs_raw = rawder::children(outer.content)?
        .first()
        .map(|t| t.full.to_vec())
        .ok_or_else(|| CryptoError::malformed("basic OCSP response", "empty"))?;
    let data = &basic.tbs_response_data;
    let is_issuer = match &data.responder_id {
        ResponderId::ByKey(k) => k.as_bytes() == sha1_key_hash(issuer).as_slice(),
        ResponderId::ByName(n) => n == &issuer.x509().tbs_certificate.subject,
    };
    let signer = if is_issuer {
        None
    } else {
        // A delegated responder: among the certificates sent, the one the ID names.
        let delegated = basic
            .certs
            .iter()
            .flatten()
            .filter_map(|c| Certificate::from_x509(c.clone()).ok())
            .find(|c| match &data.responder_id {
                ResponderId::ByKey(k) => k.as_bytes() == sha1_key_hash(c).as_slice(),
                ResponderId::ByName(n) => n == &c.x509().tbs_certificate.subject,
            })
            .ok_or_else(|| {
                CryptoError::malformed("OCSP response", "the responder's certificate is missing")
            })?;
        delegated.verify_signed_by(issuer).map_err(|_| {
            CryptoError::malformed(
                "OCSP response",
                "the responder's certificate was not issued by the certificate's issuer",
            )
        })?;
        if !delegated
            .extended_key_usage()
            .is_some_and(|e| e.contains(&oids::KP_OCSP_SIGNING))
        {
            return Err(CryptoError::malformed(
                "OCSP response",
                "the responder's certificate is not for OCSP signing",
            ));
        }
        Some(delegated)
    };
    let key = signer.as_ref().unwrap_or(issuer).public_key()?;
    let sig = basic
        .signature
        .as_bytes()
        .ok_or(CryptoError::BadSignature)?;
    key.verify(&basic.signature_algorithm, None, &tbs_raw, sig)?;
    let single = data
        .responses
        .iter()
        .find(|r| r.cert_id.matches(cert, issuer))
        .ok_or_else(|| {
            CryptoError::malformed("OCSP response", "no answer about this certificate")
        })?;
    let status = match &single.cert_status {
        CertStatusAsn1::Good(_) => CertStatus::Good,
        CertStatusAsn1::Unknown(_) => CertStatus::Unknown,
        CertStatusAsn1::Revoked(r) => CertStatus::Revoked {
            at: from_gtime(&r.revocation_time),
            reason: r.revocation_reason,
        },
    };
    Ok(OcspAnswer {
        status,
        produced_at: from_gtime(&data.produced_at),
        this_update: from_gtime(&single.this_update),
        next_update: single.next_update.as_ref().map(from_gtime),
        nonce: data
            .response_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            .map(|e| e.extn_value.as_bytes().to_vec()),
        responder: signer,
    })
}

/// A revocation reason from its RFC 5280 name (`keyCompromise`, `superseded`, …), as kept with
/// revoked keys; free text gives no reason code.
pub fn reason_from_name(name: &str) -> Option<CrlReason> {
    Some(match name.trim() {
        "unspecified" => CrlReason::Unspecified,
        "keyCompromise" => CrlReason::KeyCompromise,
        "cACompromise" | "caCompromise" => CrlReason::CaCompromise,
        "affiliationChanged" => CrlReason::AffiliationChanged,
        "superseded" => CrlReason::Superseded,
        "cessationOfOperation" => CrlReason::CessationOfOperation,
        "certificateHold" => CrlReason::CertificateHold,
        "privilegeWithdrawn" => CrlReason::PrivilegeWithdrawn,
        "aACompromise" | "aaCompromise" => CrlReason::AaCompromise,
        _ => return None,
    })
}

/// Fetches an OCSP response over HTTP (POST, RFC 6960 appendix A) and verifies it.
pub fn fetch(url: &str, cert: &Certificate, issuer: &Certificate) -> Result<(Vec<u8>, OcspAnswer)> {
    let req = build_request(cert, issuer, false)?;
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(15))
        .build();
    let resp = agent
        .post(url)
        .set("Content-Type", "application/ocsp-request")
        .send_bytes(&req)
        .map_err(|e| CryptoError::malformed("OCSP response", format!("{url}: {e}")))?;
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(resp.into_reader(), 1 << 20),
        &mut body,
    )
    .map_err(|e| CryptoError::malformed("OCSP response", e))?;
    let answer = verify_response(&body, cert, issuer)?;
    Ok((body, answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::chain;
    use time::Duration;

    #[test]
    fn good_revoked_unknown_and_nonce() {
        let (root, rk, ica, ik, seal, _) = chain();
        let now = OffsetDateTime::now_utc();
        // The issuing CA answers for the seal.
        let req = parse_request(&build_request(&seal, &ica, true).unwrap()).unwrap();
        assert_eq!(req.nonce().map(|n| n.len()), Some(18));
        let responder = Responder {
            issuer: &ica,
            key: &ik,
        };
        let good = responder
            .respond(&req, &|_| CertStatus::Good, now, now + Duration::hours(1))
            .unwrap();
        let a = verify_response(&good, &seal, &ica).unwrap();
        assert_eq!(a.status, CertStatus::Good);
        assert_eq!(a.nonce.as_deref(), req.nonce());
        assert!(a.current_at(now, Duration::minutes(1)));
        assert!(!a.current_at(now + Duration::hours(2), Duration::minutes(1)));
        assert!(a.responder.is_none());

        let serial = seal
            .x509()
            .tbs_certificate
            .serial_number
            .as_bytes()
            .to_vec();
        let revoked_at = now - Duration::days(1);
        let revoked = responder
            .respond(
                &req,
                &|s| {
                    if s == serial.as_slice() {
                        CertStatus::Revoked {
                            at: revoked_at,
                            reason: reason_from_name("keyCompromise"),
                        }
                    } else {
                        CertStatus::Good
                    }
                },
                now,
                now + Duration::hours(1),
            )
            .unwrap();
        match verify_response(&revoked, &seal, &ica).unwrap().status {
            CertStatus::Revoked { at, reason } => {
                assert_eq!(at.unix_timestamp(), revoked_at.unix_timestamp());
                assert_eq!(reason, Some(CrlReason::KeyCompromise));
            }
            s => panic!("{s:?}"),
        }
        // Another issuer's responder does not know the seal.
        let root_responder = Responder {
            issuer: &root,
            key: &rk,
        };
        let unknown = root_responder
            .respond(&req, &|_| CertStatus::Good, now, now + Duration::hours(1))
            .unwrap();
        // …and its signature is not the seal issuer's.
        assert!(verify_response(&unknown, &seal, &ica).is_err());
        let req_root = parse_request(&build_request(&ica, &root, false).unwrap()).unwrap();
        assert!(req_root.nonce().is_none());
        let ica_good = root_responder
            .respond(
                &req_root,
                &|_| CertStatus::Good,
                now,
                now + Duration::hours(1),
            )
            .unwrap();
        assert_eq!(
            verify_response(&ica_good, &ica, &root).unwrap().status,
            CertStatus::Good
        );
        // Asked about the seal with the root as issuer: unknown.
        let odd = parse_request(&build_request(&seal, &root, false).unwrap()).unwrap();
        let r = root_responder
            .respond(&odd, &|_| CertStatus::Good, now, now + Duration::hours(1))
            .unwrap();
        let parsed = OcspResponseAsn1::from_der(&r).unwrap();
        let basic = BasicOcspResponse::from_der(parsed.response_bytes.unwrap().response.as_bytes())
            .unwrap();
        assert!(matches!(
            basic.tbs_response_data.responses[0].cert_status,
            CertStatusAsn1::Unknown(_)
        ));
    }

    #[test]
    fn tampered_and_malformed() {
        let (_, _, ica, ik, seal, _) = chain();
        let now = OffsetDateTime::now_utc();
        let req = parse_request(&build_request(&seal, &ica, false).unwrap()).unwrap();
        let mut r = Responder {
            issuer: &ica,
            key: &ik,
        }
        .respond(&req, &|_| CertStatus::Good, now, now + Duration::hours(1))
        .unwrap();
        // Flip a byte of the serial number inside the signed data.
        let serial = seal.x509().tbs_certificate.serial_number.as_bytes();
        let pos = r.windows(serial.len()).position(|w| w == serial).unwrap();
        r[pos + 3] ^= 1;
        assert!(verify_response(&r, &seal, &ica).is_err());
        assert!(parse_request(b"\x30\x00").is_err());
        assert!(parse_request(b"nonsense").is_err());
        let e = error_response(ResponseStatus::MalformedRequest);
        assert_eq!(e, vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
        assert!(verify_response(&e, &seal, &ica).is_err());
    }

    #[test]
    fn delegated_responder() {
        use crate::pki::{issue, Profile};
        let (_, _, ica, ik, seal, _) = chain();
        let now = OffsetDateTime::now_utc();
        let ok = PrivateKey::generate(crate::KeyAlgorithm::EcdsaP256).unwrap();
        let ocsp_cert = issue(
            &crate::pki::tests::spec("Diwan OCSP", Profile::OcspResponder),
            &ok.public_key_der().unwrap(),
            Some(&ica),
            &ik,
        )
        .unwrap();
        // Built by hand: the responder signs with the delegated key and sends its certificate.
        let req = parse_request(&build_request(&seal, &ica, false).unwrap()).unwrap();
        let tbs = ResponseData {
            version: x509_cert::Version::V1,
            responder_id: ResponderId::ByName(ocsp_cert.x509().tbs_certificate.subject.clone()),
            produced_at: gtime(now).unwrap(),
            responses: vec![SingleResponse {
                cert_id: req.cert_ids[0].clone(),
                cert_status: CertStatusAsn1::Good(Null),
                this_update: gtime(now).unwrap(),
                next_update: None,
                single_extensions: None,
            }],
            response_extensions: None,
        };
        let sig = ok.sign_sha256(&tbs.to_der().unwrap()).unwrap();
        let resp = OcspResponseAsn1 {
            response_status: ResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: ID_PKIX_OCSP_BASIC,
                response: OctetString::new(
                    BasicOcspResponse {
                        tbs_response_data: tbs,
                        signature_algorithm: ok.signature_algorithm(),
                        signature: BitString::from_bytes(&sig).unwrap(),
                        certs: Some(vec![ocsp_cert.x509().clone()]),
                    }
                    .to_der()
                    .unwrap(),
                )
                .unwrap(),
            }),
        }
        .to_der()
        .unwrap();
        let a = verify_response(&resp, &seal, &ica).unwrap();
        assert_eq!(a.status, CertStatus::Good);
        assert_eq!(a.responder.as_ref(), Some(&ocsp_cert));
    }
}
