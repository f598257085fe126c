//! Replies signed in the signature book before they are registered.
//!
//! A reply routed for signature is a row of `reply_drafts` linking the answered correspondence
//! to the signature-book folder that holds the letter. Its state is the folder's: in circuit,
//! rejected (with the reason of the rejection), recalled, completed; once the folder completes,
//! the signed letter is registered in the outgoing register and the draft points to the
//! registered reply, in the registration's transaction.

use crate::audit::{self, Actor};
use crate::processing::{Applied, Change};
use crate::registry::{NewCorrespondence, Registered};
use crate::{from_micros, micros, parse_id, Result, StoreError, Tenant};
use diwan_core::correspondence::Status;
use diwan_core::parapheur::{FolderId, FolderStatus};
use diwan_core::{CorrespondenceId, EntityId, UserId};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use time::{OffsetDateTime, UtcOffset};

/// The SQL condition, over an open assignment `a`, that its correspondence has a reply in a
/// signature circuit (the "waiting for signature" queue).
/// Stated as a list the assignments are looked up from (replies in a circuit are few; the open
/// assignments of a head's entities are many), not as a test made on each assignment.
pub(crate) const IN_SIGNATURE_CIRCUIT: &str = "a.correspondence_id IN (SELECT r.correspondence_id \
     FROM reply_drafts r JOIN folders f ON f.id = r.folder_id WHERE r.administration_id = $1 \
     AND r.reply_id IS NULL AND f.status = 'in_circuit')";

/// A reply routed for signature, with the state of its folder.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyDraft {
    pub id: String,
    pub correspondence_id: CorrespondenceId,
    pub folder_id: FolderId,
    /// The replying entity.
    pub entity_id: EntityId,
    pub subject: String,
    pub body: String,
    pub signer: Option<String>,
    pub send_email: bool,
    /// The address the reply is to be e-mailed to, as known when it was drafted.
    pub email_to: Option<String>,
    /// The folder's status: `draft`, `in_circuit`, `completed`, `rejected` or `recalled`.
    pub folder_status: FolderStatus,
    /// The reason of the folder's last rejection, when it is rejected.
    pub rejection_reason: Option<String>,
    /// The registered reply, once the folder completed.
    pub reply_id: Option<CorrespondenceId>,
    pub reply_number: Option<String>,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub registered_at: Option<OffsetDateTime>,
}

impl ReplyDraft {
    /// `registered`, or the folder's status (`in_circuit`, `rejected`, `recalled`, `draft`,
    /// `completed` — signed, registration still due).
    pub fn state(&self) -> &'static str {
        if self.reply_id.is_some() {
            return "registered";
        }
        match self.folder_status {
            FolderStatus::Draft => "draft",
            FolderStatus::InCircuit => "in_circuit",
            FolderStatus::Completed => "completed",
            FolderStatus::Rejected => "rejected",
            FolderStatus::Recalled => "recalled",
        }
    }

    /// Whether the draft still stands in the way of another reply: in circuit, or signed and
    /// not yet registered.
    pub fn is_pending(&self) -> bool {
        self.reply_id.is_none()
            && matches!(
                self.folder_status,
                FolderStatus::InCircuit | FolderStatus::Completed
            )
    }
}

/// A reply draft to record.
#[derive(Debug, Clone)]
pub struct NewReplyDraft {
    pub correspondence: CorrespondenceId,
    pub folder: FolderId,
    pub entity: EntityId,
    pub subject: String,
    pub body: String,
    pub signer: Option<String>,
    pub send_email: bool,
    pub email_to: Option<String>,
    pub created_by: UserId,
}

const DRAFT_SELECT: &str = "SELECT r.id, r.correspondence_id, r.folder_id, r.entity_id, r.subject, \
     r.body, r.signer, r.send_email, r.email_to, r.reply_id, r.created_by, r.created_at, \
     r.registered_at, f.status AS folder_status, c.number AS reply_number, \
     (SELECT fa.comment FROM folder_actions fa WHERE fa.folder_id = r.folder_id \
      AND fa.action = 'reject' ORDER BY fa.seq DESC LIMIT 1) AS rejection_reason \
     FROM reply_drafts r JOIN folders f ON f.id = r.folder_id \
     LEFT JOIN correspondences c ON c.administration_id = r.administration_id AND c.id = r.reply_id \
     WHERE r.administration_id = $1";

fn draft_from_row(r: &sqlx::any::AnyRow) -> Result<ReplyDraft> {
    let folder_status: FolderStatus = r
        .try_get::<String, _>("folder_status")?
        .parse()
        .map_err(|_| StoreError::Corrupt("bad folder status".into()))?;
    Ok(ReplyDraft {
        id: r.try_get("id")?,
        correspondence_id: parse_id(
            &r.try_get::<String, _>("correspondence_id")?,
            "correspondence",
        )?,
        folder_id: parse_id(&r.try_get::<String, _>("folder_id")?, "folder")?,
        entity_id: parse_id(&r.try_get::<String, _>("entity_id")?, "entity")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        signer: r.try_get("signer")?,
        send_email: r.try_get::<i64, _>("send_email")? != 0,
        email_to: r.try_get("email_to")?,
        rejection_reason: if folder_status == FolderStatus::Rejected {
            r.try_get("rejection_reason")?
        } else {
            None
        },
        folder_status,
        reply_id: r
            .try_get::<Option<String>, _>("reply_id")?
            .map(|s| parse_id(&s, "correspondence"))
            .transpose()?,
        reply_number: r.try_get("reply_number")?,
        created_by: parse_id(&r.try_get::<String, _>("created_by")?, "user")?,
        created_at: from_micros(r.try_get("created_at")?),
        registered_at: r
            .try_get::<Option<i64>, _>("registered_at")?
            .map(from_micros),
    })
}

impl Tenant {
    /// Records a reply routed for signature (its folder exists already), with an audit entry on
    /// the answered correspondence.
    pub async fn create_reply_draft(&self, new: &NewReplyDraft, actor: &Actor) -> Result<String> {
        let admin = self.admin_str();
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO reply_drafts (id, administration_id, correspondence_id, folder_id, entity_id, \
             subject, body, signer, send_email, email_to, created_by, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(&id)
        .bind(&admin)
        .bind(new.correspondence.to_string())
        .bind(new.folder.to_string())
        .bind(new.entity.to_string())
        .bind(&new.subject)
        .bind(&new.body)
        .bind(&new.signer)
        .bind(i64::from(new.send_email))
        .bind(&new.email_to)
        .bind(new.created_by.to_string())
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::unique(e, "a reply draft for this folder"))?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "correspondence.reply_to_sign",
            "correspondence",
            &new.correspondence.to_string(),
            &json!({ "folder": new.folder.to_string(), "subject": new.subject }),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The replies of a correspondence routed for signature, newest first.
    pub async fn reply_drafts(&self, correspondence: CorrespondenceId) -> Result<Vec<ReplyDraft>> {
        sqlx::query(&format!(
            "{DRAFT_SELECT} AND r.correspondence_id = $2 ORDER BY r.created_at DESC, r.id DESC"
        ))
        .bind(self.admin_str())
        .bind(correspondence.to_string())
        .fetch_all(self.store.read())
        .await?
        .iter()
        .map(draft_from_row)
        .collect()
    }

    /// The reply draft whose letter is in `folder`, if any.
    pub async fn reply_draft_for_folder(&self, folder: FolderId) -> Result<Option<ReplyDraft>> {
        sqlx::query(&format!("{DRAFT_SELECT} AND r.folder_id = $2"))
            .bind(self.admin_str())
            .bind(folder.to_string())
            .fetch_optional(self.store.read())
            .await?
            .as_ref()
            .map(draft_from_row)
            .transpose()
    }

    /// Registers the signed letter of a completed folder as the reply (see
    /// [`Tenant::register_reply`]) and marks the draft registered, in one transaction. The draft
    /// is claimed first, so a reply is registered at most once: a second attempt is a conflict.
    pub async fn register_signed_reply(
        &self,
        folder: FolderId,
        reply: NewCorrespondence,
        change: Change,
        reply_status: Status,
        actor: &Actor,
        local_offset: UtcOffset,
    ) -> Result<(Registered, Applied)> {
        let prepared = self.prepare_registration(reply, local_offset).await?;
        let admin = self.admin_str();
        let now = micros(OffsetDateTime::now_utc());
        let mut tx = self.store.begin().await?;
        let claimed = sqlx::query(
            "UPDATE reply_drafts SET registered_at = $1 WHERE administration_id = $2 \
             AND folder_id = $3 AND reply_id IS NULL AND registered_at IS NULL \
             AND EXISTS (SELECT 1 FROM folders f WHERE f.id = reply_drafts.folder_id \
             AND f.status = 'completed')",
        )
        .bind(now)
        .bind(&admin)
        .bind(folder.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Err(StoreError::Conflict(
                "this folder's reply is already registered, or the folder is not completed".into(),
            ));
        }
        let out = crate::processing::register_reply_in(
            &mut tx,
            &admin,
            &prepared,
            change,
            reply_status,
            actor,
        )
        .await?;
        sqlx::query(
            "UPDATE reply_drafts SET reply_id = $1 WHERE administration_id = $2 AND folder_id = $3",
        )
        .bind(out.0.id.to_string())
        .bind(&admin)
        .bind(folder.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(out)
    }
}
