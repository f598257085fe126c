//! Connection pools, engine selection and migrations.

use crate::blob::BlobStore;
use crate::{Result, StoreError};
use diwan_core::AdministrationId;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::sync::Arc;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// Read connections (and all connections on PostgreSQL).
    pub max_connections: u32,
    /// SQLite only: `FULL` makes every commit durable on power loss (the default: an
    /// acknowledged filing must survive); `NORMAL` trades that for speed.
    pub sqlite_synchronous_full: bool,
}

impl StoreOptions {
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            max_connections: 8,
            sqlite_synchronous_full: true,
        }
    }
}

struct Inner {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    blobs: Arc<dyn BlobStore>,
    /// Writes registrations in batches (group commit).
    registrar: crate::batch::Registrar,
    /// PostgreSQL: the full-text index's most common lexemes and the table's size, as of the
    /// last `ANALYZE` (read again after a few minutes).
    word_stats: std::sync::Mutex<Option<(std::time::Instant, Arc<crate::registry::WordStats>)>>,
}

/// Starts the runtime of the registration writer: a thread of its own, so that the writer's
/// round trips to the database are not queued behind request handling.
fn writer_runtime() -> Result<tokio::runtime::Handle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("diwan-writer")
        .build()
        .map_err(|e| StoreError::Invalid(format!("cannot start the writer runtime: {e}")))?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("diwan-writer".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(|e| StoreError::Invalid(format!("cannot start the writer thread: {e}")))?;
    Ok(handle)
}

/// The blob store behind the small documents kept in the database.
fn database_first(
    read: &AnyPool,
    write: &AnyPool,
    files: Arc<dyn BlobStore>,
) -> Arc<dyn BlobStore> {
    Arc::new(crate::small_blobs::DatabaseFirst::new(
        read.clone(),
        write.clone(),
        files,
    ))
}

/// The store: database pools plus the blob store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish()
    }
}

impl Store {
    /// Connects, applies pending migrations and returns the store.
    pub async fn open(opts: &StoreOptions, blobs: Arc<dyn BlobStore>) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let url = opts.database_url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(format!(
                "unsupported database URL (expected sqlite:// or postgres://): {}",
                redact(url)
            )));
        };
        let store = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let sync = if opts.sqlite_synchronous_full {
                    "FULL"
                } else {
                    "NORMAL"
                };
                let pragmas = format!(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; \
                     PRAGMA busy_timeout=30000; PRAGMA cache_size=-32000; PRAGMA temp_store=MEMORY;"
                );
                let p1 = pragmas.clone();
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(move |c, _| {
                        let p = p1.clone();
                        Box::pin(async move {
                            c.execute(p.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                // Apply migrations before readers open so that they see the schema.
                SQLITE_MIGRATIONS.run(&write).await?;
                let read = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(1))
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(move |c, _| {
                        let p = pragmas.clone();
                        Box::pin(async move {
                            c.execute(p.as_str()).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                let file =
                    <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)?;
                let writer =
                    crate::batch::open_direct(file.get_filename(), opts.sqlite_synchronous_full)?;
                let registrar = crate::batch::Registrar::start(writer, &writer_runtime()?);
                let blobs = database_first(&read, &write, blobs);
                Store {
                    inner: Arc::new(Inner {
                        backend,
                        read,
                        write,
                        blobs,
                        registrar,
                        word_stats: Default::default(),
                    }),
                }
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(opts.max_connections.max(2))
                    .acquire_timeout(Duration::from_secs(60))
                    // Plan every statement with its values: a generic plan of a search chooses
                    // one access path for a word in a third of the records and a rare name alike.
                    // No JIT: a search walking the newest records is costed high but stops
                    // early, and compiling it took longer (50 ms) than running it (20 ms).
                    .after_connect(|c, _| {
                        Box::pin(async move {
                            c.execute("SET plan_cache_mode = force_custom_plan; SET jit = off")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                let registrar = crate::batch::Registrar::start(
                    crate::batch::Writer::Pool(pool.clone()),
                    &writer_runtime()?,
                );
                Store {
                    inner: Arc::new(Inner {
                        backend,
                        read: pool.clone(),
                        write: pool.clone(),
                        blobs: database_first(&pool, &pool, blobs),
                        registrar,
                        word_stats: Default::default(),
                    }),
                }
            }
        };
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The cached full-text statistics, when younger than `max_age`.
    pub(crate) fn word_stats(&self, max_age: Duration) -> Option<Arc<crate::registry::WordStats>> {
        let g = self.inner.word_stats.lock().ok()?;
        g.as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, s)| s.clone())
    }

    pub(crate) fn set_word_stats(&self, stats: Arc<crate::registry::WordStats>) {
        if let Ok(mut g) = self.inner.word_stats.lock() {
            *g = Some((std::time::Instant::now(), stats));
        }
    }

    /// The blobs: small documents kept in the database, then the files of the store given to
    /// [`Store::open`] (see [`crate::small_blobs`]).
    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.inner.blobs
    }

    /// The pool for reads.
    pub(crate) fn read(&self) -> &AnyPool {
        &self.inner.read
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.inner.backend {
            Backend::Sqlite => self.inner.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.write.begin().await?,
        })
    }

    /// Submits a prepared registration to the group-commit writer.
    pub(crate) async fn submit(
        &self,
        admin: AdministrationId,
        actor: crate::Actor,
        prepared: crate::registry::PreparedRegistration,
    ) -> Result<crate::registry::Registered> {
        self.inner.registrar.submit(admin, actor, prepared).await
    }

    /// Records a filing's receipts through the group-commit writer.
    pub(crate) async fn set_receipts_batched(
        &self,
        filing: diwan_core::CorrespondenceId,
        pdf_sha256: &str,
        json_sha256: &str,
        parts: Option<crate::portal::ReceiptParts>,
        tail_bytes: Option<Vec<u8>>,
    ) -> Result<u64> {
        self.inner
            .registrar
            .set_receipts(filing, pdf_sha256, json_sha256, parts, tail_bytes)
            .await
    }

    /// Queues a signed tree head to the group-commit writer.
    pub(crate) async fn queue_tree_head_batched(
        &self,
        head: crate::log::StoredTreeHead,
    ) -> Result<crate::batch::QueuedWrite> {
        self.inner.registrar.queue_tree_head(head).await
    }

    /// The tenant-scoped view of one administration.
    pub fn tenant(&self, admin: AdministrationId) -> Tenant {
        Tenant {
            store: self.clone(),
            admin,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        let row: AnyRow = sqlx::query("SELECT 1").fetch_one(self.read()).await?;
        let _: i64 = row
            .try_get::<i64, _>(0)
            .or_else(|_| row.try_get::<i32, _>(0).map(i64::from))?;
        Ok(())
    }

    /// Closes the pools (graceful shutdown).
    pub async fn close(&self) {
        self.inner.write.close().await;
        self.inner.read.close().await;
    }
}

/// The store seen from one administration. Every method adds the administration to its queries.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub(crate) store: Store,
    pub(crate) admin: AdministrationId,
}

impl Tenant {
    pub fn administration_id(&self) -> AdministrationId {
        self.admin
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    pub(crate) fn admin_str(&self) -> String {
        self.admin.to_string()
    }
}

/// Hides the password of a database URL in messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(super::redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
