//! Group commit of registrations.
//!
//! A registration's transaction is short, but its commit must reach the disk (an acknowledged
//! filing is durable), and commits to one SQLite file are serial. So registrations that arrive
//! together are written in one transaction by a single writer task: each inside its own
//! savepoint — a failing registration is rolled back alone and its caller gets its error — then
//! one commit makes the whole batch durable, and only then does every caller get its number.
//! Numbers are still allocated in the same transaction as their record; under PostgreSQL the
//! counter row lock keeps them gapless across several servers as well.

use crate::audit::Actor;
use crate::registry::{write_registration, PreparedRegistration, Registered};
use crate::{Backend, Result, StoreError};
use diwan_core::AdministrationId;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

/// Most registrations committed together.
const MAX_BATCH: usize = 128;

pub(crate) struct Job {
    admin: AdministrationId,
    actor: Actor,
    prepared: PreparedRegistration,
    reply: oneshot::Sender<Result<Registered>>,
}

/// The handle through which registrations are submitted.
#[derive(Clone)]
pub(crate) struct Registrar {
    tx: mpsc::Sender<Job>,
}

impl Registrar {
    /// Starts the writer task on `runtime`. It ends when every handle is dropped.
    pub(crate) fn start(
        pool: AnyPool,
        backend: Backend,
        runtime: &tokio::runtime::Handle,
    ) -> Registrar {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        runtime.spawn(run(pool, backend, rx));
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
        self.tx
            .send(Job {
                admin,
                actor,
                prepared,
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the registration writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the registration writer has stopped".into()))?
    }
}

async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(&pool, backend, batch).await;
    }
}

async fn write_batch(pool: &AnyPool, backend: Backend, batch: Vec<Job>) {
    let begun = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    };
    let mut tx = match begun {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, "cannot begin a registration batch");
            for job in batch {
                let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                    "database unavailable: {e}"
                ))));
            }
            return;
        }
    };
    let mut done = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        if let Err(e) = sqlx::query("SAVEPOINT registration")
            .execute(&mut *tx)
            .await
        {
            tracing::error!(error = %e, "savepoint failed");
            let msg = format!("database unavailable: {e}");
            let _ = job.reply.send(Err(StoreError::Unavailable(msg.clone())));
            for j in jobs.by_ref() {
                let _ = j.reply.send(Err(StoreError::Unavailable(msg.clone())));
            }
            for (reply, _) in done {
                let _: std::result::Result<(), _> =
                    oneshot::Sender::send(reply, Err(StoreError::Unavailable(msg.clone())));
            }
            return;
        }
        let admin = job.admin.to_string();
        match write_registration(&mut tx, &admin, &job.prepared, &job.actor).await {
            Ok(r) => {
                let released = sqlx::query("RELEASE SAVEPOINT registration")
                    .execute(&mut *tx)
                    .await;
                match released {
                    Ok(_) => done.push((job.reply, r)),
                    Err(e) => {
                        let _ = job.reply.send(Err(StoreError::Db(e)));
                    }
                }
            }
            Err(e) => {
                let rolled = sqlx::query("ROLLBACK TO SAVEPOINT registration")
                    .execute(&mut *tx)
                    .await;
                let _ = sqlx::query("RELEASE SAVEPOINT registration")
                    .execute(&mut *tx)
                    .await;
                if let Err(re) = rolled {
                    tracing::error!(error = %re, "rollback to savepoint failed");
                }
                let _ = job.reply.send(Err(e));
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, r) in done {
                let _ = reply.send(Ok(r));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "registration batch commit failed");
            for (reply, _) in done {
                let _ = reply.send(Err(StoreError::Unavailable(format!("commit failed: {e}"))));
            }
        }
    }
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

    /// A registration that fails inside a batch is rolled back alone: the others keep their
    /// numbers, gapless, and the failing one consumes none.
    #[tokio::test]
    async fn a_failing_registration_does_not_spoil_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(LocalBlobStore::open(dir.path().join("b")).await.unwrap());
        let url = format!("sqlite://{}", dir.path().join("d.db").display());
        let store = Store::open(&StoreOptions::new(url), blobs).await.unwrap();
        let a = Actor::system("test");
        let adm = store
            .create_administration(
                "BATCH",
                AdministrationKind::Ministry,
                Names::new("B", "ب", None).unwrap(),
                &a,
            )
            .await
            .unwrap();
        let t = store.tenant(adm.id);
        let names = || Names::new("Bureau", "مكتب", None).unwrap();
        let e = t
            .create_entity(
                NewEntity {
                    parent: None,
                    code: "BO".into(),
                    kind: EntityKind::RegistryOffice,
                    level: Level::Central,
                    names: names(),
                },
                &a,
            )
            .await
            .unwrap();
        let reg = t
            .create_register(e.id, Direction::Incoming, "A", &NumberFormat::default(), &a)
            .await
            .unwrap();
        let mut prepared = Vec::new();
        for i in 0..12 {
            let blob = store
                .blobs()
                .stage_bytes(format!("%PDF doc {i}").as_bytes())
                .await
                .unwrap();
            let new = NewCorrespondence {
                register: reg.id,
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
            let mut p = t
                .prepare_registration(new, time::UtcOffset::UTC)
                .await
                .unwrap();
            if i == 5 {
                // Make this one fail inside the transaction: its register vanished meanwhile.
                p.register = diwan_core::RegisterId::new();
            }
            prepared.push(p);
        }
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|p| {
                let (store, a) = (store.clone(), a.clone());
                tokio::spawn(async move { store.submit(adm.id, a, p).await })
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
        let report = store.fsck(&|_, _| {}).await.unwrap();
        assert!(report.is_sound(), "{:?}", report.damage);
        assert_eq!(report.correspondences, 11);
    }
}
