//! Mail between administrations of the platform, with signed evidence (modelled on ETSI EN
//! 319 522, registered electronic delivery).
//!
//! An administration sends one of its outgoing correspondences to another administration of the
//! platform: the platform either refuses the submission (`SubmissionRejection`, with a reason:
//! the recipient has no incoming register, a document is larger than the platform accepts, there
//! is no document) or accepts it (`SubmissionAcceptance`) and registers it in the recipient's
//! incoming register in the same transaction (`ContentConsignment`, carrying the recipient's
//! registration number). The recipient's first look at it is a `ContentHandover`; the recipient
//! may refuse it with a reason (`RejectionByRecipient`).
//!
//! Each event is a statement in canonical JSON (RFC 8785) fixed in the transaction of what it
//! attests, then sealed right after the commit (ES256 by an administration's seal certificate,
//! which the platform root issued — the sender's seal for the submission events, the recipient's
//! for the others) and time-stamped: an RFC 3161 token over the signature value, from the
//! platform's time-stamping unit, in `signature.timestamp`. Both sides see every event.

use crate::access::Principal;
use crate::context::App;
use crate::error::AppError;
use base64::Engine;
use diwan_core::correspondence::{Channel, ContactKind, DocumentRole};
use diwan_core::numbering::Direction;
use diwan_core::text::{clean_text, FileName};
use diwan_core::CorrespondenceId;
use diwan_crypto::canonical;
use diwan_store::exchange::{Delivery, EvidenceEvent, NewDelivery, NewEvent};
use diwan_store::org::Administration;
use diwan_store::registry::{Correspondence, Document, NewCorrespondence, NewDocument, Party};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// The event types (ETSI EN 319 522-1 names).
pub const SUBMISSION_ACCEPTANCE: &str = "SubmissionAcceptance";
pub const SUBMISSION_REJECTION: &str = "SubmissionRejection";
pub const CONTENT_CONSIGNMENT: &str = "ContentConsignment";
pub const CONTENT_HANDOVER: &str = "ContentHandover";
pub const REJECTION_BY_RECIPIENT: &str = "RejectionByRecipient";

/// `POST /api/v1/correspondences/{id}/deliveries`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryRequest {
    /// The code of the recipient administration (from `GET /api/v1/administrations`).
    pub administration: String,
}

/// `POST /api/v1/correspondences/{id}/refuse-delivery`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalRequest {
    pub reason: String,
}

/// One side of a delivery as shown to either side.
#[derive(Debug, Clone, Serialize)]
pub struct PartyView {
    pub administration: String,
    pub name_fr: String,
    pub name_ar: String,
    /// The registration number on that side (the recipient's once consigned).
    pub number: Option<String>,
}

/// An evidence event as listed.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The administration whose seal seals it.
    pub sealed_by: String,
    pub reason: Option<String>,
    pub recipient_number: Option<String>,
    /// Whether the sealed, time-stamped form is available.
    pub sealed: bool,
    /// Where the sealed JSON is (`GET`).
    pub url: String,
}

/// A delivery as listed on either side.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// The message id.
    pub id: String,
    /// `sent` (seen by the sender) or `received` (seen by the recipient).
    pub side: &'static str,
    /// `rejected`, `consigned` or `refused`.
    pub state: String,
    pub sender: PartyView,
    pub recipient: PartyView,
    pub content_digest: String,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub consigned_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub handed_over_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refused_at: Option<OffsetDateTime>,
    pub events: Vec<EventView>,
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// SHA-256 (hex) over the documents' raw SHA-256 digests, in order: the content digest of a
/// delivery.
pub fn content_digest(docs: &[Document]) -> String {
    let mut h = Sha256::new();
    for d in docs {
        h.update(hex::decode(&d.sha256).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

/// What one statement says, before it is sealed.
#[derive(Clone)]
struct Statement<'a> {
    id: &'a str,
    event: &'a str,
    at: OffsetDateTime,
    sealed_by: &'a Administration,
    message_id: &'a str,
    sender: &'a Administration,
    sender_number: &'a str,
    recipient: &'a Administration,
    recipient_number: Option<&'a str>,
    digest: &'a str,
    documents: &'a [Document],
    reason: Option<(&'a str, &'a str)>,
    issuer_url: String,
}

impl Statement<'_> {
    fn canonical(&self) -> Result<String, String> {
        let docs: Vec<Value> = self
            .documents
            .iter()
            .map(|d| json!({ "name": d.file_name, "size": d.size, "sha256": d.sha256 }))
            .collect();
        let mut v = json!({
            "type": "diwan.evidence",
            "version": 1,
            "standard": "ETSI EN 319 522-1",
            "event_id": self.id,
            "event": self.event,
            "event_time": rfc3339(self.at),
            "issuer": { "name": "Diwan", "url": self.issuer_url, "sealed_by": self.sealed_by.code },
            "message_id": self.message_id,
            "sender": {
                "administration": self.sender.code, "name_fr": self.sender.names.fr,
                "name_ar": self.sender.names.ar, "number": self.sender_number,
            },
            "recipient": {
                "administration": self.recipient.code, "name_fr": self.recipient.names.fr,
                "name_ar": self.recipient.names.ar, "number": self.recipient_number,
            },
            "content": { "digest_algorithm": "SHA-256", "digest": self.digest, "documents": docs },
        });
        if let Some((code, text)) = self.reason {
            v["reason"] = json!({ "code": code, "text": text });
        }
        canonical::canonical_json(&v)
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl App {
    /// The administrations a correspondence can be delivered to: every other one.
    pub async fn delivery_directory(
        &self,
        who: &Principal,
    ) -> Result<Vec<Administration>, AppError> {
        Ok(self
            .store
            .administrations()
            .await?
            .into_iter()
            .filter(|a| a.id != who.admin())
            .collect())
    }

    async fn readable_record(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<Correspondence, AppError> {
        let tenant = self.store.tenant(who.admin());
        let c = tenant.correspondence(id).await?;
        let scope = who.read_scope(&tenant).await?;
        if !tenant.may_read(&scope, &c).await? {
            return Err(AppError::NotFound("correspondence".into()));
        }
        Ok(c)
    }

    /// Sends an outgoing correspondence to another administration of the platform. The answer
    /// is the delivery: `consigned` (registered on the other side, with its number) or
    /// `rejected` (with the reason; nothing reached the recipient).
    pub async fn deliver(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: DeliveryRequest,
    ) -> Result<DeliveryView, AppError> {
        who.require_writer()?;
        let c = self.readable_record(who, id).await?;
        let tenant = self.store.tenant(who.admin());
        if c.direction != Direction::Outgoing {
            return Err(AppError::Conflict(
                "only an outgoing correspondence is delivered to another administration".into(),
            ));
        }
        let register = tenant.register(c.register_id).await?;
        if !who.can_register_in(&register) && c.created_by != Some(who.id()) {
            return Err(AppError::Forbidden(
                "only the registry office of its register or its author may send it".into(),
            ));
        }
        self.send_delivery(
            who.admin(),
            &c,
            &req.administration,
            &who.actor(),
            Some(who.id()),
        )
        .await
    }

    /// Sends `c` (an outgoing correspondence) to the administration `code`, once the caller's
    /// rights are checked. Also used by the demo.
    pub(crate) async fn send_delivery(
        &self,
        sender_admin: diwan_core::AdministrationId,
        c: &Correspondence,
        code: &str,
        actor: &diwan_store::Actor,
        created_by: Option<diwan_core::UserId>,
    ) -> Result<DeliveryView, AppError> {
        let tenant = self.store.tenant(sender_admin);
        let code = code.trim().to_uppercase();
        let recipient = match self.store.administration_by_code(&code).await {
            Ok(a) => a,
            Err(diwan_store::StoreError::NotFound(_)) => {
                return Err(AppError::field(
                    "administration",
                    format!("no administration {code:?} on the platform"),
                ))
            }
            Err(e) => return Err(e.into()),
        };
        if recipient.id == sender_admin {
            return Err(AppError::field(
                "administration",
                "mail within the administration goes through its internal register",
            ));
        }
        if self
            .store
            .deliveries_of(sender_admin, c.id)
            .await?
            .iter()
            .any(|d| d.recipient_admin_id == recipient.id && d.state == "consigned")
        {
            return Err(AppError::Conflict(format!(
                "this correspondence was already delivered to {code}"
            )));
        }
        let sender = tenant.administration().await?;
        let docs = tenant.documents(c.id).await?;
        let docs: Vec<Document> = docs
            .into_iter()
            .filter(|d| d.role != DocumentRole::Receipt)
            .collect();
        let digest = content_digest(&docs);
        let now = OffsetDateTime::now_utc();
        let delivery = NewDelivery {
            id: new_id(),
            sender_admin_id: sender.id,
            sender_correspondence_id: c.id,
            recipient_admin_id: recipient.id,
            content_digest: digest.clone(),
            created_by,
            at: now,
        };
        let issuer_url = self.config.public_url();
        // What the platform refuses, with the reason the sender sees.
        let rtenant = self.store.tenant(recipient.id);
        let target = self.incoming_register_of(&rtenant).await?;
        let limit = self.config.max_file_bytes;
        let refusal: Option<(&str, String)> = if target.is_none() {
            Some((
                "no_incoming_register",
                format!(
                    "{} has no incoming register on the platform",
                    recipient.code
                ),
            ))
        } else if docs.is_empty() {
            Some(("no_content", "the correspondence has no document".into()))
        } else if let Some(d) = docs.iter().find(|d| d.size as u64 > limit) {
            Some((
                "content_too_large",
                format!(
                    "document {:?} is larger than the {limit} bytes the platform delivers",
                    d.file_name
                ),
            ))
        } else if docs.len() > self.config.max_files {
            Some((
                "content_too_large",
                format!(
                    "more than {} documents in one delivery",
                    self.config.max_files
                ),
            ))
        } else {
            None
        };
        let (Some(target), None) = (target, refusal.as_ref()) else {
            let (code, text) = refusal.unwrap_or(("rejected", String::new()));
            let event_id = new_id();
            let statement = Statement {
                id: &event_id,
                event: SUBMISSION_REJECTION,
                at: now,
                sealed_by: &sender,
                message_id: &delivery.id,
                sender: &sender,
                sender_number: &c.number,
                recipient: &recipient,
                recipient_number: None,
                digest: &digest,
                documents: &docs,
                reason: Some((code, &text)),
                issuer_url,
            }
            .canonical()
            .map_err(AppError::Internal)?;
            let event = NewEvent {
                id: event_id,
                event_type: SUBMISSION_REJECTION.into(),
                at: now,
                sealed_by: sender.id,
                statement,
            };
            self.store
                .record_rejected_delivery(&delivery, code, &text, &event, actor)
                .await?;
            self.seal_events(&delivery.id).await;
            return self
                .delivery_view(sender_admin, &self.store.delivery(&delivery.id).await?)
                .await;
        };
        // The documents, shared by hash: each copied through a staging file and re-hashed, so
        // the recipient's record never points at content other than what the sender holds.
        let mut documents = Vec::new();
        for d in &docs {
            let blob = self.stage_copy_of(&d.sha256).await?;
            documents.push(NewDocument {
                role: d.role,
                file_name: FileName::parse(&d.file_name)
                    .map_err(|e| AppError::Internal(format!("stored file name: {e}")))?,
                media_type: d.media_type,
                blob,
            });
        }
        let new = NewCorrespondence {
            register: target.id,
            direction: Direction::Incoming,
            subject: c.subject.clone(),
            summary: c.summary.clone(),
            party: Party {
                kind: ContactKind::Administration,
                name: sender.names.fr.clone(),
                id_number: Some(sender.code.clone()),
                email: None,
                phone: None,
                address: None,
            },
            contact: None,
            letter_date: c
                .letter_date
                .or(Some(c.registered_at.to_offset(self.offset()).date())),
            received_at: now,
            external_ref: Some(c.number.clone()),
            channel: Channel::InterAdministration,
            confidentiality: c.confidentiality,
            priority: c.priority,
            due: self.due_for(recipient.id, None).await?,
            documents,
            portal: None,
        };
        let accept_id = new_id();
        let consign_id = new_id();
        let template = Statement {
            id: &accept_id,
            event: SUBMISSION_ACCEPTANCE,
            at: now,
            sealed_by: &sender,
            message_id: &delivery.id,
            sender: &sender,
            sender_number: &c.number,
            recipient: &recipient,
            recipient_number: None,
            digest: &digest,
            documents: &docs,
            reason: None,
            issuer_url,
        };
        let events = |r: &diwan_store::registry::Registered| -> Result<Vec<NewEvent>, String> {
            let accepted = template.canonical()?;
            let consigned = Statement {
                id: &consign_id,
                event: CONTENT_CONSIGNMENT,
                at: r.registered_at,
                sealed_by: &recipient,
                recipient_number: Some(&r.number),
                ..template.clone()
            };
            Ok(vec![
                NewEvent {
                    id: accept_id.clone(),
                    event_type: SUBMISSION_ACCEPTANCE.into(),
                    at: now,
                    sealed_by: sender.id,
                    statement: accepted,
                },
                NewEvent {
                    id: consign_id.clone(),
                    event_type: CONTENT_CONSIGNMENT.into(),
                    at: r.registered_at,
                    sealed_by: recipient.id,
                    statement: consigned.canonical()?,
                },
            ])
        };
        self.store
            .consign_delivery(&delivery, new, actor, self.offset(), events)
            .await?;
        self.seal_events(&delivery.id).await;
        self.delivery_view(sender_admin, &self.store.delivery(&delivery.id).await?)
            .await
    }

    /// The incoming register mail from other administrations goes to: the one of the registry
    /// office highest in the organisation (the oldest among equals).
    async fn incoming_register_of(
        &self,
        tenant: &diwan_store::Tenant,
    ) -> Result<Option<diwan_store::org::Register>, AppError> {
        let entities = tenant.entities().await?;
        let depth = |mut e: Option<diwan_core::EntityId>| {
            let mut n = 0;
            while let Some(id) = e {
                n += 1;
                e = entities.iter().find(|x| x.id == id).and_then(|x| x.parent);
                if n > 64 {
                    break;
                }
            }
            n
        };
        Ok(tenant
            .registers()
            .await?
            .into_iter()
            .filter(|r| r.direction == Direction::Incoming)
            .enumerate()
            .min_by_key(|(i, r)| (depth(Some(r.entity_id)), *i))
            .map(|(_, r)| r))
    }

    /// Stages a copy of a stored document (streamed, re-hashed).
    async fn stage_copy_of(&self, sha256: &str) -> Result<diwan_store::StagedBlob, AppError> {
        use tokio::io::AsyncReadExt;
        let hash = diwan_store::BlobHash::parse(sha256)
            .map_err(|e| AppError::Internal(format!("stored document hash: {e}")))?;
        let blobs = self.store.blobs();
        let mut file = blobs.open(&hash).await?;
        let mut w = blobs.writer(u64::MAX).await?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| AppError::Internal(format!("reading a document: {e}")))?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n]).await?;
        }
        let staged = w.finish().await?;
        if staged.hash() != hash {
            return Err(AppError::Internal(format!(
                "document {sha256} is damaged in the store"
            )));
        }
        Ok(staged)
    }

    /// The recipient refuses a correspondence delivered by the platform, with a reason: the
    /// sender gets a `RejectionByRecipient` event; the record is closed without follow-up.
    pub async fn refuse_delivery(
        &self,
        who: &Principal,
        id: CorrespondenceId,
        req: RefusalRequest,
    ) -> Result<DeliveryView, AppError> {
        who.require_writer()?;
        let c = self.readable_record(who, id).await?;
        let reason = clean_text(&req.reason, 2000, true)
            .map_err(|e| AppError::field("reason", e.to_string()))?;
        let delivery = self
            .store
            .deliveries_of(who.admin(), c.id)
            .await?
            .into_iter()
            .find(|d| {
                d.recipient_correspondence_id == Some(c.id) && d.recipient_admin_id == who.admin()
            })
            .ok_or_else(|| {
                AppError::Conflict("this correspondence was not delivered by the platform".into())
            })?;
        let tenant = self.store.tenant(who.admin());
        let register = tenant.register(c.register_id).await?;
        if !who.can_register_in(&register) {
            return Err(AppError::Forbidden(
                "only the registry office that received it may refuse it".into(),
            ));
        }
        if delivery.state != "consigned" {
            return Err(AppError::Conflict(format!(
                "this delivery is {}, it cannot be refused",
                delivery.state
            )));
        }
        let event_id = new_id();
        let now = OffsetDateTime::now_utc();
        let statement = self
            .statement_for(
                &delivery,
                &event_id,
                REJECTION_BY_RECIPIENT,
                now,
                Some(("refused_by_recipient", &reason)),
            )
            .await?;
        let event = NewEvent {
            id: event_id,
            event_type: REJECTION_BY_RECIPIENT.into(),
            at: now,
            sealed_by: delivery.recipient_admin_id,
            statement,
        };
        self.store
            .refuse_delivery(&delivery, &reason, &event, &who.actor())
            .await?;
        self.seal_events(&delivery.id).await;
        self.delivery_view(who.admin(), &self.store.delivery(&delivery.id).await?)
            .await
    }

    /// A statement about an existing delivery (events after consignment).
    async fn statement_for(
        &self,
        d: &Delivery,
        event_id: &str,
        event: &str,
        at: OffsetDateTime,
        reason: Option<(&str, &str)>,
    ) -> Result<String, AppError> {
        let sender = self.store.administration(d.sender_admin_id).await?;
        let recipient = self.store.administration(d.recipient_admin_id).await?;
        let stenant = self.store.tenant(sender.id);
        let sc = stenant.correspondence(d.sender_correspondence_id).await?;
        let docs: Vec<Document> = stenant
            .documents(sc.id)
            .await?
            .into_iter()
            .filter(|x| x.role != DocumentRole::Receipt)
            .collect();
        Statement {
            id: event_id,
            event,
            at,
            sealed_by: &recipient,
            message_id: &d.id,
            sender: &sender,
            sender_number: &sc.number,
            recipient: &recipient,
            recipient_number: d.recipient_number.as_deref(),
            digest: &d.content_digest,
            documents: &docs,
            reason,
            issuer_url: self.config.public_url(),
        }
        .canonical()
        .map_err(AppError::Internal)
    }

    /// The deliveries of a correspondence with their evidence, for either side. A first look
    /// by the recipient's side records the `ContentHandover`.
    pub async fn deliveries(
        &self,
        who: &Principal,
        id: CorrespondenceId,
    ) -> Result<Vec<DeliveryView>, AppError> {
        let c = self.readable_record(who, id).await?;
        let list = self.store.deliveries_of(who.admin(), c.id).await?;
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let d = if d.recipient_admin_id == who.admin()
                && d.state == "consigned"
                && d.handed_over_at.is_none()
            {
                self.record_handover(&d).await?;
                self.store.delivery(&d.id).await?
            } else {
                d
            };
            out.push(self.delivery_view(who.admin(), &d).await?);
        }
        Ok(out)
    }

    async fn record_handover(&self, d: &Delivery) -> Result<(), AppError> {
        let event_id = new_id();
        let now = OffsetDateTime::now_utc();
        let statement = self
            .statement_for(d, &event_id, CONTENT_HANDOVER, now, None)
            .await?;
        let event = NewEvent {
            id: event_id,
            event_type: CONTENT_HANDOVER.into(),
            at: now,
            sealed_by: d.recipient_admin_id,
            statement,
        };
        if self.store.record_handover(&d.id, &event).await? {
            self.seal_events(&d.id).await;
        }
        Ok(())
    }

    async fn delivery_view(
        &self,
        viewer: diwan_core::AdministrationId,
        d: &Delivery,
    ) -> Result<DeliveryView, AppError> {
        let sender = self.store.administration(d.sender_admin_id).await?;
        let recipient = self.store.administration(d.recipient_admin_id).await?;
        let sender_number = self
            .store
            .tenant(sender.id)
            .correspondence(d.sender_correspondence_id)
            .await?
            .number;
        let events = self.store.evidence_events(&d.id).await?;
        let view = |a: &Administration, number: Option<String>| PartyView {
            administration: a.code.clone(),
            name_fr: a.names.fr.clone(),
            name_ar: a.names.ar.clone(),
            number,
        };
        let events = events
            .iter()
            .map(|e| {
                let st: Value = serde_json::from_str(&e.statement).unwrap_or(Value::Null);
                EventView {
                    id: e.id.clone(),
                    event_type: e.event_type.clone(),
                    time: e.at,
                    sealed_by: if e.sealed_by == sender.id {
                        sender.code.clone()
                    } else {
                        recipient.code.clone()
                    },
                    reason: st["reason"]["text"].as_str().map(String::from),
                    recipient_number: st["recipient"]["number"].as_str().map(String::from),
                    sealed: e.signed.is_some(),
                    url: format!("/api/v1/evidence/{}", e.id),
                }
            })
            .collect();
        Ok(DeliveryView {
            id: d.id.clone(),
            side: if d.sender_admin_id == viewer {
                "sent"
            } else {
                "received"
            },
            state: d.state.clone(),
            sender: view(&sender, Some(sender_number)),
            recipient: view(&recipient, d.recipient_number.clone()),
            content_digest: d.content_digest.clone(),
            reason_code: d.reason_code.clone(),
            reason: d.reason.clone(),
            created_at: d.created_at,
            consigned_at: d.consigned_at,
            handed_over_at: d.handed_over_at,
            refused_at: d.refused_at,
            events,
        })
    }

    /// The sealed, time-stamped JSON of an evidence event, for a user on either side who may
    /// read the correspondence of their side (otherwise: not found).
    pub async fn evidence(&self, who: &Principal, event_id: &str) -> Result<Vec<u8>, AppError> {
        let not_found = || AppError::NotFound("evidence event".into());
        let e = match self.store.evidence_event(event_id).await {
            Ok(e) => e,
            Err(diwan_store::StoreError::NotFound(_)) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        let d = self.store.delivery(&e.delivery_id).await?;
        let mine = if d.sender_admin_id == who.admin() {
            Some(d.sender_correspondence_id)
        } else if d.recipient_admin_id == who.admin() {
            d.recipient_correspondence_id
        } else {
            None
        };
        let Some(mine) = mine else {
            return Err(not_found());
        };
        self.readable_record(who, mine)
            .await
            .map_err(|_| not_found())?;
        let signed = match e.signed {
            Some(s) => s,
            None => self.seal_event(&e).await?,
        };
        let v: Value = serde_json::from_str(&signed)
            .map_err(|e| AppError::Internal(format!("stored evidence: {e}")))?;
        serde_json::to_vec_pretty(&v).map_err(|e| AppError::Internal(e.to_string()))
    }

    /// Seals the events of a delivery not sealed yet; failures are logged (the event is sealed
    /// on first download, or by the repair loop).
    async fn seal_events(&self, delivery: &str) {
        match self.store.evidence_events(delivery).await {
            Ok(list) => {
                for e in list.iter().filter(|e| e.signed.is_none()) {
                    if let Err(err) = self.seal_event(e).await {
                        tracing::error!(event = %e.id, error = %err, "evidence not sealed");
                    }
                }
            }
            Err(err) => tracing::error!(delivery, error = %err, "cannot list evidence"),
        }
    }

    /// Seals and time-stamps one event's statement and stores the result.
    async fn seal_event(&self, e: &EvidenceEvent) -> Result<String, AppError> {
        let seal = self.seal(e.sealed_by).await?;
        let root = self.pki().root.clone();
        let tsa = self.pki().timestamps.clone();
        let statement: Value = serde_json::from_str(&e.statement)
            .map_err(|err| AppError::Internal(format!("stored statement: {err}")))?;
        let signed = tokio::task::spawn_blocking(move || -> Result<Value, AppError> {
            let mut signed = canonical::sign(&statement, &seal.key, &[&seal.cert, &root])
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let b64 = base64::engine::general_purpose::STANDARD;
            let value = b64
                .decode(signed["signature"]["value"].as_str().unwrap_or_default())
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let imprint: [u8; 32] = Sha256::digest(&value).into();
            let token = tsa
                .timestamp(&imprint)
                .map_err(|e| AppError::Internal(format!("time-stamping evidence: {e}")))?;
            signed["signature"]["timestamp"] = json!(b64.encode(token));
            Ok(signed)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??;
        let text = serde_json::to_string(&signed).map_err(|e| AppError::Internal(e.to_string()))?;
        self.store.set_evidence_signed(&e.id, &text).await?;
        // A concurrent sealing may have stored its own first: serve what is stored.
        Ok(self
            .store
            .evidence_event(&e.id)
            .await?
            .signed
            .unwrap_or(text))
    }

    /// Seals events recorded but left unsealed (the process stopped between the commit and the
    /// sealing), at start and then every minute, until `stop`.
    pub async fn run_evidence_repair(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            match self.store.unsealed_evidence(100).await {
                Ok(list) => {
                    for e in list {
                        if let Err(err) = self.seal_event(&e).await {
                            tracing::error!(event = %e.id, error = %err, "evidence not sealed");
                        }
                    }
                }
                Err(err) => tracing::error!(error = %err, "cannot list unsealed evidence"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

impl App {
    /// The demo's example of mail between administrations: an outgoing letter of the first
    /// administration's central registry office, delivered to the second administration.
    pub(crate) async fn demo_delivery(&self, from: &str, to: &str) -> Result<(), AppError> {
        let sender = self.store.administration_by_code(from).await?;
        let tenant = self.store.tenant(sender.id);
        let Some(register) = tenant
            .registers()
            .await?
            .into_iter()
            .find(|r| r.direction == Direction::Outgoing)
        else {
            return Ok(());
        };
        let actor = diwan_store::Actor::system("demo");
        let subject = "Convocation à la réunion de coordination sur la dématérialisation";
        let pdf = crate::demo::simple_pdf(&[
            subject,
            "Destinataire : Commune de Tanger",
            "Courrier de démonstration remis par la plateforme — Diwan",
        ]);
        let blob = self.store.blobs().stage_bytes(&pdf).await?;
        let recipient = self.store.administration_by_code(to).await?;
        let registered = tenant
            .register_correspondence(
                NewCorrespondence {
                    register: register.id,
                    direction: Direction::Outgoing,
                    subject: subject.into(),
                    summary: Some("Réunion le premier lundi du mois prochain.".into()),
                    party: Party {
                        kind: ContactKind::Administration,
                        name: recipient.names.fr.clone(),
                        id_number: Some(recipient.code.clone()),
                        email: None,
                        phone: None,
                        address: None,
                    },
                    contact: None,
                    letter_date: Some(self.today()),
                    received_at: OffsetDateTime::now_utc(),
                    external_ref: None,
                    channel: Channel::InterAdministration,
                    confidentiality: diwan_core::correspondence::Confidentiality::Normal,
                    priority: diwan_core::correspondence::Priority::Normal,
                    due: None,
                    documents: vec![NewDocument {
                        role: DocumentRole::Main,
                        file_name: FileName::parse("convocation.pdf")
                            .map_err(|e| AppError::Internal(e.to_string()))?,
                        media_type: diwan_core::media::MediaType::Pdf,
                        blob,
                    }],
                    portal: None,
                },
                &actor,
                self.offset(),
            )
            .await?;
        let c = tenant.correspondence(registered.id).await?;
        self.send_delivery(sender.id, &c, to, &actor, None).await?;
        Ok(())
    }
}
