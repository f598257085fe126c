//! Exports and dashboards: a register's year as CSV, volumes per month and the load of each
//! entity, drawn as server-rendered SVG bar charts (no script, no external asset).

use crate::access::Principal;
use crate::error::AppError;
use crate::App;
use diwan_core::org::Role;
use diwan_core::RegisterId;
use diwan_store::registry::CorrespondenceFilter;
use diwan_store::stats::{EntityLoad, MonthVolume};

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

impl App {
    /// A register's year as CSV (UTF-8 with a byte-order mark for spreadsheets), only with what
    /// the caller may see.
    pub async fn register_csv(
        &self,
        who: &Principal,
        register: RegisterId,
        year: i32,
    ) -> Result<Vec<u8>, AppError> {
        let tenant = self.store.tenant(who.admin());
        let reg = tenant.register(register).await?;
        if !(who.can_register_in(&reg) || who.has_role(Role::Auditor)) {
            return Err(AppError::Forbidden(
                "a register is exported by its registry office, an administrator or the auditor"
                    .into(),
            ));
        }
        let scope = who.read_scope(&tenant).await?;
        let entities = tenant.entities().await?;
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
        let mut offset = 0;
        loop {
            let page = tenant
                .correspondences(
                    &scope,
                    &CorrespondenceFilter {
                        register: Some(register),
                        year: Some(year),
                        limit: 500,
                        offset,
                        ..Default::default()
                    },
                )
                .await?;
            for c in &page.items {
                let handling = tenant.processing_state(c.id).await?.handling_entity;
                let handling = handling
                    .and_then(|h| entities.iter().find(|e| e.id == h))
                    .map(|e| e.names.fr.clone())
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
                        &handling,
                        c.external_ref.as_deref().unwrap_or(""),
                    ],
                );
            }
            offset += page.items.len() as i64;
            if page.items.len() < 500 {
                break;
            }
        }
        Ok(out.into_bytes())
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
