//! The audit log: every change appended, per administration, to a hash chain.
//!
//! Entry `n` stores `hash_n = SHA-256(hash_{n-1} ‖ n ‖ at ‖ actor ‖ ip ‖ action ‖ object type ‖
//! object id ‖ details)` (integers big-endian, strings length-prefixed, `hash_0` = 32 zero bytes)
//! and the head row keeps the last sequence and hash. Appending happens inside the transaction of
//! the change it records, so a change and its audit record commit or vanish together. Updates
//! and deletes of the log are refused by triggers; anything rewritten behind the database's back
//! breaks the chain, which `diwan fsck` recomputes.

use crate::exec::{args, Exec};
use crate::{from_micros, micros, Result, StoreError, Tenant};
use diwan_core::UserId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

/// Who makes a change, and from where.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Actor {
    pub user_id: Option<UserId>,
    /// The client address, as seen by the server.
    pub ip: Option<String>,
    /// For changes not made by a user: "portal", "system", "cli", …
    pub system: Option<&'static str>,
}

impl Actor {
    pub fn user(user_id: UserId, ip: Option<String>) -> Self {
        Self {
            user_id: Some(user_id),
            ip,
            system: None,
        }
    }
    pub fn system(name: &'static str) -> Self {
        Self {
            user_id: None,
            ip: None,
            system: Some(name),
        }
    }
    fn id_string(&self) -> Option<String> {
        match (&self.user_id, self.system) {
            (Some(u), _) => Some(u.to_string()),
            (None, Some(s)) => Some(format!("system:{s}")),
            (None, None) => None,
        }
    }
}

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: serde_json::Value,
    pub hash: String,
}

/// The hash of an entry given the previous one.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev: &[u8; 32],
    seq: i64,
    at: i64,
    actor: Option<&str>,
    ip: Option<&str>,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at.to_be_bytes());
    for s in [
        actor.unwrap_or(""),
        ip.unwrap_or(""),
        action,
        object_type,
        object_id,
        details,
    ] {
        h.update((s.len() as u32).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.finalize().into()
}

fn decode_hash(s: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| StoreError::Corrupt(format!("bad audit hash {s:?}")))?;
    Ok(out)
}

/// Starts the chain of a new administration (inside its creation transaction).
pub(crate) async fn init_chain(conn: &mut AnyConnection, admin: &str) -> Result<()> {
    sqlx::query("INSERT INTO audit_heads (administration_id, seq, hash) VALUES ($1, 0, $2)")
        .bind(admin)
        .bind(hex::encode([0u8; 32]))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends a record to the chain of `admin`, inside the caller's transaction.
pub(crate) async fn append<E: Exec + ?Sized>(
    conn: &mut E,
    admin: &str,
    actor: &Actor,
    action: &str,
    object_type: &str,
    object_id: &str,
    details: &serde_json::Value,
) -> Result<()> {
    // Taking the next sequence number locks the head row until commit (PostgreSQL) — the chain
    // is strictly sequential per administration.
    let row = conn
        .fetch_optional(
            "UPDATE audit_heads SET seq = seq + 1 WHERE administration_id = $1 RETURNING seq, hash",
            args![admin],
        )
        .await?
        .ok_or(StoreError::NotFound("administration"))?;
    let seq = row.int(0)?;
    let prev = decode_hash(&row.text(1)?)?;
    let at = micros(time::OffsetDateTime::now_utc());
    let actor_id = actor.id_string();
    let details = details.to_string();
    let hash = hex::encode(entry_hash(
        &prev,
        seq,
        at,
        actor_id.as_deref(),
        actor.ip.as_deref(),
        action,
        object_type,
        object_id,
        &details,
    ));
    conn.execute(
        "INSERT INTO audit_log (administration_id, seq, at, actor_id, actor_ip, action, object_type, \
         object_id, details, prev_hash, hash) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        args![
            admin,
            seq,
            at,
            actor_id,
            actor.ip.as_deref(),
            action,
            object_type,
            object_id,
            details,
            hex::encode(prev),
            &hash,
        ],
    )
    .await?;
    conn.execute(
        "UPDATE audit_heads SET hash = $2 WHERE administration_id = $1",
        args![admin, &hash],
    )
    .await?;
    Ok(())
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    let details: String = row.try_get("details")?;
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        at: from_micros(row.try_get("at")?),
        actor: row.try_get("actor_id")?,
        ip: row.try_get("actor_ip")?,
        action: row.try_get("action")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        hash: row.try_get("hash")?,
    })
}

const COLS: &str =
    "seq, at, actor_id, actor_ip, action, object_type, object_id, details, prev_hash, hash";

impl Tenant {
    /// The history of one object, oldest first.
    pub async fn audit_of(&self, object_id: &str) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM audit_log WHERE administration_id = $1 AND object_id = $2 ORDER BY seq"
        ))
        .bind(self.admin_str())
        .bind(object_id)
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// A page of the log, newest first.
    pub async fn audit_page(&self, before_seq: Option<i64>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM audit_log WHERE administration_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(self.admin_str())
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Recomputes the whole chain. Returns the number of entries, or the first broken link.
    pub async fn verify_audit_chain(&self) -> Result<Result<i64, String>> {
        use futures_util::TryStreamExt;
        let admin = self.admin_str();
        let mut prev = [0u8; 32];
        let mut expected_seq = 1i64;
        let sql = format!("SELECT {COLS} FROM audit_log WHERE administration_id = $1 ORDER BY seq");
        let mut rows = sqlx::query(&sql).bind(&admin).fetch(self.store.read());
        while let Some(row) = rows.try_next().await? {
            let seq: i64 = row.try_get("seq")?;
            if seq != expected_seq {
                return Ok(Err(format!(
                    "audit entry {expected_seq} is missing (found {seq})"
                )));
            }
            let stored_prev: String = row.try_get("prev_hash")?;
            if stored_prev != hex::encode(prev) {
                return Ok(Err(format!(
                    "audit entry {seq}: link to the previous entry is broken"
                )));
            }
            let actor: Option<String> = row.try_get("actor_id")?;
            let ip: Option<String> = row.try_get("actor_ip")?;
            let computed = entry_hash(
                &prev,
                seq,
                row.try_get("at")?,
                actor.as_deref(),
                ip.as_deref(),
                &row.try_get::<String, _>("action")?,
                &row.try_get::<String, _>("object_type")?,
                &row.try_get::<String, _>("object_id")?,
                &row.try_get::<String, _>("details")?,
            );
            let stored: String = row.try_get("hash")?;
            if stored != hex::encode(computed) {
                return Ok(Err(format!(
                    "audit entry {seq} was altered (hash mismatch)"
                )));
            }
            prev = computed;
            expected_seq += 1;
        }
        drop(rows);
        let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE administration_id = $1")
            .bind(&admin)
            .fetch_optional(self.store.read())
            .await?;
        let Some(head) = head else {
            return Ok(Err("audit head is missing".into()));
        };
        let head_seq: i64 = head.try_get(0)?;
        let head_hash: String = head.try_get(1)?;
        if head_seq != expected_seq - 1 || head_hash != hex::encode(prev) {
            return Ok(Err(format!(
                "audit head says {head_seq} entries but the chain has {} (entries removed at the end?)",
                expected_seq - 1
            )));
        }
        Ok(Ok(expected_seq - 1))
    }
}
