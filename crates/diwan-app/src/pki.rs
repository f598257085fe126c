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
        // No CRL or OCSP pointers in the platform's own certificates: relying parties validate
        // receipts offline, and revocation of a seal is published in the CRL at /pki/crl and
        // announced in the transparency log.
        urls: PkiUrls::default(),
    }
}

impl PlatformPki {
    /// Loads the platform's keys, creating them on first start.
    pub async fn open(
        store: &Store,
        master: &[u8; 32],
        tsa_url: Option<&str>,
    ) -> Result<PlatformPki, AppError> {
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
            let c = pki::issue(
                &spec(platform_name(cn), profile, years),
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
        let c = pki::issue(
            &spec(subject, Profile::Seal, 5),
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
