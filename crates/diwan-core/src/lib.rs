//! Diwan's domain: the words of a registry office turned into types.
//!
//! This crate has no I/O. It defines identifiers, the organisation model (administrations,
//! entities, roles), registers and their numbering formats, the correspondence record and its
//! status machine, working-day calendars for legal deadlines, and the validation of untrusted
//! input (file names, media types, identity numbers). Everything above it — the store, the web
//! layer, the binary — relies on these types so that illegal states cannot be built.

pub mod calendar;
pub mod correspondence;
pub mod ids;
pub mod media;
pub mod numbering;
pub mod org;
pub mod parapheur;
pub mod search;
pub mod text;

/// Serde format for dates as `YYYY-MM-DD` (`#[serde(with = "diwan_core::iso_date")]`).
pub mod iso_date {
    time::serde::format_description!(pub iso_date_format, Date, "[year]-[month]-[day]");
    pub use iso_date_format::*;
    /// For `Option<Date>` fields.
    pub mod option {
        pub use super::iso_date_format::option::*;
    }
}

pub use ids::*;
