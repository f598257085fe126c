//! Diwan's persistence layer.
//!
//! One query layer runs on two engines, chosen at run time from the database URL: SQLite (the
//! embedded default, in WAL mode, one file under the data directory) and PostgreSQL. Queries are
//! written once in the SQL both engines share (`$n` parameters, `ON CONFLICT`, `RETURNING`) and
//! executed through sqlx's `Any` driver; the schema has one migration set per engine because the
//! column types differ.
//!
//! Writes on SQLite go through a dedicated single-connection pool and begin with
//! `BEGIN IMMEDIATE`, so write transactions never fail with a busy snapshot; reads use their own
//! pool and proceed concurrently under WAL. On PostgreSQL both pools are the same, and row locks
//! (the register counter row, the audit head row) serialise what must be serialised.
//! Registrations, receipts and tree heads are written by the group-commit writer (`batch`), which
//! on SQLite has a connection of its own, outside sqlx, run on its own thread (`exec`).
//!
//! Tenant isolation: every tenant-scoped operation goes through [`Tenant`], which can only be
//! built from an [`AdministrationId`] and adds it to every statement; the schema's composite
//! foreign keys make cross-tenant references impossible even for a buggy query.

pub mod audit;
pub mod auth;
mod batch;
pub mod blob;
mod db;
pub mod deadlines;
pub mod doctext;
pub mod exchange;
mod exec;
pub mod fsck;
pub mod keys;
pub mod log;
pub mod org;
pub mod outbox;
pub mod parapheur;
pub mod portal;
pub mod processing;
pub mod registry;
pub mod replies;
pub mod small_blobs;
pub mod stats;
pub mod synthetic;
pub mod webhooks;

pub use audit::Actor;
pub use batch::QueuedWrite;
pub use blob::{
    BlobError, BlobHash, BlobReader, BlobStore, BlobWriter, LocalBlobStore, StagedBlob,
};
pub use db::{Backend, Store, StoreOptions, Tenant};

/// Errors of the store. `NotFound`, `Conflict` and `Invalid` are the caller's fault and map to
/// 4xx answers; the others are ours.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From the group-commit writer's own SQLite connection.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Maps unique-constraint violations to `Conflict` with a readable message.
    pub(crate) fn unique(e: sqlx::Error, what: &str) -> StoreError {
        if let sqlx::Error::Database(d) = &e {
            if d.kind() == sqlx::error::ErrorKind::UniqueViolation {
                return StoreError::Conflict(format!("{what} already exists"));
            }
        }
        StoreError::Db(e)
    }
}

/// Microseconds since the Unix epoch, the representation of instants in the database.
pub fn micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`micros`].
pub fn from_micros(us: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// Compares two byte strings in time independent of where they differ.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn parse_id<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad {what} id {s:?}")))
}

pub(crate) fn parse_code<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad {what} code {s:?}")))
}

pub(crate) fn parse_date(s: &str) -> Result<time::Date> {
    time::Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|_| StoreError::Corrupt(format!("bad date {s:?}")))
}

pub(crate) fn fmt_date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A column holding blob hashes: in the rows `only_where` selects (all rows when None).
pub(crate) struct BlobReference {
    pub table: &'static str,
    pub column: &'static str,
    pub only_where: Option<&'static str>,
}

impl BlobReference {
    /// The condition selecting the rows whose `column` names a stored blob.
    fn condition(&self) -> String {
        match self.only_where {
            Some(w) => format!("{} IS NOT NULL AND ({w})", self.column),
            None => format!("{} IS NOT NULL", self.column),
        }
    }

    /// Every blob hash these rows hold, once each.
    pub(crate) fn all_sql(&self) -> String {
        let (t, c) = (self.table, self.column);
        format!("SELECT DISTINCT {c} FROM {t} WHERE {}", self.condition())
    }

    /// A row referring to the blob `$1`, if any.
    pub(crate) fn any_sql(&self) -> String {
        let (t, c) = (self.table, self.column);
        format!(
            "SELECT 1 FROM {t} WHERE {c} = $1 AND {} LIMIT 1",
            self.condition()
        )
    }
}

const fn blob_column(table: &'static str, column: &'static str) -> BlobReference {
    BlobReference {
        table,
        column,
        only_where: None,
    }
}

/// Every column holding blob hashes. Adding a table that references blobs means adding it here,
/// so that fsck checks it and garbage collection keeps its blobs.
pub(crate) const BLOB_REFERENCES: &[BlobReference] = &[
    blob_column("documents", "sha256"),
    // A receipt PDF stored whole is the blob named by its hash; one stored split is the
    // concatenation of its two parts' blobs, and its own hash names no blob.
    BlobReference {
        table: "filings",
        column: "receipt_pdf",
        only_where: Some("receipt_tail IS NULL"),
    },
    blob_column("filings", "receipt_prefix"),
    // A tail is a blob only for receipts stored before tails were kept in the filing's row.
    BlobReference {
        table: "filings",
        column: "receipt_tail",
        only_where: Some("receipt_tail_bytes IS NULL"),
    },
    // ("filings", "receipt_json") is the hash of the JSON receipt embedded in the receipt PDF,
    // not a blob of its own (before, it was stored separately as well; those copies are now
    // unreferenced and collected).
    blob_column("folder_versions", "sha256"),
    blob_column("folders", "evidence_sha256"),
];
