//! The transactional outbox: messages (e-mails) are queued in the transaction of the change they
//! announce — so a change that rolls back sends nothing — and delivered afterwards by a worker,
//! with retries and exponential backoff.

use crate::exec::{args, Exec};
use crate::{from_micros, micros, Result, Store};
use serde::Serialize;
use sqlx::Row;
use time::{Duration, OffsetDateTime};

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 10;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

impl NewMessage {
    /// Replaces the `{number}` placeholder (the registration number is known only in the
    /// transaction).
    pub fn with_number(&self, number: &str) -> NewMessage {
        NewMessage {
            recipient: self.recipient.clone(),
            subject: self.subject.replace("{number}", number),
            body: self.body.replace("{number}", number),
        }
    }
}

/// A queued message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    pub last_error: Option<String>,
}

/// Queues a message inside the caller's transaction.
pub(crate) async fn enqueue<E: Exec + ?Sized>(
    tx: &mut E,
    admin: Option<&str>,
    m: &NewMessage,
) -> Result<()> {
    let now = micros(OffsetDateTime::now_utc());
    tx.execute(
        "INSERT INTO outbox (id, administration_id, kind, recipient, subject, body, attempts, next_attempt_at, created_at) \
         VALUES ($1,$2,'email',$3,$4,$5,0,$6,$7)",
        args![
            uuid::Uuid::now_v7().to_string(),
            admin,
            &m.recipient,
            &m.subject,
            &m.body,
            now,
            now,
        ],
    )
    .await?;
    Ok(())
}

fn message_from_row(r: &sqlx::any::AnyRow) -> Result<Message> {
    Ok(Message {
        id: r.try_get("id")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        attempts: r.try_get("attempts")?,
        sent_at: r.try_get::<Option<i64>, _>("sent_at")?.map(from_micros),
        last_error: r.try_get("last_error")?,
    })
}

impl Store {
    /// Queues a message on its own (outside any other change).
    pub async fn enqueue_message(&self, admin: Option<&str>, m: &NewMessage) -> Result<()> {
        let mut tx = self.begin().await?;
        enqueue(&mut tx, admin, m).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Messages due for (another) attempt.
    pub async fn due_messages(&self, limit: i64) -> Result<Vec<Message>> {
        let rows = sqlx::query(
            "SELECT id, recipient, subject, body, attempts, sent_at, last_error FROM outbox \
             WHERE sent_at IS NULL AND attempts < $1 AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3",
        )
        .bind(MAX_ATTEMPTS)
        .bind(micros(OffsetDateTime::now_utc()))
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Records a delivery.
    pub async fn message_sent(&self, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE outbox SET sent_at = $2, attempts = attempts + 1, last_error = NULL WHERE id = $1")
            .bind(id)
            .bind(micros(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt and schedules the next one (30 s, 1 min, 2 min, … up to 6 h).
    pub async fn message_failed(&self, id: &str, attempts_before: i64, error: &str) -> Result<()> {
        let delay = Duration::seconds((30i64 << attempts_before.clamp(0, 20)).min(6 * 3600));
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1")
            .bind(id)
            .bind(error.chars().take(500).collect::<String>())
            .bind(micros(OffsetDateTime::now_utc() + delay))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every message for a recipient (tests, support).
    pub async fn messages_to(&self, recipient: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query(
            "SELECT id, recipient, subject, body, attempts, sent_at, last_error FROM outbox WHERE recipient = $1 ORDER BY created_at",
        )
        .bind(recipient)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Number of queued messages (all states).
    pub async fn outbox_len(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM outbox")
            .fetch_one(self.read())
            .await?
            .try_get(0)?)
    }
}
