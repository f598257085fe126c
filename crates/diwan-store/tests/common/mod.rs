//! Test support: the same tests run on SQLite and, when `DIWAN_TEST_DATABASE_URL` points at a
//! PostgreSQL server, on PostgreSQL too (each test in a fresh database).
#![allow(dead_code)]

use diwan_core::correspondence::*;
use diwan_core::media::MediaType;
use diwan_core::numbering::{Direction, NumberFormat};
use diwan_core::org::*;
use diwan_core::text::FileName;
use diwan_store::org::{Entity, Names, NewEntity, Register};
use diwan_store::registry::{NewCorrespondence, NewDocument, Party};
use diwan_store::{Actor, LocalBlobStore, Store, StoreOptions, Tenant};
use sqlx::Connection;
use std::sync::Arc;

pub struct TestStore {
    pub name: &'static str,
    pub store: Store,
    pub dir: tempfile::TempDir,
    /// The database URL, for tests that tamper with the database behind the store's back.
    pub url: String,
}

/// A fresh store on every engine available.
pub async fn stores() -> Vec<TestStore> {
    let mut out = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(
        LocalBlobStore::open(dir.path().join("blobs"))
            .await
            .unwrap(),
    );
    let url = format!("sqlite://{}", dir.path().join("diwan.db").display());
    let store = Store::open(&StoreOptions::new(url.clone()), blobs)
        .await
        .unwrap();
    out.push(TestStore {
        name: "sqlite",
        store,
        dir,
        url,
    });
    if let Ok(base) = std::env::var("DIWAN_TEST_DATABASE_URL") {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(
            LocalBlobStore::open(dir.path().join("blobs"))
                .await
                .unwrap(),
        );
        let db = format!("diwan_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&base)
            .await
            .expect("connect to DIWAN_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = match base.rfind('/') {
            Some(i) if i > "postgres://".len() => format!("{}/{db}", &base[..i]),
            _ => format!("{base}/{db}"),
        };
        let store = Store::open(&StoreOptions::new(url.clone()), blobs)
            .await
            .unwrap();
        out.push(TestStore {
            name: "postgres",
            store,
            dir,
            url,
        });
    } else if std::env::var("DIWAN_REQUIRE_TOOLS").is_ok() {
        panic!("DIWAN_REQUIRE_TOOLS is set but DIWAN_TEST_DATABASE_URL is not: PostgreSQL tests cannot run");
    }
    out
}

pub fn actor() -> Actor {
    Actor::system("test")
}

pub struct Org {
    pub tenant: Tenant,
    pub root: Entity,
    pub office: Entity,
    pub incoming: Register,
    pub outgoing: Register,
}

/// An administration with a directorate, a registry office and its two registers.
pub async fn org(store: &Store, code: &str) -> Org {
    let admin = store
        .create_administration(
            code,
            AdministrationKind::Ministry,
            Names::new(&format!("Ministère {code}"), "وزارة", None).unwrap(),
            &actor(),
        )
        .await
        .unwrap();
    let tenant = store.tenant(admin.id);
    let root = tenant
        .create_entity(
            NewEntity {
                parent: None,
                code: format!("{code}-DC"),
                kind: EntityKind::Directorate,
                level: Level::Central,
                names: Names::new("Direction centrale", "المديرية المركزية", None).unwrap(),
            },
            &actor(),
        )
        .await
        .unwrap();
    let office = tenant
        .create_entity(
            NewEntity {
                parent: Some(root.id),
                code: format!("BO-{code}"),
                kind: EntityKind::RegistryOffice,
                level: Level::Central,
                names: Names::new("Bureau d'ordre", "مكتب الضبط", None).unwrap(),
            },
            &actor(),
        )
        .await
        .unwrap();
    let incoming = tenant
        .create_register(
            office.id,
            Direction::Incoming,
            "Arrivée",
            &NumberFormat::default(),
            &actor(),
        )
        .await
        .unwrap();
    let outgoing = tenant
        .create_register(
            office.id,
            Direction::Outgoing,
            "Départ",
            &NumberFormat::default(),
            &actor(),
        )
        .await
        .unwrap();
    Org {
        tenant,
        root,
        office,
        incoming,
        outgoing,
    }
}

pub fn party(name: &str) -> Party {
    Party {
        kind: ContactKind::Person,
        name: name.into(),
        id_number: None,
        email: None,
        phone: None,
        address: None,
    }
}

/// A correspondence for `register` with one small PDF.
pub async fn new_corr(
    store: &Store,
    register: &Register,
    subject: &str,
    content: &[u8],
) -> NewCorrespondence {
    let blob = store.blobs().stage_bytes(content).await.unwrap();
    NewCorrespondence {
        register: register.id,
        direction: register.direction,
        subject: subject.into(),
        summary: None,
        party: party("Amina El Idrissi"),
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
            file_name: FileName::parse("lettre.pdf").unwrap(),
            media_type: MediaType::Pdf,
            blob,
        }],
        portal: None,
    }
}

pub const OFFSET: time::UtcOffset = time::UtcOffset::UTC;
