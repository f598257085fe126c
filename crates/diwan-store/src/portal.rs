//! Portal filings: what the filer follows a filing with, and its receipts.

use crate::{parse_id, Result, Store, StoreError};
use diwan_core::{AdministrationId, CorrespondenceId};
use serde::Serialize;
use sqlx::Row;

/// A filing received on the portal.
#[derive(Debug, Clone, Serialize)]
pub struct Filing {
    pub correspondence_id: CorrespondenceId,
    pub administration_id: AdministrationId,
    pub receipt_token: String,
    pub filer_email: Option<String>,
    pub filer_phone: Option<String>,
    /// Salt of the filer's data hashed into the log entry.
    pub filer_salt: String,
    pub leaf_index: i64,
    /// SHA-256 of the sealed receipt PDF, once produced.
    pub receipt_pdf: Option<String>,
    /// SHA-256 of the signed JSON receipt, once produced.
    pub receipt_json: Option<String>,
    /// The two blobs the receipt PDF is stored in, when it is stored split (None: one blob
    /// named by `receipt_pdf`).
    pub receipt_parts: Option<ReceiptParts>,
}

/// A receipt PDF stored in two blobs: the bytes every receipt starts with (header and fonts,
/// stored once for all receipts) and the rest of this one. The PDF is their concatenation, and
/// its SHA-256 is the filing's `receipt_pdf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptParts {
    /// SHA-256 of the shared prefix's blob.
    pub prefix: String,
    /// SHA-256 of the tail: the bytes kept in the filing's row (`Store::receipt_tail`), or,
    /// for receipts stored before, a blob.
    pub tail: String,
}

const COLS: &str =
    "f.correspondence_id, f.administration_id, f.receipt_token, f.filer_email, f.filer_phone, \
                    f.filer_salt, f.leaf_index, f.receipt_pdf, f.receipt_json, f.receipt_prefix, f.receipt_tail";

fn filing_from_row(r: &sqlx::any::AnyRow) -> Result<Filing> {
    Ok(Filing {
        correspondence_id: parse_id(&r.try_get::<String, _>(0)?, "correspondence")?,
        administration_id: parse_id(&r.try_get::<String, _>(1)?, "administration")?,
        receipt_token: r.try_get(2)?,
        filer_email: r.try_get(3)?,
        filer_phone: r.try_get(4)?,
        filer_salt: r.try_get(5)?,
        leaf_index: r.try_get(6)?,
        receipt_pdf: r.try_get(7)?,
        receipt_json: r.try_get(8)?,
        receipt_parts: match (r.try_get(9)?, r.try_get(10)?) {
            (Some(prefix), Some(tail)) => Some(ReceiptParts { prefix, tail }),
            (None, None) => None,
            _ => {
                return Err(StoreError::Corrupt(
                    "a receipt stored split has lost one of its parts".into(),
                ))
            }
        },
    })
}

impl Store {
    /// The filing with this number whose tracking code hashes to `tracking_hash`.
    pub async fn filing_by_tracking(
        &self,
        number: &str,
        tracking_hash: &str,
    ) -> Result<Option<Filing>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS}, f.tracking_hash FROM filings f JOIN correspondences c ON c.id = f.correspondence_id \
             WHERE c.number = $1"
        ))
        .bind(number)
        .fetch_all(self.read())
        .await?;
        for r in rows {
            // After the filing's columns, whose number may grow.
            let h: String = r.try_get("tracking_hash")?;
            if crate::ct_eq(h.as_bytes(), tracking_hash.as_bytes()) {
                return Ok(Some(filing_from_row(&r)?));
            }
        }
        Ok(None)
    }

    /// The filing a receipt token names.
    pub async fn filing_by_receipt_token(&self, token: &str) -> Result<Option<Filing>> {
        if token.is_empty() || token.len() > 64 {
            return Ok(None);
        }
        let r = sqlx::query(&format!(
            "SELECT {COLS} FROM filings f WHERE f.receipt_token = $1"
        ))
        .bind(token)
        .fetch_optional(self.read())
        .await?;
        r.map(|r| filing_from_row(&r)).transpose()
    }

    /// The filing of a correspondence.
    pub async fn filing_of(&self, id: CorrespondenceId) -> Result<Option<Filing>> {
        let r = sqlx::query(&format!(
            "SELECT {COLS} FROM filings f WHERE f.correspondence_id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.read())
        .await?;
        r.map(|r| filing_from_row(&r)).transpose()
    }

    /// The tail of a filing's split receipt when it is kept in the filing's row (None: no
    /// receipt yet, a receipt stored whole, or a tail stored as a blob before).
    pub async fn receipt_tail(&self, id: CorrespondenceId) -> Result<Option<Vec<u8>>> {
        let r = sqlx::query("SELECT receipt_tail_bytes FROM filings WHERE correspondence_id = $1")
            .bind(id.to_string())
            .fetch_optional(self.read())
            .await?;
        Ok(match r {
            Some(r) => r.try_get::<Option<Vec<u8>>, _>(0)?,
            None => None,
        })
    }

    /// Filings whose receipts are not produced yet (after a crash between commit and sealing).
    pub async fn filings_without_receipt(&self, limit: i64) -> Result<Vec<Filing>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM filings f WHERE f.receipt_pdf IS NULL OR f.receipt_json IS NULL ORDER BY f.created_at LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        rows.iter().map(filing_from_row).collect()
    }

    /// Records the receipts of a filing. Their blobs must be stored already: the PDF's, or,
    /// stored in two `parts`, the shared prefix's; `tail_bytes` (with `parts`) are the rest of
    /// the PDF, kept in the filing's row, and must hash to `parts.tail` (without them, the tail
    /// must be a blob already). Receipts are produced once: a second call keeps the first ones.
    pub async fn set_receipts(
        &self,
        id: CorrespondenceId,
        pdf_sha256: &str,
        json_sha256: &str,
        parts: Option<&ReceiptParts>,
        tail_bytes: Option<Vec<u8>>,
    ) -> Result<()> {
        if tail_bytes.is_some() && parts.is_none() {
            return Err(StoreError::Invalid(
                "a receipt's tail without the parts it belongs to".into(),
            ));
        }
        // Through the group-commit writer: concurrent filings share one disk sync.
        let n = self
            .set_receipts_batched(id, pdf_sha256, json_sha256, parts.cloned(), tail_bytes)
            .await?;
        if n == 0 && self.filing_of(id).await?.is_none() {
            return Err(StoreError::NotFound("filing"));
        }
        Ok(())
    }
}
