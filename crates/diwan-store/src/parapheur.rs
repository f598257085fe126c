//! The signature book (parapheur): folders, their documents and versions, circuits, actions,
//! circuit templates and delegations.
//!
//! Every change runs in one transaction that first takes the folder's row (an `UPDATE … RETURNING`
//! of its status, so that on PostgreSQL concurrent actions on one folder queue behind each other
//! and on SQLite the write transaction already serialises them) and checks the state there: a
//! step that is not current, an actor who already acted, a document that changed since it was
//! read for signing — each is refused with `Conflict` and nothing is written. A signed version
//! replaces the current one only if the current one is still the one that was signed
//! (compare-and-set on the hash), so two parallel signers never overwrite each other: the second
//! gets a conflict and signs again on top of the first signature.

use crate::audit::{self, Actor};
use crate::blob::StagedBlob;
use crate::{
    fmt_date, from_micros, micros, parse_code, parse_date, parse_id, Result, StoreError, Tenant,
};
use diwan_core::media::MediaType;
use diwan_core::parapheur::{
    ActionKind, Assignee, FolderId, FolderStatus, Quorum, SignatureLevel, StepKind, StepSpec,
    StepState,
};
use diwan_core::{EntityId, UserId};
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use time::{Date, OffsetDateTime};

/// A folder's header.
#[derive(Debug, Clone, Serialize)]
pub struct Folder {
    pub id: FolderId,
    pub title: String,
    pub document_type: String,
    pub author_id: UserId,
    pub entity_id: EntityId,
    pub status: FolderStatus,
    pub level: SignatureLevel,
    pub round: i64,
    /// Position (1-based) of the current step, while in circuit.
    pub current_step: Option<i64>,
    pub evidence_sha256: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
}

/// Main document (signed) or annex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentRole {
    Main,
    Annex,
}

impl DocumentRole {
    fn as_str(self) -> &'static str {
        match self {
            DocumentRole::Main => "main",
            DocumentRole::Annex => "annex",
        }
    }
}

/// A document of a folder.
#[derive(Debug, Clone, Serialize)]
pub struct FolderDocument {
    pub id: String,
    pub role: DocumentRole,
    pub position: i64,
    pub file_name: String,
    pub media_type: String,
    pub original_sha256: String,
    pub current_sha256: String,
    pub version: i64,
    pub size: i64,
}

/// One actor of a step.
#[derive(Debug, Clone, Serialize)]
pub struct StepActor {
    pub user_id: UserId,
    pub display_name: String,
    /// `pending`, `done`, `transferred` or `skipped`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub acted_at: Option<OffsetDateTime>,
}

/// A step of a folder's circuit.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub position: i64,
    pub kind: StepKind,
    pub assignee: Assignee,
    pub quorum: Quorum,
    /// Where the visible signature goes (see `StepSpec::tag`).
    pub tag: Option<String>,
    pub required: Option<i64>,
    pub state: StepState,
    pub actors: Vec<StepActor>,
}

/// One entry of a folder's history.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub seq: i64,
    pub round: i64,
    pub step_position: Option<i64>,
    pub user_id: UserId,
    pub user_name: String,
    pub on_behalf_of: Option<UserId>,
    pub on_behalf_of_name: Option<String>,
    pub action: ActionKind,
    pub comment: Option<String>,
    pub target_user: Option<UserId>,
    pub target_name: Option<String>,
    pub document_id: Option<String>,
    pub hash_before: Option<String>,
    pub hash_after: Option<String>,
    /// The certificate subject that signed (signature and seal actions).
    pub signer: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A folder with everything in it.
#[derive(Debug, Clone, Serialize)]
pub struct FolderDetail {
    #[serde(flatten)]
    pub folder: Folder,
    pub author_name: String,
    pub documents: Vec<FolderDocument>,
    pub steps: Vec<Step>,
    pub actions: Vec<Action>,
}

impl FolderDetail {
    /// The current step, while in circuit.
    pub fn current(&self) -> Option<&Step> {
        let p = self.folder.current_step?;
        self.steps.iter().find(|s| s.position == p)
    }
}

/// A document to put in a new folder (already checked by the caller).
#[derive(Debug)]
pub struct NewFolderDocument {
    pub role: DocumentRole,
    pub file_name: String,
    pub media_type: MediaType,
    pub blob: StagedBlob,
}

/// A folder to create.
#[derive(Debug)]
pub struct NewFolder {
    pub title: String,
    pub document_type: String,
    pub author: UserId,
    pub entity: EntityId,
    pub level: SignatureLevel,
    pub documents: Vec<NewFolderDocument>,
    pub circuit: Option<Vec<StepSpec>>,
}

/// A change to the documents of a folder its author is editing (draft, rejected or recalled).
#[derive(Debug)]
pub enum DocumentChange {
    /// New documents or annexes, after the existing ones (already checked by the caller).
    Add(Vec<NewFolderDocument>),
    /// Removes a document (with its versions) from the folder.
    Remove { document_id: String },
    /// A new file for a document: it becomes the document's next version, and its original
    /// (what a new round of signatures starts from). The role and the position stay.
    Replace {
        document_id: String,
        file: NewFolderDocument,
    },
}

/// Most documents (to sign and annexes) in one folder.
pub const MAX_FOLDER_DOCUMENTS: i64 = 100;

/// A new version of a main document, signed by the caller.
#[derive(Debug)]
pub struct SignedVersion {
    pub document_id: String,
    /// The version that was signed.
    pub hash_before: String,
    pub blob: StagedBlob,
}

/// An action on the current step of a folder.
#[derive(Debug)]
pub struct Act {
    pub user: UserId,
    /// When acting by delegation: the delegator, whose place on the step is used.
    pub on_behalf_of: Option<UserId>,
    pub action: ActionKind,
    pub comment: Option<String>,
    pub target_user: Option<UserId>,
    pub signed: Vec<SignedVersion>,
    pub signer: Option<String>,
}

/// What an action changed.
#[derive(Debug, Clone, Serialize)]
pub struct Acted {
    pub status: FolderStatus,
    pub current_step: Option<i64>,
    /// The folder completed with this action (its evidence is due).
    pub completed: bool,
}

/// Which folders to list for a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderQueue {
    /// Awaiting the user's action, directly or by delegation.
    ToAct,
    /// Written by the user.
    Mine,
    /// Where the user approved, signed, sealed or rejected.
    Done,
    /// Every folder the user may see (for administrators and auditors: all of the
    /// administration's).
    Visible { everything: bool },
}

/// A circuit template.
#[derive(Debug, Clone, Serialize)]
pub struct CircuitTemplate {
    pub id: String,
    pub document_type: String,
    pub name: String,
    pub steps: Vec<StepSpec>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A delegation.
#[derive(Debug, Clone, Serialize)]
pub struct Delegation {
    pub id: String,
    pub delegator_id: UserId,
    pub delegator_name: String,
    pub delegate_id: UserId,
    pub delegate_name: String,
    #[serde(with = "diwan_core::iso_date")]
    pub starts_on: Date,
    #[serde(with = "diwan_core::iso_date")]
    pub ends_on: Date,
    /// `None`: every document type.
    pub document_type: Option<String>,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A delegation to create.
#[derive(Debug, Clone)]
pub struct NewDelegation {
    pub delegator: UserId,
    pub delegate: UserId,
    pub starts_on: Date,
    pub ends_on: Date,
    pub document_type: Option<String>,
}

const FOLDER_COLS: &str = "id, title, document_type, author_id, entity_id, status, level, round, \
     current_step, evidence_sha256, created_at, updated_at, completed_at";

fn folder_from_row(r: &sqlx::any::AnyRow) -> Result<Folder> {
    Ok(Folder {
        id: parse_id(&r.try_get::<String, _>("id")?, "folder")?,
        title: r.try_get("title")?,
        document_type: r.try_get("document_type")?,
        author_id: parse_id(&r.try_get::<String, _>("author_id")?, "user")?,
        entity_id: parse_id(&r.try_get::<String, _>("entity_id")?, "entity")?,
        status: parse_code(&r.try_get::<String, _>("status")?, "folder status")?,
        level: parse_code(&r.try_get::<String, _>("level")?, "signature level")?,
        round: r.try_get("round")?,
        current_step: r.try_get("current_step")?,
        evidence_sha256: r.try_get("evidence_sha256")?,
        created_at: from_micros(r.try_get("created_at")?),
        updated_at: from_micros(r.try_get("updated_at")?),
        completed_at: r
            .try_get::<Option<i64>, _>("completed_at")?
            .map(from_micros),
    })
}

fn opt_user(r: &sqlx::any::AnyRow, col: &str) -> Result<Option<UserId>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| parse_id(&s, "user"))
        .transpose()
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored circuit: {e}"))
}

/// SQL condition: the user `$2` may see folder `f` (author, actor of a step, named in the
/// history, or delegate of an actor on `$3`, today's date).
const VISIBLE: &str = "(f.author_id = $2 \
    OR EXISTS (SELECT 1 FROM folder_step_actors sa WHERE sa.folder_id = f.id AND sa.user_id = $2) \
    OR EXISTS (SELECT 1 FROM folder_actions fa WHERE fa.folder_id = f.id AND (fa.user_id = $2 OR fa.target_user = $2 OR fa.on_behalf_of = $2)) \
    OR EXISTS (SELECT 1 FROM folder_step_actors sa JOIN delegations d ON d.administration_id = sa.administration_id \
       AND d.delegator_id = sa.user_id WHERE sa.folder_id = f.id AND d.delegate_id = $2 AND d.revoked_at IS NULL \
       AND d.starts_on <= $3 AND d.ends_on >= $3 AND (d.document_type IS NULL OR d.document_type = f.document_type)))";

/// SQL condition: folder `f` awaits an action of `$2` (directly or by delegation on `$3`).
const TO_ACT: &str = "(f.status = 'in_circuit' AND EXISTS (SELECT 1 FROM folder_steps s \
    JOIN folder_step_actors sa ON sa.step_id = s.id AND sa.state = 'pending' \
    WHERE s.folder_id = f.id AND s.position = f.current_step AND (sa.user_id = $2 OR sa.user_id IN \
      (SELECT d.delegator_id FROM delegations d WHERE d.administration_id = f.administration_id AND d.delegate_id = $2 \
       AND d.revoked_at IS NULL AND d.starts_on <= $3 AND d.ends_on >= $3 \
       AND (d.document_type IS NULL OR d.document_type = f.document_type)))))";

async fn next_seq(tx: &mut AnyConnection, folder: &str) -> Result<i64> {
    let r =
        sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM folder_actions WHERE folder_id = $1")
            .bind(folder)
            .fetch_one(&mut *tx)
            .await?;
    Ok(r.try_get::<i64, _>(0)?)
}

struct ActionRow<'a> {
    round: i64,
    step_position: Option<i64>,
    user: UserId,
    on_behalf_of: Option<UserId>,
    action: ActionKind,
    comment: Option<&'a str>,
    target_user: Option<UserId>,
    document_id: Option<&'a str>,
    hash_before: Option<&'a str>,
    hash_after: Option<&'a str>,
    signer: Option<&'a str>,
}

impl<'a> ActionRow<'a> {
    /// An entry of `user` outside any step, with no comment, target or document.
    fn plain(round: i64, user: UserId, action: ActionKind) -> Self {
        ActionRow {
            round,
            step_position: None,
            user,
            on_behalf_of: None,
            action,
            comment: None,
            target_user: None,
            document_id: None,
            hash_before: None,
            hash_after: None,
            signer: None,
        }
    }
}

async fn insert_action(
    tx: &mut AnyConnection,
    admin: &str,
    folder: &str,
    a: ActionRow<'_>,
) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let seq = next_seq(tx, folder).await?;
    sqlx::query(
        "INSERT INTO folder_actions (id, administration_id, folder_id, seq, round, step_position, user_id, \
         on_behalf_of, action, comment, target_user, document_id, hash_before, hash_after, signer, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
    )
    .bind(&id)
    .bind(admin)
    .bind(folder)
    .bind(seq)
    .bind(a.round)
    .bind(a.step_position)
    .bind(a.user.to_string())
    .bind(a.on_behalf_of.map(|u| u.to_string()))
    .bind(a.action.as_str())
    .bind(a.comment)
    .bind(a.target_user.map(|u| u.to_string()))
    .bind(a.document_id)
    .bind(a.hash_before)
    .bind(a.hash_after)
    .bind(a.signer)
    .bind(micros(OffsetDateTime::now_utc()))
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Notifies users in-app and by e-mail, in the caller's transaction.
async fn notify(
    tx: &mut AnyConnection,
    admin: &str,
    users: &[UserId],
    kind: &str,
    message: &str,
) -> Result<()> {
    let now = micros(OffsetDateTime::now_utc());
    let mut seen = std::collections::BTreeSet::new();
    for u in users {
        if !seen.insert(*u) {
            continue;
        }
        sqlx::query(
            "INSERT INTO notifications (id, administration_id, user_id, correspondence_id, kind, message, created_at) \
             VALUES ($1,$2,$3,NULL,$4,$5,$6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(admin)
        .bind(u.to_string())
        .bind(kind)
        .bind(message)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let email: Option<String> =
            sqlx::query("SELECT email FROM users WHERE administration_id = $1 AND id = $2")
                .bind(admin)
                .bind(u.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<Option<String>, _>(0))
                .transpose()?
                .flatten();
        if let Some(email) = email {
            crate::outbox::enqueue(
                tx,
                Some(admin),
                &crate::outbox::NewMessage {
                    recipient: email,
                    subject: format!("Parapheur — {message}"),
                    body: format!(
                        "{message}\n\nConnectez-vous à Diwan pour consulter le parapheur.\n\
                         يرجى الدخول إلى ديوان للاطلاع على حامل التوقيع.\n"
                    ),
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// Takes the folder's row for the transaction and returns it.
async fn lock_folder(tx: &mut AnyConnection, admin: &str, id: FolderId) -> Result<Folder> {
    let r = sqlx::query(&format!(
        "UPDATE folders SET updated_at = $3 WHERE administration_id = $1 AND id = $2 RETURNING {FOLDER_COLS}"
    ))
    .bind(admin)
    .bind(id.to_string())
    .bind(micros(OffsetDateTime::now_utc()))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound("folder"))?;
    folder_from_row(&r)
}

/// How many documents to sign a folder holds, in the caller's transaction.
async fn main_documents(tx: &mut AnyConnection, folder: &str) -> Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) FROM folder_documents WHERE folder_id = $1 AND role = 'main' AND removed_at IS NULL")
            .bind(folder)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
    )
}

/// Takes the row of a folder its author is editing (draft, rejected or recalled): refused for
/// anybody else, and once the folder is sent or completed (`what` changes: circuit, documents).
async fn lock_editable(
    tx: &mut AnyConnection,
    admin: &str,
    id: FolderId,
    author: UserId,
    what: &str,
) -> Result<Folder> {
    let f = lock_folder(tx, admin, id).await?;
    if f.author_id != author {
        return Err(StoreError::Forbidden(format!(
            "only the folder's author may change its {what}"
        )));
    }
    if !f.status.is_editable() {
        return Err(StoreError::Conflict(format!(
            "the {what} cannot change once the folder is {}",
            f.status
        )));
    }
    Ok(f)
}

async fn set_status(
    tx: &mut AnyConnection,
    f: &Folder,
    to: FolderStatus,
    current: Option<i64>,
) -> Result<()> {
    if !f.status.can_become(to) {
        return Err(StoreError::Conflict(format!(
            "the folder is {}; it cannot become {}",
            f.status, to
        )));
    }
    let now = micros(OffsetDateTime::now_utc());
    sqlx::query(
        "UPDATE folders SET status = $2, current_step = $3, completed_at = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(f.id.to_string())
    .bind(to.as_str())
    .bind(current)
    .bind((to == FolderStatus::Completed).then_some(now))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_steps(
    tx: &mut AnyConnection,
    admin: &str,
    folder: &str,
    steps: &[StepSpec],
) -> Result<()> {
    sqlx::query("DELETE FROM folder_step_actors WHERE folder_id = $1")
        .bind(folder)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM folder_steps WHERE folder_id = $1")
        .bind(folder)
        .execute(&mut *tx)
        .await?;
    for (i, s) in steps.iter().enumerate() {
        sqlx::query(
            "INSERT INTO folder_steps (id, administration_id, folder_id, position, kind, assignee, quorum, tag, state) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,'waiting')",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(admin)
        .bind(folder)
        .bind(i as i64 + 1)
        .bind(s.kind.as_str())
        .bind(serde_json::to_string(&s.assignee).map_err(corrupt)?)
        .bind(serde_json::to_string(&s.quorum).map_err(corrupt)?)
        .bind(s.tag.clone())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The pending actors of the step at `position`.
async fn pending_actors(
    tx: &mut AnyConnection,
    folder: &str,
    position: i64,
) -> Result<Vec<UserId>> {
    let rows = sqlx::query(
        "SELECT sa.user_id FROM folder_step_actors sa JOIN folder_steps s ON s.id = sa.step_id \
         WHERE s.folder_id = $1 AND s.position = $2 AND sa.state = 'pending'",
    )
    .bind(folder)
    .bind(position)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| parse_id(&r.try_get::<String, _>(0)?, "user"))
        .collect()
}

/// Makes the step at `position` current.
async fn open_step(tx: &mut AnyConnection, folder: &str, position: i64) -> Result<()> {
    sqlx::query("UPDATE folder_steps SET state = 'current', started_at = $3 WHERE folder_id = $1 AND position = $2")
        .bind(folder)
        .bind(position)
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A document of a folder, in the caller's transaction: (role, file name, current hash,
/// version), or "document not found".
async fn document_row(
    tx: &mut AnyConnection,
    folder: &str,
    document_id: &str,
) -> Result<(String, String, String, i64)> {
    let r = sqlx::query(
        "SELECT role, file_name, current_sha256, version FROM folder_documents \
         WHERE folder_id = $1 AND id = $2 AND removed_at IS NULL",
    )
    .bind(folder)
    .bind(document_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(StoreError::NotFound("document"))?;
    Ok((
        r.try_get("role")?,
        r.try_get("file_name")?,
        r.try_get("current_sha256")?,
        r.try_get("version")?,
    ))
}

/// Inserts a document (version 1) at `position`; its id and hash.
async fn insert_document(
    tx: &mut AnyConnection,
    admin: &str,
    folder: &str,
    d: &NewFolderDocument,
    position: i64,
    now: i64,
) -> Result<(String, String)> {
    let did = uuid::Uuid::now_v7().to_string();
    let hash = d.blob.hash().to_hex();
    sqlx::query(
        "INSERT INTO folder_documents (id, administration_id, folder_id, role, position, file_name, media_type, \
         original_sha256, current_sha256, version, size, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8,1,$9,$10)",
    )
    .bind(&did)
    .bind(admin)
    .bind(folder)
    .bind(d.role.as_str())
    .bind(position)
    .bind(&d.file_name)
    .bind(d.media_type.as_str())
    .bind(&hash)
    .bind(d.blob.size() as i64)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO folder_versions (administration_id, document_id, version, sha256, size, created_at) \
         VALUES ($1,$2,1,$3,$4,$5)",
    )
    .bind(admin)
    .bind(&did)
    .bind(&hash)
    .bind(d.blob.size() as i64)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok((did, hash))
}

impl Tenant {
    /// Creates a folder in draft with its documents (promoted to the blob store first) and,
    /// optionally, its circuit.
    pub async fn create_folder(&self, mut new: NewFolder, actor: &Actor) -> Result<Folder> {
        for d in &mut new.documents {
            self.store.blobs().promote(&mut d.blob).await?;
        }
        let id = FolderId::new();
        let admin = self.admin_str();
        let fid = id.to_string();
        let now = micros(OffsetDateTime::now_utc());
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO folders (id, administration_id, title, document_type, author_id, entity_id, status, level, \
             round, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,'draft',$7,0,$8,$8)",
        )
        .bind(&fid)
        .bind(&admin)
        .bind(&new.title)
        .bind(&new.document_type)
        .bind(new.author.to_string())
        .bind(new.entity.to_string())
        .bind(new.level.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => {
                StoreError::NotFound("author or entity")
            }
            _ => StoreError::Db(e),
        })?;
        let mut docs = Vec::new();
        for (i, d) in new.documents.iter().enumerate() {
            let (_, hash) = insert_document(&mut tx, &admin, &fid, d, i as i64 + 1, now).await?;
            docs.push(json!({ "name": d.file_name, "role": d.role, "sha256": hash }));
        }
        if let Some(steps) = &new.circuit {
            insert_steps(&mut tx, &admin, &fid, steps).await?;
        }
        insert_action(
            &mut tx,
            &admin,
            &fid,
            ActionRow::plain(0, new.author, ActionKind::Create),
        )
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "folder.create",
            "folder",
            &fid,
            &json!({ "title": new.title, "document_type": new.document_type, "documents": docs }),
        )
        .await?;
        let r = sqlx::query(&format!("SELECT {FOLDER_COLS} FROM folders WHERE id = $1"))
            .bind(&fid)
            .fetch_one(&mut *tx)
            .await?;
        let f = folder_from_row(&r)?;
        tx.commit().await?;
        Ok(f)
    }

    pub async fn folder(&self, id: FolderId) -> Result<Folder> {
        let r = sqlx::query(&format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE administration_id = $1 AND id = $2"
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("folder"))?;
        folder_from_row(&r)
    }

    /// A folder with its documents, steps (with actors) and history.
    pub async fn folder_detail(&self, id: FolderId) -> Result<FolderDetail> {
        let folder = self.folder(id).await?;
        let fid = id.to_string();
        let db = self.store.read();
        let author_name: String = sqlx::query("SELECT display_name FROM users WHERE id = $1")
            .bind(folder.author_id.to_string())
            .fetch_one(db)
            .await?
            .try_get(0)?;
        let documents = sqlx::query(
            "SELECT id, role, position, file_name, media_type, original_sha256, current_sha256, version, size \
             FROM folder_documents WHERE folder_id = $1 AND removed_at IS NULL ORDER BY position",
        )
        .bind(&fid)
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(FolderDocument {
                id: r.try_get("id")?,
                role: if r.try_get::<String, _>("role")? == "main" {
                    DocumentRole::Main
                } else {
                    DocumentRole::Annex
                },
                position: r.try_get("position")?,
                file_name: r.try_get("file_name")?,
                media_type: r.try_get("media_type")?,
                original_sha256: r.try_get("original_sha256")?,
                current_sha256: r.try_get("current_sha256")?,
                version: r.try_get("version")?,
                size: r.try_get("size")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        let actor_rows = sqlx::query(
            "SELECT sa.step_id, sa.user_id, u.display_name, sa.state, sa.acted_at FROM folder_step_actors sa \
             JOIN users u ON u.id = sa.user_id WHERE sa.folder_id = $1 ORDER BY u.display_name",
        )
        .bind(&fid)
        .fetch_all(db)
        .await?;
        let mut steps = Vec::new();
        for r in sqlx::query(
            "SELECT id, position, kind, assignee, quorum, tag, required, state FROM folder_steps \
             WHERE folder_id = $1 ORDER BY position",
        )
        .bind(&fid)
        .fetch_all(db)
        .await?
        {
            let sid: String = r.try_get("id")?;
            let mut actors = Vec::new();
            for a in actor_rows.iter() {
                if a.try_get::<String, _>("step_id")? == sid {
                    actors.push(StepActor {
                        user_id: parse_id(&a.try_get::<String, _>("user_id")?, "user")?,
                        display_name: a.try_get("display_name")?,
                        state: a.try_get("state")?,
                        acted_at: a.try_get::<Option<i64>, _>("acted_at")?.map(from_micros),
                    });
                }
            }
            steps.push(Step {
                position: r.try_get("position")?,
                kind: parse_code(&r.try_get::<String, _>("kind")?, "step kind")?,
                assignee: serde_json::from_str(&r.try_get::<String, _>("assignee")?)
                    .map_err(corrupt)?,
                quorum: serde_json::from_str(&r.try_get::<String, _>("quorum")?)
                    .map_err(corrupt)?,
                tag: r.try_get("tag")?,
                required: r.try_get("required")?,
                state: parse_code(&r.try_get::<String, _>("state")?, "step state")?,
                actors,
                id: sid,
            });
        }
        let actions = sqlx::query(
            "SELECT a.*, u.display_name AS user_name, b.display_name AS behalf_name, t.display_name AS target_name \
             FROM folder_actions a JOIN users u ON u.id = a.user_id \
             LEFT JOIN users b ON b.id = a.on_behalf_of LEFT JOIN users t ON t.id = a.target_user \
             WHERE a.folder_id = $1 ORDER BY a.seq",
        )
        .bind(&fid)
        .fetch_all(db)
        .await?
        .iter()
        .map(|r| {
            Ok(Action {
                seq: r.try_get("seq")?,
                round: r.try_get("round")?,
                step_position: r.try_get("step_position")?,
                user_id: parse_id(&r.try_get::<String, _>("user_id")?, "user")?,
                user_name: r.try_get("user_name")?,
                on_behalf_of: opt_user(r, "on_behalf_of")?,
                on_behalf_of_name: r.try_get("behalf_name")?,
                action: parse_code(&r.try_get::<String, _>("action")?, "action")?,
                comment: r.try_get("comment")?,
                target_user: opt_user(r, "target_user")?,
                target_name: r.try_get("target_name")?,
                document_id: r.try_get("document_id")?,
                hash_before: r.try_get("hash_before")?,
                hash_after: r.try_get("hash_after")?,
                signer: r.try_get("signer")?,
                at: from_micros(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>>>()?;
        Ok(FolderDetail {
            folder,
            author_name,
            documents,
            steps,
            actions,
        })
    }

    /// Replaces the circuit of a folder its author is still editing.
    pub async fn set_circuit(
        &self,
        id: FolderId,
        author: UserId,
        steps: &[StepSpec],
        actor: &Actor,
    ) -> Result<()> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let f = lock_editable(&mut tx, &admin, id, author, "circuit").await?;
        insert_steps(&mut tx, &admin, &f.id.to_string(), steps).await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "folder.circuit",
            "folder",
            &f.id.to_string(),
            &json!({ "steps": steps }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the documents of a folder its author is editing (draft, or back after a rejection
    /// or a recall), in one transaction on the locked folder row; the change goes to the history
    /// (one entry per document, with its hashes) and the audit log. Returns the ids of the
    /// documents added or replaced.
    pub async fn change_folder_documents(
        &self,
        id: FolderId,
        author: UserId,
        mut change: DocumentChange,
        actor: &Actor,
    ) -> Result<Vec<String>> {
        match &mut change {
            DocumentChange::Add(docs) => {
                for d in docs {
                    self.store.blobs().promote(&mut d.blob).await?;
                }
            }
            DocumentChange::Replace { file, .. } => {
                self.store.blobs().promote(&mut file.blob).await?
            }
            DocumentChange::Remove { .. } => {}
        }
        let admin = self.admin_str();
        let fid = id.to_string();
        let now = micros(OffsetDateTime::now_utc());
        let mut tx = self.store.begin().await?;
        let f = lock_editable(&mut tx, &admin, id, author, "documents").await?;
        let row = |action: ActionKind| ActionRow::plain(f.round, author, action);
        let mut touched = Vec::new();
        let (event, details) = match &change {
            DocumentChange::Add(docs) => {
                if docs.is_empty() {
                    return Err(StoreError::Invalid("no document to add".into()));
                }
                let r = sqlx::query(
                    "SELECT COUNT(*), COALESCE(MAX(position), 0) FROM folder_documents WHERE folder_id = $1 AND removed_at IS NULL",
                )
                .bind(&fid)
                .fetch_one(&mut *tx)
                .await?;
                let (count, last): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
                if count + docs.len() as i64 > MAX_FOLDER_DOCUMENTS {
                    return Err(StoreError::Invalid(format!(
                        "a folder holds at most {MAX_FOLDER_DOCUMENTS} documents"
                    )));
                }
                let mut added = Vec::new();
                for (i, d) in docs.iter().enumerate() {
                    let (did, hash) =
                        insert_document(&mut tx, &admin, &fid, d, last + i as i64 + 1, now).await?;
                    insert_action(
                        &mut tx,
                        &admin,
                        &fid,
                        ActionRow {
                            comment: Some(&d.file_name),
                            document_id: Some(&did),
                            hash_after: Some(&hash),
                            ..row(ActionKind::AddDocument)
                        },
                    )
                    .await?;
                    added.push(
                        json!({ "id": did, "name": d.file_name, "role": d.role, "sha256": hash }),
                    );
                    touched.push(did);
                }
                ("folder.documents.add", json!({ "documents": added }))
            }
            DocumentChange::Remove { document_id } => {
                let (role, name, hash, _) = document_row(&mut tx, &fid, document_id).await?;
                // Kept, marked removed: versions signed in earlier rounds (after a rejection or
                // a recall) stay with the folder's history, and their blobs stay referenced.
                sqlx::query(
                    "UPDATE folder_documents SET removed_at = $3 WHERE folder_id = $1 AND id = $2",
                )
                .bind(&fid)
                .bind(document_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                insert_action(
                    &mut tx,
                    &admin,
                    &fid,
                    ActionRow {
                        comment: Some(&name),
                        document_id: Some(document_id),
                        hash_before: Some(&hash),
                        ..row(ActionKind::RemoveDocument)
                    },
                )
                .await?;
                (
                    "folder.documents.remove",
                    json!({ "id": document_id, "name": name, "role": role, "sha256": hash }),
                )
            }
            DocumentChange::Replace { document_id, file } => {
                let (role, old_name, before, version) =
                    document_row(&mut tx, &fid, document_id).await?;
                if role != file.role.as_str() {
                    return Err(StoreError::Invalid(format!(
                        "the document is a {role} document: its replacement keeps its role"
                    )));
                }
                let hash = file.blob.hash().to_hex();
                let size = file.blob.size() as i64;
                let version = version + 1;
                sqlx::query(
                    "UPDATE folder_documents SET file_name = $3, media_type = $4, original_sha256 = $5, \
                     current_sha256 = $5, version = $6, size = $7 WHERE folder_id = $1 AND id = $2",
                )
                .bind(&fid)
                .bind(document_id)
                .bind(&file.file_name)
                .bind(file.media_type.as_str())
                .bind(&hash)
                .bind(version)
                .bind(size)
                .execute(&mut *tx)
                .await?;
                let aid = insert_action(
                    &mut tx,
                    &admin,
                    &fid,
                    ActionRow {
                        comment: Some(&file.file_name),
                        document_id: Some(document_id),
                        hash_before: Some(&before),
                        hash_after: Some(&hash),
                        ..row(ActionKind::ReplaceDocument)
                    },
                )
                .await?;
                sqlx::query(
                    "INSERT INTO folder_versions (administration_id, document_id, version, sha256, size, action_id, created_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7)",
                )
                .bind(&admin)
                .bind(document_id)
                .bind(version)
                .bind(&hash)
                .bind(size)
                .bind(&aid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                touched.push(document_id.clone());
                (
                    "folder.documents.replace",
                    json!({ "id": document_id, "role": role, "version": version,
                            "before": { "name": old_name, "sha256": before },
                            "after": { "name": file.file_name, "sha256": hash } }),
                )
            }
        };
        audit::append(&mut tx, &admin, actor, event, "folder", &fid, &details).await?;
        tx.commit().await?;
        Ok(touched)
    }

    /// Sends a folder into its circuit: `resolved[i]` are the users who may act at step `i + 1`
    /// and `required[i]` how many of them must. The documents start again from their original
    /// versions.
    pub async fn start_folder(
        &self,
        id: FolderId,
        author: UserId,
        resolved: &[(Vec<UserId>, usize)],
        actor: &Actor,
    ) -> Result<Folder> {
        let admin = self.admin_str();
        let fid = id.to_string();
        let mut tx = self.store.begin().await?;
        let f = lock_folder(&mut tx, &admin, id).await?;
        if f.author_id != author {
            return Err(StoreError::Forbidden(
                "only the folder's author may send it".into(),
            ));
        }
        if !f.status.can_become(FolderStatus::InCircuit) {
            return Err(StoreError::Conflict(format!(
                "the folder is {}; it cannot be sent",
                f.status
            )));
        }
        let steps = sqlx::query(
            "SELECT id, position FROM folder_steps WHERE folder_id = $1 ORDER BY position",
        )
        .bind(&fid)
        .fetch_all(&mut *tx)
        .await?;
        if steps.is_empty() {
            return Err(StoreError::Invalid("the folder has no circuit".into()));
        }
        if main_documents(&mut tx, &fid).await? == 0 {
            return Err(StoreError::Invalid(
                "the folder has no document to sign: add a PDF before sending it".into(),
            ));
        }
        if steps.len() != resolved.len() {
            return Err(StoreError::Conflict(
                "the circuit changed meanwhile; try again".into(),
            ));
        }
        sqlx::query("DELETE FROM folder_step_actors WHERE folder_id = $1")
            .bind(&fid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE folder_steps SET state = 'waiting', started_at = NULL, done_at = NULL, required = NULL WHERE folder_id = $1")
            .bind(&fid)
            .execute(&mut *tx)
            .await?;
        for (r, (users, required)) in steps.iter().zip(resolved) {
            let sid: String = r.try_get("id")?;
            sqlx::query("UPDATE folder_steps SET required = $2 WHERE id = $1")
                .bind(&sid)
                .bind(*required as i64)
                .execute(&mut *tx)
                .await?;
            for u in users {
                sqlx::query(
                    "INSERT INTO folder_step_actors (administration_id, folder_id, step_id, user_id, state) \
                     VALUES ($1,$2,$3,$4,'pending')",
                )
                .bind(&admin)
                .bind(&fid)
                .bind(&sid)
                .bind(u.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(d)
                        if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation =>
                    {
                        StoreError::NotFound("user")
                    }
                    _ => StoreError::unique(e, "this actor on the step"),
                })?;
            }
        }
        // Documents start again from what the author uploaded.
        let docs = sqlx::query("SELECT id, original_sha256, current_sha256, version, size FROM folder_documents WHERE folder_id = $1 AND removed_at IS NULL")
            .bind(&fid)
            .fetch_all(&mut *tx)
            .await?;
        for d in docs {
            let orig: String = d.try_get("original_sha256")?;
            if orig != d.try_get::<String, _>("current_sha256")? {
                let did: String = d.try_get("id")?;
                let v: i64 = d.try_get::<i64, _>("version")? + 1;
                // The original is version 1, or the author's latest replacement.
                let size: i64 = sqlx::query(
                    "SELECT size FROM folder_versions WHERE document_id = $1 AND sha256 = $2 \
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(&did)
                .bind(&orig)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                sqlx::query("UPDATE folder_documents SET current_sha256 = $2, version = $3, size = $4 WHERE id = $1")
                    .bind(&did)
                    .bind(&orig)
                    .bind(v)
                    .bind(size)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO folder_versions (administration_id, document_id, version, sha256, size, created_at) VALUES ($1,$2,$3,$4,$5,$6)")
                    .bind(&admin)
                    .bind(&did)
                    .bind(v)
                    .bind(&orig)
                    .bind(size)
                    .bind(micros(OffsetDateTime::now_utc()))
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let round = f.round + 1;
        sqlx::query("UPDATE folders SET round = $2, evidence_sha256 = NULL WHERE id = $1")
            .bind(&fid)
            .bind(round)
            .execute(&mut *tx)
            .await?;
        set_status(&mut tx, &f, FolderStatus::InCircuit, Some(1)).await?;
        open_step(&mut tx, &fid, 1).await?;
        insert_action(
            &mut tx,
            &admin,
            &fid,
            ActionRow::plain(round, author, ActionKind::Start),
        )
        .await?;
        let first = pending_actors(&mut tx, &fid, 1).await?;
        notify(
            &mut tx,
            &admin,
            &first,
            "folder.to_act",
            &format!("Dossier à traiter : {}", f.title),
        )
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "folder.start",
            "folder",
            &fid,
            &json!({ "round": round }),
        )
        .await?;
        let r = sqlx::query(&format!("SELECT {FOLDER_COLS} FROM folders WHERE id = $1"))
            .bind(&fid)
            .fetch_one(&mut *tx)
            .await?;
        let out = folder_from_row(&r)?;
        tx.commit().await?;
        Ok(out)
    }

    /// Acts on the current step of a folder: approve, sign, seal (with the new versions of the
    /// main documents), reject (with a reason), transfer to another user, or ask an opinion.
    pub async fn act(&self, id: FolderId, mut act: Act, actor: &Actor) -> Result<Acted> {
        for v in &mut act.signed {
            self.store.blobs().promote(&mut v.blob).await?;
        }
        let admin = self.admin_str();
        let fid = id.to_string();
        let mut tx = self.store.begin().await?;
        let f = lock_folder(&mut tx, &admin, id).await?;
        if f.status != FolderStatus::InCircuit {
            return Err(StoreError::Conflict(format!(
                "the folder is {}: nobody can act on it",
                f.status
            )));
        }
        let position = f.current_step.ok_or_else(|| {
            StoreError::Corrupt("folder in circuit without a current step".into())
        })?;
        let step = sqlx::query(
            "SELECT id, kind, required FROM folder_steps WHERE folder_id = $1 AND position = $2",
        )
        .bind(&fid)
        .bind(position)
        .fetch_one(&mut *tx)
        .await?;
        let sid: String = step.try_get("id")?;
        let kind: StepKind = parse_code(&step.try_get::<String, _>("kind")?, "step kind")?;
        let required = step.try_get::<Option<i64>, _>("required")?.unwrap_or(1);
        let seat = act.on_behalf_of.unwrap_or(act.user);
        let state: Option<String> =
            sqlx::query("SELECT state FROM folder_step_actors WHERE step_id = $1 AND user_id = $2")
                .bind(&sid)
                .bind(seat.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
        match state.as_deref() {
            Some("pending") => {}
            Some("done") => {
                return Err(StoreError::Conflict(
                    "this step was already acted on by this user".into(),
                ))
            }
            _ => {
                return Err(StoreError::Conflict(
                    "it is not this user's turn on this folder".into(),
                ))
            }
        }
        let comment = act.comment.as_deref();
        let mut outcome = Acted {
            status: FolderStatus::InCircuit,
            current_step: Some(position),
            completed: false,
        };
        let now = micros(OffsetDateTime::now_utc());
        let row = |action: ActionKind| ActionRow {
            round: f.round,
            step_position: Some(position),
            user: act.user,
            on_behalf_of: act.on_behalf_of,
            action,
            comment,
            target_user: act.target_user,
            document_id: None,
            hash_before: None,
            hash_after: None,
            signer: act.signer.as_deref(),
        };
        let mut audit_details =
            json!({ "step": position, "action": act.action, "on_behalf_of": act.on_behalf_of });
        match act.action {
            a if a.completes_part() => {
                if a != kind.completing_action() {
                    return Err(StoreError::Conflict(format!(
                        "the current step is a {kind} step: {} it, not {a}",
                        kind.completing_action()
                    )));
                }
                if kind.signs() && act.signed.len() as i64 != main_documents(&mut tx, &fid).await? {
                    return Err(StoreError::Invalid(
                        "every main document must be signed".into(),
                    ));
                }
                if !kind.signs() && !act.signed.is_empty() {
                    return Err(StoreError::Invalid("a visa signs no document".into()));
                }
                let mut signed = Vec::new();
                for v in &act.signed {
                    let new_hash = v.blob.hash().to_hex();
                    let r = sqlx::query(
                        "UPDATE folder_documents SET current_sha256 = $3, version = version + 1, size = $4 \
                         WHERE folder_id = $1 AND id = $2 AND role = 'main' AND removed_at IS NULL AND current_sha256 = $5 RETURNING version",
                    )
                    .bind(&fid)
                    .bind(&v.document_id)
                    .bind(&new_hash)
                    .bind(v.blob.size() as i64)
                    .bind(&v.hash_before)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Conflict(
                            "the document changed since it was read for signing".into(),
                        )
                    })?;
                    let version: i64 = r.try_get(0)?;
                    let aid = insert_action(
                        &mut tx,
                        &admin,
                        &fid,
                        ActionRow {
                            document_id: Some(&v.document_id),
                            hash_before: Some(&v.hash_before),
                            hash_after: Some(&new_hash),
                            ..row(a)
                        },
                    )
                    .await?;
                    sqlx::query(
                        "INSERT INTO folder_versions (administration_id, document_id, version, sha256, size, action_id, created_at) \
                         VALUES ($1,$2,$3,$4,$5,$6,$7)",
                    )
                    .bind(&admin)
                    .bind(&v.document_id)
                    .bind(version)
                    .bind(&new_hash)
                    .bind(v.blob.size() as i64)
                    .bind(&aid)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    signed.push(json!({ "document": v.document_id, "before": v.hash_before, "after": new_hash }));
                }
                if signed.is_empty() {
                    insert_action(&mut tx, &admin, &fid, row(a)).await?;
                }
                audit_details["documents"] = json!(signed);
                sqlx::query("UPDATE folder_step_actors SET state = 'done', acted_at = $3 WHERE step_id = $1 AND user_id = $2 AND state = 'pending'")
                    .bind(&sid)
                    .bind(seat.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let done: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM folder_step_actors WHERE step_id = $1 AND state = 'done'",
                )
                .bind(&sid)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                if Quorum::met(required as usize, done as usize) {
                    sqlx::query("UPDATE folder_step_actors SET state = 'skipped' WHERE step_id = $1 AND state = 'pending'")
                        .bind(&sid)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE folder_steps SET state = 'done', done_at = $2 WHERE id = $1",
                    )
                    .bind(&sid)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let next = position + 1;
                    let has_next = sqlx::query(
                        "SELECT 1 FROM folder_steps WHERE folder_id = $1 AND position = $2",
                    )
                    .bind(&fid)
                    .bind(next)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                    if has_next {
                        sqlx::query("UPDATE folders SET current_step = $2 WHERE id = $1")
                            .bind(&fid)
                            .bind(next)
                            .execute(&mut *tx)
                            .await?;
                        open_step(&mut tx, &fid, next).await?;
                        outcome.current_step = Some(next);
                        let users = pending_actors(&mut tx, &fid, next).await?;
                        notify(
                            &mut tx,
                            &admin,
                            &users,
                            "folder.to_act",
                            &format!("Dossier à traiter : {}", f.title),
                        )
                        .await?;
                    } else {
                        set_status(&mut tx, &f, FolderStatus::Completed, None).await?;
                        insert_action(
                            &mut tx,
                            &admin,
                            &fid,
                            ActionRow {
                                step_position: None,
                                on_behalf_of: None,
                                comment: None,
                                target_user: None,
                                signer: None,
                                ..row(ActionKind::Complete)
                            },
                        )
                        .await?;
                        outcome.status = FolderStatus::Completed;
                        outcome.current_step = None;
                        outcome.completed = true;
                        notify(
                            &mut tx,
                            &admin,
                            &[f.author_id],
                            "folder.completed",
                            &format!("Dossier signé : {}", f.title),
                        )
                        .await?;
                    }
                }
            }
            ActionKind::Reject => {
                let reason = comment
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| StoreError::Invalid("a rejection needs a reason".into()))?;
                let _ = reason;
                insert_action(&mut tx, &admin, &fid, row(ActionKind::Reject)).await?;
                sqlx::query("UPDATE folder_step_actors SET state = 'skipped' WHERE step_id = $1 AND state = 'pending'")
                    .bind(&sid)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE folder_steps SET state = 'rejected', done_at = $2 WHERE id = $1",
                )
                .bind(&sid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                set_status(&mut tx, &f, FolderStatus::Rejected, None).await?;
                outcome.status = FolderStatus::Rejected;
                outcome.current_step = None;
                // The author and everyone who already acted in this round.
                let mut told = vec![f.author_id];
                for r in sqlx::query("SELECT DISTINCT user_id FROM folder_actions WHERE folder_id = $1 AND round = $2 AND action IN ('approve','sign','seal')")
                    .bind(&fid)
                    .bind(f.round)
                    .fetch_all(&mut *tx)
                    .await?
                {
                    told.push(parse_id(&r.try_get::<String, _>(0)?, "user")?);
                }
                told.retain(|u| *u != act.user);
                notify(
                    &mut tx,
                    &admin,
                    &told,
                    "folder.rejected",
                    &format!("Dossier rejeté : {} — {}", f.title, comment.unwrap_or("")),
                )
                .await?;
                audit_details["reason"] = json!(comment);
            }
            ActionKind::Transfer => {
                let to = act.target_user.ok_or_else(|| {
                    StoreError::Invalid("a transfer needs the user to transfer to".into())
                })?;
                if to == act.user || to == seat {
                    return Err(StoreError::Invalid(
                        "a step cannot be transferred to oneself".into(),
                    ));
                }
                let exists = sqlx::query(
                    "SELECT 1 FROM folder_step_actors WHERE step_id = $1 AND user_id = $2",
                )
                .bind(&sid)
                .bind(to.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
                if exists {
                    return Err(StoreError::Conflict(
                        "this user is already an actor of the step".into(),
                    ));
                }
                sqlx::query("UPDATE folder_step_actors SET state = 'transferred', acted_at = $3 WHERE step_id = $1 AND user_id = $2")
                    .bind(&sid)
                    .bind(seat.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO folder_step_actors (administration_id, folder_id, step_id, user_id, state) VALUES ($1,$2,$3,$4,'pending')")
                    .bind(&admin)
                    .bind(&fid)
                    .bind(&sid)
                    .bind(to.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match &e {
                        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::NotFound("user"),
                        _ => StoreError::Db(e),
                    })?;
                insert_action(&mut tx, &admin, &fid, row(ActionKind::Transfer)).await?;
                notify(
                    &mut tx,
                    &admin,
                    &[to],
                    "folder.to_act",
                    &format!("Dossier transféré à traiter : {}", f.title),
                )
                .await?;
                audit_details["to"] = json!(to);
            }
            ActionKind::Opinion => {
                let to = act.target_user.ok_or_else(|| {
                    StoreError::Invalid("an opinion request needs the user to ask".into())
                })?;
                let known =
                    sqlx::query("SELECT 1 FROM users WHERE administration_id = $1 AND id = $2")
                        .bind(&admin)
                        .bind(to.to_string())
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                if !known {
                    return Err(StoreError::NotFound("user"));
                }
                insert_action(&mut tx, &admin, &fid, row(ActionKind::Opinion)).await?;
                notify(
                    &mut tx,
                    &admin,
                    &[to],
                    "folder.opinion",
                    &format!("Avis demandé : {}", f.title),
                )
                .await?;
                audit_details["to"] = json!(to);
            }
            other => {
                return Err(StoreError::Invalid(format!(
                    "{other} is not an action on a step"
                )));
            }
        }
        audit::append(
            &mut tx,
            &admin,
            actor,
            &format!("folder.{}", act.action),
            "folder",
            &fid,
            &audit_details,
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Adds a note to a folder's history (any state).
    pub async fn annotate_folder(
        &self,
        id: FolderId,
        user: UserId,
        text: &str,
        actor: &Actor,
    ) -> Result<()> {
        let admin = self.admin_str();
        let fid = id.to_string();
        let mut tx = self.store.begin().await?;
        let f = lock_folder(&mut tx, &admin, id).await?;
        insert_action(
            &mut tx,
            &admin,
            &fid,
            ActionRow {
                round: f.round,
                step_position: f.current_step,
                user,
                on_behalf_of: None,
                action: ActionKind::Annotate,
                comment: Some(text),
                target_user: None,
                document_id: None,
                hash_before: None,
                hash_after: None,
                signer: None,
            },
        )
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "folder.annotate",
            "folder",
            &fid,
            &json!({ "text": text }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a folder back to its author, when nobody acted on it in this round.
    pub async fn recall_folder(&self, id: FolderId, author: UserId, actor: &Actor) -> Result<()> {
        let admin = self.admin_str();
        let fid = id.to_string();
        let mut tx = self.store.begin().await?;
        let f = lock_folder(&mut tx, &admin, id).await?;
        if f.author_id != author {
            return Err(StoreError::Forbidden(
                "only the folder's author may recall it".into(),
            ));
        }
        if f.status != FolderStatus::InCircuit {
            return Err(StoreError::Conflict(format!(
                "the folder is {}: it cannot be recalled",
                f.status
            )));
        }
        let acted = sqlx::query(
            "SELECT 1 FROM folder_actions WHERE folder_id = $1 AND round = $2 AND action IN ('approve','sign','seal','reject','transfer') LIMIT 1",
        )
        .bind(&fid)
        .bind(f.round)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if acted {
            return Err(StoreError::Conflict(
                "somebody already acted on the folder: it can no longer be recalled".into(),
            ));
        }
        let waiting = pending_actors(&mut tx, &fid, f.current_step.unwrap_or(1)).await?;
        sqlx::query("UPDATE folder_step_actors SET state = 'skipped' WHERE folder_id = $1 AND state = 'pending'")
            .bind(&fid)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE folder_steps SET state = 'waiting', started_at = NULL WHERE folder_id = $1",
        )
        .bind(&fid)
        .execute(&mut *tx)
        .await?;
        set_status(&mut tx, &f, FolderStatus::Recalled, None).await?;
        insert_action(
            &mut tx,
            &admin,
            &fid,
            ActionRow::plain(f.round, author, ActionKind::Recall),
        )
        .await?;
        notify(
            &mut tx,
            &admin,
            &waiting,
            "folder.recalled",
            &format!("Dossier retiré par son auteur : {}", f.title),
        )
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "folder.recall",
            "folder",
            &fid,
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the sealed evidence of a completed folder (once).
    pub async fn set_folder_evidence(
        &self,
        id: FolderId,
        blob: &mut StagedBlob,
        actor: &Actor,
    ) -> Result<String> {
        self.store.blobs().promote(blob).await?;
        let admin = self.admin_str();
        let hash = blob.hash().to_hex();
        let mut tx = self.store.begin().await?;
        let f = lock_folder(&mut tx, &admin, id).await?;
        if f.status != FolderStatus::Completed {
            return Err(StoreError::Conflict("the folder is not completed".into()));
        }
        if let Some(h) = f.evidence_sha256 {
            return Ok(h);
        }
        sqlx::query("UPDATE folders SET evidence_sha256 = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "folder.evidence",
            "folder",
            &id.to_string(),
            &json!({ "sha256": hash }),
        )
        .await?;
        tx.commit().await?;
        Ok(hash)
    }

    /// Whether `user` may see a folder (author, actor, named in its history, or delegate of one
    /// of its actors on `today`).
    pub async fn folder_visible_to(&self, id: FolderId, user: UserId, today: Date) -> Result<bool> {
        Ok(sqlx::query(&format!(
            "SELECT 1 FROM folders f WHERE f.administration_id = $1 AND f.id = $4 AND {VISIBLE}"
        ))
        .bind(self.admin_str())
        .bind(user.to_string())
        .bind(fmt_date(today))
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .is_some())
    }

    /// Folders of a queue, most recently changed first.
    pub async fn folders(
        &self,
        user: UserId,
        queue: FolderQueue,
        today: Date,
        limit: i64,
    ) -> Result<Vec<Folder>> {
        let cond = match queue {
            FolderQueue::ToAct => TO_ACT.to_string(),
            FolderQueue::Mine => "f.author_id = $2 AND $3 <> ''".to_string(),
            FolderQueue::Done => "EXISTS (SELECT 1 FROM folder_actions fa WHERE fa.folder_id = f.id AND fa.user_id = $2 \
                AND fa.action IN ('approve','sign','seal','reject')) AND $3 <> ''".to_string(),
            FolderQueue::Visible { everything: true } => "(f.author_id = $2 OR f.author_id <> $2) AND $3 <> ''".to_string(),
            FolderQueue::Visible { everything: false } => VISIBLE.to_string(),
        };
        let rows = sqlx::query(&format!(
            "SELECT {} FROM folders f WHERE f.administration_id = $1 AND {cond} ORDER BY f.updated_at DESC LIMIT $4",
            FOLDER_COLS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(self.admin_str())
        .bind(user.to_string())
        .bind(fmt_date(today))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(folder_from_row).collect()
    }

    /// The delegators `delegate` may act for on `day` for folders of `document_type`.
    pub async fn delegators_of(
        &self,
        delegate: UserId,
        day: Date,
        document_type: &str,
    ) -> Result<Vec<UserId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT delegator_id FROM delegations WHERE administration_id = $1 AND delegate_id = $2 \
             AND revoked_at IS NULL AND starts_on <= $3 AND ends_on >= $3 AND (document_type IS NULL OR document_type = $4)",
        )
        .bind(self.admin_str())
        .bind(delegate.to_string())
        .bind(fmt_date(day))
        .bind(document_type)
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| parse_id(&r.try_get::<String, _>(0)?, "user"))
            .collect()
    }

    /// Creates a delegation.
    pub async fn create_delegation(&self, d: &NewDelegation, actor: &Actor) -> Result<Delegation> {
        if d.delegator == d.delegate {
            return Err(StoreError::Invalid("one cannot delegate to oneself".into()));
        }
        if d.ends_on < d.starts_on {
            return Err(StoreError::Invalid(
                "the delegation ends before it starts".into(),
            ));
        }
        let admin = self.admin_str();
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO delegations (id, administration_id, delegator_id, delegate_id, starts_on, ends_on, document_type, created_at, created_by) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(&id)
        .bind(&admin)
        .bind(d.delegator.to_string())
        .bind(d.delegate.to_string())
        .bind(fmt_date(d.starts_on))
        .bind(fmt_date(d.ends_on))
        .bind(d.document_type.clone())
        .bind(micros(OffsetDateTime::now_utc()))
        .bind(actor.user_id.map(|u| u.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(x) if x.kind() == sqlx::error::ErrorKind::ForeignKeyViolation => StoreError::NotFound("user"),
            _ => StoreError::Db(e),
        })?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "delegation.create",
            "delegation",
            &id,
            &json!({
                "delegator": d.delegator, "delegate": d.delegate, "from": fmt_date(d.starts_on),
                "to": fmt_date(d.ends_on), "document_type": d.document_type,
            }),
        )
        .await?;
        tx.commit().await?;
        self.delegation(&id).await
    }

    const DELEGATION_SQL: &'static str = "SELECT d.*, a.display_name AS delegator_name, b.display_name AS delegate_name \
        FROM delegations d JOIN users a ON a.id = d.delegator_id JOIN users b ON b.id = d.delegate_id \
        WHERE d.administration_id = $1";

    fn delegation_from_row(r: &sqlx::any::AnyRow) -> Result<Delegation> {
        Ok(Delegation {
            id: r.try_get("id")?,
            delegator_id: parse_id(&r.try_get::<String, _>("delegator_id")?, "user")?,
            delegator_name: r.try_get("delegator_name")?,
            delegate_id: parse_id(&r.try_get::<String, _>("delegate_id")?, "user")?,
            delegate_name: r.try_get("delegate_name")?,
            starts_on: parse_date(&r.try_get::<String, _>("starts_on")?)?,
            ends_on: parse_date(&r.try_get::<String, _>("ends_on")?)?,
            document_type: r.try_get("document_type")?,
            revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
            created_at: from_micros(r.try_get("created_at")?),
        })
    }

    pub async fn delegation(&self, id: &str) -> Result<Delegation> {
        let r = sqlx::query(&format!("{} AND d.id = $2", Self::DELEGATION_SQL))
            .bind(self.admin_str())
            .bind(id)
            .fetch_optional(self.store.read())
            .await?
            .ok_or(StoreError::NotFound("delegation"))?;
        Self::delegation_from_row(&r)
    }

    /// Delegations given or received by `user` (every delegation of the administration when
    /// `user` is `None`), newest first.
    pub async fn delegations(&self, user: Option<UserId>) -> Result<Vec<Delegation>> {
        let rows = match user {
            Some(u) => {
                sqlx::query(&format!(
                    "{} AND (d.delegator_id = $2 OR d.delegate_id = $2) ORDER BY d.created_at DESC",
                    Self::DELEGATION_SQL
                ))
                .bind(self.admin_str())
                .bind(u.to_string())
                .fetch_all(self.store.read())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "{} ORDER BY d.created_at DESC",
                    Self::DELEGATION_SQL
                ))
                .bind(self.admin_str())
                .fetch_all(self.store.read())
                .await?
            }
        };
        rows.iter().map(Self::delegation_from_row).collect()
    }

    /// Ends a delegation.
    pub async fn revoke_delegation(&self, id: &str, actor: &Actor) -> Result<()> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let n = sqlx::query("UPDATE delegations SET revoked_at = $3 WHERE administration_id = $1 AND id = $2 AND revoked_at IS NULL")
            .bind(&admin)
            .bind(id)
            .bind(micros(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("delegation"));
        }
        audit::append(
            &mut tx,
            &admin,
            actor,
            "delegation.revoke",
            "delegation",
            id,
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates or replaces the circuit template of a document type.
    pub async fn put_circuit_template(
        &self,
        document_type: &str,
        name: &str,
        steps: &[StepSpec],
        actor: &Actor,
    ) -> Result<CircuitTemplate> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let steps_json = serde_json::to_string(steps).map_err(corrupt)?;
        sqlx::query(
            "INSERT INTO circuit_templates (id, administration_id, document_type, name, steps, created_at, created_by) \
             VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (administration_id, document_type) \
             DO UPDATE SET name = excluded.name, steps = excluded.steps",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&admin)
        .bind(document_type)
        .bind(name)
        .bind(&steps_json)
        .bind(micros(OffsetDateTime::now_utc()))
        .bind(actor.user_id.map(|u| u.to_string()))
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "circuit_template.put",
            "circuit_template",
            document_type,
            &json!({ "name": name, "steps": steps }),
        )
        .await?;
        tx.commit().await?;
        self.circuit_template(document_type)
            .await?
            .ok_or(StoreError::NotFound("circuit template"))
    }

    fn template_from_row(r: &sqlx::any::AnyRow) -> Result<CircuitTemplate> {
        Ok(CircuitTemplate {
            id: r.try_get("id")?,
            document_type: r.try_get("document_type")?,
            name: r.try_get("name")?,
            steps: serde_json::from_str(&r.try_get::<String, _>("steps")?).map_err(corrupt)?,
            created_at: from_micros(r.try_get("created_at")?),
        })
    }

    pub async fn circuit_template(&self, document_type: &str) -> Result<Option<CircuitTemplate>> {
        let r = sqlx::query("SELECT id, document_type, name, steps, created_at FROM circuit_templates WHERE administration_id = $1 AND document_type = $2")
            .bind(self.admin_str())
            .bind(document_type)
            .fetch_optional(self.store.read())
            .await?;
        r.as_ref().map(Self::template_from_row).transpose()
    }

    pub async fn circuit_templates(&self) -> Result<Vec<CircuitTemplate>> {
        let rows = sqlx::query("SELECT id, document_type, name, steps, created_at FROM circuit_templates WHERE administration_id = $1 ORDER BY document_type")
            .bind(self.admin_str())
            .fetch_all(self.store.read())
            .await?;
        rows.iter().map(Self::template_from_row).collect()
    }

    pub async fn delete_circuit_template(&self, document_type: &str, actor: &Actor) -> Result<()> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "DELETE FROM circuit_templates WHERE administration_id = $1 AND document_type = $2",
        )
        .bind(&admin)
        .bind(document_type)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("circuit template"));
        }
        audit::append(
            &mut tx,
            &admin,
            actor,
            "circuit_template.delete",
            "circuit_template",
            document_type,
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
