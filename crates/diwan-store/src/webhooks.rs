//! Webhooks: an administration's endpoints and the deliveries of its events.
//!
//! Events are queued in the transaction of the change they announce — a status change, a
//! registration, a reply — exactly like the e-mails of the outbox, so a change that rolls back
//! announces nothing. One row per (event, endpoint) is written, holding the JSON payload as it
//! will be sent; a worker of the application layer signs and POSTs it, and records each attempt
//! here. Secrets are stored sealed by the caller (this module never sees them in clear).

use crate::audit::{self, Actor};
use crate::exec::{args, Exec};
use crate::{from_micros, micros, parse_id, Result, Store, StoreError, Tenant};
use diwan_core::correspondence::Status;
use diwan_core::{CorrespondenceId, UserId};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

/// A correspondence's status (or the entity handling it) changed, including its registration.
pub const STATUS_CHANGED: &str = "status_changed";
/// A reply to a correspondence was registered in the outgoing register.
pub const REPLY_REGISTERED: &str = "reply_registered";
/// Every event type an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[STATUS_CHANGED, REPLY_REGISTERED];

/// How long a worker holds a delivery it claimed before another may try it (longer than the
/// request timeout).
pub const CLAIM_SECONDS: i64 = 120;

/// A registered endpoint (never with its secret).
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: Option<UserId>,
}

/// An endpoint to create. `sealed_secret` is the secret sealed by the caller.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: String,
    pub url: String,
    pub sealed_secret: Vec<u8>,
    pub events: Vec<String>,
}

/// One event to one endpoint, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// HTTP status of the last answer (none when the endpoint could not be reached).
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A delivery due for an attempt, with what the worker needs to send it.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    pub webhook_id: String,
    pub url: String,
    pub sealed_secret: Vec<u8>,
    pub event_type: String,
    pub payload: String,
    pub attempts: i64,
    /// `next_attempt_at` as read: the claim succeeds only if it is unchanged.
    pub(crate) seen: i64,
}

fn webhook_from_row(r: &sqlx::any::AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        id: r.try_get("id")?,
        url: r.try_get("url")?,
        events: split_events(&r.try_get::<String, _>("events")?),
        active: r.try_get::<i64, _>("active")? != 0,
        created_at: from_micros(r.try_get("created_at")?),
        created_by: r
            .try_get::<Option<String>, _>("created_by")?
            .map(|s| parse_id(&s, "user"))
            .transpose()?,
    })
}

fn split_events(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The correspondence as events describe it: what an administrator sees of it in the API, less
/// the party (personal data) and, for confidential mail, the subject.
async fn correspondence_json<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    id: &str,
) -> Result<(String, Value)> {
    let r = tx
        .fetch_optional(
            "SELECT c.number, c.subject, c.direction, c.status, c.confidentiality, c.due_date, \
             c.handling_entity_id, e.code, e.name_fr, e.name_ar, a.code \
             FROM correspondences c JOIN administrations a ON a.id = c.administration_id \
             LEFT JOIN entities e ON e.administration_id = c.administration_id AND e.id = c.handling_entity_id \
             WHERE c.administration_id = $1 AND c.id = $2",
            args![admin, id],
        )
        .await?
        .ok_or(StoreError::NotFound("correspondence"))?;
    let confidential = r.text(4)? == "confidential";
    let handling = match r.opt_text(6)? {
        Some(h) => json!({
            "id": h,
            "code": r.opt_text(7)?,
            "name_fr": r.opt_text(8)?,
            "name_ar": r.opt_text(9)?,
        }),
        None => Value::Null,
    };
    let mut c = json!({
        "id": id,
        "number": r.text(0)?,
        "direction": r.text(2)?,
        "status": r.text(3)?,
        "confidential": confidential,
        "due_date": r.opt_text(5)?,
        "handling_entity": handling,
    });
    if !confidential {
        c["subject"] = Value::String(r.text(1)?);
    }
    Ok((r.text(10)?, c))
}

/// The active endpoints of an administration subscribed to `event_type`.
async fn subscribers<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    event_type: &str,
) -> Result<Vec<String>> {
    let rows = tx
        .fetch_all(
            "SELECT id, events FROM webhooks WHERE administration_id = $1 AND active = 1",
            args![admin],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        if split_events(&r.text(1)?).iter().any(|e| e == event_type) {
            out.push(r.text(0)?);
        }
    }
    Ok(out)
}

/// Queues an event for every subscribed endpoint, inside the caller's transaction. `extra`
/// (an object) is merged into the payload. Costs one query when nobody subscribed.
async fn enqueue<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    event_type: &str,
    correspondence: &str,
    extra: impl FnOnce(&mut Value),
) -> Result<()> {
    let hooks = subscribers(tx, admin, event_type).await?;
    if hooks.is_empty() {
        return Ok(());
    }
    let (admin_code, c) = correspondence_json(tx, admin, correspondence).await?;
    let now = OffsetDateTime::now_utc();
    let event_id = uuid::Uuid::now_v7().to_string();
    let mut payload = json!({
        "id": event_id,
        "type": event_type,
        "created_at": rfc3339(now),
        "administration": admin_code,
        "correspondence": c,
    });
    extra(&mut payload);
    let body = payload.to_string();
    for hook in hooks {
        tx.execute(
            "INSERT INTO webhook_deliveries (id, administration_id, webhook_id, event_id, event_type, payload, \
             state, attempts, next_attempt_at, created_at) VALUES ($1,$2,$3,$4,$5,$6,'pending',0,$7,$7)",
            args![
                uuid::Uuid::now_v7().to_string(),
                admin,
                hook,
                &event_id,
                event_type,
                &body,
                micros(now),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Queues `status_changed` for a correspondence as it now is in the transaction; `previous` is
/// the status before the change (none for a registration).
pub(crate) async fn status_changed<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    id: CorrespondenceId,
    previous: Option<Status>,
) -> Result<()> {
    enqueue(tx, admin, STATUS_CHANGED, &id.to_string(), |p| {
        p["correspondence"]["previous_status"] = json!(previous.map(|s| s.as_str()));
    })
    .await
}

/// Queues `reply_registered` for the correspondence answered, naming the reply.
pub(crate) async fn reply_registered<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    answered: CorrespondenceId,
    reply: CorrespondenceId,
    reply_number: &str,
    reply_status: Status,
) -> Result<()> {
    enqueue(tx, admin, REPLY_REGISTERED, &answered.to_string(), |p| {
        p["reply"] =
            json!({ "id": reply, "number": reply_number, "status": reply_status.as_str() });
    })
    .await
}

const HOOK_COLS: &str = "id, url, events, active, created_at, created_by";

impl Tenant {
    /// Registers an endpoint.
    pub async fn create_webhook(&self, w: &NewWebhook, actor: &Actor) -> Result<Webhook> {
        if w.events.is_empty() || w.events.iter().any(|e| !EVENT_TYPES.contains(&e.as_str())) {
            return Err(StoreError::Invalid(format!(
                "events must be some of {}",
                EVENT_TYPES.join(", ")
            )));
        }
        let admin = self.admin_str();
        let now = OffsetDateTime::now_utc();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO webhooks (id, administration_id, url, sealed_secret, events, active, created_at, created_by) \
             VALUES ($1,$2,$3,$4,$5,1,$6,$7)",
        )
        .bind(&w.id)
        .bind(&admin)
        .bind(&w.url)
        .bind(w.sealed_secret.clone())
        .bind(w.events.join(","))
        .bind(micros(now))
        .bind(actor.user_id.map(|u| u.to_string()))
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "webhook.create",
            "webhook",
            &w.id,
            &json!({ "url": w.url, "events": w.events }),
        )
        .await?;
        tx.commit().await?;
        self.webhook(&w.id).await
    }

    /// One endpoint of the administration.
    pub async fn webhook(&self, id: &str) -> Result<Webhook> {
        let r = sqlx::query(&format!(
            "SELECT {HOOK_COLS} FROM webhooks WHERE administration_id = $1 AND id = $2"
        ))
        .bind(self.admin_str())
        .bind(id)
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("webhook"))?;
        webhook_from_row(&r)
    }

    /// The administration's endpoints, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {HOOK_COLS} FROM webhooks WHERE administration_id = $1 ORDER BY created_at, id"
        ))
        .bind(self.admin_str())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    /// Removes an endpoint and its deliveries (pending ones are not sent).
    pub async fn delete_webhook(&self, id: &str, actor: &Actor) -> Result<()> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE administration_id = $1 AND webhook_id = $2",
        )
        .bind(&admin)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM webhooks WHERE administration_id = $1 AND id = $2")
            .bind(&admin)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("webhook"));
        }
        audit::append(
            &mut tx,
            &admin,
            actor,
            "webhook.delete",
            "webhook",
            id,
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The most recent deliveries of an endpoint, newest first.
    pub async fn deliveries(&self, webhook: &str, limit: i64) -> Result<Vec<Delivery>> {
        self.webhook(webhook).await?;
        let rows = sqlx::query(
            "SELECT id, event_id, event_type, state, attempts, next_attempt_at, last_status, last_error, \
             delivered_at, created_at FROM webhook_deliveries WHERE administration_id = $1 AND webhook_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(self.admin_str())
        .bind(webhook)
        .bind(limit.clamp(1, 500))
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                let state: String = r.try_get("state")?;
                let next = from_micros(r.try_get("next_attempt_at")?);
                Ok(Delivery {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    next_attempt_at: (state == "pending").then_some(next),
                    state,
                    attempts: r.try_get("attempts")?,
                    last_status: r.try_get("last_status")?,
                    last_error: r.try_get("last_error")?,
                    delivered_at: r
                        .try_get::<Option<i64>, _>("delivered_at")?
                        .map(from_micros),
                    created_at: from_micros(r.try_get("created_at")?),
                })
            })
            .collect()
    }
}

impl Store {
    /// Pending deliveries of active endpoints whose attempt is due, oldest event first.
    pub async fn due_deliveries(&self, limit: i64) -> Result<Vec<DueDelivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.webhook_id, w.url, w.sealed_secret, d.event_type, d.payload, d.attempts, d.next_attempt_at \
             FROM webhook_deliveries d JOIN webhooks w ON w.administration_id = d.administration_id AND w.id = d.webhook_id \
             WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND w.active = 1 \
             ORDER BY d.created_at, d.id LIMIT $2",
        )
        .bind(micros(OffsetDateTime::now_utc()))
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueDelivery {
                    id: r.try_get("id")?,
                    webhook_id: r.try_get("webhook_id")?,
                    url: r.try_get("url")?,
                    sealed_secret: r.try_get("sealed_secret")?,
                    event_type: r.try_get("event_type")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                    seen: r.try_get("next_attempt_at")?,
                })
            })
            .collect()
    }

    /// Takes a due delivery for this worker: `false` if another worker (another server of a
    /// PostgreSQL deployment) took it first. The claim lapses after [`CLAIM_SECONDS`].
    pub async fn claim_delivery(&self, d: &DueDelivery) -> Result<bool> {
        let until = micros(OffsetDateTime::now_utc() + Duration::seconds(CLAIM_SECONDS));
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND state = 'pending' AND next_attempt_at = $3",
        )
        .bind(until)
        .bind(&d.id)
        .bind(d.seen)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Records an attempt. `status` is the HTTP status answered (none if unreachable); `retry_in`
    /// schedules the next attempt of a failed one, none gives up (state `failed`).
    pub async fn record_attempt(
        &self,
        id: &str,
        status: Option<u16>,
        error: Option<&str>,
        retry_in: Option<Duration>,
    ) -> Result<()> {
        let now = OffsetDateTime::now_utc();
        let (state, delivered, next) = match (error, retry_in) {
            (None, _) => ("delivered", Some(micros(now)), micros(now)),
            (Some(_), Some(d)) => ("pending", None, micros(now + d)),
            (Some(_), None) => ("failed", None, micros(now)),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, last_status = $3, last_error = $4, \
             delivered_at = $5, next_attempt_at = $6 WHERE id = $1",
        )
        .bind(id)
        .bind(state)
        .bind(status.map(i64::from))
        .bind(error.map(|e| e.chars().take(500).collect::<String>()))
        .bind(delivered)
        .bind(next)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
