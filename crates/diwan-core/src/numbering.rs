//! Registers and their registration numbers (numéro d'ordre).
//!
//! A register belongs to a registry office and has a direction. Its numbers restart at 1 each
//! year and are allocated, by the store, in the same transaction as the record they number, so
//! the sequence of a (register, year) is exactly 1..N. This module only knows how to *format*
//! a number: the template is parsed once into segments and checked so that every number it can
//! produce is unique within the register (it must contain the year and the sequence).

use crate::code_enum;
use std::fmt::Write;

code_enum!(
    /// The direction of a register and of the correspondence it holds.
    Direction {
        /// Arrivée — mail received.
        Incoming = "incoming",
        /// Départ — mail sent.
        Outgoing = "outgoing",
        /// Interne — mail between entities of the same administration.
        Internal = "internal",
    }
);

impl Direction {
    /// The letter used in registration numbers: A (arrivée), D (départ), I (interne).
    pub fn letter(&self) -> char {
        match self {
            Direction::Incoming => 'A',
            Direction::Outgoing => 'D',
            Direction::Internal => 'I',
        }
    }
}

/// The default template: `BO-RABAT/A/2026/000042`.
pub const DEFAULT_FORMAT: &str = "{ENTITY}/{A|D|I}/{YYYY}/{000001}";

/// A template that cannot produce unique numbers, or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown placeholder {{{0}}}; known: ENTITY, ADMIN, A|D|I, YYYY, YY, SEQ, 000001")]
    UnknownPlaceholder(String),
    #[error("unclosed '{{' in number format")]
    Unclosed,
    #[error("number format must contain the sequence exactly once ({{000001}} or {{SEQ}})")]
    Sequence,
    #[error("number format must contain the year ({{YYYY}} or {{YY}}), since numbering restarts each year")]
    Year,
    #[error("number format is too long")]
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Entity,
    Admin,
    Direction,
    Year4,
    Year2,
    /// Zero-padded to this width (0 = no padding).
    Sequence(usize),
}

/// A parsed, validated numbering template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberFormat {
    source: String,
    segments: Vec<Segment>,
}

/// What a number is made of.
#[derive(Debug, Clone, Copy)]
pub struct NumberParts<'a> {
    pub entity_code: &'a str,
    pub admin_code: &'a str,
    pub direction: Direction,
    pub year: i32,
    pub sequence: u64,
}

impl NumberFormat {
    pub fn parse(template: &str) -> Result<Self, FormatError> {
        if template.len() > 100 {
            return Err(FormatError::TooLong);
        }
        let mut segments = Vec::new();
        let mut rest = template;
        let (mut seq, mut year) = (0, 0);
        while !rest.is_empty() {
            match rest.find('{') {
                None => {
                    segments.push(Segment::Literal(rest.to_string()));
                    break;
                }
                Some(i) => {
                    if i > 0 {
                        segments.push(Segment::Literal(rest[..i].to_string()));
                    }
                    let after = &rest[i + 1..];
                    let end = after.find('}').ok_or(FormatError::Unclosed)?;
                    let name = &after[..end];
                    let seg = match name {
                        "ENTITY" => Segment::Entity,
                        "ADMIN" => Segment::Admin,
                        "A|D|I" | "DIR" => Segment::Direction,
                        "YYYY" => Segment::Year4,
                        "YY" => Segment::Year2,
                        "SEQ" => Segment::Sequence(0),
                        n if !n.is_empty()
                            && n.len() <= 12
                            && n.bytes().all(|b| b.is_ascii_digit()) =>
                        {
                            Segment::Sequence(n.len())
                        }
                        other => return Err(FormatError::UnknownPlaceholder(other.to_string())),
                    };
                    match seg {
                        Segment::Sequence(_) => seq += 1,
                        Segment::Year4 | Segment::Year2 => year += 1,
                        _ => {}
                    }
                    segments.push(seg);
                    rest = &after[end + 1..];
                }
            }
        }
        if seq != 1 {
            return Err(FormatError::Sequence);
        }
        if year == 0 {
            return Err(FormatError::Year);
        }
        // The sequence must be the last variable part so that numbers sort and end with it.
        Ok(Self {
            source: template.to_string(),
            segments,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Formats a number.
    pub fn render(&self, p: &NumberParts<'_>) -> String {
        let mut out = String::with_capacity(32);
        for s in &self.segments {
            // Writing to a String cannot fail.
            let _ = match s {
                Segment::Literal(l) => out.write_str(l),
                Segment::Entity => out.write_str(p.entity_code),
                Segment::Admin => out.write_str(p.admin_code),
                Segment::Direction => out.write_char(p.direction.letter()),
                Segment::Year4 => write!(out, "{:04}", p.year),
                Segment::Year2 => write!(out, "{:02}", p.year.rem_euclid(100)),
                Segment::Sequence(w) => write!(out, "{:0w$}", p.sequence, w = *w),
            };
        }
        out
    }
}

impl Default for NumberFormat {
    fn default() -> Self {
        // The default template is a constant known to parse.
        match Self::parse(DEFAULT_FORMAT) {
            Ok(f) => f,
            Err(_) => unreachable!("default number format parses"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(seq: u64) -> NumberParts<'static> {
        NumberParts {
            entity_code: "BO-RABAT",
            admin_code: "MJUST",
            direction: Direction::Incoming,
            year: 2026,
            sequence: seq,
        }
    }

    #[test]
    fn default_format() {
        let f = NumberFormat::default();
        assert_eq!(f.render(&parts(42)), "BO-RABAT/A/2026/000042");
        assert_eq!(f.render(&parts(1234567)), "BO-RABAT/A/2026/1234567");
    }

    #[test]
    fn custom_formats() {
        let f = NumberFormat::parse("{ADMIN}-{YY}-{SEQ}").unwrap();
        assert_eq!(f.render(&parts(7)), "MJUST-26-7");
        let f = NumberFormat::parse("{DIR}{YYYY}.{0000}").unwrap();
        assert_eq!(f.render(&parts(7)), "A2026.0007");
    }

    #[test]
    fn rejects_ambiguous_formats() {
        assert_eq!(
            NumberFormat::parse("{ENTITY}/{000001}"),
            Err(FormatError::Year)
        );
        assert_eq!(NumberFormat::parse("{YYYY}"), Err(FormatError::Sequence));
        assert_eq!(
            NumberFormat::parse("{YYYY}{SEQ}{SEQ}"),
            Err(FormatError::Sequence)
        );
        assert!(matches!(
            NumberFormat::parse("{YYYY}{SEQ}{X}"),
            Err(FormatError::UnknownPlaceholder(_))
        ));
        assert_eq!(
            NumberFormat::parse("{YYYY}{SEQ"),
            Err(FormatError::Unclosed)
        );
    }
}
