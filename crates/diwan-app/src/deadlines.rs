//! Processing deadlines: which rule applies to a type of request in an administration (its own,
//! else the built-in one of law 55-19 / law 31-13), the working-day calendar (weekends, fixed
//! national holidays, the administration's own days off) and the due date a record carries.

use crate::access::Principal;
use crate::cache::TtlCache;
use crate::context::App;
use crate::error::AppError;
use diwan_core::calendar::{
    is_procedure_code, Calendar, DayUnit, DeadlineRule, Due, LegalBasis, BUILTIN_PROCEDURES,
};
use diwan_core::org::Role;
use diwan_core::AdministrationId;
use diwan_store::deadlines::{DeadlineRuleRecord, Holiday};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use time::Date;

/// How long a calendar is kept in memory before holidays are read again (other servers of a
/// PostgreSQL deployment may have changed them).
const CALENDAR_TTL: Duration = Duration::from_secs(60);

/// A type of request as forms and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ProcedureView {
    pub code: String,
    pub label_fr: String,
    pub label_ar: String,
    /// `None` for `none` (no legal deadline).
    pub days: Option<u32>,
    pub unit: Option<DayUnit>,
    pub legal_basis: Option<LegalBasis>,
    pub silence_means_acceptance: bool,
    /// Set by the administration (`false`: the built-in rule).
    pub custom: bool,
}

/// `PUT /api/v1/deadline-rules/{code}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRuleRequest {
    pub label_fr: String,
    pub label_ar: String,
    pub days: u32,
    #[serde(default = "working")]
    pub unit: DayUnit,
    #[serde(default = "internal")]
    pub legal_basis: LegalBasis,
    #[serde(default)]
    pub silence_means_acceptance: bool,
}

fn working() -> DayUnit {
    DayUnit::Working
}
fn internal() -> LegalBasis {
    LegalBasis::Internal
}

/// `POST /api/v1/holidays`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayRequest {
    #[serde(with = "diwan_core::iso_date")]
    pub day: Date,
    pub label: String,
}

fn builtin_labels(code: &str) -> (&'static str, &'static str) {
    match code {
        "general" => ("Demande générale (loi 55-19)", "طلب عام (القانون 55.19)"),
        "investment" => (
            "Acte lié à l'investissement (loi 55-19)",
            "قرار مرتبط بالاستثمار (القانون 55.19)",
        ),
        "access_to_information" => (
            "Accès à l'information (loi 31-13)",
            "الحصول على المعلومات (القانون 31.13)",
        ),
        _ => ("Sans délai légal", "بدون أجل قانوني"),
    }
}

/// Cached calendars, by administration.
pub(crate) fn calendar_cache() -> TtlCache<AdministrationId, Arc<Calendar>> {
    TtlCache::new(CALENDAR_TTL)
}

/// How long an administration's own deadline rules are kept in memory.
const RULES_TTL: Duration = Duration::from_secs(10);

/// Cached deadline rules, by administration.
pub(crate) fn rules_cache() -> TtlCache<AdministrationId, Arc<Vec<DeadlineRuleRecord>>> {
    TtlCache::new(RULES_TTL)
}

impl App {
    /// The working-day calendar of an administration: Saturday/Sunday, Morocco's fixed national
    /// holidays and the days off the administration added.
    pub async fn calendar(&self, admin: AdministrationId) -> Result<Arc<Calendar>, AppError> {
        if let Some(c) = self.calendars().get(&admin) {
            return Ok(c);
        }
        let y = self.today().year();
        let mut c = Calendar::morocco(y - 1..=y + 2);
        for h in self.store.tenant(admin).holidays().await? {
            c.add_holiday(h.day);
        }
        let c = Arc::new(c);
        self.calendars().put(admin, c.clone());
        Ok(c)
    }

    /// The rule of a type of request: the administration's own, else the built-in one. `Ok(None)`
    /// for `none`; an error naming the field for a code nobody defined.
    pub async fn deadline_rule(
        &self,
        admin: AdministrationId,
        code: &str,
    ) -> Result<Option<DeadlineRule>, AppError> {
        let own = match self.rules().get(&admin) {
            Some(r) => r,
            None => {
                let r = Arc::new(self.store.tenant(admin).deadline_rules().await?);
                self.rules().put(admin, r.clone());
                r
            }
        };
        if let Some(r) = own.iter().find(|r| r.code == code) {
            return Ok(Some(r.rule));
        }
        match (code, DeadlineRule::builtin(code)) {
            ("none", _) => Ok(None),
            (_, Some(r)) => Ok(Some(r)),
            _ => Err(AppError::field(
                "procedure",
                format!("no type of request {code:?} in this administration"),
            )),
        }
    }

    /// The due date of a correspondence of type `procedure` (default `general`) received today.
    pub async fn due_for(
        &self,
        admin: AdministrationId,
        procedure: Option<&str>,
    ) -> Result<Option<Due>, AppError> {
        let code = procedure.unwrap_or("general");
        let Some(rule) = self.deadline_rule(admin, code).await? else {
            return Ok(None);
        };
        let date = self.calendar(admin).await?.due_date(self.today(), &rule);
        Ok(Some(Due {
            date,
            rule,
            procedure: Some(code.to_string()),
        }))
    }

    /// The types of request of an administration, built-in ones first (as overridden), then its
    /// own.
    pub async fn procedures(
        &self,
        admin: AdministrationId,
    ) -> Result<Vec<ProcedureView>, AppError> {
        let own = self.store.tenant(admin).deadline_rules().await?;
        let view = |r: &DeadlineRuleRecord| ProcedureView {
            code: r.code.clone(),
            label_fr: r.label_fr.clone(),
            label_ar: r.label_ar.clone(),
            days: Some(r.rule.days),
            unit: Some(r.rule.unit),
            legal_basis: Some(r.rule.law),
            silence_means_acceptance: r.rule.silence_means_acceptance,
            custom: true,
        };
        let mut out: Vec<ProcedureView> = BUILTIN_PROCEDURES
            .iter()
            .map(|code| match own.iter().find(|r| r.code == *code) {
                Some(r) => view(r),
                None => {
                    let rule = DeadlineRule::builtin(code);
                    let (fr, ar) = builtin_labels(code);
                    ProcedureView {
                        code: (*code).to_string(),
                        label_fr: fr.into(),
                        label_ar: ar.into(),
                        days: rule.map(|r| r.days),
                        unit: rule.map(|r| r.unit),
                        legal_basis: rule.map(|r| r.law),
                        silence_means_acceptance: rule.is_some_and(|r| r.silence_means_acceptance),
                        custom: false,
                    }
                }
            })
            .collect();
        out.extend(
            own.iter()
                .filter(|r| !BUILTIN_PROCEDURES.contains(&r.code.as_str()))
                .map(view),
        );
        Ok(out)
    }

    /// Sets an administration's rule for a type of request (administrators).
    pub async fn put_deadline_rule(
        &self,
        who: &Principal,
        code: &str,
        req: DeadlineRuleRequest,
    ) -> Result<ProcedureView, AppError> {
        who.require_role(Role::Admin)?;
        if !is_procedure_code(code) || code == "none" {
            return Err(AppError::field(
                "code",
                "must be 1 to 40 of a-z, 0-9 and _ (and not \"none\")",
            ));
        }
        let rec = DeadlineRuleRecord {
            code: code.to_string(),
            label_fr: req.label_fr,
            label_ar: req.label_ar,
            rule: DeadlineRule {
                days: req.days,
                unit: req.unit,
                law: req.legal_basis,
                silence_means_acceptance: req.silence_means_acceptance,
            },
        };
        let tenant = self.store.tenant(who.admin());
        tenant.put_deadline_rule(&rec, &who.actor()).await?;
        self.rules().forget(&who.admin());
        self.procedures(who.admin())
            .await?
            .into_iter()
            .find(|p| p.code == code)
            .ok_or_else(|| AppError::Internal("rule vanished".into()))
    }

    /// Removes an administration's own rule (administrators).
    pub async fn delete_deadline_rule(&self, who: &Principal, code: &str) -> Result<(), AppError> {
        who.require_role(Role::Admin)?;
        if !self
            .store
            .tenant(who.admin())
            .delete_deadline_rule(code, &who.actor())
            .await?
        {
            self.rules().forget(&who.admin());
            return Err(AppError::NotFound(format!("deadline rule {code:?}")));
        }
        self.rules().forget(&who.admin());
        Ok(())
    }

    /// The administration's own days off.
    pub async fn holidays(&self, admin: AdministrationId) -> Result<Vec<Holiday>, AppError> {
        Ok(self.store.tenant(admin).holidays().await?)
    }

    /// Adds a day off (administrators).
    pub async fn add_holiday(
        &self,
        who: &Principal,
        req: HolidayRequest,
    ) -> Result<Holiday, AppError> {
        who.require_role(Role::Admin)?;
        let h = Holiday {
            day: req.day,
            label: req.label,
        };
        self.store
            .tenant(who.admin())
            .add_holiday(&h, &who.actor())
            .await?;
        self.calendars().forget(&who.admin());
        Ok(h)
    }

    /// Removes a day off (administrators).
    pub async fn remove_holiday(&self, who: &Principal, day: Date) -> Result<(), AppError> {
        who.require_role(Role::Admin)?;
        let removed = self
            .store
            .tenant(who.admin())
            .remove_holiday(day, &who.actor())
            .await?;
        self.calendars().forget(&who.admin());
        if !removed {
            return Err(AppError::NotFound(format!("holiday on {day}")));
        }
        Ok(())
    }
}
