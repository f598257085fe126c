//! Consistency checks of a whole store, for `diwan fsck`.
//!
//! Recomputes every blob hash, every audit-chain link and the continuity of every register's
//! yearly sequence. Damage is reported precisely (which blob, which entry, which number); blobs
//! that no record references are reported as orphans and can be removed.

use crate::blob::{BlobHash, BlobStatus};
use crate::{Result, Store};
use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::Row;
use std::collections::BTreeSet;

/// One problem found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Damage {
    /// `blob`, `audit`, `register`, `log`, …
    pub area: &'static str,
    pub message: String,
}

/// What fsck found.
#[derive(Debug, Default, Serialize)]
pub struct FsckReport {
    pub administrations: usize,
    pub audit_entries: i64,
    pub registers_checked: usize,
    pub log_leaves: i64,
    pub correspondences: i64,
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    pub orphan_blobs: Vec<String>,
    pub damage: Vec<Damage>,
}

impl FsckReport {
    pub fn is_sound(&self) -> bool {
        self.damage.is_empty()
    }
    pub fn push(&mut self, area: &'static str, message: impl Into<String>) {
        self.damage.push(Damage {
            area,
            message: message.into(),
        });
    }
}

impl Store {
    /// Runs every check. `progress` is called with (done, total) while blobs are hashed.
    pub async fn fsck(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<FsckReport> {
        let mut report = FsckReport::default();

        // Audit chains.
        for admin in self.administrations().await? {
            report.administrations += 1;
            match self.tenant(admin.id).verify_audit_chain().await? {
                Ok(n) => report.audit_entries += n,
                Err(msg) => report.push("audit", format!("administration {}: {msg}", admin.code)),
            }
        }

        // Register continuity: for each (register, year) the sequence is exactly 1..=last.
        let counters = sqlx::query(
            "SELECT c.register_id, c.year, c.last_value, r.name, a.code FROM register_counters c \
             JOIN registers r ON r.id = c.register_id JOIN administrations a ON a.id = r.administration_id \
             ORDER BY a.code, r.name, c.year",
        )
        .fetch_all(self.read())
        .await?;
        for c in &counters {
            let register: String = c.try_get(0)?;
            let year: i64 = c.try_get(1)?;
            let last: i64 = c.try_get(2)?;
            let label = format!(
                "{} register {:?} year {year}",
                c.try_get::<String, _>(4)?,
                c.try_get::<String, _>(3)?
            );
            report.registers_checked += 1;
            let mut expected = 1i64;
            let mut rows = sqlx::query("SELECT seq, number FROM correspondences WHERE register_id = $1 AND year = $2 ORDER BY seq")
                .bind(&register)
                .bind(year)
                .fetch(self.read());
            let mut gaps = Vec::new();
            while let Some(row) = rows.try_next().await? {
                let seq: i64 = row.try_get(0)?;
                let number: String = row.try_get(1)?;
                if seq != expected {
                    gaps.push(if seq > expected {
                        format!("numbers {expected}..{} are missing", seq - 1)
                    } else {
                        format!("number {seq} appears twice")
                    });
                }
                if !number.ends_with(&seq.to_string()) {
                    gaps.push(format!(
                        "entry {seq} has number {number:?} which does not end with its sequence"
                    ));
                }
                expected = seq + 1;
                report.correspondences += 1;
            }
            if expected - 1 != last {
                gaps.push(format!(
                    "counter says {last} numbers were given but the register holds {}",
                    expected - 1
                ));
            }
            for g in gaps {
                report.push("register", format!("{label}: {g}"));
            }
        }
        let uncounted: i64 = sqlx::query(
            "SELECT COUNT(*) FROM correspondences c WHERE NOT EXISTS \
             (SELECT 1 FROM register_counters k WHERE k.register_id = c.register_id AND k.year = c.year)",
        )
        .fetch_one(self.read())
        .await?
        .try_get(0)?;
        if uncounted > 0 {
            report.push(
                "register",
                format!("{uncounted} correspondences belong to a register year without a counter"),
            );
        }

        // Transparency log: every leaf hash matches its entry, indices are contiguous, and each
        // record's leaf is the record's.
        match self.verify_log_leaves().await? {
            Ok(n) => report.log_leaves = n,
            Err(msg) => report.push("log", msg),
        }
        let mismatched: i64 = sqlx::query(
            "SELECT COUNT(*) FROM correspondences c LEFT JOIN log_leaves l ON l.idx = c.leaf_index \
             WHERE c.leaf_index IS NOT NULL AND (l.idx IS NULL OR l.object_id <> c.id)",
        )
        .fetch_one(self.read())
        .await?
        .try_get(0)?;
        if mismatched > 0 {
            report.push(
                "log",
                format!("{mismatched} records point at a log leaf that is not theirs"),
            );
        }
        let vanished: i64 = sqlx::query(
            "SELECT COUNT(*) FROM log_leaves l WHERE l.kind IN ('register_entry', 'receipt') \
             AND NOT EXISTS (SELECT 1 FROM correspondences c WHERE c.id = l.object_id)",
        )
        .fetch_one(self.read())
        .await?
        .try_get(0)?;
        if vanished > 0 {
            report.push(
                "log",
                format!("{vanished} log leaves prove records that no longer exist"),
            );
        }

        // Blobs: every referenced one must be present and sound; unreferenced ones are orphans.
        let referenced: BTreeSet<String> = self.referenced_blobs().await?;
        let total = referenced.len();
        for (i, hex) in referenced.iter().enumerate() {
            let hash = match BlobHash::parse(hex) {
                Ok(h) => h,
                Err(_) => {
                    report.push(
                        "blob",
                        format!("a record references an invalid hash {hex:?}"),
                    );
                    continue;
                }
            };
            match self.blobs().check(&hash).await? {
                BlobStatus::Sound { size } => report.bytes_checked += size,
                BlobStatus::Missing => report.push("blob", format!("blob {hex} is missing")),
                BlobStatus::Damaged { actual } => report.push(
                    "blob",
                    format!("blob {hex} is damaged (its content hashes to {actual})"),
                ),
            }
            report.blobs_checked += 1;
            progress(i + 1, total);
        }
        self.check_split_receipts(&mut report).await?;
        for h in self.blobs().list().await? {
            if !referenced.contains(&h.to_hex()) {
                report.orphan_blobs.push(h.to_hex());
            }
        }
        Ok(report)
    }

    /// Every receipt PDF stored in two parts must be their concatenation: its recorded hash is
    /// recomputed from the shared prefix (hashed once) and its tail. A tail kept in the
    /// filing's row must also hash to its recorded name.
    async fn check_split_receipts(&self, report: &mut FsckReport) -> Result<()> {
        use sha2::{Digest, Sha256};
        // Streamed: the tails kept in the rows are tens of kilobytes each.
        let mut rows = sqlx::query(
            "SELECT correspondence_id, receipt_pdf, receipt_prefix, receipt_tail, receipt_tail_bytes \
             FROM filings WHERE receipt_tail IS NOT NULL ORDER BY correspondence_id",
        )
        .fetch(self.read());
        // Hash states after each prefix, or None for a prefix that cannot be read.
        let mut prefixes: std::collections::HashMap<String, Option<Sha256>> = Default::default();
        while let Some(r) = rows.try_next().await? {
            let (filing, pdf, prefix, tail): (String, String, Option<String>, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            let kept: Option<Vec<u8>> = r.try_get(4)?;
            if let Some(bytes) = &kept {
                let actual = hex::encode(Sha256::digest(bytes));
                if actual != tail {
                    report.push(
                        "blob",
                        format!(
                            "the receipt tail kept for filing {filing} hashes to {actual}, not {tail}"
                        ),
                    );
                    continue;
                }
            }
            let Some(prefix) = prefix else {
                report.push(
                    "blob",
                    format!("the receipt of filing {filing} has lost its prefix"),
                );
                continue;
            };
            if !prefixes.contains_key(&prefix) {
                let state = match BlobHash::parse(&prefix) {
                    Ok(h) => self
                        .blobs()
                        .read(&h)
                        .await
                        .ok()
                        .map(|b| Sha256::new().chain_update(b)),
                    Err(_) => None,
                };
                prefixes.insert(prefix.clone(), state);
            }
            // Unreadable parts are reported by the blob checks above.
            let Some(Some(state)) = prefixes.get(&prefix) else {
                continue;
            };
            let tail_bytes = match kept {
                Some(bytes) => bytes,
                None => {
                    let Ok(tail_hash) = BlobHash::parse(&tail) else {
                        continue;
                    };
                    let Ok(bytes) = self.blobs().read(&tail_hash).await else {
                        continue;
                    };
                    bytes
                }
            };
            let whole = hex::encode(state.clone().chain_update(&tail_bytes).finalize());
            if whole != pdf {
                report.push(
                    "blob",
                    format!(
                        "the receipt of filing {filing} stored in two parts hashes to {whole}, not {pdf}"
                    ),
                );
            }
        }
        Ok(())
    }

    /// Every blob hash some record references.
    pub async fn referenced_blobs(&self) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for r in crate::BLOB_REFERENCES {
            let sql = r.all_sql();
            let mut rows = sqlx::query(&sql).fetch(self.read());
            while let Some(r) = rows.try_next().await? {
                if let Some(h) = r.try_get::<Option<String>, _>(0)? {
                    out.insert(h);
                }
            }
        }
        Ok(out)
    }

    /// Removes orphan blobs (not referenced by any record). Returns how many.
    pub async fn collect_garbage(&self) -> Result<usize> {
        let referenced = self.referenced_blobs().await?;
        let mut n = 0;
        for h in self.blobs().list().await? {
            // Re-check just before removing: a registration may have committed meanwhile.
            if !referenced.contains(&h.to_hex()) && !self.references_blob(&h).await? {
                self.blobs().remove(&h).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn references_blob(&self, h: &BlobHash) -> Result<bool> {
        for r in crate::BLOB_REFERENCES {
            let sql = r.any_sql();
            if sqlx::query(&sql)
                .bind(h.to_hex())
                .fetch_optional(self.read())
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
