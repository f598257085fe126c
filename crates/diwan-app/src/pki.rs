//! The platform's PKI, as a service: a root certificate authority, the time-stamping unit, the
//! transparency log's key, and one electronic seal per administration. Private keys are kept
//! sealed under the master key in the database and opened in memory when the platform starts
//! (or when an administration's seal is first needed).

use crate::context::App;
use crate::error::AppError;
use diwan_core::AdministrationId;
use diwan_crypto::pki::{self, CertificateSpec, DistinguishedName, PkiUrls, Profile};
use diwan_crypto::seal;
use diwan_crypto::tsa::{HttpTimestampClient, TimestampAuthority, TimestampSource};
use diwan_crypto::{Certificate, KeyAlgorithm, PrivateKey};
use diwan_store::keys::StoredKey;
use diwan_store::Store;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The platform-wide keys.
pub struct PlatformPki {
    pub root: Certificate,
    root_key: PrivateKey,
    /// The platform's own time-stamping unit (also served at `/tsa`).
    pub authority: Arc<TimestampAuthority>,
    /// Where signatures get their time-stamps: the platform's unit or an external service.
    pub timestamps: Arc<dyn TimestampSource>,
    pub log_cert: Certificate,
    pub log_key: PrivateKey,
    /// Where relying parties find the OCSP responder, put in the certificates the root issues.
    pub urls: PkiUrls,
}

/// An administration's electronic seal.
pub struct Seal {
    pub cert: Certificate,
    pub key: PrivateKey,
}

fn crypto(e: diwan_crypto::CryptoError) -> AppError {
    AppError::Internal(format!("cryptography: {e}"))
}

fn platform_name(cn: &str) -> DistinguishedName {
    DistinguishedName {
        common_name: cn.into(),
        organization: Some("Diwan — plateforme des administrations".into()),
        country: Some("MA".into()),
        ..Default::default()
    }
}

async fn load_or_create(
    store: &Store,
    master: &[u8; 32],
    purpose: &str,
    admin: Option<AdministrationId>,
    make: impl FnOnce() -> Result<(Certificate, PrivateKey), AppError>,
) -> Result<(Certificate, PrivateKey), AppError> {
    if let Some(k) = store.current_key(purpose, admin, None).await? {
        let cert = Certificate::from_der(&k.certificate).map_err(crypto)?;
        let sealed = k
            .sealed_key
            .ok_or_else(|| AppError::Internal(format!("the {purpose} key has no private part")))?;
        let key = seal::open(master, &k.id, &sealed).map_err(|e| {
            AppError::Internal(format!("the {purpose} key cannot be opened ({e}); is the master key the one it was created with?"))
        })?;
        return Ok((cert, key));
    }
    let (cert, key) = make()?;
    let id = uuid::Uuid::now_v7().to_string();
    store
        .insert_key(&StoredKey {
            id: id.clone(),
            administration_id: admin,
            user_id: None,
            purpose: purpose.into(),
            certificate: cert.der().to_vec(),
            chain: None,
            sealed_key: Some(seal::seal(master, &id, &key).map_err(crypto)?),
            not_after: cert.not_after(),
            revoked_at: None,
            revocation_reason: None,
        })
        .await?;
    Ok((cert, key))
}

fn spec(subject: DistinguishedName, profile: Profile, years: i64) -> CertificateSpec {
    let now = OffsetDateTime::now_utc();
    CertificateSpec {
        subject,
        profile,
        not_before: now - Duration::minutes(5),
        not_after: now + Duration::days(365 * years),
        // Set by the issuer (see `PlatformPki::urls`): the OCSP responder at /pki/ocsp.
        urls: PkiUrls::default(),
    }
}

impl PlatformPki {
    /// Loads the platform's keys, creating them on first start.
    /// `public_url` is the platform's configured public address: certificates issued from now on
    /// point to its OCSP responder (`PUBLIC_URL/pki/ocsp`). Without one, they carry no pointer
    /// (a default listening address would send relying parties nowhere).
    pub async fn open(
        store: &Store,
        master: &[u8; 32],
        tsa_url: Option<&str>,
        public_url: Option<&str>,
    ) -> Result<PlatformPki, AppError> {
        let urls = ocsp_urls(public_url);
        let (root, root_key) = load_or_create(store, master, "root", None, || {
            let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).map_err(crypto)?;
            let c = pki::issue(
                &spec(platform_name("Diwan Root CA"), Profile::RootCa, 20),
                &k.public_key_der().map_err(crypto)?,
                None,
                &k,
            )
            .map_err(crypto)?;
            Ok((c, k))
        })
        .await?;
        let issue = |cn: &str,
                     profile: Profile,
                     years: i64|
         -> Result<(Certificate, PrivateKey), AppError> {
            let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).map_err(crypto)?;
            let mut sp = spec(platform_name(cn), profile, years);
            sp.urls = urls.clone();
            let c = pki::issue(
                &sp,
                &k.public_key_der().map_err(crypto)?,
                Some(&root),
                &root_key,
            )
            .map_err(crypto)?;
            Ok((c, k))
        };
        let (tsa_cert, tsa_key) = load_or_create(store, master, "tsa", None, || {
            issue("Diwan Time-Stamping Unit", Profile::TimeStamping, 10)
        })
        .await?;
        let (log_cert, log_key) = load_or_create(store, master, "log", None, || {
            issue("Diwan Transparency Log", Profile::Seal, 10)
        })
        .await?;
        let authority = Arc::new(TimestampAuthority::new(tsa_key, tsa_cert, vec![]));
        let timestamps: Arc<dyn TimestampSource> = match tsa_url {
            Some(url) => Arc::new(HttpTimestampClient::new(url)),
            None => authority.clone(),
        };
        Ok(PlatformPki {
            root,
            root_key,
            authority,
            timestamps,
            log_cert,
            log_key,
            urls,
        })
    }

    /// Issues a new seal certificate for an administration.
    fn issue_seal(&self, code: &str, name_fr: &str) -> Result<(Certificate, PrivateKey), AppError> {
        let k = PrivateKey::generate(KeyAlgorithm::EcdsaP256).map_err(crypto)?;
        let subject = DistinguishedName {
            common_name: format!("{name_fr} — cachet électronique"),
            organization: Some(name_fr.into()),
            organization_identifier: Some(format!("GOVMA-{code}")),
            country: Some("MA".into()),
            ..Default::default()
        };
        let mut sp = spec(subject, Profile::Seal, 5);
        sp.urls = self.urls.clone();
        let c = pki::issue(
            &sp,
            &k.public_key_der().map_err(crypto)?,
            Some(&self.root),
            &self.root_key,
        )
        .map_err(crypto)?;
        Ok((c, k))
    }

    /// A CRL of every revoked certificate the root issued.
    pub async fn crl(&self, store: &Store) -> Result<Vec<u8>, AppError> {
        let revoked = store
            .revoked_keys()
            .await?
            .into_iter()
            .filter_map(|k| {
                let c = Certificate::from_der(&k.certificate).ok()?;
                Some(pki::Revoked {
                    serial: hex::decode(c.serial_hex()).ok()?,
                    at: k.revoked_at?,
                })
            })
            .collect::<Vec<_>>();
        let now = OffsetDateTime::now_utc();
        pki::build_crl(
            &self.root,
            &self.root_key,
            &revoked,
            now,
            now + Duration::days(7),
            now.unix_timestamp() as u64,
        )
        .map_err(crypto)
    }
}

impl App {
    /// The platform's PKI.
    pub fn pki(&self) -> &PlatformPki {
        &self.platform_pki
    }

    /// The electronic seal of an administration (created on first use).
    pub async fn seal(&self, admin: AdministrationId) -> Result<Arc<Seal>, AppError> {
        if let Some(s) = self.seals.lock().await.get(&admin) {
            return Ok(s.clone());
        }
        let mut seals = self.seals.lock().await;
        if let Some(s) = seals.get(&admin) {
            return Ok(s.clone());
        }
        let a = self.store.administration(admin).await?;
        let pki = self.pki();
        let (cert, key) =
            load_or_create(&self.store, self.master_key(), "seal", Some(admin), || {
                pki.issue_seal(&a.code, &a.names.fr)
            })
            .await?;
        let s = Arc::new(Seal { cert, key });
        seals.insert(admin, s.clone());
        Ok(s)
    }
}

/// The OCSP pointer of the certificates the platform issues.
fn ocsp_urls(public_url: Option<&str>) -> PkiUrls {
    PkiUrls {
        ocsp: public_url.map(|u| format!("{}/pki/ocsp", u.trim_end_matches('/'))),
        ..Default::default()
    }
}

/// Purposes of the stored keys whose certificates the root issued (see `StoredKey::purpose`):
/// the OCSP responder answers `good` for these and `unknown` for serials it never issued.
const ISSUED_PURPOSES: &[&str] = &["tsa", "log", "seal", PERSON_SIGNATURE, "signature", "ocsp"];

/// How long an OCSP answer may be relied on.
const OCSP_VALIDITY: Duration = Duration::hours(24);

impl PlatformPki {
    /// The OCSP responder (RFC 6960) of the root: answers a DER `OCSPRequest` with a DER
    /// `OCSPResponse` signed by the root's own key (no delegated responder certificate), from
    /// the stored keys: `revoked` (time and reason) for revoked keys, `good` for certificates the
    /// root issued, `unknown` for anything else. A malformed request gets `malformedRequest`,
    /// a database failure `tryLater`.
    pub async fn ocsp_response(&self, store: &Store, request_der: &[u8]) -> Vec<u8> {
        use diwan_crypto::ocsp::{self, CertStatus, ResponseStatus};
        let request = match ocsp::parse_request(request_der) {
            Ok(r) => r,
            Err(_) => return ocsp::error_response(ResponseStatus::MalformedRequest),
        };
        let statuses = match self.ocsp_statuses(store, &request).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "OCSP: the key store did not answer");
                return ocsp::error_response(ResponseStatus::TryLater);
            }
        };
        let now = OffsetDateTime::now_utc();
        let responder = ocsp::Responder {
            issuer: &self.root,
            key: &self.root_key,
        };
        let lookup = |serial: &[u8]| {
            statuses
                .iter()
                .find(|(s, _)| s.as_slice() == serial)
                .map(|(_, st)| *st)
                .unwrap_or(CertStatus::Unknown)
        };
        responder
            .respond(&request, &lookup, now, now + OCSP_VALIDITY)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "OCSP: cannot sign the response");
                ocsp::error_response(ResponseStatus::InternalError)
            })
    }

    /// The status of every serial number asked about that the root issued.
    async fn ocsp_statuses(
        &self,
        store: &Store,
        request: &diwan_crypto::ocsp::OcspRequest,
    ) -> Result<Vec<(Vec<u8>, diwan_crypto::ocsp::CertStatus)>, AppError> {
        use diwan_crypto::ocsp::{reason_from_name, CertStatus};
        let wanted: Vec<Vec<u8>> = request
            .cert_ids
            .iter()
            .filter(|id| id.is_issued_by(&self.root))
            .map(|id| id.serial().to_vec())
            .collect();
        let mut out = Vec::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        for purpose in ISSUED_PURPOSES {
            for k in store.keys_of_purpose(purpose).await? {
                let Ok(c) = Certificate::from_der(&k.certificate) else {
                    continue;
                };
                let serial = c.x509().tbs_certificate.serial_number.as_bytes().to_vec();
                if !wanted.contains(&serial) || c.issuer() != self.root.subject() {
                    continue;
                }
                let status = match k.revoked_at {
                    Some(at) => CertStatus::Revoked {
                        at,
                        reason: k.revocation_reason.as_deref().and_then(reason_from_name),
                    },
                    None => CertStatus::Good,
                };
                out.push((serial, status));
            }
        }
        Ok(out)
    }

    /// An OCSP response about `cert` from the platform's own responder, for embedding in
    /// signatures (validation data of B-LT). `None` when the root did not issue `cert`.
    pub async fn ocsp_for(&self, store: &Store, cert: &Certificate) -> Option<Vec<u8>> {
        if cert.issuer() != self.root.subject() || cert.der() == self.root.der() {
            return None;
        }
        let req = diwan_crypto::ocsp::build_request(cert, &self.root, false).ok()?;
        Some(self.ocsp_response(store, &req).await)
    }
}

impl PlatformPki {
    /// Every certificate the root issued that the platform keeps, with its stored key record.
    pub async fn issued_certificates(
        &self,
        store: &Store,
    ) -> Result<Vec<(StoredKey, Certificate)>, AppError> {
        let mut out = Vec::new();
        for purpose in ISSUED_PURPOSES {
            for k in store.keys_of_purpose(purpose).await? {
                if let Ok(c) = Certificate::from_der(&k.certificate) {
                    out.push((k, c));
                }
            }
        }
        Ok(out)
    }

    /// Revokes the certificate with this serial number (hex) for an RFC 5280 reason
    /// (`keyCompromise`, `superseded`, `cessationOfOperation`, …). The CRL and the OCSP
    /// responder say so at once; a revoked platform key (seal, time-stamping unit, log) is
    /// replaced by a new one the next time it is needed.
    pub async fn revoke(
        &self,
        store: &Store,
        serial_hex: &str,
        reason: &str,
    ) -> Result<Certificate, AppError> {
        if diwan_crypto::ocsp::reason_from_name(reason).is_none() {
            return Err(AppError::BadRequest(format!(
                "unknown revocation reason {reason:?}: use one of unspecified, keyCompromise, \
                 cACompromise, affiliationChanged, superseded, cessationOfOperation, \
                 certificateHold, privilegeWithdrawn, aACompromise"
            )));
        }
        let wanted = serial_hex.trim().to_ascii_lowercase();
        let (k, c) = self
            .issued_certificates(store)
            .await?
            .into_iter()
            .find(|(_, c)| c.serial_hex() == wanted)
            .ok_or_else(|| AppError::NotFound(format!("certificate with serial {wanted}")))?;
        if k.revoked_at.is_some() {
            return Err(AppError::Conflict(format!(
                "the certificate {wanted} is already revoked"
            )));
        }
        store.revoke_key(&k.id, reason).await?;
        Ok(c)
    }
}

/// Key purpose of a person's signature certificate (one per user, newest wins).
pub const PERSON_SIGNATURE: &str = "person_signature";

/// A person's signing identity: the key, its certificate and the issuing chain.
pub struct PersonIdentity {
    pub cert: Certificate,
    pub key: PrivateKey,
    /// Issuers of `cert`, nearest first (the platform root for certificates the platform issued).
    pub chain: Vec<Certificate>,
    /// Whether the person imported it (PKCS#12) rather than the platform issuing it.
    pub imported: bool,
}

/// Splits concatenated DER certificates.
fn split_der(mut bytes: &[u8]) -> Result<Vec<Certificate>, AppError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let bad = || AppError::Internal("a stored certificate chain is damaged".into());
        if bytes.len() < 2 || bytes[0] != 0x30 {
            return Err(bad());
        }
        let (len, head) = match bytes[1] {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 if bytes.len() > 2 => (usize::from(bytes[2]), 3),
            0x82 if bytes.len() > 3 => ((usize::from(bytes[2]) << 8) | usize::from(bytes[3]), 4),
            0x83 if bytes.len() > 4 => (
                (usize::from(bytes[2]) << 16)
                    | (usize::from(bytes[3]) << 8)
                    | usize::from(bytes[4]),
                5,
            ),
            _ => return Err(bad()),
        };
        let end = head + len;
        if end > bytes.len() {
            return Err(bad());
        }
        out.push(Certificate::from_der(&bytes[..end]).map_err(crypto)?);
        bytes = &bytes[end..];
    }
    Ok(out)
}

impl App {
    /// The signing identity of a user: the one they imported, or a certificate issued by the
    /// platform root on first need (its key sealed under the master key).
    pub async fn person_identity(
        &self,
        user: &diwan_store::org::User,
    ) -> Result<PersonIdentity, AppError> {
        let admin = user.administration_id;
        if let Some(k) = self
            .store
            .current_key(PERSON_SIGNATURE, Some(admin), Some(user.id))
            .await?
        {
            let cert = Certificate::from_der(&k.certificate).map_err(crypto)?;
            let sealed = k.sealed_key.ok_or_else(|| {
                AppError::Internal("the signature key has no private part".into())
            })?;
            let key = seal::open(self.master_key(), &k.id, &sealed).map_err(|e| {
                AppError::Internal(format!("the signature key cannot be opened: {e}"))
            })?;
            let (chain, imported) = match &k.chain {
                Some(c) => (split_der(c)?, true),
                None => (vec![self.pki().root.clone()], false),
            };
            return Ok(PersonIdentity {
                cert,
                key,
                chain,
                imported,
            });
        }
        let a = self.store.administration(admin).await?;
        let pki = self.pki();
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).map_err(crypto)?;
        let subject = DistinguishedName {
            common_name: user.display_name.clone(),
            organization: Some(a.names.fr.clone()),
            organization_identifier: Some(format!("GOVMA-{}", a.code)),
            country: Some("MA".into()),
            ..Default::default()
        };
        // Like every certificate the root issues: the OCSP responder's address.
        let mut sp = spec(subject, Profile::PersonSignature, 3);
        sp.urls = pki.urls.clone();
        let cert = pki::issue(
            &sp,
            &key.public_key_der().map_err(crypto)?,
            Some(&pki.root),
            &pki.root_key,
        )
        .map_err(crypto)?;
        let id = uuid::Uuid::now_v7().to_string();
        self.store
            .insert_key(&StoredKey {
                id: id.clone(),
                administration_id: Some(admin),
                user_id: Some(user.id),
                purpose: PERSON_SIGNATURE.into(),
                certificate: cert.der().to_vec(),
                chain: None,
                sealed_key: Some(seal::seal(self.master_key(), &id, &key).map_err(crypto)?),
                not_after: cert.not_after(),
                revoked_at: None,
                revocation_reason: None,
            })
            .await?;
        Ok(PersonIdentity {
            cert,
            key,
            chain: vec![pki.root.clone()],
            imported: false,
        })
    }

    /// The user's current signature certificate, if any (none is issued by looking).
    pub async fn person_certificate(
        &self,
        user: &diwan_store::org::User,
    ) -> Result<Option<(Certificate, bool)>, AppError> {
        match self
            .store
            .current_key(
                PERSON_SIGNATURE,
                Some(user.administration_id),
                Some(user.id),
            )
            .await?
        {
            Some(k) => Ok(Some((
                Certificate::from_der(&k.certificate).map_err(crypto)?,
                k.chain.is_some(),
            ))),
            None => Ok(None),
        }
    }

    /// Imports a person's own identity from a PKCS#12 file; its key is sealed under the master
    /// key like the platform's. It becomes the user's signing identity.
    pub async fn import_person_identity(
        &self,
        user: &diwan_store::org::User,
        p12: &[u8],
        password: &str,
    ) -> Result<Certificate, AppError> {
        let id = diwan_crypto::pkcs12::open(p12, password)
            .map_err(|e| AppError::field("pkcs12", e.to_string()))?;
        let now = OffsetDateTime::now_utc();
        if !id.cert.valid_at(now) {
            return Err(AppError::field(
                "pkcs12",
                "the certificate is not valid now (expired or not yet valid)",
            ));
        }
        let matches =
            id.cert.spki_der().map_err(crypto)? == id.key.public_key_der().map_err(crypto)?;
        if !matches {
            return Err(AppError::field(
                "pkcs12",
                "the private key does not belong to the certificate",
            ));
        }
        let key_id = uuid::Uuid::now_v7().to_string();
        let chain: Vec<u8> = id.chain.iter().flat_map(|c| c.der().to_vec()).collect();
        self.store
            .insert_key(&StoredKey {
                id: key_id.clone(),
                administration_id: Some(user.administration_id),
                user_id: Some(user.id),
                purpose: PERSON_SIGNATURE.into(),
                certificate: id.cert.der().to_vec(),
                chain: Some(chain),
                sealed_key: Some(seal::seal(self.master_key(), &key_id, &id.key).map_err(crypto)?),
                not_after: id.cert.not_after(),
                revoked_at: None,
                revocation_reason: None,
            })
            .await?;
        Ok(id.cert)
    }
}
