//! Synthetic correspondence in bulk, for benchmarks of queues and search at the scale of a large
//! ministry (a million records). Never used by the server: `diwan bench --corpus N` calls it on
//! a throwaway demo database before starting the server it measures.
//!
//! Rows are written with multi-row `INSERT`s in large transactions, bypassing the registration
//! path (no numbering counter, no audit, no log leaf), in a year no real registration uses.

use crate::{fmt_date, micros, Result, Tenant};
use diwan_core::{EntityId, RegisterId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Date, Duration, OffsetDateTime};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    pub rows: u64,
    pub register: RegisterId,
    /// Entities the records are assigned to (for action), round robin with noise.
    pub entities: Vec<EntityId>,
    /// The numbering year of the records (use one real registrations never reach).
    pub year: i32,
    /// Day the deadlines are computed from.
    pub today: Date,
}

const FIRST: &[&str] = &[
    "Youssef", "Fatima", "Mohammed", "Khadija", "Omar", "Salma", "Rachid", "Nadia", "Karim",
    "Laila", "Hamza", "Imane", "Anas", "Hind", "Mehdi", "Sara", "Ayoub", "Zineb", "Amine", "Houda",
];
const LAST: &[&str] = &[
    "Benali",
    "El Amrani",
    "Tazi",
    "Alaoui",
    "Berrada",
    "Chraibi",
    "Bennani",
    "Idrissi",
    "Fassi",
    "Lahlou",
    "Mernissi",
    "Ouazzani",
    "Senhaji",
    "Kettani",
    "Sqalli",
    "Benjelloun",
    "Filali",
    "Naciri",
    "Zniber",
    "Bouzidi",
];
const SUBJECTS: &[&str] = &[
    "Demande d'autorisation d'exploitation",
    "Réclamation concernant la décision",
    "Demande de certificat de résidence",
    "Invitation à la réunion régionale",
    "Recours gracieux contre l'arrêté",
    "Demande de raccordement au réseau",
    "Transmission du rapport annuel",
    "Demande de stage de fin d'études",
    "طلب الحصول على رخصة",
    "شكاية بخصوص قرار",
    "طلب شهادة إدارية",
    "دعوة لحضور اجتماع",
];
const PLACES: &[&str] = &[
    "Rabat",
    "Casablanca",
    "Tanger",
    "Fès",
    "Marrakech",
    "Agadir",
    "Oujda",
    "Kénitra",
    "Tétouan",
    "Meknès",
    "Laâyoune",
    "Errachidia",
];

/// Rows per `INSERT` statement.
const CHUNK: u64 = 200;
/// Rows per transaction.
const TX_ROWS: u64 = 20_000;

impl Tenant {
    /// Writes `spec.rows` synthetic correspondences, each assigned for action to one of
    /// `spec.entities`, calling `progress` with the count written after each transaction.
    pub async fn fill_synthetic(
        &self,
        spec: &SyntheticSpec,
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        let admin = self.admin_str();
        let mut rng = StdRng::seed_from_u64(55_19);
        let now = OffsetDateTime::now_utc();
        let mut written = 0u64;
        while written < spec.rows {
            let mut tx = self.store.begin().await?;
            let tx_end = (written + TX_ROWS).min(spec.rows);
            while written < tx_end {
                let n = CHUNK.min(tx_end - written);
                let mut corr = String::from(
                    "INSERT INTO correspondences (id, administration_id, register_id, direction, year, seq, number, \
                     subject, party_kind, party_name, received_at, channel, confidentiality, priority, status, \
                     due_date, created_at, updated_at, search_text, handling_entity_id) VALUES ",
                );
                let mut asg = String::from(
                    "INSERT INTO assignments (id, administration_id, correspondence_id, to_entity_id, purpose, \
                     state, due_date, created_at) VALUES ",
                );
                for k in 0..n {
                    let seq = (written + k + 1) as i64;
                    let id = uuid::Uuid::now_v7().to_string();
                    let subject = format!(
                        "{} {} n° {}",
                        SUBJECTS[rng.gen_range(0..SUBJECTS.len())],
                        PLACES[rng.gen_range(0..PLACES.len())],
                        rng.gen_range(1..100_000)
                    );
                    let party = format!(
                        "{} {}",
                        FIRST[rng.gen_range(0..FIRST.len())],
                        LAST[rng.gen_range(0..LAST.len())]
                    );
                    let number = format!("SYN/A/{}/{seq:07}", spec.year);
                    let entity =
                        spec.entities[(seq as usize + rng.gen_range(0..3)) % spec.entities.len()];
                    // Five years of mail: what is older than three months is (almost always)
                    // finished; recent mail is half open.
                    // Registered in order, as a registry office does: the oldest first.
                    let back = Duration::seconds(
                        (((spec.rows - seq as u64) as f64 / spec.rows as f64) * 1825.0 * 86_400.0)
                            as i64,
                    );
                    let received = now - back;
                    let age = back.whole_days();
                    let due = spec.today + Duration::days(60 - age);
                    let open_odds = if age < 90 { 2 } else { 100 };
                    let status = if rng.gen_range(0..open_odds) == 0 {
                        if rng.gen_bool(0.7) {
                            "assigned"
                        } else {
                            "in_progress"
                        }
                    } else if rng.gen_bool(0.6) {
                        "closed"
                    } else {
                        "answered"
                    };
                    let open = matches!(status, "assigned" | "in_progress");
                    let search = diwan_core::search::fold(&format!("{number} {subject} {party}"));
                    let q = |s: &str| s.replace('\'', "''");
                    if k > 0 {
                        corr.push(',');
                        asg.push(',');
                    }
                    corr.push_str(&format!(
                        "('{id}','{admin}','{reg}','incoming',{year},{seq},'{number}','{subject}','person','{party}',{recv},\
                         'counter','normal','normal','{status}','{due}',{recv},{recv},'{search}','{entity}')",
                        reg = spec.register,
                        year = spec.year,
                        subject = q(&subject),
                        party = q(&party),
                        recv = micros(received),
                        due = fmt_date(due),
                        search = q(&search),
                    ));
                    asg.push_str(&format!(
                        "('{aid}','{admin}','{id}','{entity}','action','{state}','{due}',{recv})",
                        aid = uuid::Uuid::now_v7(),
                        state = if open { "open" } else { "done" },
                        due = fmt_date(due),
                        recv = micros(received),
                    ));
                }
                sqlx::query(&corr).execute(&mut *tx).await?;
                sqlx::query(&asg).execute(&mut *tx).await?;
                written += n;
            }
            tx.commit().await?;
            progress(written);
        }
        if self.store.backend() == crate::Backend::Postgres {
            // What autovacuum does in service: the full-text index's pending list is merged.
            sqlx::query("VACUUM ANALYZE correspondences")
                .execute(self.store.read())
                .await?;
            sqlx::query("ANALYZE assignments")
                .execute(self.store.read())
                .await?;
        } else {
            sqlx::query("ANALYZE").execute(self.store.read()).await?;
        }
        Ok(())
    }
}
