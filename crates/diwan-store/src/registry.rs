//! Registration of correspondence: numbers, records, documents, contacts.

use crate::audit::{self, Actor};
use crate::blob::StagedBlob;
use crate::exec::{args, Exec};
use crate::{
    fmt_date, from_micros, micros, parse_code, parse_date, parse_id, Result, StoreError, Tenant,
};
use diwan_core::calendar::{DayUnit, Due, LegalBasis};
use diwan_core::correspondence::{
    Channel, Confidentiality, ContactKind, DocumentRole, Priority, Status,
};
use diwan_core::media::MediaType;
use diwan_core::numbering::{Direction, NumberFormat, NumberParts};
use diwan_core::text::{clean_optional, clean_text, FileName};
use diwan_core::{ContactId, CorrespondenceId, DocumentId, EntityId, RegisterId, UserId};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::{Date, OffsetDateTime, UtcOffset};

/// The other party of a correspondence: its sender (incoming) or recipient (outgoing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    pub kind: ContactKind,
    pub name: String,
    /// National ID (person), ICE (company) or administration code. Sensitive: never logged.
    pub id_number: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// A document to attach, already staged in the blob store.
#[derive(Debug)]
pub struct NewDocument {
    pub role: DocumentRole,
    pub file_name: FileName,
    pub media_type: MediaType,
    pub blob: StagedBlob,
}

/// Everything needed to register a correspondence.
#[derive(Debug)]
pub struct NewCorrespondence {
    pub register: RegisterId,
    pub direction: Direction,
    pub subject: String,
    pub summary: Option<String>,
    pub party: Party,
    /// An existing entry of the contacts directory; otherwise the party is added to it.
    pub contact: Option<ContactId>,
    pub letter_date: Option<Date>,
    pub received_at: OffsetDateTime,
    pub external_ref: Option<String>,
    pub channel: Channel,
    pub confidentiality: Confidentiality,
    pub priority: Priority,
    pub due: Option<Due>,
    pub documents: Vec<NewDocument>,
    /// Set for filings received on the public portal.
    pub portal: Option<PortalFiling>,
}

/// What a portal filing adds to a registration: the filer's means of follow-up and the first
/// notification, written in the same transaction.
#[derive(Debug, Clone)]
pub struct PortalFiling {
    /// SHA-256 (hex) of the tracking code given once to the filer.
    pub tracking_hash: String,
    /// Random token naming the receipt in download URLs.
    pub receipt_token: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// The e-mail announcing the registration (queued in the outbox).
    pub notification: Option<crate::outbox::NewMessage>,
}

/// The outcome of a registration.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    pub id: CorrespondenceId,
    pub number: String,
    pub year: i32,
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Index of the record's leaf in the transparency log.
    pub leaf_index: i64,
    /// The leaf's entry (canonical JSON), as logged: what the receipt of a filing quotes.
    #[serde(skip)]
    pub log_entry: String,
    /// The salt of the party's hash in that entry.
    #[serde(skip)]
    pub log_salt: String,
}

/// A stored document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub id: DocumentId,
    pub role: DocumentRole,
    pub position: i64,
    pub file_name: String,
    pub media_type: MediaType,
    pub size: i64,
    pub sha256: String,
}

/// A registered correspondence.
#[derive(Debug, Clone, Serialize)]
pub struct Correspondence {
    pub id: CorrespondenceId,
    pub register_id: RegisterId,
    pub direction: Direction,
    pub year: i32,
    pub seq: i64,
    pub number: String,
    pub subject: String,
    pub summary: Option<String>,
    pub contact_id: Option<ContactId>,
    pub party_kind: ContactKind,
    pub party_name: String,
    #[serde(with = "diwan_core::iso_date::option")]
    pub letter_date: Option<Date>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub external_ref: Option<String>,
    pub channel: Channel,
    pub confidentiality: Confidentiality,
    pub priority: Priority,
    pub status: Status,
    #[serde(with = "diwan_core::iso_date::option")]
    pub due_date: Option<Date>,
    pub deadline_basis: Option<LegalBasis>,
    /// The type of request the deadline was computed for.
    pub procedure: Option<String>,
    /// Length of the deadline rule applied, and whether in working days.
    pub deadline_days: Option<i64>,
    pub deadline_working: bool,
    /// Silence past the deadline counts as acceptance (law 55-19, where set for the type).
    pub silence_means_acceptance: bool,
    pub created_by: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Which correspondence a reader may see. Built by the caller from the reader's roles.
#[derive(Debug, Clone, Default)]
pub struct ReadScope {
    /// Every correspondence of the administration (administrator, auditor).
    pub all: bool,
    /// Also confidential ones (auditor).
    pub confidential: bool,
    /// The registers the reader works on (registry clerks).
    pub registers: Vec<RegisterId>,
    /// The reader, who always sees what they registered and what is assigned to them by name.
    pub user: Option<UserId>,
    /// Entities whose assignments the reader sees (their own; a head's also those below):
    /// correspondence assigned to one of them, for any purpose, is visible unless confidential.
    pub entities: Vec<EntityId>,
}

/// Beyond this many matches, a full-text search's total is not counted exactly.
pub const SEARCH_COUNT_CAP: i64 = 1000;

/// Filters of the register view.
#[derive(Debug, Clone, Default)]
pub struct CorrespondenceFilter {
    pub register: Option<RegisterId>,
    pub direction: Option<Direction>,
    pub year: Option<i32>,
    pub status: Option<Status>,
    /// Registered on or after this day.
    pub from: Option<Date>,
    /// Registered on or before this day.
    pub to: Option<Date>,
    /// Matches number, subject or party name.
    pub text: Option<String>,
    /// Full-text query over the folded words of the record (FTS5 / `tsvector`).
    pub query: Option<String>,
    /// Handled by this entity now.
    pub handling_entity: Option<EntityId>,
    /// Due on or before this day and not finished.
    pub due_before: Option<Date>,
    pub order: ListOrder,
    pub limit: i64,
    pub offset: i64,
}

/// The order of [`Tenant::correspondences`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Newest first, paged by offset, with the total counted (the register view).
    #[default]
    Newest,
    /// By registration number (year, then sequence), after the sequence number `after` (keyset
    /// paging: the offset is ignored) and without counting the total (`total` is the length of
    /// the page). Meant for walking one register's year, where sequence numbers are unique:
    /// each page costs the same however far into the year it is.
    Number { after: Option<i64> },
}

/// A page of results with the total count.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A contacts directory entry.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub kind: ContactKind,
    pub name: String,
    pub id_number: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
}

pub(crate) const CORR_COLS: &str = "id, register_id, direction, year, seq, number, subject, summary, contact_id, party_kind, \
    party_name, letter_date, received_at, external_ref, channel, confidentiality, priority, status, due_date, \
    deadline_basis, created_by, created_at, updated_at, procedure, deadline_days, deadline_working, \
    silence_means_acceptance";

pub(crate) fn corr_from_row(row: &AnyRow) -> Result<Correspondence> {
    Ok(Correspondence {
        id: parse_id(&row.try_get::<String, _>("id")?, "correspondence")?,
        register_id: parse_id(&row.try_get::<String, _>("register_id")?, "register")?,
        direction: parse_code(&row.try_get::<String, _>("direction")?, "direction")?,
        year: row.try_get::<i64, _>("year")? as i32,
        seq: row.try_get("seq")?,
        number: row.try_get("number")?,
        subject: row.try_get("subject")?,
        summary: row.try_get("summary")?,
        contact_id: row
            .try_get::<Option<String>, _>("contact_id")?
            .map(|s| parse_id(&s, "contact"))
            .transpose()?,
        party_kind: parse_code(&row.try_get::<String, _>("party_kind")?, "contact kind")?,
        party_name: row.try_get("party_name")?,
        letter_date: row
            .try_get::<Option<String>, _>("letter_date")?
            .map(|d| parse_date(&d))
            .transpose()?,
        received_at: from_micros(row.try_get("received_at")?),
        external_ref: row.try_get("external_ref")?,
        channel: parse_code(&row.try_get::<String, _>("channel")?, "channel")?,
        confidentiality: parse_code(
            &row.try_get::<String, _>("confidentiality")?,
            "confidentiality",
        )?,
        priority: parse_code(&row.try_get::<String, _>("priority")?, "priority")?,
        status: parse_code(&row.try_get::<String, _>("status")?, "status")?,
        due_date: row
            .try_get::<Option<String>, _>("due_date")?
            .map(|d| parse_date(&d))
            .transpose()?,
        deadline_basis: row
            .try_get::<Option<String>, _>("deadline_basis")?
            .map(|b| parse_code(&b, "deadline basis"))
            .transpose()?,
        procedure: row.try_get("procedure")?,
        deadline_days: row.try_get("deadline_days")?,
        deadline_working: row.try_get::<i64, _>("deadline_working")? != 0,
        silence_means_acceptance: row.try_get::<i64, _>("silence_means_acceptance")? != 0,
        created_by: row
            .try_get::<Option<String>, _>("created_by")?
            .map(|s| parse_id(&s, "user"))
            .transpose()?,
        registered_at: from_micros(row.try_get("created_at")?),
        updated_at: from_micros(row.try_get("updated_at")?),
    })
}

fn invalid(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("{what} {e}"))
}

/// Validates and normalises the party of a correspondence.
pub fn clean_party(p: &Party) -> Result<Party> {
    let id_number = match (
        p.kind,
        p.id_number
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
    ) {
        (_, None) => None,
        (ContactKind::Person, Some(n)) => Some(
            diwan_core::text::NationalId::parse(n)
                .map_err(|e| invalid("sender/recipient", e))?
                .as_str()
                .to_string(),
        ),
        (ContactKind::Company, Some(n)) => Some(
            diwan_core::text::Ice::parse(n)
                .map_err(|e| invalid("sender/recipient", e))?
                .as_str()
                .to_string(),
        ),
        (ContactKind::Administration, Some(n)) => {
            Some(clean_text(n, 40, false).map_err(|e| invalid("administration code", e))?)
        }
    };
    Ok(Party {
        kind: p.kind,
        name: clean_text(&p.name, 200, false)
            .map_err(|e| invalid("name of sender/recipient", e))?,
        id_number,
        email: p
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(diwan_core::text::parse_email)
            .transpose()
            .map_err(|e| invalid("sender/recipient", e))?,
        phone: clean_optional(p.phone.as_deref(), 30, false).map_err(|e| invalid("phone", e))?,
        address: clean_optional(p.address.as_deref(), 300, true)
            .map_err(|e| invalid("address", e))?,
    })
}

impl Tenant {
    /// Registers a correspondence: allocates its number in the register's yearly sequence, in the
    /// same transaction as the record, its documents and its audit entry. Small documents are
    /// written by that transaction (see [`crate::small_blobs`]); other staged blobs are promoted
    /// before it (see [`crate::blob`]).
    ///
    /// Registrations arriving together are committed together (group commit, see
    /// [`crate::batch`]): one failing registration never affects another, and the answer is
    /// given only once the commit is durable.
    pub async fn register_correspondence(
        &self,
        new: NewCorrespondence,
        actor: &Actor,
        local_offset: UtcOffset,
    ) -> Result<Registered> {
        let prepared = self.prepare_registration(new, local_offset).await?;
        self.store.submit(self.admin, actor.clone(), prepared).await
    }

    /// As [`Self::register_correspondence`], into a register the caller read from this tenant a
    /// moment before (the portal keeps its administrations' registers for a few seconds): one
    /// read fewer per registration. `register` must be the one `new` names. The writer still
    /// checks, inside the transaction, that the register exists in this administration.
    pub async fn register_correspondence_in(
        &self,
        register: &crate::org::Register,
        new: NewCorrespondence,
        actor: &Actor,
        local_offset: UtcOffset,
    ) -> Result<Registered> {
        if register.id != new.register {
            return Err(StoreError::Invalid(
                "the register given is not the one the correspondence names".into(),
            ));
        }
        let prepared = self
            .prepare_registration_in(Some(register), new, local_offset)
            .await?;
        self.store.submit(self.admin, actor.clone(), prepared).await
    }

    /// Validates a registration and promotes its documents (those it does not keep for the
    /// transaction to store); everything that can fail because of the request fails here,
    /// before any write.
    pub(crate) async fn prepare_registration(
        &self,
        new: NewCorrespondence,
        local_offset: UtcOffset,
    ) -> Result<PreparedRegistration> {
        self.prepare_registration_in(None, new, local_offset).await
    }

    /// [`Self::prepare_registration`], with the register already read when `known`.
    async fn prepare_registration_in(
        &self,
        known: Option<&crate::org::Register>,
        mut new: NewCorrespondence,
        local_offset: UtcOffset,
    ) -> Result<PreparedRegistration> {
        let subject = clean_text(&new.subject, 500, false).map_err(|e| invalid("subject", e))?;
        let summary = clean_optional(new.summary.as_deref(), 5000, true)
            .map_err(|e| invalid("summary", e))?;
        let external_ref = clean_optional(new.external_ref.as_deref(), 100, false)
            .map_err(|e| invalid("reference", e))?;
        let party = clean_party(&new.party)?;
        if new
            .documents
            .iter()
            .filter(|d| d.role == DocumentRole::Main)
            .count()
            > 1
        {
            return Err(StoreError::Invalid(
                "only one document can be the main document".into(),
            ));
        }
        // Check the register before anything is written: a register of another administration
        // is simply not found.
        let read;
        let reg = match known {
            Some(r) if r.id == new.register => r,
            _ => {
                read = self.register(new.register).await?;
                &read
            }
        };
        if reg.direction != new.direction {
            return Err(StoreError::Invalid(format!(
                "register {} is a {} register, not {}",
                reg.name, reg.direction, new.direction
            )));
        }
        if let Some(c) = new.contact {
            self.contact(c).await?;
        }
        let format = NumberFormat::parse(&reg.number_format)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Small documents held in memory go into the registration's transaction; the others
        // are promoted to files now (see [`crate::small_blobs`]).
        let mut documents = Vec::with_capacity(new.documents.len());
        for d in new.documents.iter_mut() {
            let kept = d.blob.take_small(crate::small_blobs::SMALL_BLOB_LIMIT);
            if kept.is_none() {
                self.store.blobs().promote(&mut d.blob).await?;
            }
            documents.push(PreparedDocument {
                role: d.role,
                file_name: d.file_name.as_str().to_string(),
                media_type: d.media_type,
                size: d.blob.size() as i64,
                sha256: d.blob.hash().to_hex(),
                kept,
            });
        }
        Ok(PreparedRegistration {
            register: reg.id,
            direction: reg.direction,
            format,
            subject,
            summary,
            external_ref,
            party,
            contact: new.contact,
            letter_date: new.letter_date,
            received_at: new.received_at,
            channel: new.channel,
            confidentiality: new.confidentiality,
            priority: new.priority,
            due: new.due,
            documents,
            local_offset,
            portal: new.portal,
            log_salt: random_salt(),
        })
    }

    /// One correspondence (no access check: callers check [`ReadScope`] with [`Self::can_read`]).
    pub async fn correspondence(&self, id: CorrespondenceId) -> Result<Correspondence> {
        let row = sqlx::query(&format!(
            "SELECT {CORR_COLS} FROM correspondences WHERE administration_id = $1 AND id = $2"
        ))
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("correspondence"))?;
        corr_from_row(&row)
    }

    /// Whether `scope` lets its reader see `c`, assignments included. Mirrors the SQL of
    /// [`Self::correspondences`].
    pub async fn may_read(&self, scope: &ReadScope, c: &Correspondence) -> Result<bool> {
        if Self::can_read(scope, c) {
            return Ok(true);
        }
        if scope.entities.is_empty() && scope.user.is_none() {
            return Ok(false);
        }
        let assignments = self.assignments(c.id).await?;
        Ok(assignments.iter().any(|a| {
            (scope.user.is_some() && a.to_user_id == scope.user)
                || (c.confidentiality == Confidentiality::Normal
                    && scope.entities.contains(&a.to_entity_id))
        }))
    }

    /// Whether `scope` lets its reader see `c` without looking at assignments (registers,
    /// authorship, administrator and auditor rights).
    pub fn can_read(scope: &ReadScope, c: &Correspondence) -> bool {
        let base = scope.all
            || scope.registers.contains(&c.register_id)
            || (scope.user.is_some() && c.created_by == scope.user);
        let conf = c.confidentiality == Confidentiality::Normal
            || scope.confidential
            || (scope.user.is_some() && c.created_by == scope.user);
        base && conf
    }

    /// The documents of a correspondence, in order.
    pub async fn documents(&self, id: CorrespondenceId) -> Result<Vec<Document>> {
        let rows = sqlx::query(
            "SELECT id, role, position, file_name, media_type, size, sha256 FROM documents \
             WHERE administration_id = $1 AND correspondence_id = $2 ORDER BY position",
        )
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Document {
                    id: parse_id(&r.try_get::<String, _>("id")?, "document")?,
                    role: parse_code(&r.try_get::<String, _>("role")?, "document role")?,
                    position: r.try_get("position")?,
                    file_name: r.try_get("file_name")?,
                    media_type: parse_code(&r.try_get::<String, _>("media_type")?, "media type")?,
                    size: r.try_get("size")?,
                    sha256: r.try_get("sha256")?,
                })
            })
            .collect()
    }

    /// The register view: correspondences visible in `scope` matching `filter`, newest first.
    pub async fn correspondences(
        &self,
        scope: &ReadScope,
        filter: &CorrespondenceFilter,
    ) -> Result<Page<Correspondence>> {
        let mut q = QueryBuilder::new(self.admin_str());
        let user = scope.user.map(|u| u.to_string()).unwrap_or_default();
        if !scope.all {
            let mut parts = Vec::new();
            if !scope.registers.is_empty() {
                let ps: Vec<String> = scope
                    .registers
                    .iter()
                    .map(|r| q.param(r.to_string()))
                    .collect();
                parts.push(format!("register_id IN ({})", ps.join(",")));
            }
            // Assignments give sight: to the reader by name, or to one of their entities (not
            // for confidential mail). A full-text query already narrows the rows, so each is
            // checked against its own assignments; otherwise the subqueries start from the
            // assignments' indexes.
            let correlated = filter.query.is_some();
            let via = |cond: String| {
                if correlated {
                    format!(
                        "EXISTS (SELECT 1 FROM assignments a WHERE a.administration_id = $1 \
                         AND a.correspondence_id = correspondences.id AND {cond})"
                    )
                } else {
                    format!(
                        "id IN (SELECT a.correspondence_id FROM assignments a WHERE a.administration_id = $1 AND {cond})"
                    )
                }
            };
            if scope.user.is_some() {
                let p = q.param(user.clone());
                parts.push(format!("created_by = {p}"));
                parts.push(via(format!("a.to_user_id = {p}")));
            }
            if !scope.entities.is_empty() {
                let ps: Vec<String> = scope
                    .entities
                    .iter()
                    .map(|e| q.param(e.to_string()))
                    .collect();
                parts.push(format!(
                    "(confidentiality = 'normal' AND {})",
                    via(format!("a.to_entity_id IN ({})", ps.join(",")))
                ));
            }
            if parts.is_empty() {
                return Ok(Page {
                    items: vec![],
                    total: 0,
                });
            }
            q.and(format!("({})", parts.join(" OR ")));
        }
        if !scope.confidential {
            if scope.user.is_some() {
                let p = q.param(user);
                q.and(format!(
                    "(confidentiality = 'normal' OR created_by = {p} OR id IN (SELECT a.correspondence_id \
                     FROM assignments a WHERE a.administration_id = $1 AND a.to_user_id = {p}))"
                ));
            } else {
                q.and("confidentiality = 'normal'".to_string());
            }
        }
        if let Some(r) = filter.register {
            let p = q.param(r.to_string());
            q.and(format!("register_id = {p}"));
        }
        if let Some(d) = filter.direction {
            let p = q.param(d.as_str().to_string());
            q.and(format!("direction = {p}"));
        }
        if let Some(y) = filter.year {
            let p = q.param_i64(i64::from(y));
            q.and(format!("year = {p}"));
        }
        if let Some(s) = filter.status {
            let p = q.param(s.as_str().to_string());
            q.and(format!("status = {p}"));
        }
        if let Some(d) = filter.from {
            let p = q.param_i64(micros(d.midnight().assume_utc()));
            q.and(format!("created_at >= {p}"));
        }
        if let Some(d) = filter.to {
            let next = d.next_day().unwrap_or(d);
            let p = q.param_i64(micros(next.midnight().assume_utc()));
            q.and(format!("created_at < {p}"));
        }
        if let Some(t) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let pattern = format!("%{}%", like_escape(&t.to_lowercase()));
            let p = q.param(pattern);
            q.and(format!(
                "(LOWER(number) LIKE {p} ESCAPE '\\' OR LOWER(subject) LIKE {p} ESCAPE '\\' OR LOWER(party_name) LIKE {p} ESCAPE '\\')"
            ));
        }
        if let Some(e) = filter.handling_entity {
            let p = q.param(e.to_string());
            q.and(format!("handling_entity_id = {p}"));
        }
        if let Some(d) = filter.due_before {
            let p = q.param(fmt_date(d));
            q.and(format!(
                "due_date <= {p} AND status NOT IN ('closed', 'closed_without_follow_up', 'answered', 'sent')"
            ));
        }
        // A registration number (letters, digits, dashes and at least one slash) is looked up
        // by the number itself.
        let as_number = filter.query.as_deref().map(str::trim).filter(|t| {
            t.contains('/')
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '-')
        });
        // SQLite: a full-text query walks the FTS5 index from the newest row (rowids grow with
        // registration) and reads each record by rowid, so a page of a word found in a third of
        // a million records stops after its first rows instead of sorting every match.
        let mut fts_walk = false;
        // PostgreSQL: the full-text clause and the estimated share of records matching it.
        let mut pg_walk: Option<(String, f64, f64)> = None;
        if let Some(n) = as_number {
            let p = q.param(n.to_uppercase());
            q.and(format!("number = {p}"));
        } else if let Some(query) = filter.query.as_deref() {
            let words = diwan_core::search::query_words(query, 12);
            if words.is_empty() {
                return Ok(Page {
                    items: vec![],
                    total: 0,
                });
            }
            match self.store.backend() {
                crate::Backend::Sqlite => {
                    // Every word as a prefix; the words are letters and digits only.
                    let m: Vec<String> = words.iter().map(|w| format!("\"{w}\"*")).collect();
                    let p = q.param(m.join(" "));
                    q.and(format!("correspondences_fts MATCH {p}"));
                    fts_walk = true;
                }
                crate::Backend::Postgres => {
                    let Some(expanded) = self.expand_prefixes(&words).await? else {
                        return Ok(Page {
                            items: vec![],
                            total: 0,
                        });
                    };
                    let stats = self.word_stats().await?;
                    let share = stats.share(&expanded.groups);
                    let p = q.param(expanded.tsquery);
                    let clause = format!("search_vector @@ CAST({p} AS tsquery)");
                    q.and(clause.clone());
                    pg_walk = Some((clause, share, stats.records));
                }
            }
        }
        let (from, newest_first) = if fts_walk {
            (
                "correspondences_fts CROSS JOIN correspondences ON correspondences.rowid = correspondences_fts.rowid",
                "correspondences_fts.rowid DESC",
            )
        } else {
            ("correspondences", "created_at DESC, id DESC")
        };
        if let ListOrder::Number { after } = filter.order {
            if let Some(after) = after {
                let p = q.param_i64(after);
                q.and(format!("seq > {p}"));
            }
            let limit = filter.limit.clamp(1, 500);
            let list_sql = format!(
                "SELECT {CORR_COLS} FROM {from} WHERE {} ORDER BY year, seq LIMIT {limit}",
                q.where_sql()
            );
            let rows = q
                .bind(sqlx::query(&list_sql))
                .fetch_all(self.store.read())
                .await?;
            let items = rows.iter().map(corr_from_row).collect::<Result<Vec<_>>>()?;
            let total = items.len() as i64;
            return Ok(Page { items, total });
        }
        let where_sql = q.where_sql();
        // PostgreSQL: GIN reads every match of the words (then the page sorts them all); walking
        // the newest records and testing each (`IS TRUE` keeps GIN out) reads about
        // 1 / share records per match wanted. The page walks from 5,000 estimated matches; the
        // count (up to its cap of 1,000) from a twentieth of the records.
        let (page_where, count_where, count_order) = match &pg_walk {
            Some((clause, share, records)) => {
                let walk = where_sql.replace(clause.as_str(), &format!("({clause}) IS TRUE"));
                let page = if share * records >= PAGE_WALK_FROM_MATCHES {
                    walk.clone()
                } else {
                    where_sql.clone()
                };
                if *share >= COUNT_WALK_FROM_SHARE {
                    (page, walk, format!(" ORDER BY {newest_first}"))
                } else {
                    (page, where_sql.clone(), String::new())
                }
            }
            None => (where_sql.clone(), where_sql.clone(), String::new()),
        };
        // A full-text query can match a large part of a million records: its count stops at
        // SEARCH_COUNT_CAP + 1 (the caller says "more than …").
        let count_sql = if filter.query.is_some() {
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {from} WHERE {count_where}{count_order} LIMIT {}) s",
                SEARCH_COUNT_CAP + 1
            )
        } else {
            format!("SELECT COUNT(*) FROM correspondences WHERE {where_sql}")
        };
        let total: i64 = q
            .bind(sqlx::query(&count_sql))
            .fetch_one(self.store.read())
            .await?
            .try_get(0)?;
        let limit = filter.limit.clamp(1, 500);
        let offset = filter.offset.max(0);
        let list_sql = format!(
            "SELECT {CORR_COLS} FROM {from} WHERE {page_where} ORDER BY {newest_first} LIMIT {limit} OFFSET {offset}"
        );
        let rows = q
            .bind(sqlx::query(&list_sql))
            .fetch_all(self.store.read())
            .await?;
        let items = rows.iter().map(corr_from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total })
    }

    /// PostgreSQL: the tsquery of `words`, each a prefix, written as the exact lexemes it
    /// expands to in the index's vocabulary (`search_words`) so that GIN intersects posting
    /// lists by skipping instead of reading whole lists into bitmaps. A word with more than
    /// [`PREFIX_EXPANSION_MAX`] lexemes stays a prefix (`w:*`); `None` when a word matches no
    /// lexeme at all (nothing can match).
    async fn expand_prefixes(&self, words: &[String]) -> Result<Option<Expanded>> {
        let mut operands = Vec::with_capacity(words.len());
        let mut groups = Vec::with_capacity(words.len());
        for w in words {
            let rows = sqlx::query(
                "SELECT word FROM search_words WHERE word LIKE $1 ORDER BY word LIMIT $2",
            )
            .bind(format!("{}%", like_escape(w)))
            .bind(PREFIX_EXPANSION_MAX + 1)
            .fetch_all(self.store.read())
            .await?;
            let lexemes = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let Some(operand) = tsquery_group(w, &lexemes) else {
                return Ok(None);
            };
            operands.push(operand);
            groups.push((lexemes.len() as i64 <= PREFIX_EXPANSION_MAX).then_some(lexemes));
        }
        Ok(Some(Expanded {
            tsquery: operands.join(" & "),
            groups,
        }))
    }

    /// PostgreSQL: the most common lexemes of the full-text index with their frequencies, and
    /// the number of records, from the planner's statistics (cached for five minutes).
    async fn word_stats(&self) -> Result<Arc<WordStats>> {
        if let Some(s) = self.store.word_stats(Duration::from_secs(300)) {
            return Ok(s);
        }
        let rows = sqlx::query(
            "SELECT u.e, CAST(u.f AS DOUBLE PRECISION) FROM pg_stats s, \
             unnest(CAST(CAST(s.most_common_elems AS TEXT) AS TEXT[]), s.most_common_elem_freqs) AS u(e, f) \
             WHERE s.schemaname = current_schema() AND s.tablename = 'correspondences' \
             AND s.attname = 'search_vector' AND u.e IS NOT NULL",
        )
        .fetch_all(self.store.read())
        .await?;
        let mut freq = HashMap::with_capacity(rows.len());
        for r in &rows {
            freq.insert(r.try_get::<String, _>(0)?, r.try_get::<f64, _>(1)?);
        }
        let records: f64 = sqlx::query(
            "SELECT CAST(GREATEST(reltuples, 0) AS DOUBLE PRECISION) FROM pg_class \
             WHERE oid = CAST('correspondences' AS regclass)",
        )
        .fetch_one(self.store.read())
        .await?
        .try_get(0)?;
        let s = Arc::new(WordStats { freq, records });
        self.store.set_word_stats(s.clone());
        Ok(s)
    }

    /// A contacts directory entry.
    pub async fn contact(&self, id: ContactId) -> Result<Contact> {
        let row = sqlx::query(
            "SELECT id, kind, name, id_number, email, phone, address FROM contacts WHERE administration_id = $1 AND id = $2",
        )
        .bind(self.admin_str())
        .bind(id.to_string())
        .fetch_optional(self.store.read())
        .await?
        .ok_or(StoreError::NotFound("contact"))?;
        contact_from_row(&row)
    }

    /// Searches the contacts directory by name prefix (for autocompletion).
    pub async fn search_contacts(&self, prefix: &str, limit: i64) -> Result<Vec<Contact>> {
        let pattern = format!("{}%", like_escape(&prefix.trim().to_lowercase()));
        let rows = sqlx::query(
            "SELECT id, kind, name, id_number, email, phone, address FROM contacts \
             WHERE administration_id = $1 AND LOWER(name) LIKE $2 ESCAPE '\\' ORDER BY name LIMIT $3",
        )
        .bind(self.admin_str())
        .bind(pattern)
        .bind(limit.clamp(1, 100))
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(contact_from_row).collect()
    }
}

fn contact_from_row(r: &AnyRow) -> Result<Contact> {
    Ok(Contact {
        id: parse_id(&r.try_get::<String, _>("id")?, "contact")?,
        kind: parse_code(&r.try_get::<String, _>("kind")?, "contact kind")?,
        name: r.try_get("name")?,
        id_number: r.try_get("id_number")?,
        email: r.try_get("email")?,
        phone: r.try_get("phone")?,
        address: r.try_get("address")?,
    })
}

/// How many lexemes a query word may expand to before it is left as a prefix for GIN.
const PREFIX_EXPANSION_MAX: i64 = 64;

/// A query's tsquery and, per word, the lexemes it expanded to (`None`: left as a prefix).
struct Expanded {
    tsquery: String,
    groups: Vec<Option<Vec<String>>>,
}

/// The planner's statistics of the full-text index: the share of records holding each of the
/// most common lexemes (rarer ones are absent), and the number of records.
#[derive(Debug, Default)]
pub struct WordStats {
    freq: HashMap<String, f64>,
    records: f64,
}

/// From this many estimated matches a search's page walks the newest records (25 / share
/// rows read) rather than reading and sorting every match from GIN.
const PAGE_WALK_FROM_MATCHES: f64 = 5_000.0;
/// From this share of the records a search's count walks the newest records too (at most
/// 1,001 / share rows read); below, GIN intersects the words' posting lists.
const COUNT_WALK_FROM_SHARE: f64 = 0.05;

impl WordStats {
    /// The estimated share of records matching all these words (AND of their groups), taking
    /// them as independent, as the planner does: a lexeme the statistics do not list is rare
    /// (half the least common listed one), a word left as a prefix is common.
    fn share(&self, groups: &[Option<Vec<String>>]) -> f64 {
        // Without statistics (never analysed) nothing is known: every word counts as rare.
        let floor = if self.freq.is_empty() {
            0.0
        } else {
            self.freq.values().copied().fold(1.0, f64::min) / 2.0
        };
        groups
            .iter()
            .map(|g| match g {
                None => 1.0,
                Some(lexemes) => lexemes
                    .iter()
                    .map(|l| self.freq.get(l).copied().unwrap_or(floor))
                    .sum::<f64>()
                    .min(1.0),
            })
            .product()
    }
}

/// Escapes `\`, `%` and `_` for a `LIKE … ESCAPE '\'` pattern (PostgreSQL's default escape).
fn like_escape(w: &str) -> String {
    w.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A tsquery literal (`'lexeme'` with quotes doubled, as PostgreSQL's tsquery input reads it).
fn tsquery_literal(lexeme: &str) -> String {
    format!("'{}'", lexeme.replace('\\', "\\\\").replace('\'', "''"))
}

/// One query word as a tsquery operand: its lexemes OR-ed, or the prefix itself when it has too
/// many, or `None` when it has none.
fn tsquery_group(word: &str, lexemes: &[String]) -> Option<String> {
    if lexemes.len() as i64 > PREFIX_EXPANSION_MAX {
        return Some(format!("{}:*", tsquery_literal(word)));
    }
    match lexemes {
        [] => None,
        [one] => Some(tsquery_literal(one)),
        many => Some(format!(
            "({})",
            many.iter()
                .map(|l| tsquery_literal(l))
                .collect::<Vec<_>>()
                .join(" | ")
        )),
    }
}

/// Finds the contact with the same identity number (or creates one) inside the transaction.
async fn upsert_contact<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    party: &Party,
    now: OffsetDateTime,
) -> Result<ContactId> {
    if let Some(n) = &party.id_number {
        let found = tx
            .fetch_optional(
                "SELECT id FROM contacts WHERE administration_id = $1 AND kind = $2 AND id_number = $3",
                args![admin, party.kind.as_str(), n],
            )
            .await?;
        if let Some(row) = found {
            return parse_id(&row.text(0)?, "contact");
        }
    }
    let id = ContactId::new();
    tx.execute(
        "INSERT INTO contacts (id, administration_id, kind, name, id_number, email, phone, address, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        args![
            id.to_string(),
            admin,
            party.kind.as_str(),
            &party.name,
            party.id_number.as_deref(),
            party.email.as_deref(),
            party.phone.as_deref(),
            party.address.as_deref(),
            micros(now),
        ],
    )
    .await?;
    Ok(id)
}

/// Builds a WHERE clause with numbered parameters, always scoped by administration (`$1`).
pub(crate) struct QueryBuilder {
    clauses: Vec<String>,
    params: Vec<Param>,
}

enum Param {
    Text(String),
    Int(i64),
}

impl QueryBuilder {
    pub(crate) fn new(admin: String) -> Self {
        Self {
            clauses: vec!["administration_id = $1".into()],
            params: vec![Param::Text(admin)],
        }
    }
    pub(crate) fn param(&mut self, v: String) -> String {
        self.params.push(Param::Text(v));
        format!("${}", self.params.len())
    }
    pub(crate) fn param_i64(&mut self, v: i64) -> String {
        self.params.push(Param::Int(v));
        format!("${}", self.params.len())
    }
    pub(crate) fn and(&mut self, clause: String) {
        self.clauses.push(clause);
    }
    pub(crate) fn where_sql(&self) -> String {
        self.clauses.join(" AND ")
    }
    pub(crate) fn bind<'q>(
        &'q self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for p in &self.params {
            query = match p {
                Param::Text(s) => query.bind(s.as_str()),
                Param::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// A document of a validated registration: promoted in the blob store already, or small and
/// kept here for the registration's transaction to store.
#[derive(Debug, Clone)]
pub(crate) struct PreparedDocument {
    role: DocumentRole,
    file_name: String,
    media_type: MediaType,
    size: i64,
    sha256: String,
    /// The content, when it is written as a row of `small_blobs`.
    kept: Option<Vec<u8>>,
}

/// A validated registration, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct PreparedRegistration {
    pub(crate) register: RegisterId,
    direction: Direction,
    format: NumberFormat,
    subject: String,
    summary: Option<String>,
    external_ref: Option<String>,
    party: Party,
    contact: Option<ContactId>,
    letter_date: Option<Date>,
    received_at: OffsetDateTime,
    channel: Channel,
    confidentiality: Confidentiality,
    priority: Priority,
    due: Option<Due>,
    documents: Vec<PreparedDocument>,
    local_offset: UtcOffset,
    portal: Option<PortalFiling>,
    /// Salt of the personal data hashed into the log entry.
    log_salt: String,
}

/// The statement that records a registered correspondence.
static INSERT_CORRESPONDENCE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO correspondences ({CORR_COLS}, administration_id, search_text, leaf_index, log_salt) VALUES \
         ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31)"
    )
});

/// Writes a registration inside the caller's transaction: number, record, documents, audit.
pub(crate) async fn write_registration<E: Exec + ?Sized>(
    tx: &mut E,
    admin: &str,
    p: &PreparedRegistration,
    actor: &Actor,
) -> Result<Registered> {
    // Stored to the microsecond: the same instant whether read back or taken from here.
    let now = crate::from_micros(micros(OffsetDateTime::now_utc()));
    let year = now.to_offset(p.local_offset).year();
    let id = CorrespondenceId::new();
    let id_text = id.to_string();
    let register = p.register.to_string();
    let codes = tx
        .fetch_optional(
            "SELECT e.code, a.code FROM registers r JOIN entities e ON e.id = r.entity_id \
             JOIN administrations a ON a.id = r.administration_id WHERE r.administration_id = $1 AND r.id = $2",
            args![admin, &register],
        )
        .await?
        .ok_or(StoreError::NotFound("register"))?;
    let entity_code = codes.text(0)?;
    let admin_code = codes.text(1)?;
    let seq = tx
        .fetch_one(
            "INSERT INTO register_counters (register_id, year, last_value) VALUES ($1, $2, 1) \
             ON CONFLICT (register_id, year) DO UPDATE SET last_value = register_counters.last_value + 1 \
             RETURNING last_value",
            args![&register, i64::from(year)],
        )
        .await?
        .int(0)?;
    let number = p.format.render(&NumberParts {
        entity_code: &entity_code,
        admin_code: &admin_code,
        direction: p.direction,
        year,
        sequence: seq as u64,
    });
    let contact_id = match p.contact {
        Some(c) => c,
        None => upsert_contact(tx, admin, &p.party, now).await?,
    };
    let entry = log_entry(p, &admin_code, &number, now);
    let kind = if p.portal.is_some() {
        "receipt"
    } else {
        "register_entry"
    };
    let leaf_index = crate::log::append_leaf(tx, &entry, kind, admin, &id_text).await?;
    tx.execute(
        INSERT_CORRESPONDENCE.as_str(),
        args![
            &id_text,
            &register,
            p.direction.as_str(),
            i64::from(year),
            seq,
            &number,
            &p.subject,
            p.summary.as_deref(),
            contact_id.to_string(),
            p.party.kind.as_str(),
            &p.party.name,
            p.letter_date.map(fmt_date),
            micros(p.received_at),
            p.external_ref.as_deref(),
            p.channel.as_str(),
            p.confidentiality.as_str(),
            p.priority.as_str(),
            Status::Registered.as_str(),
            p.due.as_ref().map(|d| fmt_date(d.date)),
            p.due.as_ref().map(|d| d.rule.law.as_str()),
            actor.user_id.map(|u| u.to_string()),
            micros(now),
            micros(now),
            p.due.as_ref().and_then(|d| d.procedure.as_deref()),
            p.due.as_ref().map(|d| i64::from(d.rule.days)),
            i64::from(
                p.due
                    .as_ref()
                    .is_none_or(|d| d.rule.unit == DayUnit::Working)
            ),
            i64::from(
                p.due
                    .as_ref()
                    .is_some_and(|d| d.rule.silence_means_acceptance)
            ),
            admin,
            search_text(p, &number),
            leaf_index,
            &p.log_salt,
        ],
    )
    .await?;
    if let Some(f) = &p.portal {
        // The notification first: a failure of anything after it must leave no e-mail queued.
        if let Some(m) = &f.notification {
            let m = m.with_number(&number);
            crate::outbox::enqueue(tx, Some(admin), &m).await?;
        }
        tx.execute(
            "INSERT INTO filings (correspondence_id, administration_id, tracking_hash, receipt_token, filer_email, \
             filer_phone, filer_salt, leaf_index, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            args![
                &id_text,
                admin,
                &f.tracking_hash,
                &f.receipt_token,
                f.email.as_deref(),
                f.phone.as_deref(),
                &p.log_salt,
                leaf_index,
                micros(now),
            ],
        )
        .await?;
    }
    for (i, d) in p.documents.iter().enumerate() {
        if let Some(bytes) = &d.kept {
            // Identical content is stored once.
            tx.execute(
                "INSERT INTO small_blobs (sha256, bytes) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
                args![&d.sha256, Some(bytes.as_slice())],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO documents (id, administration_id, correspondence_id, role, position, file_name, \
             media_type, size, sha256, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
            args![
                DocumentId::new().to_string(),
                admin,
                &id_text,
                d.role.as_str(),
                i as i64,
                &d.file_name,
                d.media_type.as_str(),
                d.size,
                &d.sha256,
                micros(now),
            ],
        )
        .await?;
    }
    crate::webhooks::status_changed(tx, admin, id, None).await?;
    let hashes: Vec<&str> = p.documents.iter().map(|d| d.sha256.as_str()).collect();
    audit::append(
        tx,
        admin,
        actor,
        "correspondence.register",
        "correspondence",
        &id_text,
        &json!({ "number": number, "register": p.register, "channel": p.channel, "documents": hashes }),
    )
    .await?;
    Ok(Registered {
        id,
        number,
        year,
        seq,
        registered_at: now,
        leaf_index,
        log_entry: String::from_utf8(entry).unwrap_or_default(),
        log_salt: p.log_salt.clone(),
    })
}

/// The folded words a registration is found by.
fn search_text(p: &PreparedRegistration, number: &str) -> String {
    let mut raw = format!("{number} {} {}", p.subject, p.party.name);
    for extra in [&p.summary, &p.external_ref].into_iter().flatten() {
        raw.push(' ');
        raw.push_str(extra);
    }
    diwan_core::search::fold(&raw)
}

fn random_salt() -> String {
    let mut b = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    hex::encode(b)
}

/// The salted hash of a party that enters the log: `SHA-256(salt ‖ kind ‖ 0x1F ‖ name ‖ 0x1F ‖
/// id number)`, hex; the salt is hex text.
pub fn party_hash(
    salt: &str,
    party_kind: ContactKind,
    name: &str,
    id_number: Option<&str>,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(party_kind.as_str().as_bytes());
    h.update([0x1f]);
    h.update(name.as_bytes());
    h.update([0x1f]);
    h.update(id_number.unwrap_or("").as_bytes());
    hex::encode(h.finalize())
}

/// The log entry of a registration: compact JSON with sorted keys, no personal data in clear.
fn log_entry(
    p: &PreparedRegistration,
    admin_code: &str,
    number: &str,
    at: OffsetDateTime,
) -> Vec<u8> {
    let docs: Vec<serde_json::Value> = p
        .documents
        .iter()
        .map(|d| json!({ "sha256": d.sha256, "size": d.size }))
        .collect();
    // Keys in sorted order, whatever map type serde_json is built with.
    let entry = json!({
        "administration": admin_code,
        "documents": docs,
        "due_date": p.due.as_ref().map(|d| fmt_date(d.date)),
        "legal_basis": p.due.as_ref().map(|d| d.rule.law.as_str()),
        "number": number,
        "party": party_hash(&p.log_salt, p.party.kind, &p.party.name, p.party.id_number.as_deref()),
        "register": p.register,
        "registered_at": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "type": if p.portal.is_some() { "receipt" } else { "register_entry" },
        "v": 1,
    });
    serde_json::to_vec(&entry).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_expansion_writes_exact_lexemes() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(tsquery_group("zin", &l(&["zineb"])), Some("'zineb'".into()));
        assert_eq!(
            tsquery_group("certif", &l(&["certificat", "certificats"])),
            Some("('certificat' | 'certificats')".into())
        );
        assert_eq!(tsquery_group("qqq", &[]), None);
        let many: Vec<String> = (0..=PREFIX_EXPANSION_MAX)
            .map(|i| format!("a{i}"))
            .collect();
        assert_eq!(tsquery_group("a", &many), Some("'a':*".into()));
        assert_eq!(tsquery_literal("l'x\\"), "'l''x\\\\'");
        let stats = WordStats {
            freq: [
                ("demande", 0.33),
                ("rabat", 0.08),
                ("fes", 0.08),
                ("rare", 0.01),
            ]
            .into_iter()
            .map(|(w, f)| (w.to_string(), f))
            .collect(),
            records: 1e6,
        };
        let g = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(stats.share(&[g(&["demande"])]), 0.33);
        let two = stats.share(&[g(&["demande"]), g(&["rabat", "fes"])]);
        assert!((two - 0.33 * 0.16).abs() < 1e-9, "{two}");
        // Unlisted: half the least common listed; a prefix left as is: everything.
        assert!((stats.share(&[g(&["zineb"])]) - 0.005).abs() < 1e-9);
        assert_eq!(stats.share(&[None, g(&["rabat"])]), 0.08);
        assert_eq!(WordStats::default().share(&[g(&["demande"])]), 0.0);
        assert_eq!(like_escape("a_%\\"), "a\\_\\%\\\\");
    }
}
