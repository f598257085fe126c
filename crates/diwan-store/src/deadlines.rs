//! Processing deadlines per administration and type of request, and each administration's
//! holidays (on top of the fixed national ones the calendar knows).

use crate::audit::{self, Actor};
use crate::{fmt_date, parse_code, parse_date, Result, StoreError, Tenant};
use diwan_core::calendar::{is_procedure_code, DayUnit, DeadlineRule};
use diwan_core::text::clean_text;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use time::Date;

/// An administration's rule for one type of request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlineRuleRecord {
    /// The type of request (`general`, `investment`, `access_to_information`, or the
    /// administration's own, e.g. `building_permit`).
    pub code: String,
    pub label_fr: String,
    pub label_ar: String,
    pub rule: DeadlineRule,
}

/// A day off of one administration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holiday {
    #[serde(with = "diwan_core::iso_date")]
    pub day: Date,
    pub label: String,
}

/// Longest deadline accepted (law 55-19 caps processing at 60 days; access to information can
/// be extended; a year leaves room for internal procedures).
pub const MAX_DEADLINE_DAYS: u32 = 366;

fn unit_str(u: DayUnit) -> &'static str {
    match u {
        DayUnit::Working => "working",
        DayUnit::Calendar => "calendar",
    }
}

fn rule_from_row(row: &sqlx::any::AnyRow) -> Result<DeadlineRuleRecord> {
    let unit = match row.try_get::<String, _>("unit")?.as_str() {
        "working" => DayUnit::Working,
        "calendar" => DayUnit::Calendar,
        other => return Err(StoreError::Corrupt(format!("bad day unit {other:?}"))),
    };
    Ok(DeadlineRuleRecord {
        code: row.try_get("code")?,
        label_fr: row.try_get("label_fr")?,
        label_ar: row.try_get("label_ar")?,
        rule: DeadlineRule {
            days: u32::try_from(row.try_get::<i64, _>("days")?)
                .map_err(|_| StoreError::Corrupt("negative deadline".into()))?,
            unit,
            law: parse_code(&row.try_get::<String, _>("legal_basis")?, "legal basis")?,
            silence_means_acceptance: row.try_get::<i64, _>("silence_means_acceptance")? != 0,
        },
    })
}

const RULE_COLS: &str =
    "code, label_fr, label_ar, days, unit, legal_basis, silence_means_acceptance";

impl Tenant {
    /// The administration's own deadline rules, by code.
    pub async fn deadline_rules(&self) -> Result<Vec<DeadlineRuleRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RULE_COLS} FROM deadline_rules WHERE administration_id = $1 ORDER BY code"
        ))
        .bind(self.admin_str())
        .fetch_all(self.store.read())
        .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Sets (creates or replaces) the rule of a type of request. Correspondences registered
    /// before keep the deadline they were given.
    pub async fn put_deadline_rule(&self, r: &DeadlineRuleRecord, actor: &Actor) -> Result<()> {
        if !is_procedure_code(&r.code) {
            return Err(StoreError::Invalid(
                "code must be 1 to 40 of a-z, 0-9 and _".into(),
            ));
        }
        if r.rule.days == 0 || r.rule.days > MAX_DEADLINE_DAYS {
            return Err(StoreError::Invalid(format!(
                "days must be between 1 and {MAX_DEADLINE_DAYS}"
            )));
        }
        let label_fr = clean_text(&r.label_fr, 200, false)
            .map_err(|e| StoreError::Invalid(format!("label_fr {e}")))?;
        let label_ar = clean_text(&r.label_ar, 200, false)
            .map_err(|e| StoreError::Invalid(format!("label_ar {e}")))?;
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO deadline_rules (administration_id, code, label_fr, label_ar, days, unit, legal_basis, \
             silence_means_acceptance) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) \
             ON CONFLICT (administration_id, code) DO UPDATE SET label_fr = excluded.label_fr, \
             label_ar = excluded.label_ar, days = excluded.days, unit = excluded.unit, \
             legal_basis = excluded.legal_basis, silence_means_acceptance = excluded.silence_means_acceptance",
        )
        .bind(&admin)
        .bind(&r.code)
        .bind(&label_fr)
        .bind(&label_ar)
        .bind(i64::from(r.rule.days))
        .bind(unit_str(r.rule.unit))
        .bind(r.rule.law.as_str())
        .bind(i64::from(r.rule.silence_means_acceptance))
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "deadline_rule.set",
            "deadline_rule",
            &r.code,
            &json!({
                "days": r.rule.days, "unit": unit_str(r.rule.unit), "legal_basis": r.rule.law.as_str(),
                "silence_means_acceptance": r.rule.silence_means_acceptance,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the administration's own rule (the built-in one applies again). `false` when
    /// there was none.
    pub async fn delete_deadline_rule(&self, code: &str, actor: &Actor) -> Result<bool> {
        self.delete_audited(
            "DELETE FROM deadline_rules WHERE administration_id = $1 AND code = $2",
            code,
            actor,
            "deadline_rule.delete",
            "deadline_rule",
        )
        .await
    }

    /// Deletes the row `key` with `sql` (`$1` administration, `$2` key) and records it in the
    /// audit log in the same transaction; `false` when there was no such row.
    async fn delete_audited(
        &self,
        sql: &str,
        key: &str,
        actor: &Actor,
        action: &str,
        object_type: &str,
    ) -> Result<bool> {
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        let n = sqlx::query(sql)
            .bind(&admin)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n > 0 {
            audit::append(&mut tx, &admin, actor, action, object_type, key, &json!({})).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The administration's own days off (the fixed national holidays are not listed).
    pub async fn holidays(&self) -> Result<Vec<Holiday>> {
        let rows = sqlx::query(
            "SELECT day, label FROM holidays WHERE administration_id = $1 ORDER BY day",
        )
        .bind(self.admin_str())
        .fetch_all(self.store.read())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Holiday {
                    day: parse_date(&r.try_get::<String, _>("day")?)?,
                    label: r.try_get("label")?,
                })
            })
            .collect()
    }

    /// Adds a day off (e.g. a religious holiday of the lunar calendar, or a local one).
    pub async fn add_holiday(&self, h: &Holiday, actor: &Actor) -> Result<()> {
        let label = clean_text(&h.label, 200, false)
            .map_err(|e| StoreError::Invalid(format!("label {e}")))?;
        let admin = self.admin_str();
        let mut tx = self.store.begin().await?;
        sqlx::query("INSERT INTO holidays (administration_id, day, label) VALUES ($1,$2,$3)")
            .bind(&admin)
            .bind(fmt_date(h.day))
            .bind(&label)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::unique(e, "a holiday on this day"))?;
        audit::append(
            &mut tx,
            &admin,
            actor,
            "holiday.add",
            "holiday",
            &fmt_date(h.day),
            &json!({ "label": label }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a day off; `false` when there was none that day.
    pub async fn remove_holiday(&self, day: Date, actor: &Actor) -> Result<bool> {
        self.delete_audited(
            "DELETE FROM holidays WHERE administration_id = $1 AND day = $2",
            &fmt_date(day),
            actor,
            "holiday.remove",
            "holiday",
        )
        .await
    }
}
