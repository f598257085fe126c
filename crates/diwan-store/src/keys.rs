//! Keys and certificates of the platform's PKI. Private keys are stored sealed (encrypted under the
//! master key by the caller); this module never sees them in clear.

use crate::{from_micros, micros, parse_id, Result, Store, StoreError};
use diwan_core::{AdministrationId, UserId};
use sqlx::Row;
use time::OffsetDateTime;

/// A stored key pair or certificate.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub id: String,
    pub administration_id: Option<AdministrationId>,
    pub user_id: Option<UserId>,
    /// `root`, `tsa`, `log`, `seal`, `signature`, `ocsp`.
    pub purpose: String,
    /// DER.
    pub certificate: Vec<u8>,
    /// Concatenated DER certificates of the issuing chain, if any.
    pub chain: Option<Vec<u8>>,
    pub sealed_key: Option<Vec<u8>>,
    pub not_after: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revocation_reason: Option<String>,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<StoredKey> {
    Ok(StoredKey {
        id: r.try_get("id")?,
        administration_id: r
            .try_get::<Option<String>, _>("administration_id")?
            .map(|s| parse_id(&s, "administration"))
            .transpose()?,
        user_id: r
            .try_get::<Option<String>, _>("user_id")?
            .map(|s| parse_id(&s, "user"))
            .transpose()?,
        purpose: r.try_get("purpose")?,
        certificate: r.try_get("certificate")?,
        chain: r.try_get("chain")?,
        sealed_key: r.try_get("sealed_key")?,
        not_after: from_micros(r.try_get("not_after")?),
        revoked_at: r.try_get::<Option<i64>, _>("revoked_at")?.map(from_micros),
        revocation_reason: r.try_get("revocation_reason")?,
    })
}

const COLS: &str = "id, administration_id, user_id, purpose, certificate, chain, sealed_key, not_after, revoked_at, revocation_reason";

impl Store {
    pub async fn insert_key(&self, k: &StoredKey) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO pki_keys ({COLS}, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
        ))
        .bind(&k.id)
        .bind(k.administration_id.map(|a| a.to_string()))
        .bind(k.user_id.map(|u| u.to_string()))
        .bind(&k.purpose)
        .bind(k.certificate.clone())
        .bind(k.chain.clone())
        .bind(k.sealed_key.clone())
        .bind(micros(k.not_after))
        .bind(k.revoked_at.map(micros))
        .bind(k.revocation_reason.clone())
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "this key"))?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest usable (not revoked, not expired) key for a purpose and owner.
    pub async fn current_key(
        &self,
        purpose: &str,
        admin: Option<AdministrationId>,
        user: Option<UserId>,
    ) -> Result<Option<StoredKey>> {
        let r = sqlx::query(&format!(
            "SELECT {COLS} FROM pki_keys WHERE purpose = $1 AND COALESCE(administration_id, '') = $2 \
             AND COALESCE(user_id, '') = $3 AND revoked_at IS NULL AND not_after > $4 ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(purpose)
        .bind(admin.map(|a| a.to_string()).unwrap_or_default())
        .bind(user.map(|u| u.to_string()).unwrap_or_default())
        .bind(micros(OffsetDateTime::now_utc()))
        .fetch_optional(self.read())
        .await?;
        r.map(|r| from_row(&r)).transpose()
    }

    /// Every key of a purpose (all owners), newest first.
    pub async fn keys_of_purpose(&self, purpose: &str) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM pki_keys WHERE purpose = $1 ORDER BY created_at DESC"
        ))
        .bind(purpose)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revoked certificates (for the CRL).
    pub async fn revoked_keys(&self) -> Result<Vec<StoredKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM pki_keys WHERE revoked_at IS NOT NULL ORDER BY revoked_at"
        ))
        .fetch_all(self.read())
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, id: &str, reason: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("UPDATE pki_keys SET revoked_at = $2, revocation_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(micros(OffsetDateTime::now_utc()))
            .bind(reason)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Err(StoreError::NotFound("key"));
        }
        Ok(())
    }
}
