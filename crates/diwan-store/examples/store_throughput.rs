//! Times the phases of a registration at the store level (no HTTP): staging, promotion, transaction.
use diwan_core::correspondence::*;
use diwan_core::media::MediaType;
use diwan_core::numbering::{Direction, NumberFormat};
use diwan_core::org::*;
use diwan_core::text::FileName;
use diwan_store::org::{Names, NewEntity};
use diwan_store::registry::{NewCorrespondence, NewDocument, Party};
use diwan_store::{Actor, LocalBlobStore, Store, StoreOptions};
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let conc: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let blobs = Arc::new(
        LocalBlobStore::open(dir.path().join("blobs"))
            .await
            .unwrap(),
    );
    let url =
        std::env::var("URL").unwrap_or(format!("sqlite://{}", dir.path().join("d.db").display()));
    let store = Store::open(&StoreOptions::new(url), blobs).await.unwrap();
    let a = Actor::system("bench");
    let adm = store
        .create_administration(
            "BENCH",
            AdministrationKind::Ministry,
            Names::new("B", "ب", None).unwrap(),
            &a,
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
                names: Names::new("B", "ب", None).unwrap(),
            },
            &a,
        )
        .await
        .unwrap();
    let reg = t
        .create_register(e.id, Direction::Incoming, "A", &NumberFormat::default(), &a)
        .await
        .unwrap();
    let start = Instant::now();
    let mut stage = 0f64;
    let mut handles = Vec::new();
    let per = n / conc;
    for w in 0..conc {
        let (t, store, reg, a) = (t.clone(), store.clone(), reg.clone(), a.clone());
        handles.push(tokio::spawn(async move {
            let mut st = 0f64;
            for i in 0..per {
                let mut body = format!("%PDF-1.4 {w} {i}").into_bytes();
                body.resize(10240, b'.');
                let t0 = Instant::now();
                let blob = store.blobs().stage_bytes(&body).await.unwrap();
                st += t0.elapsed().as_secs_f64();
                let new = NewCorrespondence {
                    register: reg.id,
                    direction: Direction::Incoming,
                    subject: "Bench".into(),
                    summary: None,
                    party: Party {
                        kind: ContactKind::Company,
                        name: "Bench".into(),
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
                t.register_correspondence(new, &a, time::UtcOffset::UTC)
                    .await
                    .unwrap();
            }
            st
        }));
    }
    for h in handles {
        stage += h.await.unwrap();
    }
    let el = start.elapsed().as_secs_f64();
    println!(
        "{n} registrations, concurrency {conc}: {:.0}/s; staging {:.0} µs avg",
        n as f64 / el,
        stage / n as f64 * 1e6
    );
}
