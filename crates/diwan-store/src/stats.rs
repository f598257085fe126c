//! Figures for dashboards: volumes per month and direction, and the load of each entity (open,
//! late, closed over a period, average processing time). Plain aggregate queries on indexed
//! columns, the same on both engines.

use crate::{fmt_date, micros, parse_id, Result, Tenant};
use diwan_core::numbering::Direction;
use diwan_core::EntityId;
use serde::Serialize;
use sqlx::Row;
use time::{Date, OffsetDateTime, UtcOffset};

/// Registrations in one month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthVolume {
    /// `YYYY-MM`.
    pub month: String,
    pub incoming: i64,
    pub outgoing: i64,
    pub internal: i64,
}

/// The load of one handling entity.
#[derive(Debug, Clone, Serialize)]
pub struct EntityLoad {
    pub entity_id: EntityId,
    /// Assigned, in progress, on hold.
    pub open: i64,
    /// Open and past their deadline.
    pub late: i64,
    /// Answered or closed in the period.
    pub finished: i64,
    /// Average days from registration to closing or answer, for those finished in the period.
    pub average_days: Option<f64>,
}

fn month_start(y: i32, m: u8, offset: UtcOffset) -> Result<OffsetDateTime> {
    let month = time::Month::try_from(m).map_err(|e| crate::StoreError::Invalid(e.to_string()))?;
    let d = Date::from_calendar_date(y, month, 1)
        .map_err(|e| crate::StoreError::Invalid(e.to_string()))?;
    Ok(d.midnight().assume_offset(offset))
}

impl Tenant {
    /// Registrations per month and direction for the `months` months ending with the one of
    /// `today` (local time `offset`), oldest first.
    pub async fn monthly_volumes(
        &self,
        today: Date,
        months: u32,
        offset: UtcOffset,
    ) -> Result<Vec<MonthVolume>> {
        let mut out = Vec::new();
        let (mut y, mut m) = (today.year(), u8::from(today.month()));
        let mut bounds = Vec::new();
        for _ in 0..months {
            bounds.push((y, m));
            if m == 1 {
                y -= 1;
                m = 12;
            } else {
                m -= 1;
            }
        }
        bounds.reverse();
        for (y, m) in bounds {
            let start = month_start(y, m, offset)?;
            let end = if m == 12 {
                month_start(y + 1, 1, offset)?
            } else {
                month_start(y, m + 1, offset)?
            };
            let rows = sqlx::query(
                "SELECT direction, COUNT(*) FROM correspondences WHERE administration_id = $1 \
                 AND created_at >= $2 AND created_at < $3 GROUP BY direction",
            )
            .bind(self.admin_str())
            .bind(micros(start))
            .bind(micros(end))
            .fetch_all(self.store.read())
            .await?;
            let mut v = MonthVolume {
                month: format!("{y:04}-{m:02}"),
                incoming: 0,
                outgoing: 0,
                internal: 0,
            };
            for r in rows {
                let n: i64 = r.try_get(1)?;
                match r.try_get::<String, _>(0)?.parse::<Direction>() {
                    Ok(Direction::Incoming) => v.incoming = n,
                    Ok(Direction::Outgoing) => v.outgoing = n,
                    Ok(Direction::Internal) => v.internal = n,
                    Err(_) => {}
                }
            }
            out.push(v);
        }
        Ok(out)
    }

    /// The load of every entity that handles or handled mail, for the period `[from, to)`.
    pub async fn entity_loads(
        &self,
        today: Date,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<EntityLoad>> {
        let admin = self.admin_str();
        let open_rows = sqlx::query(
            "SELECT handling_entity_id, COUNT(*), \
             SUM(CASE WHEN due_date < $2 THEN 1 ELSE 0 END) FROM correspondences \
             WHERE administration_id = $1 AND handling_entity_id IS NOT NULL \
             AND status IN ('assigned', 'in_progress', 'on_hold') GROUP BY handling_entity_id",
        )
        .bind(&admin)
        .bind(fmt_date(today))
        .fetch_all(self.store.read())
        .await?;
        // Finished in the period: closed (closed_at) or answered (the reply's registration).
        let done_rows = sqlx::query(
            "SELECT c.handling_entity_id, COUNT(*), \
             CAST(SUM(COALESCE(c.closed_at, c.updated_at) - c.created_at) / 1000000 AS BIGINT) \
             FROM correspondences c WHERE c.administration_id = $1 AND c.handling_entity_id IS NOT NULL \
             AND c.status IN ('closed', 'answered') AND COALESCE(c.closed_at, c.updated_at) >= $2 \
             AND COALESCE(c.closed_at, c.updated_at) < $3 GROUP BY c.handling_entity_id",
        )
        .bind(&admin)
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(self.store.read())
        .await?;
        let mut out: Vec<EntityLoad> = Vec::new();
        for r in &open_rows {
            let id: String = r.try_get(0)?;
            out.push(EntityLoad {
                entity_id: parse_id(&id, "entity")?,
                open: r.try_get(1)?,
                late: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
                finished: 0,
                average_days: None,
            });
        }
        for r in &done_rows {
            let id: EntityId = parse_id(&r.try_get::<String, _>(0)?, "entity")?;
            let n: i64 = r.try_get(1)?;
            let secs: Option<i64> = r.try_get(2)?;
            let avg = secs
                .filter(|_| n > 0)
                .map(|s| s as f64 / n as f64 / 86_400.0);
            match out.iter_mut().find(|l| l.entity_id == id) {
                Some(l) => {
                    l.finished = n;
                    l.average_days = avg;
                }
                None => out.push(EntityLoad {
                    entity_id: id,
                    open: 0,
                    late: 0,
                    finished: n,
                    average_days: avg,
                }),
            }
        }
        Ok(out)
    }
}
