//! Mail between administrations of the platform: deliveries and their evidence events.
//!
//! A delivery carries an outgoing correspondence of one administration into the incoming
//! register of another. Consignment is one transaction on both sides: the recipient's number is
//! allocated and its record, documents, log leaf and audit entry written (the ordinary
//! registration path), the delivery row and the statements of its evidence events inserted, the
//! sender's record marked sent and both audit chains extended. A failure anywhere rolls it all
//! back: no number is consumed. Deliveries are not tenant rows of one administration — each is
//! seen from both sides — so they are reached through [`Store`], and the application checks that
//! the caller is on one of the two sides.

use crate::audit::{self, Actor};
use crate::registry::{write_registration, NewCorrespondence, Registered};
use crate::{from_micros, micros, parse_id, Result, Store, StoreError};
use diwan_core::correspondence::Status;
use diwan_core::{AdministrationId, CorrespondenceId, UserId};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use time::{OffsetDateTime, UtcOffset};

/// Where a delivery is.
pub const STATE_REJECTED: &str = "rejected";
pub const STATE_CONSIGNED: &str = "consigned";
pub const STATE_REFUSED: &str = "refused";

/// One sending of a correspondence to another administration.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The message id of the evidence.
    pub id: String,
    pub sender_admin_id: AdministrationId,
    pub sender_correspondence_id: CorrespondenceId,
    pub recipient_admin_id: AdministrationId,
    pub recipient_correspondence_id: Option<CorrespondenceId>,
    pub recipient_number: Option<String>,
    /// `rejected`, `consigned` or `refused`.
    pub state: String,
    /// SHA-256 (hex) over the documents' SHA-256 digests, in order.
    pub content_digest: String,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub created_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub consigned_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub handed_over_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub refused_at: Option<OffsetDateTime>,
}

/// A stored evidence event.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceEvent {
    pub id: String,
    pub delivery_id: String,
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The administration whose seal seals the statement.
    pub sealed_by: AdministrationId,
    /// The canonical JSON of the event, as fixed when it happened.
    pub statement: String,
    /// The sealed and time-stamped statement, once made.
    pub signed: Option<String>,
}

/// An evidence event to record: its statement is built by the caller.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    pub at: OffsetDateTime,
    pub sealed_by: AdministrationId,
    pub statement: String,
}

/// A delivery about to be written.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: String,
    pub sender_admin_id: AdministrationId,
    pub sender_correspondence_id: CorrespondenceId,
    pub recipient_admin_id: AdministrationId,
    pub content_digest: String,
    pub created_by: Option<UserId>,
    pub at: OffsetDateTime,
}

const DELIVERY_COLS: &str = "id, sender_admin_id, sender_correspondence_id, recipient_admin_id, \
    recipient_correspondence_id, recipient_number, state, content_digest, reason_code, reason, created_by, \
    created_at, consigned_at, handed_over_at, refused_at";

const EVENT_COLS: &str = "id, delivery_id, event_type, at, sealed_by, statement, signed";

fn delivery_from_row(r: &AnyRow) -> Result<Delivery> {
    let opt_at = |c: &str| -> Result<Option<OffsetDateTime>> {
        Ok(r.try_get::<Option<i64>, _>(c)?.map(from_micros))
    };
    Ok(Delivery {
        id: r.try_get("id")?,
        sender_admin_id: parse_id(
            &r.try_get::<String, _>("sender_admin_id")?,
            "administration",
        )?,
        sender_correspondence_id: parse_id(
            &r.try_get::<String, _>("sender_correspondence_id")?,
            "correspondence",
        )?,
        recipient_admin_id: parse_id(
            &r.try_get::<String, _>("recipient_admin_id")?,
            "administration",
        )?,
        recipient_correspondence_id: r
            .try_get::<Option<String>, _>("recipient_correspondence_id")?
            .map(|s| parse_id(&s, "correspondence"))
            .transpose()?,
        recipient_number: r.try_get("recipient_number")?,
        state: r.try_get("state")?,
        content_digest: r.try_get("content_digest")?,
        reason_code: r.try_get("reason_code")?,
        reason: r.try_get("reason")?,
        created_by: r
            .try_get::<Option<String>, _>("created_by")?
            .map(|s| parse_id(&s, "user"))
            .transpose()?,
        created_at: from_micros(r.try_get("created_at")?),
        consigned_at: opt_at("consigned_at")?,
        handed_over_at: opt_at("handed_over_at")?,
        refused_at: opt_at("refused_at")?,
    })
}

fn event_from_row(r: &AnyRow) -> Result<EvidenceEvent> {
    Ok(EvidenceEvent {
        id: r.try_get("id")?,
        delivery_id: r.try_get("delivery_id")?,
        event_type: r.try_get("event_type")?,
        at: from_micros(r.try_get("at")?),
        sealed_by: parse_id(&r.try_get::<String, _>("sealed_by")?, "administration")?,
        statement: r.try_get("statement")?,
        signed: r.try_get("signed")?,
    })
}

async fn insert_delivery(
    tx: &mut sqlx::AnyConnection,
    d: &NewDelivery,
    state: &str,
    reason: Option<(&str, &str)>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO deliveries (id, sender_admin_id, sender_correspondence_id, recipient_admin_id, state, \
         content_digest, reason_code, reason, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(&d.id)
    .bind(d.sender_admin_id.to_string())
    .bind(d.sender_correspondence_id.to_string())
    .bind(d.recipient_admin_id.to_string())
    .bind(state)
    .bind(&d.content_digest)
    .bind(reason.map(|r| r.0.to_string()))
    .bind(reason.map(|r| r.1.to_string()))
    .bind(d.created_by.map(|u| u.to_string()))
    .bind(micros(d.at))
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::unique(e, "a delivery of this correspondence to this administration"))?;
    Ok(())
}

async fn insert_event(tx: &mut sqlx::AnyConnection, delivery: &str, e: &NewEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO evidence_events (id, delivery_id, event_type, at, sealed_by, statement, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(&e.id)
    .bind(delivery)
    .bind(&e.event_type)
    .bind(micros(e.at))
    .bind(e.sealed_by.to_string())
    .bind(&e.statement)
    .bind(micros(OffsetDateTime::now_utc()))
    .execute(&mut *tx)
    .await
    .map_err(|e| StoreError::unique(e, "this evidence event"))?;
    Ok(())
}

impl Store {
    /// Records a submission the platform refused: the delivery (state `rejected`, with the
    /// reason) and its event, and an audit entry on the sender's side. Nothing reaches the
    /// recipient.
    pub async fn record_rejected_delivery(
        &self,
        d: &NewDelivery,
        reason_code: &str,
        reason: &str,
        event: &NewEvent,
        actor: &Actor,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_delivery(&mut tx, d, STATE_REJECTED, Some((reason_code, reason))).await?;
        insert_event(&mut tx, &d.id, event).await?;
        audit::append(
            &mut tx,
            &d.sender_admin_id.to_string(),
            actor,
            "exchange.rejected",
            "correspondence",
            &d.sender_correspondence_id.to_string(),
            &json!({ "delivery": d.id, "reason": reason, "reason_code": reason_code }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Consigns a delivery: in one transaction, registers `new` in the recipient's incoming
    /// register (number allocated here), records the delivery and the events `events` builds
    /// from the registration, marks the sender's record sent (when it was only registered) and
    /// writes an audit entry on each side. Staged documents are promoted before the
    /// transaction.
    pub async fn consign_delivery<F>(
        &self,
        d: &NewDelivery,
        new: NewCorrespondence,
        actor: &Actor,
        local_offset: UtcOffset,
        events: F,
    ) -> Result<Registered>
    where
        F: FnOnce(&Registered) -> std::result::Result<Vec<NewEvent>, String>,
    {
        let recipient = self.tenant(d.recipient_admin_id);
        let prepared = recipient.prepare_registration(new, local_offset).await?;
        let sender = d.sender_admin_id.to_string();
        let mut tx = self.begin().await?;
        // The sender's record first: it must still be an outgoing correspondence of the sender.
        let row = sqlx::query(
            "SELECT status FROM correspondences WHERE administration_id = $1 AND id = $2 AND direction = 'outgoing'",
        )
        .bind(&sender)
        .bind(d.sender_correspondence_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("correspondence"))?;
        let status: String = row.try_get(0)?;
        let system = Actor::system("exchange");
        let registered = write_registration(
            &mut tx,
            &d.recipient_admin_id.to_string(),
            &prepared,
            &system,
        )
        .await?;
        insert_delivery(&mut tx, d, STATE_CONSIGNED, None).await?;
        let now = OffsetDateTime::now_utc();
        sqlx::query(
            "UPDATE deliveries SET recipient_correspondence_id = $1, recipient_number = $2, consigned_at = $3 WHERE id = $4",
        )
        .bind(registered.id.to_string())
        .bind(&registered.number)
        .bind(micros(now))
        .bind(&d.id)
        .execute(&mut *tx)
        .await?;
        for e in events(&registered).map_err(StoreError::Invalid)? {
            insert_event(&mut tx, &d.id, &e).await?;
        }
        if status == Status::Registered.as_str() {
            sqlx::query(
                "UPDATE correspondences SET status = $1, updated_at = $2 WHERE administration_id = $3 AND id = $4",
            )
            .bind(Status::Sent.as_str())
            .bind(micros(now))
            .bind(&sender)
            .bind(d.sender_correspondence_id.to_string())
            .execute(&mut *tx)
            .await?;
            crate::webhooks::status_changed(
                &mut tx,
                &sender,
                d.sender_correspondence_id,
                Some(Status::Registered),
            )
            .await?;
        }
        audit::append(
            &mut tx,
            &sender,
            actor,
            "exchange.deliver",
            "correspondence",
            &d.sender_correspondence_id.to_string(),
            &json!({ "delivery": d.id, "recipient_number": registered.number }),
        )
        .await?;
        audit::append(
            &mut tx,
            &d.recipient_admin_id.to_string(),
            &system,
            "exchange.consign",
            "correspondence",
            &registered.id.to_string(),
            &json!({ "delivery": d.id, "content_digest": d.content_digest }),
        )
        .await?;
        tx.commit().await?;
        Ok(registered)
    }

    /// Records that the recipient got hold of a consigned delivery (first time only): `false`
    /// when already recorded or no longer consigned.
    pub async fn record_handover(&self, delivery: &str, event: &NewEvent) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE deliveries SET handed_over_at = $1 WHERE id = $2 AND state = 'consigned' AND handed_over_at IS NULL",
        )
        .bind(micros(event.at))
        .bind(delivery)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, delivery, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The recipient refuses a consigned delivery: the delivery becomes `refused`, the
    /// recipient's record is closed without follow-up with the reason as its outcome (its open
    /// assignments withdrawn), the event recorded, and both sides audited — one transaction.
    pub async fn refuse_delivery(
        &self,
        delivery: &Delivery,
        reason: &str,
        event: &NewEvent,
        actor: &Actor,
    ) -> Result<()> {
        let recipient_corr = delivery
            .recipient_correspondence_id
            .ok_or(StoreError::NotFound("delivered correspondence"))?;
        let admin = delivery.recipient_admin_id.to_string();
        let now = OffsetDateTime::now_utc();
        let mut tx = self.begin().await?;
        // Consignments take the log's row lock before the two audit heads (registration first);
        // taking it first here too keeps the lock order the same in every transaction that
        // touches two administrations, so they cannot deadlock (PostgreSQL).
        sqlx::query("UPDATE log_state SET size = size WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query(
            "UPDATE deliveries SET state = 'refused', refused_at = $1, reason_code = 'refused_by_recipient', reason = $2 \
             WHERE id = $3 AND state = 'consigned'",
        )
        .bind(micros(now))
        .bind(reason)
        .bind(&delivery.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(
                "this delivery is no longer consigned (already refused?)".into(),
            ));
        }
        let row = sqlx::query(
            "SELECT status FROM correspondences WHERE administration_id = $1 AND id = $2",
        )
        .bind(&admin)
        .bind(recipient_corr.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let status: Status = crate::parse_code(&row.try_get::<String, _>(0)?, "status")?;
        let next = status
            .transition(Status::ClosedWithoutFollowUp)
            .map_err(|e| StoreError::Conflict(format!("cannot refuse it any more: {e}")))?;
        sqlx::query(
            "UPDATE correspondences SET status = $1, closed_at = $2, outcome = $3, updated_at = $2 \
             WHERE administration_id = $4 AND id = $5 AND status = $6",
        )
        .bind(next.as_str())
        .bind(micros(now))
        .bind(reason)
        .bind(&admin)
        .bind(recipient_corr.to_string())
        .bind(status.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE assignments SET state = 'withdrawn', closed_at = $1 \
             WHERE administration_id = $2 AND correspondence_id = $3 AND state = 'open'",
        )
        .bind(micros(now))
        .bind(&admin)
        .bind(recipient_corr.to_string())
        .execute(&mut *tx)
        .await?;
        crate::webhooks::status_changed(&mut tx, &admin, recipient_corr, Some(status)).await?;
        insert_event(&mut tx, &delivery.id, event).await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "exchange.refuse",
            "correspondence",
            &recipient_corr.to_string(),
            &json!({ "delivery": delivery.id, "reason": reason }),
        )
        .await?;
        audit::append(
            &mut tx,
            &delivery.sender_admin_id.to_string(),
            &Actor::system("exchange"),
            "exchange.refused",
            "correspondence",
            &delivery.sender_correspondence_id.to_string(),
            &json!({ "delivery": delivery.id, "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One delivery.
    pub async fn delivery(&self, id: &str) -> Result<Delivery> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await?
        .ok_or(StoreError::NotFound("delivery"))?;
        delivery_from_row(&row)
    }

    /// The deliveries of a correspondence, seen from its side: those it was sent in (sender),
    /// or the one that brought it (recipient). Oldest first.
    pub async fn deliveries_of(
        &self,
        admin: AdministrationId,
        correspondence: CorrespondenceId,
    ) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLS} FROM deliveries WHERE (sender_admin_id = $1 AND sender_correspondence_id = $2) \
             OR (recipient_admin_id = $1 AND recipient_correspondence_id = $2) ORDER BY created_at, id"
        ))
        .bind(admin.to_string())
        .bind(correspondence.to_string())
        .fetch_all(self.read())
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// The evidence events of a delivery, in order.
    pub async fn evidence_events(&self, delivery: &str) -> Result<Vec<EvidenceEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM evidence_events WHERE delivery_id = $1 ORDER BY at, id"
        ))
        .bind(delivery)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// One evidence event.
    pub async fn evidence_event(&self, id: &str) -> Result<EvidenceEvent> {
        let row = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM evidence_events WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.read())
        .await?
        .ok_or(StoreError::NotFound("evidence event"))?;
        event_from_row(&row)
    }

    /// Events recorded but not sealed yet (the process stopped in between).
    pub async fn unsealed_evidence(&self, limit: i64) -> Result<Vec<EvidenceEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM evidence_events WHERE signed IS NULL ORDER BY created_at LIMIT $1"
        ))
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Stores the sealed form of an event (once: a concurrent sealing keeps the first).
    pub async fn set_evidence_signed(&self, id: &str, signed: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE evidence_events SET signed = $1 WHERE id = $2 AND signed IS NULL")
            .bind(signed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
