//! The digital registry office: the public portal where anyone files a correspondence to an
//! administration and gets at once its registration number, a tracking code and an
//! acknowledgement of receipt.
//!
//! Abuse control needs no third party: a per-address rate limit and a proof-of-work challenge
//! (`GET /api/v1/portal/challenge`): the client must find a nonce such that
//! `SHA-256(token ‖ ":" ‖ nonce)` starts with `bits` zero bits. Tokens are stateless (an HMAC under
//! a key derived from the master key, with their issue time), valid 10 minutes, usable once.

use crate::cache::TtlCache;
use crate::context::App;
use crate::error::{AppError, FieldError};
use crate::receipt::{AppliedDeadline, ReceiptFacts};
use crate::upload::AcceptedFile;
use base64::Engine;
use diwan_core::correspondence::{
    Channel, Confidentiality, ContactKind, DocumentRole, Priority, Status,
};
use diwan_core::numbering::Direction;
use diwan_core::org::EntityKind;
use diwan_core::text::{clean_text, parse_email};
use diwan_core::CorrespondenceId;
use diwan_store::outbox::NewMessage;
use diwan_store::registry::{NewCorrespondence, NewDocument, Party, PortalFiling};
use diwan_store::Actor;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a challenge token is valid.
const CHALLENGE_TTL: Duration = Duration::from_secs(600);

/// The filer as given on the portal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilerInput {
    pub kind: ContactKind,
    pub name: String,
    /// National ID number (person), ICE (company) or administration code.
    #[serde(default)]
    pub id_number: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// The answer to a proof-of-work challenge.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeAnswer {
    pub token: String,
    pub nonce: String,
}

/// The `metadata` of `POST /api/v1/portal/filings`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilingRequest {
    /// Code of the administration addressed.
    pub administration: String,
    /// Code of its registry office (default: its first one).
    #[serde(default)]
    pub registry_office: Option<String>,
    pub filer: FilerInput,
    pub subject: String,
    #[serde(default)]
    pub message: Option<String>,
    /// Which legal deadline applies (default: general, law 55-19).
    #[serde(default)]
    /// The type of request (see `RegistrationRequest::procedure`).
    pub procedure: Option<String>,
    #[serde(default)]
    pub challenge: Option<ChallengeAnswer>,
}

/// A registered filing, as answered to the filer.
#[derive(Debug, Clone, Serialize)]
pub struct Filed {
    pub id: CorrespondenceId,
    pub number: String,
    /// Shown once; only its hash is kept.
    pub tracking_code: String,
    pub receipt_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: time::OffsetDateTime,
    #[serde(with = "diwan_core::iso_date::option")]
    pub due_date: Option<time::Date>,
    pub leaf_index: i64,
}

/// An administration as the portal files to it.
#[derive(Debug)]
pub struct PortalTarget {
    admin: diwan_store::org::Administration,
    /// Registry offices with the incoming register their filings go to.
    offices: Vec<(diwan_store::org::Entity, diwan_store::org::Register)>,
}

impl PortalTarget {
    /// The registry office a filing goes to (the first one unless the filer chose one) and its
    /// incoming register.
    fn office(
        &self,
        code: Option<&str>,
    ) -> Result<(diwan_store::org::Entity, diwan_store::org::Register), AppError> {
        self.offices
            .iter()
            .find(|(e, _)| code.is_none_or(|c| e.code.eq_ignore_ascii_case(c.trim())))
            .cloned()
            .ok_or_else(|| match code {
                Some(code) => AppError::field(
                    "registry_office",
                    format!("no registry office {code:?} receiving mail here"),
                ),
                None => AppError::field(
                    "administration",
                    "this administration has no registry office receiving mail yet",
                ),
            })
    }
}

/// How long the portal keeps an administration's directory data in memory.
const TARGET_TTL: Duration = Duration::from_secs(10);

pub(crate) fn target_cache() -> TtlCache<String, Arc<PortalTarget>> {
    TtlCache::new(TARGET_TTL)
}

fn target_key(code: &str) -> String {
    code.trim().to_uppercase()
}

/// A proof-of-work challenge.
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    pub token: String,
    pub bits: u8,
    pub algorithm: &'static str,
}

/// What the filer sees when following a filing.
#[derive(Debug, Clone, Serialize)]
pub struct Tracking {
    pub number: String,
    pub administration: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: time::OffsetDateTime,
    #[serde(with = "diwan_core::iso_date::option")]
    pub due_date: Option<time::Date>,
    /// The type of request, which set the deadline.
    pub procedure: Option<String>,
    /// Silence past the due date counts as acceptance.
    pub silence_means_acceptance: bool,
    pub receipt_token: String,
    /// The service handling the filing (names of the entity, never of agents).
    pub service: Option<TrackedService>,
    /// The answer, once sent.
    pub answer: Option<TrackedAnswer>,
    /// How it was settled, once closed.
    pub outcome: Option<String>,
}

/// The entity handling a filing, as the filer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct TrackedService {
    pub fr: String,
    pub ar: String,
    pub zgh: Option<String>,
}

/// The answer to a filing, as the filer sees it.
#[derive(Debug, Clone, Serialize)]
pub struct TrackedAnswer {
    pub number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: time::OffsetDateTime,
    pub subject: String,
    pub text: Option<String>,
}

/// Abuse control state of one server: rate limits per address and spent challenges.
#[derive(Default)]
pub struct PortalGuard {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    spent: Mutex<HashMap<[u8; 32], Instant>>,
}

impl PortalGuard {
    /// Takes one token from the address's bucket (`per_minute` tokens, refilled continuously).
    fn allow(&self, ip: IpAddr, per_minute: u32) -> bool {
        let Ok(mut b) = self.buckets.lock() else {
            return false;
        };
        let now = Instant::now();
        if b.len() > 100_000 {
            b.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_secs(120));
        }
        let cap = f64::from(per_minute.max(1));
        let (tokens, last) = b.entry(ip).or_insert((cap, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * cap / 60.0).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Marks a challenge as used; false if it already was.
    fn spend(&self, token: &str) -> bool {
        let Ok(mut s) = self.spent.lock() else {
            return false;
        };
        let now = Instant::now();
        s.retain(|_, t| now.duration_since(*t) < CHALLENGE_TTL);
        s.insert(Sha256::digest(token.as_bytes()).into(), now)
            .is_none()
    }
}

fn pow_key(master: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"diwan portal proof-of-work v1");
    h.update(master);
    h.finalize().into()
}

fn leading_zero_bits(h: &[u8]) -> u32 {
    let mut n = 0;
    for b in h {
        if *b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

/// Solves a challenge (used by tests and command-line clients; browsers do it in JavaScript).
pub fn solve_challenge(token: &str, bits: u8) -> String {
    let mut nonce: u64 = 0;
    loop {
        let mut h = Sha256::new();
        h.update(token.as_bytes());
        h.update(b":");
        h.update(nonce.to_string().as_bytes());
        if leading_zero_bits(&h.finalize()) >= u32::from(bits) {
            return nonce.to_string();
        }
        nonce += 1;
    }
}

/// A tracking code: 12 characters of Crockford base32 (60 bits), grouped by four.
fn new_tracking_code() -> String {
    const A: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    let s: String = b.iter().map(|x| A[(*x as usize) % 32] as char).collect();
    format!("{}-{}-{}", &s[0..4], &s[4..8], &s[8..12])
}

/// The hash under which a tracking code is kept (case and dashes do not matter).
pub fn tracking_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    hex::encode(Sha256::digest(format!("diwan-tracking:{norm}").as_bytes()))
}

fn random_token() -> String {
    let mut b = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

impl App {
    /// Issues a proof-of-work challenge.
    pub fn challenge(&self) -> Challenge {
        let bits = self.config.portal.challenge_bits;
        let mut body = Vec::with_capacity(8 + 16 + 1 + 16);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        body.extend_from_slice(&now.to_be_bytes());
        let mut r = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut r);
        body.extend_from_slice(&r);
        body.push(bits);
        let mac = self.pow_mac(&body);
        body.extend_from_slice(&mac[..16]);
        Challenge {
            token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body),
            bits,
            algorithm: "sha256-leading-zero-bits",
        }
    }

    fn pow_mac(&self, body: &[u8]) -> [u8; 32] {
        match <Hmac<Sha256> as Mac>::new_from_slice(&pow_key(self.master_key())) {
            Ok(mut m) => {
                m.update(body);
                m.finalize().into_bytes().into()
            }
            Err(_) => [0u8; 32],
        }
    }

    fn check_challenge(&self, answer: Option<&ChallengeAnswer>) -> Result<(), AppError> {
        if !self.config.portal.challenge {
            return Ok(());
        }
        let a = answer.ok_or_else(|| {
            AppError::field(
                "challenge",
                "a solved challenge is required (GET /api/v1/portal/challenge)",
            )
        })?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(a.token.as_bytes())
            .map_err(|_| AppError::field("challenge.token", "is not a challenge of this server"))?;
        if raw.len() != 8 + 16 + 1 + 16 {
            return Err(AppError::field(
                "challenge.token",
                "is not a challenge of this server",
            ));
        }
        let (body, mac) = raw.split_at(25);
        let expected = self.pow_mac(body);
        if !crate::constant_time_eq(&expected[..16], mac) {
            return Err(AppError::field(
                "challenge.token",
                "is not a challenge of this server",
            ));
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&body[..8]);
        let issued = i64::from_be_bytes(ts);
        let age = time::OffsetDateTime::now_utc().unix_timestamp() - issued;
        if !(0..=CHALLENGE_TTL.as_secs() as i64).contains(&age) {
            return Err(AppError::field(
                "challenge.token",
                "has expired; ask for a new one",
            ));
        }
        let bits = body[24];
        if bits < self.config.portal.challenge_bits {
            return Err(AppError::field("challenge.token", "is too easy"));
        }
        let mut h = Sha256::new();
        h.update(a.token.as_bytes());
        h.update(b":");
        h.update(a.nonce.as_bytes());
        if a.nonce.len() > 40 || leading_zero_bits(&h.finalize()) < u32::from(bits) {
            return Err(AppError::field(
                "challenge.nonce",
                "does not solve the challenge",
            ));
        }
        if !self.portal_guard().spend(&a.token) {
            return Err(AppError::field(
                "challenge.token",
                "was already used; ask for a new one",
            ));
        }
        Ok(())
    }

    /// Applies the per-address rate limit of the portal.
    pub fn portal_rate_limit(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        if let Some(ip) = ip {
            if !self
                .portal_guard()
                .allow(ip, self.config.portal.filings_per_minute)
            {
                return Err(AppError::TooManyRequests(format!(
                    "at most {} filings per minute from one address; try again shortly",
                    self.config.portal.filings_per_minute
                )));
            }
        }
        Ok(())
    }

    /// Files a correspondence on the portal. Everything the filer gets back — number, tracking
    /// code, receipt — refers to one committed registration; a refused filing leaves nothing.
    pub async fn file(
        &self,
        req: FilingRequest,
        files: Vec<AcceptedFile>,
    ) -> Result<Filed, AppError> {
        self.check_challenge(req.challenge.as_ref())?;
        let mut errors = Vec::new();
        let mut field = |f: &str, m: String| {
            errors.push(FieldError {
                field: f.into(),
                message: m,
            })
        };
        let target = self.portal_target(&req.administration).await;
        if target.is_err() {
            field(
                "administration",
                format!(
                    "no administration with code {:?} on this platform",
                    req.administration
                ),
            );
        }
        let subject = clean_text(&req.subject, 500, false)
            .map_err(|e| field("subject", e.to_string()))
            .ok();
        let message = match req
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
        {
            Some(m) => clean_text(m, 20_000, true)
                .map_err(|e| field("message", e.to_string()))
                .ok(),
            None => None,
        };
        if message.is_none() && files.is_empty() {
            field("file", "attach a document or write a message".into());
        }
        let f = &req.filer;
        match (
            f.kind,
            f.id_number
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        ) {
            (ContactKind::Person, None) => field(
                "filer.id_number",
                "the national identity number (CIN) is required".into(),
            ),
            (ContactKind::Company, None) => {
                field("filer.id_number", "the company's ICE is required".into())
            }
            _ => {}
        }
        let email = match f.email.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(e) => parse_email(e)
                .map_err(|e| field("filer.email", e.to_string()))
                .ok(),
            None => None,
        };
        if email.is_none() && f.phone.as_deref().map(str::trim).unwrap_or("").is_empty() {
            field(
                "filer.email",
                "give an e-mail address or a phone number to be contacted".into(),
            );
        }
        let party = Party {
            kind: f.kind,
            name: f.name.clone(),
            id_number: f.id_number.clone(),
            email: email.clone(),
            phone: f.phone.clone(),
            address: None,
        };
        let party = match diwan_store::registry::clean_party(&party) {
            Ok(p) => Some(p),
            Err(e) => {
                let msg = e.to_string();
                field(
                    "filer",
                    msg.strip_prefix("invalid: ").unwrap_or(&msg).to_string(),
                );
                None
            }
        };
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let (Ok(target), Some(subject), Some(party)) = (target, subject, party) else {
            return Err(AppError::Internal(
                "validated filing lost its fields".into(),
            ));
        };
        let (office, register) = match target.office(req.registry_office.as_deref()) {
            Ok(found) => found,
            // Perhaps created since the administration was cached.
            Err(_) => {
                self.portal_targets()
                    .forget(&target_key(&req.administration));
                self.portal_target(&req.administration)
                    .await?
                    .office(req.registry_office.as_deref())?
            }
        };
        let admin = target.admin.clone();
        let tenant = self.store.tenant(admin.id);
        let due = self.due_for(admin.id, req.procedure.as_deref()).await?;
        let tracking_code = new_tracking_code();
        let receipt_token = random_token();
        let notification = email.as_ref().map(|to| NewMessage {
            recipient: to.clone(),
            subject: format!("Accusé de réception — {} — {{number}}", admin.names.fr),
            body: format!(
                "Votre courrier « {subject} » adressé à {} a été enregistré sous le numéro {{number}}.\n\
                 L'accusé de réception scellé est disponible à l'adresse :\n{}/api/v1/portal/receipts/{receipt_token}.pdf\n\
                 Suivez son traitement avec ce numéro et le code de suivi qui vous a été remis.\n\n\
                 تم تسجيل مراسلتكم الموجهة إلى {} تحت رقم الترتيب {{number}}.\n\
                 يمكنكم تتبع معالجتها بهذا الرقم ورمز التتبع الذي سلم لكم.\n",
                admin.names.fr,
                self.config.public_url(),
                admin.names.ar
            ),
        });
        let mut documents: Vec<NewDocument> = Vec::new();
        let mut lines = Vec::new();
        for (i, f) in files.into_iter().enumerate() {
            lines.push(diwan_pdf::receipt::DocumentLine {
                name: f.name.as_str().to_string(),
                size: f.blob.size(),
                sha256: f.blob.hash().to_hex(),
            });
            documents.push(NewDocument {
                role: if i == 0 {
                    DocumentRole::Main
                } else {
                    DocumentRole::Attachment
                },
                file_name: f.name,
                media_type: f.media_type,
                blob: f.blob,
            });
        }
        let new = NewCorrespondence {
            register: register.id,
            direction: Direction::Incoming,
            subject: subject.clone(),
            summary: message,
            party: party.clone(),
            contact: None,
            letter_date: None,
            received_at: time::OffsetDateTime::now_utc(),
            external_ref: None,
            channel: Channel::Portal,
            confidentiality: Confidentiality::Normal,
            priority: Priority::Normal,
            due: due.clone(),
            documents,
            portal: Some(PortalFiling {
                tracking_hash: tracking_hash(&tracking_code),
                receipt_token: receipt_token.clone(),
                email,
                phone: f.phone.clone(),
                notification,
            }),
        };
        // Into the register read with the administration (a few seconds ago at most).
        let r = tenant
            .register_correspondence_in(&register, new, &Actor::system("portal"), self.offset())
            .await?;
        // The receipts state the filing as committed: taken from here rather than read back.
        let facts = ReceiptFacts {
            number: r.number.clone(),
            registered_at: r.registered_at,
            party_kind: party.kind,
            party_name: party.name,
            id_number: party.id_number,
            subject,
            documents: lines,
            deadline: due.as_ref().map(|d| AppliedDeadline {
                date: d.date,
                basis: d.rule.law,
                days: d.rule.days,
                working: d.rule.unit == diwan_core::calendar::DayUnit::Working,
                silence_means_acceptance: d.rule.silence_means_acceptance,
            }),
            procedure: due.as_ref().and_then(|d| d.procedure.clone()),
            leaf_index: r.leaf_index,
            log_entry: r.log_entry,
            filer_salt: r.log_salt,
            administration: admin,
            office,
        };
        // Should that fail, the filing stands: its receipts are produced when first asked for
        // (or by the repair task).
        if let Err(e) = self.issue_receipts_from(r.id, facts).await {
            tracing::error!(error = %e, number = %r.number, "receipt not produced yet");
        }
        Ok(Filed {
            id: r.id,
            number: r.number,
            tracking_code,
            receipt_token,
            registered_at: r.registered_at,
            due_date: due.map(|d| d.date),
            leaf_index: r.leaf_index,
        })
    }

    /// What the portal needs of an administration: the administration and its registry offices
    /// receiving mail, kept in memory for a few seconds.
    async fn portal_target(&self, code: &str) -> Result<Arc<PortalTarget>, AppError> {
        let key = target_key(code);
        if let Some(t) = self.portal_targets().get(&key) {
            return Ok(t);
        }
        let admin = self.store.administration_by_code(code).await?;
        let tenant = self.store.tenant(admin.id);
        let entities = tenant.entities().await?;
        let registers = tenant.registers().await?;
        let offices = entities
            .into_iter()
            .filter(|e| e.kind == EntityKind::RegistryOffice)
            .filter_map(|e| {
                registers
                    .iter()
                    .find(|r| r.entity_id == e.id && r.direction == Direction::Incoming)
                    .map(|r| (e.clone(), r.clone()))
            })
            .collect();
        let t = Arc::new(PortalTarget { admin, offices });
        self.portal_targets().put(key, t.clone());
        Ok(t)
    }

    /// Follows a filing with its number and tracking code. Unknown number and wrong code get the
    /// same answer, so numbers cannot be probed.
    pub async fn track(&self, number: &str, code: &str) -> Result<Tracking, AppError> {
        let not_found = || AppError::NotFound("filing with this number and tracking code".into());
        let found = self
            .store
            .filing_by_tracking(number.trim(), &tracking_hash(code))
            .await?
            .ok_or_else(not_found)?;
        let admin = self.store.administration(found.administration_id).await?;
        let tenant = self.store.tenant(admin.id);
        let c = tenant.correspondence(found.correspondence_id).await?;
        let state = tenant.processing_state(c.id).await?;
        let (handling, outcome) = (state.handling_entity, state.outcome);
        let service = match handling {
            Some(e) => {
                let e = tenant.entity(e).await?;
                Some(TrackedService {
                    fr: e.names.fr,
                    ar: e.names.ar,
                    zgh: e.names.zgh,
                })
            }
            None => None,
        };
        let answer = tenant
            .replies(c.id)
            .await?
            .into_iter()
            .find(|r| r.status == Status::Sent || r.status == Status::Registered)
            .map(|r| TrackedAnswer {
                number: r.number,
                registered_at: r.registered_at,
                subject: r.subject,
                text: r.summary,
            });
        let outcome =
            outcome.filter(|_| matches!(c.status, Status::Closed | Status::ClosedWithoutFollowUp));
        Ok(Tracking {
            service,
            answer,
            outcome,
            number: c.number,
            administration: admin.code,
            status: c.status,
            registered_at: c.registered_at,
            due_date: c.due_date,
            procedure: c.procedure,
            silence_means_acceptance: c.silence_means_acceptance,
            receipt_token: found.receipt_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes() {
        let c = new_tracking_code();
        assert_eq!(c.len(), 14);
        assert_eq!(
            tracking_hash(&c),
            tracking_hash(&c.to_lowercase().replace('-', " "))
        );
        assert_ne!(tracking_hash(&c), tracking_hash("0000-0000-0000"));
        assert_eq!(
            tracking_hash("O1L0"),
            tracking_hash("0110"),
            "look-alike characters are the same"
        );
    }

    #[test]
    fn rate_limit() {
        let g = PortalGuard::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..3).all(|_| g.allow(ip, 3)));
        assert!(!g.allow(ip, 3));
        assert!(g.allow("192.0.2.2".parse().unwrap(), 3));
    }

    #[test]
    fn zero_bits() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x10, 0xff]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        let nonce = solve_challenge("tok", 8);
        let mut h = Sha256::new();
        h.update(b"tok:");
        h.update(nonce.as_bytes());
        assert!(leading_zero_bits(&h.finalize()) >= 8);
    }
}
