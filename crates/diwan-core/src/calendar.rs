//! Working-day calendars and legal deadlines.
//!
//! Law 55-19 (simplification of administrative procedures) caps processing deadlines at 60 days
//! (30 for investment files); law 31-13 (access to information) gives 20 working days, extendable
//! by 20. Administrations count in working days: weekends and public holidays do not count. Fixed
//! national holidays are known here; religious holidays follow the lunar calendar and are added
//! each year by the administrator.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use time::{Date, Duration, Month, Weekday};

/// Days counted for a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayUnit {
    Calendar,
    Working,
}

/// A processing deadline rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineRule {
    pub days: u32,
    pub unit: DayUnit,
    /// The law the rule comes from, shown on receipts (e.g. "Loi 55-19").
    pub law: LegalBasis,
    /// Whether silence past the deadline counts as acceptance (law 55-19, where set per type).
    pub silence_means_acceptance: bool,
}

crate::code_enum!(
    /// The legal basis of a deadline.
    LegalBasis {
        /// Law 55-19, general case: at most 60 days.
        Law55_19 = "law_55_19",
        /// Law 55-19, investment files: at most 30 days.
        Law55_19Investment = "law_55_19_investment",
        /// Law 31-13, access to information: 20 working days (+20).
        Law31_13 = "law_31_13",
        /// Set by the administration.
        Internal = "internal",
    }
);

impl LegalBasis {
    pub fn label_fr(&self) -> &'static str {
        match self {
            LegalBasis::Law55_19 => "Loi n° 55-19",
            LegalBasis::Law55_19Investment => "Loi n° 55-19 (projets d'investissement)",
            LegalBasis::Law31_13 => "Loi n° 31-13",
            LegalBasis::Internal => "Délai interne",
        }
    }
    pub fn label_ar(&self) -> &'static str {
        match self {
            LegalBasis::Law55_19 => "القانون رقم 55.19",
            LegalBasis::Law55_19Investment => "القانون رقم 55.19 (مشاريع الاستثمار)",
            LegalBasis::Law31_13 => "القانون رقم 31.13",
            LegalBasis::Internal => "أجل داخلي",
        }
    }
}

impl DeadlineRule {
    /// The general rule of law 55-19: 60 days.
    pub const GENERAL: DeadlineRule = DeadlineRule {
        days: 60,
        unit: DayUnit::Working,
        law: LegalBasis::Law55_19,
        silence_means_acceptance: false,
    };
    /// Investment files: 30 days.
    pub const INVESTMENT: DeadlineRule = DeadlineRule {
        days: 30,
        unit: DayUnit::Working,
        law: LegalBasis::Law55_19Investment,
        silence_means_acceptance: true,
    };
    /// Access to information: 20 working days.
    pub const ACCESS_TO_INFORMATION: DeadlineRule = DeadlineRule {
        days: 20,
        unit: DayUnit::Working,
        law: LegalBasis::Law31_13,
        silence_means_acceptance: false,
    };
}

impl DeadlineRule {
    /// The built-in rule of a type of request, used when the administration has not set its own:
    /// `general` (law 55-19), `investment`, `access_to_information` (law 31-13); `none` has no
    /// deadline.
    pub fn builtin(procedure: &str) -> Option<DeadlineRule> {
        match procedure {
            "general" => Some(Self::GENERAL),
            "investment" => Some(Self::INVESTMENT),
            "access_to_information" => Some(Self::ACCESS_TO_INFORMATION),
            _ => None,
        }
    }
}

/// The built-in types of request, in the order forms offer them.
pub const BUILTIN_PROCEDURES: &[&str] = &["general", "investment", "access_to_information", "none"];

/// Whether `code` can name a type of request: 1 to 40 of `a-z`, `0-9`, `_`.
pub fn is_procedure_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 40
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The processing deadline a correspondence carries: its date and the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub date: Date,
    pub rule: DeadlineRule,
    /// The type of request the rule belongs to (`None` for a date set by hand).
    pub procedure: Option<String>,
}

/// A working-day calendar: weekend days and holidays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    weekend: [bool; 7],
    holidays: BTreeSet<Date>,
}

impl Default for Calendar {
    /// Saturday and Sunday off, no holidays.
    fn default() -> Self {
        let mut weekend = [false; 7];
        weekend[Weekday::Saturday.number_days_from_monday() as usize] = true;
        weekend[Weekday::Sunday.number_days_from_monday() as usize] = true;
        Self {
            weekend,
            holidays: BTreeSet::new(),
        }
    }
}

impl Calendar {
    /// Saturday/Sunday weekend and Morocco's fixed national holidays for the given years.
    pub fn morocco(years: impl IntoIterator<Item = i32>) -> Self {
        let mut c = Self::default();
        for y in years {
            c.holidays.extend(moroccan_fixed_holidays(y));
        }
        c
    }

    pub fn add_holiday(&mut self, d: Date) {
        self.holidays.insert(d);
    }

    pub fn holidays(&self) -> impl Iterator<Item = &Date> {
        self.holidays.iter()
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        !self.weekend[d.weekday().number_days_from_monday() as usize] && !self.holidays.contains(&d)
    }

    /// The day `n` working days after `start` (start itself does not count).
    pub fn add_working_days(&self, start: Date, n: u32) -> Date {
        let mut d = start;
        let mut left = n;
        // A year of holidays cannot make this loop unbounded: at most 5 weekend/holiday days in a
        // row are realistic, and `Date` saturates at its max.
        while left > 0 {
            match d.checked_add(Duration::DAY) {
                Some(next) => d = next,
                None => return d,
            }
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// The due date of a rule starting on `start` (the day of receipt).
    pub fn due_date(&self, start: Date, rule: &DeadlineRule) -> Date {
        match rule.unit {
            DayUnit::Working => self.add_working_days(start, rule.days),
            DayUnit::Calendar => start.saturating_add(Duration::days(rule.days.into())),
        }
    }

    /// Working days from `from` (excluded) to `to` (included); negative when `to` is before.
    pub fn working_days_between(&self, from: Date, to: Date) -> i64 {
        let (a, b, sign) = if from <= to {
            (from, to, 1)
        } else {
            (to, from, -1)
        };
        let mut d = a;
        let mut n = 0i64;
        while d < b {
            match d.checked_add(Duration::DAY) {
                Some(next) => d = next,
                None => break,
            }
            if self.is_working_day(d) {
                n += 1;
            }
        }
        n * sign
    }
}

/// Morocco's national holidays that fall on a fixed Gregorian date.
pub fn moroccan_fixed_holidays(year: i32) -> Vec<Date> {
    const FIXED: &[(Month, u8)] = &[
        (Month::January, 1),   // New Year
        (Month::January, 11),  // Proclamation of Independence
        (Month::January, 14),  // Amazigh New Year (Id Yennayer)
        (Month::May, 1),       // Labour Day
        (Month::July, 30),     // Throne Day
        (Month::August, 14),   // Oued Ed-Dahab
        (Month::August, 20),   // Revolution of the King and the People
        (Month::August, 21),   // Youth Day
        (Month::November, 6),  // Green March
        (Month::November, 18), // Independence Day
    ];
    FIXED
        .iter()
        .filter_map(|(m, d)| Date::from_calendar_date(year, *m, *d).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let c = Calendar::morocco([2026]);
        // Friday 2026-11-13 + 1 working day = Monday 16; Wednesday 2026-11-18 is Independence Day.
        assert_eq!(
            c.add_working_days(date!(2026 - 11 - 13), 1),
            date!(2026 - 11 - 16)
        );
        assert_eq!(
            c.add_working_days(date!(2026 - 11 - 17), 1),
            date!(2026 - 11 - 19)
        );
        assert_eq!(
            c.working_days_between(date!(2026 - 11 - 13), date!(2026 - 11 - 20)),
            4
        );
        assert_eq!(
            c.working_days_between(date!(2026 - 11 - 20), date!(2026 - 11 - 13)),
            -4
        );
    }

    #[test]
    fn legal_deadlines() {
        let c = Calendar::default();
        // 20 working days = 4 weeks from a Monday.
        assert_eq!(
            c.due_date(date!(2026 - 03 - 02), &DeadlineRule::ACCESS_TO_INFORMATION),
            date!(2026 - 03 - 30)
        );
        let cal = DeadlineRule {
            unit: DayUnit::Calendar,
            ..DeadlineRule::GENERAL
        };
        assert_eq!(
            c.due_date(date!(2026 - 01 - 01), &cal),
            date!(2026 - 03 - 02)
        );
    }
}
