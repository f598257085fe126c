//! Processing of correspondence: assignments down the hierarchy, status changes, notes, in-app
//! notifications, replies and the work queues.
//!
//! The rules (who may assign what to whom, which status comes next) live in the application
//! layer; it reads the record, decides, and hands a [`Change`] to [`Tenant::apply`], which writes
//! it in one transaction — status, assignments, note, notifications, e-mails, audit — and only if
//! the record has not changed since it was read (optimistic concurrency on `updated_at`). Two
//! heads acting on one letter at the same moment therefore never both win.

use crate::audit::{self, Actor};
use crate::outbox::{self, NewMessage};
use crate::registry::{corr_from_row, Correspondence, NewCorrespondence, Page, Registered};
use crate::{
    fmt_date, from_micros, micros, parse_code, parse_date, parse_id, Result, StoreError, Tenant,
};
use diwan_core::correspondence::{AssignmentState, Purpose, Status};
use diwan_core::{AssignmentId, CorrespondenceId, EntityId, NoteId, UserId};
use serde::Serialize;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::{Date, OffsetDateTime, UtcOffset};

/// One assignment of a correspondence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub id: AssignmentId,
    pub correspondence_id: CorrespondenceId,
    /// The assignment this one carries on (re-assignment down the tree).
    pub parent_id: Option<AssignmentId>,
    /// The entity that assigned (none when the registry office did).
    pub from_entity_id: Option<EntityId>,
    pub to_entity_id: EntityId,
    pub to_user_id: Option<UserId>,
    pub purpose: Purpose,
    pub instructions: Option<String>,
    #[serde(with = "diwan_core::iso_date::option")]
    pub due_date: Option<Date>,
    pub state: AssignmentState,
    /// The opinion given, the reason of a return, the outcome.
    pub outcome: Option<String>,
    pub assigned_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

/// An assignment to create.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub parent_id: Option<AssignmentId>,
    pub from_entity_id: Option<EntityId>,
    pub to_entity_id: EntityId,
    pub to_user_id: Option<UserId>,
    pub purpose: Purpose,
    pub instructions: Option<String>,
    pub due_date: Option<Date>,
}

/// A note on a correspondence.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: NoteId,
    pub author_id: UserId,
    pub entity_id: Option<EntityId>,
    /// Seen only by members of `entity_id`.
    pub restricted: bool,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A note to add.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub entity_id: Option<EntityId>,
    pub restricted: bool,
    pub body: String,
}

/// An in-app notification to a user.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: String,
    pub correspondence_id: Option<CorrespondenceId>,
    pub kind: String,
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub read: bool,
}

/// A notification to create.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user: UserId,
    pub kind: &'static str,
    pub message: String,
}

/// Everything one action changes on a correspondence, written atomically by [`Tenant::apply`].
#[derive(Debug, Clone)]
pub struct Change {
    pub correspondence: CorrespondenceId,
    /// The `updated_at` the decision was taken on; the change is refused if the record moved.
    pub seen: OffsetDateTime,
    /// The status the decision was taken on (what webhooks report as the previous one).
    pub previous_status: Status,
    pub status: Option<Status>,
    /// `Some(None)` clears the handling entity.
    pub handling_entity: Option<Option<EntityId>>,
    pub outcome: Option<String>,
    /// Existing assignments to end, with their new state and an optional outcome.
    pub end_assignments: Vec<(AssignmentId, AssignmentState, Option<String>)>,
    /// Existing assignments to open again (a return goes back to the head who delegated).
    pub reopen_assignments: Vec<AssignmentId>,
    pub new_assignments: Vec<NewAssignment>,
    pub note: Option<NewNote>,
    /// Folded words to add to the search text.
    pub search_words: Option<String>,
    pub notifications: Vec<NewNotification>,
    pub emails: Vec<NewMessage>,
    /// Audit action (`correspondence.assign`, …) and details.
    pub audit_action: &'static str,
    pub audit_details: Value,
}

impl Change {
    /// An empty change of `c`, recorded as `action`.
    pub fn of(c: &Correspondence, action: &'static str) -> Self {
        Self {
            correspondence: c.id,
            seen: c.updated_at,
            previous_status: c.status,
            status: None,
            handling_entity: None,
            outcome: None,
            end_assignments: vec![],
            reopen_assignments: vec![],
            new_assignments: vec![],
            note: None,
            search_words: None,
            notifications: vec![],
            emails: vec![],
            audit_action: action,
            audit_details: Value::Null,
        }
    }
}

/// Where a correspondence is in its processing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessingState {
    /// The entity handling it now (its open "action" assignment).
    pub handling_entity: Option<EntityId>,
    /// How it was settled (closing) or why it needs no follow-up.
    pub outcome: Option<String>,
    /// The correspondence it answers (replies).
    pub in_reply_to: Option<CorrespondenceId>,
}

/// What [`Tenant::apply`] created.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub assignments: Vec<AssignmentId>,
    pub note: Option<NoteId>,
}

/// A work queue of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Queue {
    /// Registered or returned mail of the user's registry offices, not yet assigned.
    ToAssign,
    /// Open "action" assignments to the user or their entities.
    ToHandle,
    /// Open "information" assignments (copies).
    ForInformation,
    /// Open "opinion" assignments.
    ForOpinion,
    /// Mail the user handles (same as "to handle") whose reply is in a signature circuit.
    WaitingForSignature,
    /// What the user handles or assigned whose deadline has passed.
    Late,
    /// What the user assigned and is still open (they follow it).
    Followed,
}

impl Queue {
    pub const ALL: &'static [Queue] = &[
        Queue::ToAssign,
        Queue::ToHandle,
        Queue::ForInformation,
        Queue::ForOpinion,
        Queue::WaitingForSignature,
        Queue::Late,
        Queue::Followed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Queue::ToAssign => "to_assign",
            Queue::ToHandle => "to_handle",
            Queue::ForInformation => "for_information",
            Queue::ForOpinion => "for_opinion",
            Queue::WaitingForSignature => "waiting_for_signature",
            Queue::Late => "late",
            Queue::Followed => "followed",
        }
    }

    pub fn parse(s: &str) -> Option<Queue> {
        Queue::ALL.iter().copied().find(|q| q.as_str() == s)
    }
}

/// Who asks for a queue: the user, the entities whose assignments are theirs (a head also gets
/// those of the entities below), and their registry offices' registers.
#[derive(Debug, Clone, Default)]
pub struct QueueOwner {
    pub user: Option<UserId>,
    pub entities: Vec<EntityId>,
    pub registers: Vec<diwan_core::RegisterId>,
}

/// An open assignment due soon or late, for the reminder job.
#[derive(Debug, Clone)]
pub struct DueAssignment {
    pub assignment: Assignment,
    pub number: String,
    pub subject: String,
}

const ASSIGNMENT_COLS: &str =
    "id, correspondence_id, parent_id, from_entity_id, to_entity_id, to_user_id, \
    purpose, instructions, due_date, state, outcome, assigned_by, created_at, closed_at";

fn opt_id<T: std::str::FromStr>(r: &AnyRow, col: &str, what: &'static str) -> Result<Option<T>> {
    r.try_get::<Option<String>, _>(col)?
        .map(|s| parse_id(&s, what))
        .transpose()
}

fn assignment_from_row(r: &AnyRow) -> Result<Assignment> {
    Ok(Assignment {
        id: parse_id(&r.try_get::<String, _>("id")?, "assignment")?,
        correspondence_id: parse_id(
            &r.try_get::<String, _>("correspondence_id")?,
            "correspondence",
        )?,
        parent_id: opt_id(r, "parent_id", "assignment")?,
        from_entity_id: opt_id(r, "from_entity_id", "entity")?,
        to_entity_id: parse_id(&r.try_get::<String, _>("to_entity_id")?, "entity")?,
        to_user_id: opt_id(r, "to_user_id", "user")?,
        purpose: parse_code(&r.try_get::<String, _>("purpose")?, "purpose")?,
        instructions: r.try_get("instructions")?,
        due_date: r
            .try_get::<Option<String>, _>("due_date")?
            .map(|d| parse_date(&d))
            .transpose()?,
        state: parse_code(&r.try_get::<String, _>("state")?, "assignment state")?,
        outcome: r.try_get("outcome")?,
        assigned_by: opt_id(r, "assigned_by", "user")?,
        created_at: from_micros(r.try_get("created_at")?),
        closed_at: r.try_get::<Option<i64>, _>("closed_at")?.map(from_micros),
    })
}

fn state_from_row(row: &AnyRow) -> Result<ProcessingState> {
    Ok(ProcessingState {
        handling_entity: opt_id(row, "handling_entity_id", "entity")?,
        outcome: row.try_get("outcome")?,
        in_reply_to: opt_id(row, "in_reply_to", "correspondence")?,
    })
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Tenant {
    /// The assignments of a correspondence, oldest first.
    pub async fn assignments(&self, id: CorrespondenceId) -> Result<Vec<Assignment>> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLS} FROM assignments WHERE administration_id = $1 AND correspondence_id = $2 \
             ORDER BY created_at, id"
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(assignment_from_row).collect()
    }

    /// The notes of a correspondence, oldest first (callers filter restricted ones).
    pub async fn notes(&self, id: CorrespondenceId) -> Result<Vec<Note>> {
        let rows = sqlx::query(
            "SELECT id, author_id, entity_id, restricted, body, created_at FROM notes \
             WHERE administration_id = $1 AND correspondence_id = $2 ORDER BY created_at, id",
        )
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Note {
                    id: parse_id(&r.try_get::<String, _>("id")?, "note")?,
                    author_id: parse_id(&r.try_get::<String, _>("author_id")?, "user")?,
                    entity_id: opt_id(r, "entity_id", "entity")?,
                    restricted: r.try_get::<i64, _>("restricted")? != 0,
                    body: r.try_get("body")?,
                    created_at: from_micros(r.try_get("created_at")?),
                })
            })
            .collect()
    }

    /// The replies registered for a correspondence, oldest first.
    pub async fn replies(&self, id: CorrespondenceId) -> Result<Vec<Correspondence>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM correspondences WHERE administration_id = $1 AND in_reply_to = $2 ORDER BY created_at",
            crate::registry::CORR_COLS
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(corr_from_row).collect()
    }

    /// Where a correspondence is in its processing: who handles it, how it was settled, what
    /// it answers.
    pub async fn processing_state(&self, id: CorrespondenceId) -> Result<ProcessingState> {
        let row = sqlx::query(
            "SELECT handling_entity_id, outcome, in_reply_to FROM correspondences \
             WHERE administration_id = $1 AND id = $2",
        )
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("correspondence"))?;
        state_from_row(&row)
    }

    /// The processing states of several correspondences in one query (an export's page), by
    /// id; ids of other administrations or unknown ones are simply absent.
    pub async fn processing_states(
        &self,
        ids: &[CorrespondenceId],
    ) -> Result<std::collections::HashMap<CorrespondenceId, ProcessingState>> {
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        // Bounded lists of bind parameters (SQLite allows 32766, PostgreSQL 65535).
        for chunk in ids.chunks(1000) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT id, handling_entity_id, outcome, in_reply_to FROM correspondences \
                 WHERE administration_id = $1 AND id IN ({})",
                marks.join(",")
            );
            let mut q = sqlx::query(&sql).bind(self.admin_str());
            for id in chunk {
                q = q.bind(id.to_string());
            }
            for row in q.fetch_all(self.store.read()).await? {
                let id = parse_id(&row.try_get::<String, _>("id")?, "correspondence")?;
                out.insert(id, state_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Writes a change decided by the application, atomically.
    pub async fn apply(&self, change: Change, actor: &Actor) -> Result<Applied> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let applied = apply_in(&mut tx, &admin, &change, actor).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// Registers a reply (an outgoing correspondence linked to the one it answers) and applies
    /// the change of the answered one, in one transaction: the reply's number, the status
    /// "answered" and the e-mails exist together or not at all.
    pub async fn register_reply(
        &self,
        reply: NewCorrespondence,
        change: Change,
        reply_status: Status,
        actor: &Actor,
        local_offset: UtcOffset,
    ) -> Result<(Registered, Applied)> {
        let prepared = self.prepare_registration(reply, local_offset).await?;
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let out =
            register_reply_in(&mut tx, &admin, &prepared, change, reply_status, actor).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Sets the status of a correspondence with no other effect (an outgoing letter sent).
    pub async fn set_sent(&self, c: &Correspondence, actor: &Actor) -> Result<()> {
        let mut change = Change::of(c, "correspondence.send");
        change.status = Some(Status::Sent);
        self.apply(change, actor).await.map(|_| ())
    }

    /// The size of each of `owner`'s queues, counted at once (one read connection each).
    pub async fn queue_counts(&self, owner: &QueueOwner, today: Date) -> Result<Vec<(Queue, i64)>> {
        let counts = futures_util::future::try_join_all(Queue::ALL.iter().map(|q| async move {
            Ok::<_, StoreError>((*q, self.queue_page(owner, *q, today, None).await?.total))
        }))
        .await?;
        Ok(counts)
    }

    /// A queue of `owner`: the correspondences in it (soonest deadline first) and the total.
    pub async fn queue(
        &self,
        owner: &QueueOwner,
        queue: Queue,
        today: Date,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Correspondence>> {
        let page = (limit.clamp(1, 500), offset.max(0));
        self.queue_page(owner, queue, today, Some(page)).await
    }

    /// A queue's total, and the page `(limit, offset)` of it when asked (counts alone read no
    /// record).
    async fn queue_page(
        &self,
        owner: &QueueOwner,
        queue: Queue,
        today: Date,
        page: Option<(i64, i64)>,
    ) -> Result<Page<Correspondence>> {
        let mut q = crate::registry::QueryBuilder::new(self.admin_str());
        let cols = crate::registry::CORR_COLS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let empty = Page {
            items: vec![],
            total: 0,
        };
        // Queues of assignments are counted and ordered from the assignments' covering indexes;
        // only the page shown reads the records.
        if let Some(open) = assignment_queue(&mut q, owner, queue, today) {
            let Some(open) = open else {
                return Ok(empty);
            };
            let count_sql = format!("SELECT COUNT(*) FROM ({open}) s");
            let Some((limit, offset)) = page else {
                let total: i64 = q
                    .bind(sqlx::query(&count_sql))
                    .fetch_one(self.store.read())
                    .await?
                    .try_get(0)?;
                return Ok(Page {
                    items: vec![],
                    total,
                });
            };
            // The page carries the total (a window over the grouped assignments), so the
            // assignments are read and grouped once; only a page past the end counts apart.
            let rows = q
                .bind(sqlx::query(&format!(
                    "SELECT {cols}, p.total FROM (SELECT correspondence_id, d, COUNT(*) OVER () AS total \
                     FROM ({open}) s ORDER BY d, correspondence_id LIMIT {limit} OFFSET {offset}) p \
                     JOIN correspondences c ON c.administration_id = $1 AND c.id = p.correspondence_id \
                     ORDER BY p.d, p.correspondence_id"
                )))
                .fetch_all(self.store.read())
                .await?;
            let total: i64 = match rows.first() {
                Some(r) => r.try_get("total")?,
                None => q
                    .bind(sqlx::query(&count_sql))
                    .fetch_one(self.store.read())
                    .await?
                    .try_get(0)?,
            };
            let items = rows.iter().map(corr_from_row).collect::<Result<Vec<_>>>()?;
            return Ok(Page { items, total });
        }
        // The followed queue starts from the follower's assignments when they made few (a head),
        // from the unfinished records otherwise (a registry clerk who assigns everything).
        let few_made = match (queue, owner.user) {
            (Queue::Followed, Some(u)) => {
                let made: i64 = sqlx::query(&format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM assignments WHERE administration_id = $1 \
                     AND assigned_by = $2 LIMIT {FOLLOWED_DRIVE}) s"
                ))
                .bind(self.admin_str())
                .bind(u.to_string())
                .fetch_one(self.store.read())
                .await?
                .try_get(0)?;
                made < FOLLOWED_DRIVE
            }
            _ => false,
        };
        let Some(cond) = record_queue(&mut q, owner, queue, few_made) else {
            return Ok(empty);
        };
        q.and(cond);
        let where_sql = q.where_sql();
        let total: i64 = q
            .bind(sqlx::query(&format!(
                "SELECT COUNT(*) FROM correspondences c WHERE {where_sql}"
            )))
            .fetch_one(self.store.read())
            .await?
            .try_get(0)?;
        let Some((limit, offset)) = page else {
            return Ok(Page {
                items: vec![],
                total,
            });
        };
        let rows = q
            .bind(sqlx::query(&format!(
                "SELECT {cols} FROM correspondences c WHERE {where_sql} \
                 ORDER BY COALESCE(c.due_date, '9999-12-31'), c.created_at DESC LIMIT {limit} OFFSET {offset}"
            )))
            .fetch_all(self.store.read())
            .await?;
        let items = rows.iter().map(corr_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total })
    }

    /// The unread notifications of a user (newest first) and the most recent read ones.
    pub async fn notifications(&self, user: UserId, limit: i64) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT id, correspondence_id, kind, message, created_at, read_at FROM notifications \
             WHERE administration_id = $1 AND user_id = $2 ORDER BY created_at DESC LIMIT $3",
        )
        .bind(self.admin_str())
        .bind(user.to_string())
        .bind(limit.clamp(1, 500))
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Notification {
                    id: r.try_get("id")?,
                    correspondence_id: opt_id(r, "correspondence_id", "correspondence")?,
                    kind: r.try_get("kind")?,
                    message: r.try_get("message")?,
                    created_at: from_micros(r.try_get("created_at")?),
                    read: r.try_get::<Option<i64>, _>("read_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Marks every notification of a user read.
    pub async fn mark_notifications_read(&self, user: UserId) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "UPDATE notifications SET read_at = $3 WHERE administration_id = $1 AND user_id = $2 AND read_at IS NULL",
        )
        .bind(self.admin_str())
        .bind(user.to_string())
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Open assignments with a deadline from `from` (when given) to `until` that have not had
    /// the reminder `kind` yet.
    pub async fn assignments_due(
        &self,
        from: Option<Date>,
        until: Date,
        kind: &str,
    ) -> Result<Vec<DueAssignment>> {
        let cols = ASSIGNMENT_COLS
            .split(", ")
            .map(|c| format!("a.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT {cols}, c.number AS c_number, c.subject AS c_subject FROM assignments a \
             JOIN correspondences c ON c.administration_id = a.administration_id AND c.id = a.correspondence_id \
             WHERE a.administration_id = $1 AND a.state = 'open' AND a.purpose <> 'information' \
             AND a.due_date IS NOT NULL AND a.due_date <= $2 AND a.due_date >= $4 \
             AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.assignment_id = a.id AND r.kind = $3) \
             ORDER BY a.due_date LIMIT 1000"
        ))
        .bind(self.admin_str())
        .bind(fmt_date(until))
        .bind(kind)
        .bind(from.map(fmt_date).unwrap_or_else(|| "0000-01-01".into()))
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DueAssignment {
                    assignment: assignment_from_row(r)?,
                    number: r.try_get("c_number")?,
                    subject: r.try_get("c_subject")?,
                })
            })
            .collect()
    }

    /// Records that reminder `kind` of an assignment went out, with its notifications and
    /// e-mails, once: `false` if it had already been recorded.
    pub async fn record_reminder(
        &self,
        assignment: &Assignment,
        kind: &str,
        notifications: &[NewNotification],
        emails: &[NewMessage],
    ) -> Result<bool> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(
            "INSERT INTO reminders (assignment_id, kind, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(assignment.id.to_string())
        .bind(kind)
        .bind(micros(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        for nt in notifications {
            notify(&mut tx, &admin, Some(assignment.correspondence_id), nt).await?;
        }
        for m in emails {
            outbox::enqueue(&mut tx, Some(&admin), m).await?;
        }
        audit::append(
            &mut tx,
            &admin,
            &Actor::system("reminders"),
            "assignment.reminder",
            "correspondence",
            &assignment.correspondence_id.to_string(),
            &serde_json::json!({ "assignment": assignment.id, "kind": kind }),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Registers a reply and applies the change of the answered correspondence within `tx` (see
/// [`Tenant::register_reply`]).
pub(crate) async fn register_reply_in(
    tx: &mut AnyConnection,
    admin: &str,
    prepared: &crate::registry::PreparedRegistration,
    change: Change,
    reply_status: Status,
    actor: &Actor,
) -> Result<(Registered, Applied)> {
    let registered = crate::registry::write_registration(&mut *tx, admin, prepared, actor).await?;
    sqlx::query(
        "UPDATE correspondences SET in_reply_to = $1, status = $4 WHERE administration_id = $2 AND id = $3",
    )
        .bind(change.correspondence.to_string())
        .bind(admin)
        .bind(registered.id.to_string())
        .bind(reply_status.as_str())
        .execute(&mut *tx)
        .await?;
    let mut change = change;
    if let Value::Object(m) = &mut change.audit_details {
        m.insert("reply".into(), Value::String(registered.number.clone()));
    }
    let emails: Vec<NewMessage> = change
        .emails
        .iter()
        .map(|m| m.with_number(&registered.number))
        .collect();
    change.emails = emails;
    if reply_status != Status::Registered {
        crate::webhooks::status_changed(&mut *tx, admin, registered.id, Some(Status::Registered))
            .await?;
    }
    let applied = apply_in(&mut *tx, admin, &change, actor).await?;
    crate::webhooks::reply_registered(
        &mut *tx,
        admin,
        change.correspondence,
        registered.id,
        &registered.number,
        reply_status,
    )
    .await?;
    Ok((registered, applied))
}

/// For the queues made of open assignments: `Some(None)` when the owner can have none, else
/// `Some(Some(sql))`, a query of the correspondences in the queue with their soonest deadline
/// (`correspondence_id`, `d`). `None` for the other queues.
fn assignment_queue(
    q: &mut crate::registry::QueryBuilder,
    owner: &QueueOwner,
    queue: Queue,
    today: Date,
) -> Option<Option<String>> {
    let purpose = match queue {
        Queue::ToHandle => "a.purpose = 'action'".to_string(),
        Queue::ForInformation => "a.purpose = 'information'".to_string(),
        Queue::ForOpinion => "a.purpose = 'opinion'".to_string(),
        Queue::WaitingForSignature => format!(
            "a.purpose = 'action' AND {}",
            crate::replies::IN_SIGNATURE_CIRCUIT
        ),
        Queue::Late => {
            let d = q.param(fmt_date(today));
            format!("a.purpose IN ('action', 'opinion') AND a.due_date < {d}")
        }
        Queue::ToAssign | Queue::Followed => return None,
    };
    // To one of the owner's entities (not confidential mail), or to them by name: one branch per
    // covering index, then one row per correspondence with its soonest deadline.
    let mut branches = Vec::new();
    let branch = |cond: String| {
        format!(
            "SELECT a.correspondence_id, COALESCE(a.due_date, '9999-12-31') AS d FROM assignments a \
             WHERE a.administration_id = $1 AND {cond} AND a.state = 'open' AND {purpose}"
        )
    };
    if !owner.entities.is_empty() {
        let ps: Vec<String> = owner
            .entities
            .iter()
            .map(|e| q.param(e.to_string()))
            .collect();
        branches.push(branch(format!(
            "a.to_entity_id IN ({}) AND a.confidential = 0",
            ps.join(",")
        )));
    }
    if let Some(u) = owner.user {
        branches.push(branch(format!("a.to_user_id = {}", q.param(u.to_string()))));
    }
    if branches.is_empty() {
        return Some(None);
    }
    Some(Some(format!(
        "SELECT correspondence_id, MIN(d) AS d FROM ({}) o GROUP BY correspondence_id",
        branches.join(" UNION ALL ")
    )))
}

/// The SQL condition over `correspondences c` of the queues that are about records: what the
/// registry office has to assign, what the owner assigned and follows.
/// Below this many assignments made, the followed queue is read from them.
const FOLLOWED_DRIVE: i64 = 20_000;

fn record_queue(
    q: &mut crate::registry::QueryBuilder,
    owner: &QueueOwner,
    queue: Queue,
    few_made: bool,
) -> Option<String> {
    match queue {
        Queue::ToAssign => {
            if owner.registers.is_empty() {
                return None;
            }
            let ps: Vec<String> = owner
                .registers
                .iter()
                .map(|r| q.param(r.to_string()))
                .collect();
            Some(format!(
                "c.register_id IN ({}) AND c.status IN ('registered', 'returned') AND c.direction <> 'outgoing'",
                ps.join(",")
            ))
        }
        Queue::Followed if few_made => {
            let u = q.param(owner.user?.to_string());
            Some(format!(
                "c.status IN ('registered', 'assigned', 'in_progress', 'returned', 'on_hold') AND c.id IN \
                 (SELECT a.correspondence_id FROM assignments a WHERE a.administration_id = $1 \
                 AND a.assigned_by = {u})"
            ))
        }
        // Unfinished mail is a small part of the records (the status index finds it); each is
        // checked against the assignments its follower made.
        Queue::Followed => {
            let u = q.param(owner.user?.to_string());
            Some(format!(
                "c.status IN ('registered', 'assigned', 'in_progress', 'returned', 'on_hold') AND EXISTS \
                 (SELECT 1 FROM assignments a WHERE a.administration_id = $1 AND a.assigned_by = {u} \
                 AND a.correspondence_id = c.id)"
            ))
        }
        _ => None,
    }
}

async fn notify(
    tx: &mut AnyConnection,
    admin: &str,
    corr: Option<CorrespondenceId>,
    n: &NewNotification,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO notifications (id, administration_id, user_id, correspondence_id, kind, message, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(new_id())
    .bind(admin)
    .bind(n.user.to_string())
    .bind(corr.map(|c| c.to_string()))
    .bind(n.kind)
    .bind(&n.message)
    .bind(micros(OffsetDateTime::now_utc()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn apply_in(
    tx: &mut AnyConnection,
    admin: &str,
    change: &Change,
    actor: &Actor,
) -> Result<Applied> {
    let now = micros(OffsetDateTime::now_utc());
    let id = change.correspondence.to_string();
    // The compare-and-set that makes the decision valid: the record is as it was read.
    let moved = sqlx::query(
        "UPDATE correspondences SET updated_at = $1 WHERE administration_id = $2 AND id = $3 AND updated_at = $4",
    )
    .bind(now.max(micros(change.seen) + 1))
    .bind(admin)
    .bind(&id)
    .bind(micros(change.seen))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(StoreError::Conflict(
            "the correspondence was changed by someone else meanwhile; reload it and try again"
                .into(),
        ));
    }
    if let Some(s) = change.status {
        let closed_at = matches!(s, Status::Closed | Status::ClosedWithoutFollowUp).then_some(now);
        sqlx::query(
            "UPDATE correspondences SET status = $1, closed_at = $2 WHERE administration_id = $3 AND id = $4",
        )
        .bind(s.as_str())
        .bind(closed_at)
        .bind(admin)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(h) = &change.handling_entity {
        sqlx::query(
            "UPDATE correspondences SET handling_entity_id = $1 WHERE administration_id = $2 AND id = $3",
        )
        .bind(h.map(|e| e.to_string()))
        .bind(admin)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(o) = &change.outcome {
        sqlx::query(
            "UPDATE correspondences SET outcome = $1 WHERE administration_id = $2 AND id = $3",
        )
        .bind(o)
        .bind(admin)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    for (aid, state, outcome) in &change.end_assignments {
        let n = sqlx::query(
            "UPDATE assignments SET state = $1, outcome = COALESCE($2, outcome), closed_at = $3 \
             WHERE administration_id = $4 AND id = $5 AND correspondence_id = $6 AND state = 'open'",
        )
        .bind(state.as_str())
        .bind(outcome.clone())
        .bind(now)
        .bind(admin)
        .bind(aid.to_string())
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "assignment {aid} is no longer open"
            )));
        }
    }
    for aid in &change.reopen_assignments {
        sqlx::query(
            "UPDATE assignments SET state = 'open', closed_at = NULL \
             WHERE administration_id = $1 AND id = $2 AND correspondence_id = $3",
        )
        .bind(admin)
        .bind(aid.to_string())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    let mut applied = Applied::default();
    for a in &change.new_assignments {
        let aid = AssignmentId::new();
        sqlx::query(&format!(
            "INSERT INTO assignments ({ASSIGNMENT_COLS}, administration_id, confidential) VALUES \
             ($1,$2,$3,$4,$5,$6,$7,$8,$9,'open',NULL,$10,$11,NULL,$12, \
             (SELECT CASE WHEN confidentiality = 'confidential' THEN 1 ELSE 0 END FROM correspondences \
              WHERE administration_id = $12 AND id = $2))"
        ))
        .bind(aid.to_string())
        .bind(&id)
        .bind(a.parent_id.map(|p| p.to_string()))
        .bind(a.from_entity_id.map(|e| e.to_string()))
        .bind(a.to_entity_id.to_string())
        .bind(a.to_user_id.map(|u| u.to_string()))
        .bind(a.purpose.as_str())
        .bind(a.instructions.clone())
        .bind(a.due_date.map(fmt_date))
        .bind(actor.user_id.map(|u| u.to_string()))
        .bind(now)
        .bind(admin)
        .execute(&mut *tx)
        .await?;
        applied.assignments.push(aid);
    }
    if let Some(n) = &change.note {
        let nid = NoteId::new();
        let author = actor
            .user_id
            .ok_or_else(|| StoreError::Invalid("a note needs an author".into()))?;
        sqlx::query(
            "INSERT INTO notes (id, administration_id, correspondence_id, author_id, entity_id, restricted, body, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(nid.to_string())
        .bind(admin)
        .bind(&id)
        .bind(author.to_string())
        .bind(n.entity_id.map(|e| e.to_string()))
        .bind(i64::from(n.restricted))
        .bind(&n.body)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        applied.note = Some(nid);
    }
    if let Some(w) = change.search_words.as_deref().filter(|w| !w.is_empty()) {
        sqlx::query(
            "UPDATE correspondences SET search_text = search_text || ' ' || $1 WHERE administration_id = $2 AND id = $3",
        )
        .bind(w)
        .bind(admin)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    for n in &change.notifications {
        notify(tx, admin, Some(change.correspondence), n).await?;
    }
    for m in &change.emails {
        outbox::enqueue(tx, Some(admin), m).await?;
    }
    // Webhooks hear of a new status, or of a new entity handling it, from the same transaction.
    if change.status.is_some_and(|s| s != change.previous_status)
        || change.handling_entity.is_some()
    {
        crate::webhooks::status_changed(
            tx,
            admin,
            change.correspondence,
            Some(change.previous_status),
        )
        .await?;
    }
    let mut details = change.audit_details.clone();
    if let Value::Object(m) = &mut details {
        if let Some(s) = change.status {
            m.insert("status".into(), Value::String(s.as_str().into()));
        }
        if !applied.assignments.is_empty() {
            m.insert(
                "assignments".into(),
                serde_json::to_value(&applied.assignments).unwrap_or(Value::Null),
            );
        }
    }
    audit::append(
        tx,
        admin,
        actor,
        change.audit_action,
        "correspondence",
        &id,
        &details,
    )
    .await?;
    Ok(applied)
}
