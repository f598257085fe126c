//! The text of documents for search: which documents the text reader has not seen yet, and
//! recording what it found (the words join the record's `search_text`, which the full-text
//! index follows, in the same transaction).

use crate::{parse_code, parse_id, Result, Store};
use diwan_core::media::MediaType;
use diwan_core::{AdministrationId, CorrespondenceId, DocumentId};
use sqlx::Row;

/// How a document's text was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextState {
    /// The PDF's own text layer.
    Text,
    /// Optical character recognition of a scan.
    Ocr,
    /// Nothing to read (a format without text, or an empty page).
    None,
    /// The reading failed (a damaged file, or a tool missing).
    Failed,
}

impl TextState {
    pub fn as_str(self) -> &'static str {
        match self {
            TextState::Text => "text",
            TextState::Ocr => "ocr",
            TextState::None => "none",
            TextState::Failed => "failed",
        }
    }
}

/// A document whose text has not been read yet.
#[derive(Debug, Clone)]
pub struct PendingDocument {
    pub administration_id: AdministrationId,
    pub correspondence_id: CorrespondenceId,
    pub id: DocumentId,
    pub media_type: MediaType,
    pub sha256: String,
}

impl Store {
    /// Documents (receipts excepted) not read yet, oldest first.
    pub async fn documents_without_text(&self, limit: i64) -> Result<Vec<PendingDocument>> {
        let rows = sqlx::query(
            "SELECT administration_id, correspondence_id, id, media_type, sha256 FROM documents \
             WHERE text_state IS NULL AND role <> 'receipt' ORDER BY created_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingDocument {
                    administration_id: parse_id(&r.try_get::<String, _>(0)?, "administration")?,
                    correspondence_id: parse_id(&r.try_get::<String, _>(1)?, "correspondence")?,
                    id: parse_id(&r.try_get::<String, _>(2)?, "document")?,
                    media_type: parse_code(&r.try_get::<String, _>(3)?, "media type")?,
                    sha256: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Records how a document was read and adds its (folded) words to its record's search text,
    /// once: a document already read keeps its first reading.
    pub async fn record_document_text(
        &self,
        d: &PendingDocument,
        state: TextState,
        words: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE documents SET text_state = $1 WHERE administration_id = $2 AND id = $3 AND text_state IS NULL",
        )
        .bind(state.as_str())
        .bind(d.administration_id.to_string())
        .bind(d.id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 && !words.is_empty() {
            sqlx::query(
                "UPDATE correspondences SET search_text = search_text || ' ' || $1 WHERE administration_id = $2 AND id = $3",
            )
            .bind(words)
            .bind(d.administration_id.to_string())
            .bind(d.correspondence_id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
