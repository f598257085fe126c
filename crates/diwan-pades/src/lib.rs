//! Diwan's PDF signature engine.
//!
//! - [`reader`]: lazy reading of PDFs (classic and stream cross-references, object streams,
//!   incremental updates, linearized files) from memory or from a file;
//! - [`sign`]: PAdES baseline signatures (ETSI EN 319 142-1) by incremental update, levels B-B,
//!   B-T, B-LT and B-LTA, several signatures per file, visible or not; streaming for files;
//! - [`verify`]: validation of any signed PDF, ours or not, with ETSI EN 319 102-1 indications;
//! - [`locate`]: where a text (a placeholder tag such as `#signature#`) is drawn, to place a
//!   visible signature block on it ([`Visible::at_tag`]).

pub mod appearance;
pub mod locate;
pub mod object;
mod predictor;
mod prefix;
pub mod reader;
pub mod sign;
pub mod update;
pub mod verify;

pub use locate::{find_text, find_text_in, signature_widgets, PageView, SignatureWidget, TextHit};
pub use sign::{
    sign_bytes, sign_file, sign_vec, Level, SignOptions, Signed, ValidationData, Visible,
};
pub use verify::{
    verify_bytes, verify_file, Indication, PdfReport, SignatureReport, SubIndication,
};

/// Errors of the PDF engine.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
    #[error("the PDF is encrypted; decrypt it before signing or validating")]
    Encrypted,
    #[error("the PDF is damaged: {0}")]
    Broken(&'static str),
    #[error("PDF syntax error at byte {offset}: {what}")]
    Syntax { offset: u64, what: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Crypto(#[from] diwan_crypto::CryptoError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = PdfError> = std::result::Result<T, E>;
