//! Group commit of registrations (and of the receipts that follow them).
//!
//! A registration's transaction is short, but its commit must reach the disk (an acknowledged
//! filing is durable), and commits to one SQLite file are serial. So registrations that arrive
//! together are written in one transaction by a single writer task — a failing registration
//! gets its error and leaves nothing behind (on PostgreSQL it is rolled back to its savepoint;
//! on SQLite the batch is rolled back and written again without it) — then one commit makes the
//! whole batch durable, and only then does every caller get its number.
//! Numbers are still allocated in the same transaction as their record; under PostgreSQL the
//! counter row lock keeps them gapless across several servers as well.
//!
//! The sealed receipts of portal filings are recorded by the same writer: each filing needs a
//! second durable write once its receipts are made, and giving each its own commit would make
//! filings wait on one another's disk syncs. So are the signed tree heads the receipts quote: a
//! transaction of their own would queue behind the writer's for SQLite's single write lock.
//!
//! On SQLite the writer owns a connection of its own and runs its statements on its thread (see
//! `exec`): through sqlx each statement would be a round trip to another thread.

use crate::audit::Actor;
use crate::exec::{args, Exec};
use crate::log::StoredTreeHead;
use crate::portal::ReceiptParts;
use crate::registry::{write_registration, PreparedRegistration, Registered};
use crate::{Result, StoreError};
use diwan_core::{AdministrationId, CorrespondenceId};
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// Most registrations committed together.
const MAX_BATCH: usize = 128;

pub(crate) enum Job {
    Register {
        admin: AdministrationId,
        actor: Actor,
        prepared: Box<PreparedRegistration>,
        reply: oneshot::Sender<Result<Registered>>,
    },
    Receipts {
        filing: CorrespondenceId,
        pdf_sha256: String,
        json_sha256: String,
        parts: Option<ReceiptParts>,
        /// The tail's bytes, kept in the filing's row (with `parts` only).
        tail_bytes: Option<Vec<u8>>,
        /// Answered with the number of filings updated (0: unknown, or already recorded).
        reply: oneshot::Sender<Result<u64>>,
    },
    /// A signed head of the transparency log (one per batch of receipts under load).
    TreeHead {
        head: StoredTreeHead,
        reply: oneshot::Sender<Result<u64>>,
    },
}

impl Job {
    fn fail(self, e: StoreError) {
        self.answer(Err(e));
    }

    /// Answers the caller with what writing the job gave (once committed) or its error.
    fn answer(self, outcome: Result<Outcome>) {
        match (self, outcome) {
            (Job::Register { reply, .. }, Ok(Outcome::Registered(r))) => {
                let _ = reply.send(Ok(r));
            }
            (Job::Register { reply, .. }, Ok(Outcome::Rows(_))) => {
                let _ = reply.send(Err(StoreError::Unavailable(
                    "a registration answered with rows".into(),
                )));
            }
            (Job::Register { reply, .. }, Err(e)) => {
                let _ = reply.send(Err(e));
            }
            (Job::Receipts { reply, .. } | Job::TreeHead { reply, .. }, outcome) => {
                let _ = reply.send(outcome.and_then(|o| match o {
                    Outcome::Rows(n) => Ok(n),
                    Outcome::Registered(_) => Err(StoreError::Unavailable(
                        "a write answered with a registration".into(),
                    )),
                }));
            }
        }
    }

    /// Whether the job is a single statement (which SQLite undoes alone when it fails).
    fn single_statement(&self) -> bool {
        !matches!(self, Job::Register { .. })
    }
}

/// What a job wrote inside the batch's transaction, given to its caller once committed.
enum Outcome {
    Registered(Registered),
    /// Receipts recorded or a tree head saved: the rows written.
    Rows(u64),
}

/// The handle through which registrations are submitted.
#[derive(Clone)]
pub(crate) struct Registrar {
    tx: mpsc::Sender<Job>,
}

impl Registrar {
    /// Starts the writer task on `runtime`, a thread of its own. It ends when every handle is
    /// dropped.
    pub(crate) fn start(writer: Writer, runtime: &tokio::runtime::Handle) -> Registrar {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        runtime.spawn(run(writer, rx));
        Registrar { tx }
    }

    /// Submits a registration and waits until it is durable (or refused).
    pub(crate) async fn submit(
        &self,
        admin: AdministrationId,
        actor: Actor,
        prepared: PreparedRegistration,
    ) -> Result<Registered> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Register {
            admin,
            actor,
            prepared: Box::new(prepared),
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Records the receipts of a filing and waits until it is durable; returns how many
    /// filings were updated.
    pub(crate) async fn set_receipts(
        &self,
        filing: CorrespondenceId,
        pdf_sha256: &str,
        json_sha256: &str,
        parts: Option<ReceiptParts>,
        tail_bytes: Option<Vec<u8>>,
    ) -> Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Receipts {
            filing,
            pdf_sha256: pdf_sha256.into(),
            json_sha256: json_sha256.into(),
            parts,
            tail_bytes,
            reply,
        })
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    /// Queues a signed tree head. It is written in the order it was queued: anything queued
    /// after it (a receipt quoting it) commits in the same batch or a later one.
    pub(crate) async fn queue_tree_head(&self, head: StoredTreeHead) -> Result<QueuedWrite> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::TreeHead { head, reply }).await?;
        Ok(QueuedWrite(answer))
    }

    async fn send(&self, job: Job) -> Result<()> {
        self.tx.send(job).await.map_err(|_| stopped())
    }
}

/// A write queued to the group-commit writer.
#[must_use = "the write's outcome is only known by waiting for it"]
pub struct QueuedWrite(oneshot::Receiver<Result<u64>>);

impl QueuedWrite {
    /// Waits until the write is durable (or failed).
    pub async fn wait(self) -> Result<()> {
        self.0.await.map_err(|_| stopped())?.map(|_| ())
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the registration writer has stopped".into())
}

/// Writes one job inside the batch's transaction.
async fn write_job<E: Exec + ?Sized>(tx: &mut E, job: &Job) -> Result<Outcome> {
    match job {
        Job::Register {
            admin,
            actor,
            prepared,
            ..
        } => write_registration(tx, &admin.to_string(), prepared, actor)
            .await
            .map(Outcome::Registered),
        Job::Receipts {
            filing,
            pdf_sha256,
            json_sha256,
            parts,
            tail_bytes,
            ..
        } => {
            // Receipts are produced once: a second recording keeps the first ones.
            tx.execute(
                "UPDATE filings SET receipt_pdf = $2, receipt_json = $3, receipt_prefix = $4, receipt_tail = $5, \
                 receipt_tail_bytes = $6 WHERE correspondence_id = $1 AND receipt_pdf IS NULL",
                args![
                    filing.to_string(),
                    pdf_sha256,
                    json_sha256,
                    parts.as_ref().map(|p| p.prefix.as_str()),
                    parts.as_ref().map(|p| p.tail.as_str()),
                    tail_bytes.as_deref()
                ],
            )
            .await
            .map(Outcome::Rows)
        }
        Job::TreeHead { head, .. } => crate::log::insert_tree_head(tx, head)
            .await
            .map(Outcome::Rows),
    }
}

/// The connection the writer writes through.
pub(crate) enum Writer {
    /// SQLite: a connection of the writer's own, its statements run on the writer's thread.
    Direct(rusqlite::Connection),
    /// PostgreSQL: a pool connection per batch.
    Pool(AnyPool),
}

/// Opens the writer's own connection to a SQLite database (already created and migrated), with
/// the pragmas of the pools but a smaller page cache: the writer's hot pages (counters, heads,
/// the right edges of the indexes) fit in 8 MB, and the pools' 32 MB cost about 10 MiB more
/// resident memory after a few thousand filings for the same writer time (docs/BENCHMARKS.md).
pub(crate) fn open_direct(path: &std::path::Path, synchronous_full: bool) -> Result<Writer> {
    let conn = rusqlite::Connection::open(path)?;
    conn.set_prepared_statement_cache_capacity(64);
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA foreign_keys=ON; \
         PRAGMA cache_size=-8000; PRAGMA temp_store=MEMORY;"
    ))?;
    // Another connection (the pools' writes) may hold the write lock for a moment: retry often,
    // not after SQLite's default sleeps of up to 100 ms, which every filing would wait out.
    conn.busy_handler(Some(retry_while_busy))?;
    Ok(Writer::Direct(conn))
}

/// Waits 0.1 ms, doubling up to 5 ms, for at most about 30 s.
fn retry_while_busy(attempt: i32) -> bool {
    let wait = std::time::Duration::from_micros(100u64 << attempt.clamp(0, 6))
        .min(std::time::Duration::from_millis(5));
    std::thread::sleep(wait);
    attempt < 6_000
}

async fn run(mut writer: Writer, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let (jobs, started) = (batch.len(), std::time::Instant::now());
        match &mut writer {
            Writer::Direct(conn) => write_batch_direct(conn, batch).await,
            Writer::Pool(pool) => write_batch_pool(pool, batch).await,
        }
        tracing::debug!(
            jobs,
            micros = started.elapsed().as_micros() as u64,
            "batch written"
        );
    }
}

async fn write_batch_pool(pool: &AnyPool, batch: Vec<Job>) {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, &e.to_string()),
    };
    // PostgreSQL aborts the whole transaction on an error: every job needs its savepoint.
    let Some(done) = write_jobs_in_savepoints(&mut tx, batch).await else {
        return;
    };
    let committing = std::time::Instant::now();
    let committed = tx.commit().await.map_err(|e| e.to_string());
    answer_all(done, committed, committing);
}

/// SQLite: the jobs written one after the other, without savepoints (two statements fewer per
/// registration). A single statement that fails is undone alone by SQLite and answered with its
/// error. A registration that fails half-way rolls the whole transaction back: it is answered
/// with its error and the batch is written again without it (each round drops a job, so this
/// ends), so the failing registration consumes no number and leaves nothing behind.
async fn write_batch_direct(conn: &mut rusqlite::Connection, mut batch: Vec<Job>) {
    while !batch.is_empty() {
        if !conn.is_autocommit() {
            // A transaction left open by a failure that could not even roll back.
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            return fail_all(batch, &e.to_string());
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut failed = None;
        for (i, job) in batch.iter().enumerate() {
            match write_job(conn, job).await {
                Ok(o) => outcomes.push(Ok(o)),
                Err(e) if job.single_statement() => outcomes.push(Err(e)),
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        if let Some((i, e)) = failed {
            if let Err(re) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %re, "rollback of a registration batch failed");
            }
            batch.remove(i).fail(e);
            continue;
        }
        let committing = std::time::Instant::now();
        let committed = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return answer_all(
            batch.into_iter().zip(outcomes).collect(),
            committed,
            committing,
        );
    }
}

fn fail_all(batch: Vec<Job>, e: &str) {
    tracing::error!(error = %e, "cannot begin a registration batch");
    for job in batch {
        job.fail(StoreError::Unavailable(format!(
            "database unavailable: {e}"
        )));
    }
}

/// Answers every job of a batch once its commit is known: what it wrote if the commit
/// succeeded, the commit's error otherwise; a job that failed on its own keeps its error.
fn answer_all(
    done: Vec<(Job, Result<Outcome>)>,
    committed: std::result::Result<(), String>,
    committing: std::time::Instant,
) {
    tracing::debug!(
        micros = committing.elapsed().as_micros() as u64,
        "batch committed"
    );
    if let Err(e) = &committed {
        tracing::error!(error = %e, "registration batch commit failed");
    }
    for (job, outcome) in done {
        let outcome = match (&committed, outcome) {
            (Ok(()), o) => o,
            (Err(_), Err(e)) => Err(e),
            (Err(m), Ok(_)) => Err(StoreError::Unavailable(format!("commit failed: {m}"))),
        };
        job.answer(outcome);
    }
}

/// Writes a batch's jobs inside the transaction, each in its own savepoint. None when the
/// transaction itself broke: then every job has been answered with the error, and the caller
/// must roll back.
async fn write_jobs_in_savepoints<E: Exec + ?Sized>(
    tx: &mut E,
    batch: Vec<Job>,
) -> Option<Vec<(Job, Result<Outcome>)>> {
    let mut done: Vec<(Job, Result<Outcome>)> = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = tx.execute("SAVEPOINT registration", args![]).await {
            tracing::error!(error = %e, "savepoint failed");
            let msg = format!("database unavailable: {e}");
            for j in std::iter::once(job)
                .chain(jobs.by_ref())
                .chain(done.into_iter().map(|(j, _)| j))
            {
                j.fail(StoreError::Unavailable(msg.clone()));
            }
            return None;
        }
        match write_job(tx, &job).await {
            Ok(o) => match tx.execute("RELEASE SAVEPOINT registration", args![]).await {
                Ok(_) => done.push((job, Ok(o))),
                Err(e) => job.fail(StoreError::Unavailable(format!("database error: {e}"))),
            },
            Err(e) => {
                let rolled = tx
                    .execute("ROLLBACK TO SAVEPOINT registration", args![])
                    .await;
                let _ = tx.execute("RELEASE SAVEPOINT registration", args![]).await;
                if let Err(re) = rolled {
                    tracing::error!(error = %re, "rollback to savepoint failed");
                }
                job.fail(e);
            }
        }
    }
    Some(done)
}

#[cfg(test)]
mod tests {
    use crate::org::{Names, NewEntity};
    use crate::registry::{NewCorrespondence, NewDocument, Party};
    use crate::{Actor, LocalBlobStore, Store, StoreError, StoreOptions};
    use diwan_core::correspondence::*;
    use diwan_core::media::MediaType;
    use diwan_core::numbering::{Direction, NumberFormat};
    use diwan_core::org::*;
    use diwan_core::text::FileName;
    use std::sync::Arc;

    struct Fixture {
        dir: tempfile::TempDir,
        store: Store,
        admin: diwan_core::AdministrationId,
        register: diwan_core::RegisterId,
        actor: Actor,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(LocalBlobStore::open(dir.path().join("b")).await.unwrap());
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = Store::open(&StoreOptions::new(url), blobs).await.unwrap();
        let actor = Actor::system("test");
        let adm = store
            .create_administration(
                "BATCH",
                AdministrationKind::Ministry,
                Names::new("B", "ب", None).unwrap(),
                &actor,
            )
            .await
            .unwrap();
        let t = store.tenant(adm.id);
        let e = t
            .create_entity(
                NewEntity {
                    parent: None,
                    code: "BO".into(),
                    kind: EntityKind::RegistryOffice,
                    level: Level::Central,
                    names: Names::new("Bureau", "مكتب", None).unwrap(),
                },
                &actor,
            )
            .await
            .unwrap();
        let reg = t
            .create_register(
                e.id,
                Direction::Incoming,
                "A",
                &NumberFormat::default(),
                &actor,
            )
            .await
            .unwrap();
        Fixture {
            dir,
            store,
            admin: adm.id,
            register: reg.id,
            actor,
        }
    }

    impl Fixture {
        async fn prepare(&self, i: usize) -> crate::registry::PreparedRegistration {
            let blob = self
                .store
                .blobs()
                .stage_bytes(format!("%PDF doc {i}").as_bytes())
                .await
                .unwrap();
            let new = NewCorrespondence {
                register: self.register,
                direction: Direction::Incoming,
                subject: format!("L{i}"),
                summary: None,
                party: Party {
                    kind: ContactKind::Person,
                    name: "X".into(),
                    id_number: None,
                    email: None,
                    phone: None,
                    address: None,
                },
                contact: None,
                letter_date: None,
                received_at: time::OffsetDateTime::now_utc(),
                external_ref: None,
                channel: Channel::Counter,
                confidentiality: Confidentiality::Normal,
                priority: Priority::Normal,
                due: None,
                documents: vec![NewDocument {
                    role: DocumentRole::Main,
                    file_name: FileName::parse("a.pdf").unwrap(),
                    media_type: MediaType::Pdf,
                    blob,
                }],
                portal: None,
            };
            self.store
                .tenant(self.admin)
                .prepare_registration(new, time::UtcOffset::UTC)
                .await
                .unwrap()
        }
    }

    /// A registration that fails inside a batch is rolled back alone: the others keep their
    /// numbers, gapless, and the failing one consumes none.
    #[tokio::test]
    async fn a_failing_registration_does_not_spoil_its_batch() {
        let f = fixture().await;
        let mut prepared = Vec::new();
        for i in 0..12 {
            let mut p = f.prepare(i).await;
            if i == 5 {
                // Make this one fail inside the transaction: its register vanished meanwhile.
                p.register = diwan_core::RegisterId::new();
            }
            prepared.push(p);
        }
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|p| {
                let (store, a, adm) = (f.store.clone(), f.actor.clone(), f.admin);
                tokio::spawn(async move { store.submit(adm, a, p).await })
            })
            .collect();
        let mut seqs = Vec::new();
        let mut failures = 0;
        for h in handles {
            match h.await.unwrap() {
                Ok(r) => seqs.push(r.seq),
                Err(StoreError::NotFound("register")) => failures += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        seqs.sort();
        assert_eq!(failures, 1);
        assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
        let report = f.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{:?}", report.damage);
        assert_eq!(report.correspondences, 11);
    }

    /// One batch, written without savepoints: a registration failing half-way rolls the
    /// transaction back and the batch is written again without it. The others keep gapless
    /// numbers in their order, a single statement that fails alone keeps its own answer, and the
    /// store is sound.
    #[tokio::test]
    async fn a_batch_is_written_again_without_its_failing_registration() {
        let f = fixture().await;
        let mut conn = match super::open_direct(&f.dir.path().join("d.db"), true).unwrap() {
            super::Writer::Direct(c) => c,
            super::Writer::Pool(_) => unreachable!(),
        };
        let mut batch = Vec::new();
        let mut answers = Vec::new();
        let mut receipts = None;
        for i in 0..8 {
            let mut p = f.prepare(i).await;
            if i == 3 || i == 6 {
                p.register = diwan_core::RegisterId::new();
            }
            let (reply, answer) = tokio::sync::oneshot::channel();
            batch.push(super::Job::Register {
                admin: f.admin,
                actor: f.actor.clone(),
                prepared: Box::new(p),
                reply,
            });
            answers.push(answer);
            if i == 4 {
                let (reply, answer) = tokio::sync::oneshot::channel();
                batch.push(super::Job::Receipts {
                    filing: diwan_core::CorrespondenceId::new(),
                    pdf_sha256: "00".repeat(32),
                    json_sha256: "11".repeat(32),
                    parts: None,
                    tail_bytes: None,
                    reply,
                });
                receipts = Some(answer);
            }
        }
        super::write_batch_direct(&mut conn, batch).await;
        let mut seqs = Vec::new();
        for (i, a) in answers.into_iter().enumerate() {
            match a.await.unwrap() {
                Ok(r) => seqs.push(r.seq),
                Err(StoreError::NotFound("register")) => assert!(i == 3 || i == 6, "{i}"),
                Err(e) => panic!("{i}: {e}"),
            }
        }
        assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
        // An unknown filing: no row updated, answered as such.
        assert_eq!(receipts.unwrap().await.unwrap().unwrap(), 0);
        let report = f.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{:?}", report.damage);
        assert_eq!(report.correspondences, 6);
    }

    /// The writer's own connection waits while another connection holds SQLite's write lock,
    /// and registers once it is released.
    #[tokio::test]
    async fn the_writer_waits_out_another_connections_write_lock() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let f = fixture().await;
        let p = f.prepare(0).await;
        let other = rusqlite::Connection::open(f.dir.path().join("d.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let holder = std::thread::spawn({
            let released = released.clone();
            move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                released.store(true, Ordering::SeqCst);
                other.execute_batch("COMMIT").unwrap();
            }
        });
        let r = f.store.submit(f.admin, f.actor.clone(), p).await.unwrap();
        assert!(
            released.load(Ordering::SeqCst),
            "registered under another's lock"
        );
        assert_eq!(r.seq, 1);
        holder.join().unwrap();
        let report = f.store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{:?}", report.damage);
    }
}
