//! CMS `SignedData` (RFC 5652): detached signatures for PAdES (`ETSI.CAdES.detached`, ETSI EN 319
//! 142-1) and CAdES (ETSI EN 319 122-1), and their verification.
//!
//! Our signatures carry exactly the signed attributes the baseline profiles require:
//! content-type, message-digest and signing-certificate-v2 (plus signing-time for CAdES, never for
//! PAdES where the claimed time lives in the PDF). B-T adds the signature-time-stamp unsigned
//! attribute: an RFC 3161 token over the SignatureValue.

use crate::backend::SigningBackend;
use crate::digest::DigestAlg;
use crate::pki::Certificate;
use crate::tsa::{TimestampInfo, TimestampSource};
use crate::{oids, rawder, CryptoError, PrivateKey, Result};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

/// `ESSCertIDv2` (RFC 5035); the hash algorithm defaults to SHA-256 and is then omitted.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `ESSCertID` (RFC 2634): SHA-1 certificate hash.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertId {
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// `SigningCertificateV2`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// `SigningCertificate` (v1).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificate {
    pub certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// A key with its certificate and the chain to send along.
pub struct CmsSigner<'a> {
    pub key: &'a PrivateKey,
    pub cert: &'a Certificate,
    pub chain: &'a [Certificate],
}

pub(crate) fn attribute(oid: const_oid::ObjectIdentifier, value: Any) -> Result<Attribute> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn signing_certificate_v2(cert: &Certificate) -> Result<Attribute> {
    let issuer_serial = IssuerSerial {
        issuer: vec![GeneralName::DirectoryName(cert.issuer_name().clone())],
        serial_number: cert.serial().clone(),
    };
    let v2 = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(cert.sha256().to_vec())?,
            issuer_serial: Some(issuer_serial),
        }],
        policies: None,
    };
    attribute(oids::ID_AA_SIGNING_CERTIFICATE_V2, Any::encode_from(&v2)?)
}

/// What to put in a `SignedData`.
pub(crate) struct Build<'a> {
    pub signer: &'a dyn SigningBackend,
    pub econtent_type: const_oid::ObjectIdentifier,
    /// Encapsulated content (time-stamp tokens); `None` for detached signatures.
    pub econtent: Option<Vec<u8>>,
    /// Digest (SHA-256) of the signed content.
    pub message_digest: &'a [u8],
    pub signing_time: Option<OffsetDateTime>,
    pub timestamp: Option<&'a dyn TimestampSource>,
    pub include_chain: bool,
}

pub(crate) fn utc_time(t: OffsetDateTime) -> Result<UtcTime> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CryptoError::malformed("time", "before 1970"))?;
    Ok(UtcTime::from_unix_duration(
        std::time::Duration::from_secs(secs),
    )?)
}

pub(crate) fn build(b: Build<'_>) -> Result<Vec<u8>> {
    let s = b.signer;
    let mut attrs = vec![
        attribute(oids::ID_CONTENT_TYPE, Any::encode_from(&b.econtent_type)?)?,
        attribute(
            oids::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(b.message_digest.to_vec())?)?,
        )?,
        signing_certificate_v2(s.certificate())?,
    ];
    if let Some(t) = b.signing_time {
        attrs.push(attribute(
            oids::ID_SIGNING_TIME,
            Any::encode_from(&utc_time(t)?)?,
        )?);
    }
    let signed_attrs = SetOfVec::try_from(attrs)?;
    // The signature covers the DER encoding of the attributes as a SET OF (RFC 5652 §5.4).
    let signature = s.sign_message(DigestAlg::Sha256, &signed_attrs.to_der()?)?;
    let unsigned_attrs = match b.timestamp {
        Some(tsa) => {
            let imprint: [u8; 32] =
                sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&signature))
                    .into();
            let token = tsa.timestamp(&imprint)?;
            let token =
                Any::from_der(&token).map_err(|e| CryptoError::malformed("time-stamp token", e))?;
            Some(SetOfVec::try_from(vec![attribute(
                oids::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
                token,
            )?])?)
        }
        None => None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: s.certificate().issuer_name().clone(),
            serial_number: s.certificate().serial().clone(),
        }),
        digest_alg: DigestAlg::Sha256.algorithm_identifier(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: s.signature_algorithm(),
        signature: OctetString::new(signature)?,
        unsigned_attrs,
    };
    let mut certs = vec![CertificateChoices::Certificate(
        s.certificate().x509().clone(),
    )];
    if b.include_chain {
        for c in s.chain() {
            certs.push(CertificateChoices::Certificate(c.x509().clone()));
        }
    }
    let sd = SignedData {
        // RFC 5652 §5.1: version 3 when the content is not id-data, else 1.
        version: if b.econtent_type == oids::ID_DATA {
            CmsVersion::V1
        } else {
            CmsVersion::V3
        },
        digest_algorithms: SetOfVec::try_from(vec![DigestAlg::Sha256.algorithm_identifier()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: b.econtent_type,
            econtent: b
                .econtent
                .map(|c| Any::encode_from(&OctetString::new(c)?))
                .transpose()?,
        },
        certificates: Some(certs.try_into()?),
        crls: None,
        signer_infos: vec![signer_info].try_into()?,
    };
    let ci = ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    };
    Ok(ci.to_der()?)
}

/// A detached CMS for a PAdES signature (`/SubFilter /ETSI.CAdES.detached`) over content whose
/// SHA-256 is `content_digest`. With `timestamp`, the signature is B-T.
pub fn sign_pades(
    signer: &CmsSigner<'_>,
    content_digest: &[u8; 32],
    timestamp: Option<&dyn TimestampSource>,
) -> Result<Vec<u8>> {
    sign_pades_with(signer, content_digest, timestamp)
}

/// A detached CAdES-B (or B-T) signature of a file whose SHA-256 is `data_digest`, with the
/// signing time in the signed attributes. Verifiable with `openssl cms -verify -binary
/// -content FILE -inform DER`.
pub fn sign_cades_detached(
    signer: &CmsSigner<'_>,
    data_digest: &[u8; 32],
    signing_time: OffsetDateTime,
    timestamp: Option<&dyn TimestampSource>,
) -> Result<Vec<u8>> {
    sign_cades_detached_with(signer, data_digest, signing_time, timestamp)
}

/// [`sign_pades`] with a signature value from any [`SigningBackend`] (PKCS#11, remote).
pub fn sign_pades_with(
    signer: &dyn SigningBackend,
    content_digest: &[u8; 32],
    timestamp: Option<&dyn TimestampSource>,
) -> Result<Vec<u8>> {
    build(Build {
        signer,
        econtent_type: oids::ID_DATA,
        econtent: None,
        message_digest: content_digest,
        signing_time: None,
        timestamp,
        include_chain: true,
    })
}

/// [`sign_cades_detached`] with a signature value from any [`SigningBackend`].
pub fn sign_cades_detached_with(
    signer: &dyn SigningBackend,
    data_digest: &[u8; 32],
    signing_time: OffsetDateTime,
    timestamp: Option<&dyn TimestampSource>,
) -> Result<Vec<u8>> {
    build(Build {
        signer,
        econtent_type: oids::ID_DATA,
        econtent: None,
        message_digest: data_digest,
        signing_time: Some(signing_time),
        timestamp,
        include_chain: true,
    })
}

/// An upper bound of the size of [`sign_pades`]'s output, to reserve room in a PDF.
pub fn estimate_pades_size(
    signer: &CmsSigner<'_>,
    timestamp: Option<&dyn TimestampSource>,
) -> usize {
    let certs: usize = std::iter::once(signer.cert)
        .chain(signer.chain.iter())
        .map(|c| c.der().len() + 8)
        .sum();
    // Issuer name twice (sid, ESS), attributes, algorithm identifiers, framing.
    let overhead = 2 * signer
        .cert
        .x509()
        .tbs_certificate
        .issuer
        .to_der()
        .map(|d| d.len())
        .unwrap_or(512)
        + 600;
    let ts = timestamp.map(|t| t.max_token_size() + 32).unwrap_or(0);
    certs + overhead + signer.key.max_signature_len() + ts
}

/// What a verifier learnt about one signer of a `SignedData`.
#[derive(Debug, Clone)]
pub struct SignerReport {
    /// The signer's certificate, if it was found among the certificates.
    pub signer: Option<Certificate>,
    pub digest_alg: DigestAlg,
    /// The message-digest attribute equals the digest of the content given.
    pub digest_ok: bool,
    /// The signature over the signed attributes verifies under the signer's key.
    pub signature_ok: bool,
    /// signing-certificate(-v2) matches the signer certificate (`None`: attribute absent).
    pub signing_certificate_ok: Option<bool>,
    /// The signer's claimed signing time (signed attribute), if any.
    pub signing_time: Option<OffsetDateTime>,
    /// The signature time-stamp (unsigned attribute), if any: verified, or why not.
    pub timestamp: Option<Result<TimestampInfo, String>>,
    /// The signature value (for time-stamps over it and DSS VRI keys).
    pub signature_value: Vec<u8>,
}

/// The result of verifying a `SignedData`.
#[derive(Debug, Clone)]
pub struct CmsVerification {
    pub econtent_type: const_oid::ObjectIdentifier,
    /// Encapsulated content (time-stamp tokens), if any.
    pub econtent: Option<Vec<u8>>,
    pub certificates: Vec<Certificate>,
    pub signers: Vec<SignerReport>,
}

fn signed_data_of(cms_der: &[u8]) -> Result<(SignedData, Vec<Vec<u8>>)> {
    let ci = ContentInfo::from_der(cms_der).map_err(|e| CryptoError::malformed("CMS", e))?;
    if ci.content_type != oids::ID_SIGNED_DATA {
        return Err(CryptoError::Unsupported(format!(
            "CMS content type {}",
            ci.content_type
        )));
    }
    let sd_der = ci.content.to_der()?;
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| CryptoError::malformed("SignedData", e))?;
    // The exact bytes of every signer's signed attributes, from the raw encoding.
    let (sd_tlv, _) = rawder::read(&sd_der)?;
    let parts = rawder::children(sd_tlv.content)?;
    let infos = parts
        .last()
        .ok_or_else(|| CryptoError::malformed("SignedData", "no signer infos"))?;
    let mut raw_attrs = Vec::new();
    for si in rawder::children(infos.content)? {
        let fields = rawder::children(si.content)?;
        let a = fields.iter().find(|f| f.tag == 0xA0).map(|f| {
            let mut v = f.full.to_vec();
            v[0] = 0x31; // [0] IMPLICIT → SET OF, as signed.
            v
        });
        raw_attrs.push(a.unwrap_or_default());
    }
    Ok((sd, raw_attrs))
}

fn attr(
    attrs: &Option<x509_cert::attr::Attributes>,
    oid: const_oid::ObjectIdentifier,
) -> Option<&Any> {
    attrs
        .as_ref()?
        .iter()
        .find(|a| a.oid == oid)
        .and_then(|a| a.values.iter().next())
}

/// Verifies a CMS `SignedData`. `content_digest` gives the digest of the (detached or
/// encapsulated) content for a digest algorithm, e.g. by hashing a PDF's byte ranges.
/// Certificate paths are not validated here (see [`crate::pki::TrustStore::validate`]).
pub fn verify(
    cms_der: &[u8],
    content_digest: &mut dyn FnMut(DigestAlg) -> Result<Vec<u8>>,
) -> Result<CmsVerification> {
    let (sd, raw_attrs) = signed_data_of(cms_der)?;
    let mut certificates = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(c) = c {
            certificates.push(Certificate::from_x509(c.clone())?);
        }
    }
    let econtent = match &sd.encap_content_info.econtent {
        Some(any) => Some(
            any.decode_as::<OctetString>()
                .map_err(|e| CryptoError::malformed("encapsulated content", e))?
                .as_bytes()
                .to_vec(),
        ),
        None => None,
    };
    let mut signers = Vec::new();
    for (i, si) in sd.signer_infos.0.iter().enumerate() {
        let digest_alg = DigestAlg::from_oid(&si.digest_alg.oid)?;
        let signer = certificates
            .iter()
            .find(|c| match &si.sid {
                SignerIdentifier::IssuerAndSerialNumber(ias) => {
                    c.issuer_name() == &ias.issuer && c.serial() == &ias.serial_number
                }
                SignerIdentifier::SubjectKeyIdentifier(ski) => {
                    c.subject_key_id().as_deref() == Some(ski.0.as_bytes())
                }
            })
            .cloned();
        let content = content_digest(digest_alg)?;
        let signature_value = si.signature.as_bytes().to_vec();
        let (digest_ok, signed_bytes) = match &si.signed_attrs {
            Some(_) => {
                let md = attr(&si.signed_attrs, oids::ID_MESSAGE_DIGEST)
                    .and_then(|a| a.decode_as::<OctetString>().ok())
                    .map(|o| o.as_bytes().to_vec());
                (
                    md.as_deref() == Some(&content[..]),
                    raw_attrs.get(i).cloned().unwrap_or_default(),
                )
            }
            // No signed attributes: the signature is over the content itself, which a detached
            // verifier given only a digest cannot check.
            None => (false, Vec::new()),
        };
        let signature_ok = match &signer {
            Some(c) if !signed_bytes.is_empty() => c
                .public_key()
                .and_then(|k| {
                    k.verify(
                        &si.signature_algorithm,
                        Some(digest_alg),
                        &signed_bytes,
                        &signature_value,
                    )
                })
                .is_ok(),
            _ => false,
        };
        let signing_certificate_ok = match (
            &signer,
            attr(&si.signed_attrs, oids::ID_AA_SIGNING_CERTIFICATE_V2),
            attr(&si.signed_attrs, oids::ID_AA_SIGNING_CERTIFICATE),
        ) {
            (Some(c), Some(v2), _) => Some(
                v2.decode_as::<SigningCertificateV2>()
                    .ok()
                    .is_some_and(|sc| {
                        sc.certs.first().is_some_and(|id| {
                            let alg = id
                                .hash_algorithm
                                .as_ref()
                                .map(|a| DigestAlg::from_oid(&a.oid))
                                .transpose()
                                .ok()
                                .flatten()
                                .unwrap_or(DigestAlg::Sha256);
                            id.cert_hash.as_bytes() == alg.digest(c.der()).as_slice()
                        })
                    }),
            ),
            (Some(c), None, Some(v1)) => {
                Some(v1.decode_as::<SigningCertificate>().ok().is_some_and(|sc| {
                    sc.certs.first().is_some_and(|id| {
                        id.cert_hash.as_bytes() == DigestAlg::Sha1.digest(c.der()).as_slice()
                    })
                }))
            }
            (None, Some(_), _) | (None, _, Some(_)) => Some(false),
            _ => None,
        };
        let signing_time = attr(&si.signed_attrs, oids::ID_SIGNING_TIME).and_then(|a| {
            let t = x509_cert::time::Time::from_der(&a.to_der().ok()?).ok()?;
            OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64).ok()
        });
        let timestamp =
            attr(&si.unsigned_attrs, oids::ID_AA_SIGNATURE_TIME_STAMP_TOKEN).map(|tok| {
                let der = tok.to_der().map_err(|e| e.to_string())?;
                crate::tsa::verify_token(&der, &signature_value).map_err(|e| e.to_string())
            });
        signers.push(SignerReport {
            signer,
            digest_alg,
            digest_ok,
            signature_ok,
            signing_certificate_ok,
            signing_time,
            timestamp,
            signature_value,
        });
    }
    Ok(CmsVerification {
        econtent_type: sd.encap_content_info.econtent_type,
        econtent,
        certificates,
        signers,
    })
}

/// Verifies a detached CMS over in-memory data (convenience).
pub fn verify_detached_data(cms_der: &[u8], data: &[u8]) -> Result<CmsVerification> {
    verify(cms_der, &mut |alg| Ok(alg.digest(data)))
}
