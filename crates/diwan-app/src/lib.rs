//! Diwan's application layer: the use cases of the platform, independent of HTTP.
//!
//! The web layer (`diwan-web`) and the command line (`diwan`) both call these services, so the
//! rules — who may do what, how input is validated, what is written in which transaction — live
//! in one place and handlers stay thin.

pub mod access;
pub mod admin;
pub mod archive;
pub mod bulk;
pub mod cache;
pub mod config;
pub mod context;
pub mod deadlines;
pub mod demo;
pub mod doctext;
pub mod error;
pub mod exchange;
pub mod mailer;
pub mod parapheur;
pub mod pki;
pub mod portal;
pub mod processing;
pub mod receipt;
pub mod registration;
pub mod reply_signing;
pub mod reports;
pub mod slip;
pub mod translog;
pub mod upload;
pub mod verify;
pub mod webhooks;

pub use access::Principal;
pub use config::Config;
pub use context::App;
pub use error::{AppError, FieldError};

/// A moment as people read it: `DD/MM/YYYY HH:MM` in the platform's time zone (pages, visible
/// signature blocks).
pub fn local_time(t: time::OffsetDateTime, offset: time::UtcOffset) -> String {
    let t = t.to_offset(offset);
    format!(
        "{:02}/{:02}/{} {:02}:{:02}",
        t.day(),
        u8::from(t.month()),
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
