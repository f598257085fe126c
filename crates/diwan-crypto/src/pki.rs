//! The platform's own certificate authority, certificates, and certification path validation.
//!
//! Certificates are built field by field (RFC 5280 profile): version 3, random positive 128-bit
//! serial numbers, UTF-8 names (Arabic welcome), and the extensions each role needs. Trust stores
//! validate paths at a given time: every signature, validity period, CA flag, key usage and path
//! length is checked, and failures say precisely which.

use crate::keys::{pem_blocks, pem_encode, PrivateKey, PublicKey};
use crate::{oids, CryptoError, Result};
use der::asn1::{
    BitString, Ia5String, OctetString, PrintableStringRef, SetOfVec, UtcTime, Utf8StringRef,
};
use der::{Any, Decode, Encode};
use sha2::Digest;
use spki::SubjectPublicKeyInfoOwned;
use std::fmt;
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// A parsed certificate with its DER encoding.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    cert: x509_cert::Certificate,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate({})", self.subject())
    }
}

fn name_attr(name: &Name, oid: const_oid::ObjectIdentifier) -> Option<String> {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == oid {
                return directory_string(&atv.value);
            }
        }
    }
    None
}

fn directory_string(v: &Any) -> Option<String> {
    if let Ok(s) = v.decode_as::<der::asn1::Utf8StringRef>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = v.decode_as::<der::asn1::PrintableStringRef>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = v.decode_as::<der::asn1::Ia5StringRef>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = v.decode_as::<der::asn1::TeletexStringRef>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = v.decode_as::<der::asn1::BmpString>() {
        return Some(s.to_string());
    }
    None
}

/// A readable rendering of a name: `CN=…, O=…, C=…`.
pub fn display_name(name: &Name) -> String {
    let mut parts = Vec::new();
    for (oid, label) in [
        (oids::AT_COMMON_NAME, "CN"),
        (oids::AT_GIVEN_NAME, "GN"),
        (oids::AT_SURNAME, "SN"),
        (oids::AT_ORGANIZATIONAL_UNIT, "OU"),
        (oids::AT_ORGANIZATION, "O"),
        (oids::AT_ORGANIZATION_IDENTIFIER, "organizationIdentifier"),
        (oids::AT_COUNTRY, "C"),
    ] {
        if let Some(v) = name_attr(name, oid) {
            parts.push(format!("{label}={v}"));
        }
    }
    if parts.is_empty() {
        name.to_string()
    } else {
        parts.join(", ")
    }
}

fn to_offset(t: &Time) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| CryptoError::malformed("certificate", e))?;
        Ok(Self {
            der: der.to_vec(),
            cert,
        })
    }

    pub fn from_x509(cert: x509_cert::Certificate) -> Result<Self> {
        Ok(Self {
            der: cert.to_der()?,
            cert,
        })
    }

    /// The first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        Self::all_from_pem(pem)?
            .into_iter()
            .next()
            .ok_or_else(|| CryptoError::malformed("certificate", "no PEM certificate found"))
    }

    /// Every certificate of a PEM text (a chain).
    pub fn all_from_pem(pem: &str) -> Result<Vec<Self>> {
        pem_blocks(pem)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| Self::from_der(&der))
            .collect()
    }

    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.cert
    }

    pub fn subject(&self) -> String {
        display_name(&self.cert.tbs_certificate.subject)
    }

    pub fn issuer(&self) -> String {
        display_name(&self.cert.tbs_certificate.issuer)
    }

    /// The subject's common name, or its whole name.
    pub fn common_name(&self) -> String {
        name_attr(&self.cert.tbs_certificate.subject, oids::AT_COMMON_NAME)
            .unwrap_or_else(|| self.subject())
    }

    pub fn organization(&self) -> Option<String> {
        name_attr(&self.cert.tbs_certificate.subject, oids::AT_ORGANIZATION)
    }

    pub fn serial_hex(&self) -> String {
        hex::encode(self.cert.tbs_certificate.serial_number.as_bytes())
    }

    pub fn not_before(&self) -> OffsetDateTime {
        to_offset(&self.cert.tbs_certificate.validity.not_before)
    }

    pub fn not_after(&self) -> OffsetDateTime {
        to_offset(&self.cert.tbs_certificate.validity.not_after)
    }

    pub fn spki_der(&self) -> Result<Vec<u8>> {
        Ok(self.cert.tbs_certificate.subject_public_key_info.to_der()?)
    }

    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_spki_der(&self.spki_der()?)
    }

    /// SHA-256 of the DER encoding.
    pub fn sha256(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.der).into()
    }

    fn ext<'a, T: der::Decode<'a> + const_oid::AssociatedOid>(&'a self) -> Option<T> {
        self.cert
            .tbs_certificate
            .get::<T>()
            .ok()
            .flatten()
            .map(|(_, v)| v)
    }

    pub fn is_ca(&self) -> bool {
        self.ext::<BasicConstraints>().is_some_and(|b| b.ca)
    }

    pub fn path_len(&self) -> Option<u8> {
        self.ext::<BasicConstraints>()
            .and_then(|b| b.path_len_constraint)
    }

    /// The key usage bits, if the extension is present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.ext::<KeyUsage>()
    }

    pub fn extended_key_usage(&self) -> Option<Vec<const_oid::ObjectIdentifier>> {
        self.ext::<ExtendedKeyUsage>().map(|e| e.0)
    }

    pub fn subject_key_id(&self) -> Option<Vec<u8>> {
        self.ext::<SubjectKeyIdentifier>()
            .map(|s| s.0.as_bytes().to_vec())
    }

    pub fn authority_key_id(&self) -> Option<Vec<u8>> {
        self.ext::<AuthorityKeyIdentifier>()
            .and_then(|a| a.key_identifier.map(|k| k.as_bytes().to_vec()))
    }

    /// The URL of the OCSP responder (AIA), if any.
    pub fn ocsp_url(&self) -> Option<String> {
        self.ext::<AuthorityInfoAccessSyntax>().and_then(|aia| {
            aia.0
                .iter()
                .find(|a| a.access_method == oids::AD_OCSP)
                .and_then(|a| match &a.access_location {
                    GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                    _ => None,
                })
        })
    }

    /// The CRL distribution point URLs.
    pub fn crl_urls(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(dps) = self.ext::<CrlDistributionPoints>() {
            for dp in dps.0 {
                if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                    for n in names {
                        if let GeneralName::UniformResourceIdentifier(u) = n {
                            out.push(u.to_string());
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether `issuer`'s key signed this certificate.
    pub fn verify_signed_by(&self, issuer: &Certificate) -> Result<()> {
        let tbs = self.cert.tbs_certificate.to_der()?;
        let sig = self
            .cert
            .signature
            .as_bytes()
            .ok_or(CryptoError::BadSignature)?;
        issuer
            .public_key()?
            .verify(&self.cert.signature_algorithm, None, &tbs, sig)
    }

    /// Whether `at` falls in the validity period.
    pub fn valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before() <= at && at <= self.not_after()
    }

    pub fn is_self_issued(&self) -> bool {
        self.cert.tbs_certificate.subject == self.cert.tbs_certificate.issuer
    }

    pub(crate) fn issuer_name(&self) -> &Name {
        &self.cert.tbs_certificate.issuer
    }

    pub(crate) fn subject_name(&self) -> &Name {
        &self.cert.tbs_certificate.subject
    }

    pub(crate) fn serial(&self) -> &SerialNumber {
        &self.cert.tbs_certificate.serial_number
    }
}

/// A distinguished name to put in a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    pub common_name: String,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub organizational_unit: Option<String>,
    pub organization: Option<String>,
    /// e.g. an administration code, `GOVMA-MTNRA`.
    pub organization_identifier: Option<String>,
    /// Two letters, e.g. `MA`.
    pub country: Option<String>,
}

impl DistinguishedName {
    pub fn new(common_name: impl Into<String>) -> Self {
        Self {
            common_name: common_name.into(),
            ..Default::default()
        }
    }

    /// The X.501 name (one attribute per RDN, most general first).
    pub fn to_name(&self) -> Result<Name> {
        let mut rdns = Vec::new();
        let mut push = |oid, value: Any| -> Result<()> {
            let atv = AttributeTypeAndValue { oid, value };
            rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
            Ok(())
        };
        if let Some(c) = &self.country {
            push(
                oids::AT_COUNTRY,
                Any::encode_from(&PrintableStringRef::new(c)?)?,
            )?;
        }
        let utf8 = |s: &str| -> Result<Any> { Ok(Any::encode_from(&Utf8StringRef::new(s)?)?) };
        if let Some(o) = &self.organization {
            push(oids::AT_ORGANIZATION, utf8(o)?)?;
        }
        if let Some(o) = &self.organization_identifier {
            push(oids::AT_ORGANIZATION_IDENTIFIER, utf8(o)?)?;
        }
        if let Some(o) = &self.organizational_unit {
            push(oids::AT_ORGANIZATIONAL_UNIT, utf8(o)?)?;
        }
        if let Some(g) = &self.given_name {
            push(oids::AT_GIVEN_NAME, utf8(g)?)?;
        }
        if let Some(s) = &self.surname {
            push(oids::AT_SURNAME, utf8(s)?)?;
        }
        push(oids::AT_COMMON_NAME, utf8(&self.common_name)?)?;
        Ok(RdnSequence(rdns))
    }
}

/// What a certificate is for; decides its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Self-signed trust anchor.
    RootCa,
    /// Issues end-entity certificates.
    IntermediateCa,
    /// An administration's electronic seal (receipts, bordereaux).
    Seal,
    /// A person's signature certificate.
    PersonSignature,
    /// The time-stamping unit.
    TimeStamping,
    /// The OCSP responder.
    OcspResponder,
}

/// Where relying parties find revocation data and issuer certificates.
#[derive(Debug, Clone, Default)]
pub struct PkiUrls {
    pub crl: Option<String>,
    pub ocsp: Option<String>,
    pub ca_issuers: Option<String>,
}

/// What to certify.
#[derive(Debug, Clone)]
pub struct CertificateSpec {
    pub subject: DistinguishedName,
    pub profile: Profile,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub urls: PkiUrls,
}

fn time(t: OffsetDateTime) -> Result<Time> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CryptoError::malformed("validity", "before 1970"))?;
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
    // RFC 5280: UTCTime through 2049, GeneralizedTime after.
    if dt.year() < 2050 {
        Ok(Time::UtcTime(UtcTime::from_date_time(dt)?))
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_date_time(dt),
        ))
    }
}

fn extension<T: Encode>(
    oid: const_oid::ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// The key identifier of a public key: SHA-1 of the subjectPublicKey bits (RFC 5280 method 1).
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)?;
    Ok(sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec())
}

fn random_serial() -> Result<SerialNumber> {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // no leading zero byte to strip
    Ok(SerialNumber::new(&b)?)
}

/// Issues a certificate for `subject_spki_der`, signed by `issuer` (or self-signed when `None`:
/// then `signer` must be the subject's own key).
pub fn issue(
    spec: &CertificateSpec,
    subject_spki_der: &[u8],
    issuer: Option<&Certificate>,
    signer: &PrivateKey,
) -> Result<Certificate> {
    let subject = spec.subject.to_name()?;
    let issuer_name = match issuer {
        Some(i) => i.subject_name().clone(),
        None => subject.clone(),
    };
    let ski = key_identifier(subject_spki_der)?;
    let aki = match issuer {
        Some(i) => i
            .subject_key_id()
            .unwrap_or(key_identifier(&i.spki_der()?)?),
        None => ski.clone(),
    };
    let mut exts = Vec::new();
    let (ca, path_len, usage, eku): (
        bool,
        Option<u8>,
        Vec<KeyUsages>,
        Vec<const_oid::ObjectIdentifier>,
    ) = match spec.profile {
        Profile::RootCa => (
            true,
            None,
            vec![KeyUsages::KeyCertSign, KeyUsages::CRLSign],
            vec![],
        ),
        Profile::IntermediateCa => (
            true,
            Some(0),
            vec![KeyUsages::KeyCertSign, KeyUsages::CRLSign],
            vec![],
        ),
        Profile::Seal | Profile::PersonSignature => (
            false,
            None,
            vec![KeyUsages::DigitalSignature, KeyUsages::NonRepudiation],
            vec![],
        ),
        Profile::TimeStamping => (
            false,
            None,
            vec![KeyUsages::DigitalSignature],
            vec![oids::KP_TIME_STAMPING],
        ),
        Profile::OcspResponder => (
            false,
            None,
            vec![KeyUsages::DigitalSignature],
            vec![oids::KP_OCSP_SIGNING],
        ),
    };
    exts.push(extension(
        const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
    )?);
    let mut flags = der::flagset::FlagSet::<KeyUsages>::default();
    for u in usage {
        flags |= u;
    }
    exts.push(extension(
        const_oid::db::rfc5280::ID_CE_KEY_USAGE,
        true,
        &KeyUsage(flags),
    )?);
    if !eku.is_empty() {
        // Critical for the time-stamping unit (RFC 3161 §2.3).
        exts.push(extension(
            const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE,
            spec.profile == Profile::TimeStamping,
            &ExtendedKeyUsage(eku),
        )?);
    }
    exts.push(extension(
        const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(OctetString::new(ski)?),
    )?);
    exts.push(extension(
        const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(aki)?),
            ..Default::default()
        },
    )?);
    if spec.profile == Profile::OcspResponder {
        exts.push(Extension {
            extn_id: oids::PKIX_OCSP_NOCHECK,
            critical: false,
            extn_value: OctetString::new(vec![0x05, 0x00])?,
        });
    }
    if issuer.is_some() {
        if let Some(crl) = &spec.urls.crl {
            let dp = DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![
                    GeneralName::UniformResourceIdentifier(Ia5String::new(crl)?),
                ])),
                reasons: None,
                crl_issuer: None,
            };
            exts.push(extension(
                const_oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
                false,
                &CrlDistributionPoints(vec![dp]),
            )?);
        }
        let mut aia = Vec::new();
        if let Some(ocsp) = &spec.urls.ocsp {
            if spec.profile != Profile::OcspResponder {
                aia.push(AccessDescription {
                    access_method: oids::AD_OCSP,
                    access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(ocsp)?),
                });
            }
        }
        if let Some(ca) = &spec.urls.ca_issuers {
            aia.push(AccessDescription {
                access_method: oids::AD_CA_ISSUERS,
                access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(ca)?),
            });
        }
        if !aia.is_empty() {
            exts.push(extension(
                const_oid::db::rfc5280::ID_PE_AUTHORITY_INFO_ACCESS,
                false,
                &AuthorityInfoAccessSyntax(aia),
            )?);
        }
    }
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V3,
        serial_number: random_serial()?,
        signature: signer.signature_algorithm(),
        issuer: issuer_name,
        validity: Validity {
            not_before: time(spec.not_before)?,
            not_after: time(spec.not_after)?,
        },
        subject,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(subject_spki_der)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    let signature = signer.sign_sha256(&tbs.to_der()?)?;
    Certificate::from_x509(x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: signer.signature_algorithm(),
        signature: BitString::from_bytes(&signature)?,
    })
}

/// Why a certification path could not be validated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("no chain to a trusted root was found for {0}")]
    NoChainFound(String),
    #[error("the signature of {0} is invalid")]
    BadSignature(String),
    #[error("{subject} expired on {not_after}")]
    Expired {
        subject: String,
        not_after: OffsetDateTime,
    },
    #[error("{subject} is not valid before {not_before}")]
    NotYetValid {
        subject: String,
        not_before: OffsetDateTime,
    },
    #[error("{0} is not a certification authority")]
    NotCa(String),
    #[error("{0} may not be used for signing")]
    KeyUsage(String),
    #[error("the path through {0} is longer than its constraints allow")]
    PathTooLong(String),
    #[error("{0} is revoked")]
    Revoked(String),
}

/// Trust anchors plus extra certificates usable as intermediates.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
}

/// What the end-entity key is used for, to check its key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Document signature or seal: digitalSignature or nonRepudiation.
    Signing,
    /// RFC 3161 time-stamping: the id-kp-timeStamping extended key usage.
    TimeStamping,
    /// Anything (no check on the end entity).
    Any,
}

impl TrustStore {
    pub fn new(anchors: Vec<Certificate>) -> Self {
        Self {
            anchors,
            intermediates: Vec::new(),
        }
    }

    /// Anchors from a PEM file's text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        Ok(Self::new(Certificate::all_from_pem(pem)?))
    }

    pub fn add_anchor(&mut self, c: Certificate) {
        if !self.anchors.contains(&c) {
            self.anchors.push(c);
        }
    }

    pub fn add_intermediate(&mut self, c: Certificate) {
        if !self.intermediates.contains(&c) {
            self.intermediates.push(c);
        }
    }

    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    pub fn is_anchor(&self, c: &Certificate) -> bool {
        self.anchors.iter().any(|a| a.der() == c.der())
    }

    /// Builds and validates a path from `leaf` to an anchor at time `at`. `extra` are
    /// certificates found with the signature. Returns the path, leaf first, anchor last.
    pub fn validate(
        &self,
        leaf: &Certificate,
        extra: &[Certificate],
        at: OffsetDateTime,
        usage: Usage,
    ) -> Result<Vec<Certificate>, PathError> {
        match usage {
            Usage::Signing => {
                let ok = leaf.key_usage().is_none_or(|ku| {
                    ku.0.contains(KeyUsages::DigitalSignature)
                        || ku.0.contains(KeyUsages::NonRepudiation)
                });
                if !ok {
                    return Err(PathError::KeyUsage(leaf.subject()));
                }
            }
            Usage::TimeStamping => {
                let ok = leaf
                    .extended_key_usage()
                    .is_some_and(|e| e.contains(&oids::KP_TIME_STAMPING));
                if !ok {
                    return Err(PathError::KeyUsage(leaf.subject()));
                }
            }
            Usage::Any => {}
        }
        let mut path = vec![leaf.clone()];
        let mut current = leaf.clone();
        let mut first_error: Option<PathError> = None;
        for depth in 0..10 {
            if !current.valid_at(at) {
                let e = if at < current.not_before() {
                    PathError::NotYetValid {
                        subject: current.subject(),
                        not_before: current.not_before(),
                    }
                } else {
                    PathError::Expired {
                        subject: current.subject(),
                        not_after: current.not_after(),
                    }
                };
                return Err(e);
            }
            if self.is_anchor(&current) {
                return Ok(path);
            }
            let candidates = self
                .anchors
                .iter()
                .chain(self.intermediates.iter())
                .chain(extra.iter())
                .filter(|c| {
                    c.subject_name() == current.issuer_name()
                        && c.der() != current.der()
                        && match (current.authority_key_id(), c.subject_key_id()) {
                            (Some(a), Some(s)) => a == s,
                            _ => true,
                        }
                });
            let mut next = None;
            for cand in candidates {
                if current.verify_signed_by(cand).is_err() {
                    first_error.get_or_insert(PathError::BadSignature(current.subject()));
                    continue;
                }
                if !cand.is_ca() {
                    first_error.get_or_insert(PathError::NotCa(cand.subject()));
                    continue;
                }
                if cand
                    .key_usage()
                    .is_some_and(|ku| !ku.0.contains(KeyUsages::KeyCertSign))
                {
                    first_error.get_or_insert(PathError::NotCa(cand.subject()));
                    continue;
                }
                if let Some(max) = cand.path_len() {
                    // Intermediate CAs below `cand` in this path (excluding the leaf).
                    if depth > usize::from(max) {
                        first_error.get_or_insert(PathError::PathTooLong(cand.subject()));
                        continue;
                    }
                }
                next = Some(cand.clone());
                break;
            }
            match next {
                Some(n) => {
                    path.push(n.clone());
                    current = n;
                }
                None => {
                    return Err(
                        first_error.unwrap_or_else(|| PathError::NoChainFound(leaf.subject()))
                    )
                }
            }
        }
        Err(PathError::NoChainFound(leaf.subject()))
    }
}

/// A revoked certificate entry of a CRL.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub serial: Vec<u8>,
    pub at: OffsetDateTime,
}

/// Builds a signed X.509 v2 CRL.
pub fn build_crl(
    issuer: &Certificate,
    key: &PrivateKey,
    revoked: &[Revoked],
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
    crl_number: u64,
) -> Result<Vec<u8>> {
    let entries = revoked
        .iter()
        .map(|r| {
            Ok(x509_cert::crl::RevokedCert {
                serial_number: SerialNumber::new(&r.serial)?,
                revocation_date: time(r.at)?,
                crl_entry_extensions: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let number = x509_cert::ext::pkix::CrlNumber(der::asn1::Uint::new(&crl_number.to_be_bytes())?);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(
            issuer
                .subject_key_id()
                .unwrap_or(key_identifier(&issuer.spki_der()?)?),
        )?),
        ..Default::default()
    };
    let tbs = x509_cert::crl::TbsCertList {
        version: x509_cert::Version::V2,
        signature: key.signature_algorithm(),
        issuer: issuer.subject_name().clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: Some(vec![
            extension(const_oid::db::rfc5280::ID_CE_CRL_NUMBER, false, &number)?,
            extension(
                const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &aki,
            )?,
        ]),
    };
    let sig = key.sign_sha256(&tbs.to_der()?)?;
    let crl = x509_cert::crl::CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: key.signature_algorithm(),
        signature: BitString::from_bytes(&sig)?,
    };
    Ok(crl.to_der()?)
}

/// Whether `serial` appears in a CRL signed by `issuer` (the CRL's signature is checked).
pub fn crl_revokes(
    crl_der: &[u8],
    issuer: &Certificate,
    serial: &[u8],
) -> Result<Option<OffsetDateTime>> {
    let crl = x509_cert::crl::CertificateList::from_der(crl_der)
        .map_err(|e| CryptoError::malformed("CRL", e))?;
    let sig = crl.signature.as_bytes().ok_or(CryptoError::BadSignature)?;
    issuer.public_key()?.verify(
        &crl.signature_algorithm,
        None,
        &crl.tbs_cert_list.to_der()?,
        sig,
    )?;
    for r in crl.tbs_cert_list.revoked_certificates.iter().flatten() {
        if r.serial_number.as_bytes() == serial {
            return Ok(Some(to_offset(&r.revocation_date)));
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;
    use time::Duration;

    pub fn spec(cn: &str, profile: Profile) -> CertificateSpec {
        let now = OffsetDateTime::now_utc();
        CertificateSpec {
            subject: DistinguishedName {
                common_name: cn.into(),
                organization: Some("Royaume du Maroc — المملكة المغربية".into()),
                country: Some("MA".into()),
                ..Default::default()
            },
            profile,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(365),
            urls: PkiUrls {
                crl: Some("http://127.0.0.1/pki/crl".into()),
                ocsp: Some("http://127.0.0.1/pki/ocsp".into()),
                ca_issuers: Some("http://127.0.0.1/pki/root.cer".into()),
            },
        }
    }

    /// A root, an issuing CA and a seal.
    pub fn chain() -> (
        Certificate,
        PrivateKey,
        Certificate,
        PrivateKey,
        Certificate,
        PrivateKey,
    ) {
        let rk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let root = issue(
            &spec("Diwan Root CA", Profile::RootCa),
            &rk.public_key_der().unwrap(),
            None,
            &rk,
        )
        .unwrap();
        let ik = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ica = issue(
            &spec("Diwan Issuing CA", Profile::IntermediateCa),
            &ik.public_key_der().unwrap(),
            Some(&root),
            &rk,
        )
        .unwrap();
        let sk = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let seal = issue(
            &spec("وزارة — cachet", Profile::Seal),
            &sk.public_key_der().unwrap(),
            Some(&ica),
            &ik,
        )
        .unwrap();
        (root, rk, ica, ik, seal, sk)
    }

    #[test]
    fn issue_and_validate() {
        let (root, _, ica, _, seal, _) = chain();
        assert!(root.is_ca() && ica.is_ca() && !seal.is_ca());
        assert_eq!(seal.common_name(), "وزارة — cachet");
        assert_eq!(
            seal.ocsp_url().as_deref(),
            Some("http://127.0.0.1/pki/ocsp")
        );
        assert_eq!(
            seal.crl_urls(),
            vec!["http://127.0.0.1/pki/crl".to_string()]
        );
        let store = TrustStore::new(vec![root.clone()]);
        let path = store
            .validate(
                &seal,
                std::slice::from_ref(&ica),
                OffsetDateTime::now_utc(),
                Usage::Signing,
            )
            .unwrap();
        assert_eq!(path.len(), 3);
        // Without the intermediate: no chain.
        assert!(matches!(
            store.validate(&seal, &[], OffsetDateTime::now_utc(), Usage::Signing),
            Err(PathError::NoChainFound(_))
        ));
        // Another root: no chain.
        let (other_root, ..) = chain();
        let other = TrustStore::new(vec![other_root]);
        assert!(other
            .validate(
                &seal,
                std::slice::from_ref(&ica),
                OffsetDateTime::now_utc(),
                Usage::Signing
            )
            .is_err());
        // Out of validity.
        let later = OffsetDateTime::now_utc() + Duration::days(800);
        assert!(matches!(
            store.validate(&seal, std::slice::from_ref(&ica), later, Usage::Signing),
            Err(PathError::Expired { .. })
        ));
        // A seal certificate is not a time-stamping certificate.
        assert!(matches!(
            store.validate(
                &seal,
                &[ica],
                OffsetDateTime::now_utc(),
                Usage::TimeStamping
            ),
            Err(PathError::KeyUsage(_))
        ));
        assert_eq!(Certificate::from_pem(&seal.to_pem()).unwrap(), seal);
    }

    #[test]
    fn crl() {
        let (root, rk, ica, _, seal, _) = chain();
        let now = OffsetDateTime::now_utc();
        let crl = build_crl(
            &root,
            &rk,
            &[Revoked {
                serial: ica.serial().as_bytes().to_vec(),
                at: now,
            }],
            now,
            now + Duration::days(7),
            1,
        )
        .unwrap();
        assert!(crl_revokes(&crl, &root, ica.serial().as_bytes())
            .unwrap()
            .is_some());
        assert!(crl_revokes(&crl, &root, seal.serial().as_bytes())
            .unwrap()
            .is_none());
        assert!(
            crl_revokes(&crl, &ica, seal.serial().as_bytes()).is_err(),
            "wrong issuer"
        );
    }
}
