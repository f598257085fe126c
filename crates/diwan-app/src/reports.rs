//! Exports and dashboards: a register's year as CSV and as a printed register book (PDF),
//! volumes per month and the load of each entity, drawn as server-rendered SVG bar charts (no
//! script, no external asset).

use crate::access::Principal;
use crate::error::AppError;
use crate::processing::fmt_day;
use crate::App;
use diwan_core::numbering::Direction;
use diwan_core::org::Role;
use diwan_core::{CorrespondenceId, EntityId, RegisterId};
use diwan_pdf::register::{Kind, RegisterData, RegisterRow};
use diwan_store::org::{Entity, Register};
use diwan_store::processing::ProcessingState;
use diwan_store::registry::{Correspondence, CorrespondenceFilter, ListOrder, ReadScope};
use diwan_store::stats::{EntityLoad, MonthVolume};
use diwan_store::Tenant;
use std::collections::HashMap;

/// One CSV field, quoted when needed (RFC 4180), with spreadsheet formulas defused.
fn csv_field(out: &mut String, v: &str) {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r', ';']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

fn csv_row(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

/// The dashboard's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Dashboard {
    pub months: Vec<MonthVolume>,
    pub entities: Vec<(String, EntityLoad)>,
    /// Bar chart of the monthly volumes (incoming, outgoing), SVG.
    pub volumes_svg: String,
    /// Bar chart of open and late mail per entity, SVG.
    pub load_svg: String,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Grouped bars: one group per label, one bar per series (value, class name for CSS colour).
fn bar_chart(title: &str, labels: &[String], series: &[(&str, Vec<i64>)]) -> String {
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, h, top, bottom, left) = (720.0_f64, 260.0_f64, 20.0, 60.0, 40.0);
    let group = (w - left) / labels.len().max(1) as f64;
    let bar = (group * 0.8) / series.len().max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" class=\"chart\">",
        esc(title)
    );
    let plot = h - top - bottom;
    for step in 0..=4 {
        let v = max * step as f64 / 4.0;
        let y = top + plot - plot * step as f64 / 4.0;
        svg.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{w}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            y + 4.0,
            v.round() as i64
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        let x0 = left + group * i as f64 + group * 0.1;
        for (k, (class, values)) in series.iter().enumerate() {
            let v = values.get(i).copied().unwrap_or(0);
            let bh = plot * v as f64 / max;
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" class=\"{class}\"><title>{} : {v}</title></rect>",
                x0 + bar * k as f64,
                top + plot - bh,
                bar.max(1.0) - 1.0,
                esc(label)
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"axis\" text-anchor=\"end\" transform=\"rotate(-35 {:.1} {:.1})\">{}</text>",
            x0 + group * 0.4,
            h - bottom + 14.0,
            x0 + group * 0.4,
            h - bottom + 14.0,
            esc(label)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Rows read from the store per query when walking a register's year.
const YEAR_PAGE: i64 = 500;

/// Who may walk a register's year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YearUse {
    /// Listings (CSV, the printed register): the registry office, administrators, the auditor.
    Listing,
    /// Archive packages: the registry office and administrators.
    Archive,
}

/// One correspondence of a register's year and where it stands in its processing.
#[derive(Debug, Clone)]
pub struct YearEntry {
    pub c: Correspondence,
    pub state: ProcessingState,
}

/// A register's year, read in number order a page at a time, with only what the reader may
/// see. Each page is two queries (the records, then their processing states), whatever its
/// position in the year; entities are loaded once.
pub struct RegisterYear {
    pub(crate) tenant: Tenant,
    scope: ReadScope,
    pub register: Register,
    pub year: i32,
    entities: HashMap<EntityId, Entity>,
    after: Option<i64>,
    done: bool,
}

impl RegisterYear {
    /// The next page of the year in number order; empty at the end.
    pub async fn next_page(&mut self) -> Result<Vec<YearEntry>, AppError> {
        if self.done {
            return Ok(Vec::new());
        }
        let page = self
            .tenant
            .correspondences(
                &self.scope,
                &CorrespondenceFilter {
                    register: Some(self.register.id),
                    year: Some(self.year),
                    order: ListOrder::Number { after: self.after },
                    limit: YEAR_PAGE,
                    ..Default::default()
                },
            )
            .await?;
        self.done = (page.items.len() as i64) < YEAR_PAGE;
        self.after = page.items.last().map(|c| c.seq).or(self.after);
        let ids: Vec<CorrespondenceId> = page.items.iter().map(|c| c.id).collect();
        let mut states = self.tenant.processing_states(&ids).await?;
        Ok(page
            .items
            .into_iter()
            .map(|c| {
                let state = states.remove(&c.id).unwrap_or_default();
                YearEntry { c, state }
            })
            .collect())
    }

    /// An entity of the administration.
    pub fn entity(&self, id: Option<EntityId>) -> Option<&Entity> {
        self.entities.get(&id?)
    }
}

impl App {
    /// Opens a register's year for an export, if the reader may make it.
    pub(crate) async fn register_year(
        &self,
        who: &Principal,
        register: RegisterId,
        year: i32,
        usage: YearUse,
    ) -> Result<RegisterYear, AppError> {
        let tenant = self.store.tenant(who.admin());
        let reg = tenant.register(register).await?;
        let allowed =
            who.can_register_in(&reg) || (usage == YearUse::Listing && who.has_role(Role::Auditor));
        if !allowed {
            return Err(AppError::Forbidden(match usage {
                YearUse::Listing => {
                    "a register is exported by its registry office, an administrator or the auditor"
                }
                YearUse::Archive => {
                    "archive packages are made by the registry office or an administrator"
                }
            }
            .into()));
        }
        let scope = who.read_scope(&tenant).await?;
        let entities = tenant
            .entities()
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        Ok(RegisterYear {
            tenant,
            scope,
            register: reg,
            year,
            entities,
            after: None,
            done: false,
        })
    }

    /// A register's year as CSV (UTF-8 with a byte-order mark for spreadsheets), in number
    /// order, only with what the caller may see.
    pub async fn register_csv(
        &self,
        who: &Principal,
        register: RegisterId,
        year: i32,
    ) -> Result<Vec<u8>, AppError> {
        let mut book = self
            .register_year(who, register, year, YearUse::Listing)
            .await?;
        let mut out = String::from("\u{feff}");
        csv_row(
            &mut out,
            &[
                "number",
                "registered_at",
                "direction",
                "party",
                "subject",
                "channel",
                "priority",
                "status",
                "due_date",
                "handling_entity",
                "external_ref",
            ],
        );
        loop {
            let page = book.next_page().await?;
            if page.is_empty() {
                break;
            }
            for YearEntry { c, state } in &page {
                let handling = book
                    .entity(state.handling_entity)
                    .map(|e| e.names.fr.as_str())
                    .unwrap_or_default();
                let at = c
                    .registered_at
                    .to_offset(self.offset())
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                csv_row(
                    &mut out,
                    &[
                        &c.number,
                        &at,
                        c.direction.as_str(),
                        &c.party_name,
                        &c.subject,
                        c.channel.as_str(),
                        c.priority.as_str(),
                        c.status.as_str(),
                        &c.due_date.map(|d| d.to_string()).unwrap_or_default(),
                        handling,
                        c.external_ref.as_deref().unwrap_or(""),
                    ],
                );
            }
        }
        Ok(out.into_bytes())
    }

    /// A register's year as a printed register book (PDF, landscape A4, a header on every
    /// page, totals at the end), with what the caller may see; the same rows as the CSV.
    pub async fn register_pdf(
        &self,
        who: &Principal,
        register: RegisterId,
        year: i32,
    ) -> Result<Vec<u8>, AppError> {
        let mut book = self
            .register_year(who, register, year, YearUse::Listing)
            .await?;
        let admin = book.tenant.administration().await?;
        let today = self.today();
        let mut rows = Vec::new();
        loop {
            let page = book.next_page().await?;
            if page.is_empty() {
                break;
            }
            for YearEntry { c, state } in page {
                let at = c.registered_at.to_offset(self.offset());
                rows.push(RegisterRow {
                    registered: format!(
                        "{} {:02}:{:02}",
                        fmt_day(at.date()),
                        at.hour(),
                        at.minute()
                    ),
                    handling: book
                        .entity(state.handling_entity)
                        .map(|e| e.names.fr.clone())
                        .unwrap_or_default(),
                    status: c.status.label_fr().to_string(),
                    outcome: state.outcome,
                    due: c.due_date.map(fmt_day).unwrap_or_default(),
                    late: c.due_date.is_some_and(|d| d < today) && !c.status.is_final(),
                    number: c.number,
                    party: c.party_name,
                    subject: c.subject,
                });
            }
        }
        let now = time::OffsetDateTime::now_utc().to_offset(self.offset());
        let data = RegisterData {
            administration_fr: admin.names.fr,
            administration_ar: admin.names.ar,
            register_name: book.register.name.clone(),
            kind: match book.register.direction {
                Direction::Incoming => Kind::Incoming,
                Direction::Outgoing => Kind::Outgoing,
                Direction::Internal => Kind::Internal,
            },
            year,
            printed: format!(
                "{} {:02}:{:02}",
                fmt_day(now.date()),
                now.hour(),
                now.minute()
            ),
            rows,
        };
        // Thousands of rows take a while to lay out: off the async workers.
        tokio::task::spawn_blocking(move || diwan_pdf::register::render(&data))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|e| AppError::Internal(e.to_string()))
    }

    /// The administration's dashboard: twelve months of volumes and the load of each entity over
    /// the last `days` days. For heads, administrators and auditors.
    pub async fn dashboard(&self, who: &Principal, days: i64) -> Result<Dashboard, AppError> {
        if !(who.has_role(Role::Head)
            || who.has_role(Role::Admin)
            || who.has_role(Role::Auditor)
            || who.has_role(Role::RegistryClerk))
        {
            return Err(AppError::Forbidden(
                "dashboards are for heads of entities, registry offices, administrators and auditors"
                    .into(),
            ));
        }
        let tenant = self.store.tenant(who.admin());
        let today = self.today();
        let months = tenant.monthly_volumes(today, 12, self.offset()).await?;
        let to = time::OffsetDateTime::now_utc();
        let from = to - time::Duration::days(days.clamp(1, 3660));
        let all = tenant.entities().await?;
        // A head sees the entities they head and those below; the others see every entity.
        let visible = if who.has_role(Role::Admin)
            || who.has_role(Role::Auditor)
            || who.has_role(Role::RegistryClerk)
        {
            all.iter().map(|e| e.id).collect::<Vec<_>>()
        } else {
            who.assignment_entities(&tenant).await?
        };
        let mut entities: Vec<(String, EntityLoad)> = tenant
            .entity_loads(today, from, to)
            .await?
            .into_iter()
            .filter(|l| visible.contains(&l.entity_id))
            .map(|l| {
                let name = all
                    .iter()
                    .find(|e| e.id == l.entity_id)
                    .map(|e| e.names.fr.clone())
                    .unwrap_or_default();
                (name, l)
            })
            .collect();
        entities.sort_by(|a, b| b.1.open.cmp(&a.1.open).then(a.0.cmp(&b.0)));
        let volumes_svg = bar_chart(
            "Courrier par mois",
            &months.iter().map(|m| m.month.clone()).collect::<Vec<_>>(),
            &[
                ("incoming", months.iter().map(|m| m.incoming).collect()),
                ("outgoing", months.iter().map(|m| m.outgoing).collect()),
            ],
        );
        let load_svg = bar_chart(
            "Charge par entité",
            &entities.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            &[
                ("open", entities.iter().map(|(_, l)| l.open).collect()),
                ("late", entities.iter().map(|(_, l)| l.late).collect()),
            ],
        );
        Ok(Dashboard {
            months,
            entities,
            volumes_svg,
            load_svg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut s = String::new();
        csv_row(&mut s, &["a", "b,c", "say \"hi\"", "=SUM(A1)", "طلب"]);
        assert_eq!(s, "a,\"b,c\",\"say \"\"hi\"\"\",'=SUM(A1),طلب\r\n");
    }

    #[test]
    fn chart_is_svg_with_escaped_labels() {
        let svg = bar_chart("t", &["<x>".into(), "b".into()], &[("open", vec![3, 0])]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;x&gt;") && !svg.contains("<x>"));
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
