//! Validation of untrusted text: bounded, trimmed, free of control characters; file names without
//! path tricks; Moroccan identity numbers (CIN) and company identifiers (ICE).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a piece of text was refused. The message names the rule so that it can be shown as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("is too long ({len} characters, at most {max})")]
    TooLong { len: usize, max: usize },
    #[error("contains a control character")]
    ControlCharacter,
    #[error("is not a valid file name: {0}")]
    BadFileName(&'static str),
    #[error("is not a valid {0}")]
    BadFormat(&'static str),
}

/// Defines a strings-as-codes enum: `as_str`, `FromStr`, `ALL` and serde as the code.
#[macro_export]
macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable code used in storage, URLs and the API.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text::UnknownCode;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    _ => Err($crate::text::UnknownCode {
                        kind: stringify!($name),
                        value: s.chars().take(40).collect(),
                        expected: &[$($code),+],
                    }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A string that is not one of the codes of an enumeration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {}", expected.join(", "))]
pub struct UnknownCode {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static [&'static str],
}

/// Trims and checks a single-line or multi-line text field.
pub fn clean_text(input: &str, max_chars: usize, multiline: bool) -> Result<String, TextError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(TextError::Empty);
    }
    let len = t.chars().count();
    if len > max_chars {
        return Err(TextError::TooLong {
            len,
            max: max_chars,
        });
    }
    let bad = t.chars().any(|c| {
        if multiline && (c == '\n' || c == '\r' || c == '\t') {
            false
        } else {
            c.is_control()
        }
    });
    if bad {
        return Err(TextError::ControlCharacter);
    }
    Ok(t.to_string())
}

/// Like [`clean_text`] but an empty input gives `None`.
pub fn clean_optional(
    input: Option<&str>,
    max_chars: usize,
    multiline: bool,
) -> Result<Option<String>, TextError> {
    match input.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => clean_text(s, max_chars, multiline).map(Some),
    }
}

/// A file name as given by an uploader, made safe to store and show: no directory part, no
/// `..`, no control or reserved characters, at most 200 characters. The name is metadata only:
/// files are stored under their SHA-256, never under this name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(TextError::BadFileName("empty"));
        }
        if name.contains('/') || name.contains('\\') {
            return Err(TextError::BadFileName("contains a path separator"));
        }
        if name == "." || name == ".." || name.starts_with("..") {
            return Err(TextError::BadFileName("is a relative path"));
        }
        if name
            .chars()
            .any(|c| c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|'))
        {
            return Err(TextError::BadFileName("contains a reserved character"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(TextError::BadFileName("is longer than 200 characters"));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileName {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<FileName> for String {
    fn from(f: FileName) -> String {
        f.0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Moroccan national identity card number (CIN): one or two letters then 1 to 6 digits,
/// stored upper-case. Sensitive personal data (law 09-08): shown masked, never logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NationalId(String);

impl NationalId {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let s: String = raw
            .trim()
            .to_uppercase()
            .chars()
            .filter(|c| *c != ' ')
            .collect();
        let letters = s.chars().take_while(|c| c.is_ascii_uppercase()).count();
        let digits = &s[letters..];
        if !(1..=2).contains(&letters)
            || digits.is_empty()
            || digits.len() > 6
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(TextError::BadFormat(
                "national identity number (e.g. AB123456)",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but its last two characters hidden, for display on receipts.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl TryFrom<String> for NationalId {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<NationalId> for String {
    fn from(n: NationalId) -> String {
        n.0
    }
}

/// A company's "Identifiant Commun de l'Entreprise": 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ice(String);

impl Ice {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if s.len() != 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TextError::BadFormat("ICE (15 digits)"));
        }
        Ok(Self(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Ice {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<Ice> for String {
    fn from(n: Ice) -> String {
        n.0
    }
}

/// Hides all but the last two characters of an identifier.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i + 2 < n { '•' } else { c })
        .collect()
}

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces), lower-cased domain.
pub fn parse_email(raw: &str) -> Result<String, TextError> {
    let s = raw.trim();
    let ok = s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(s.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !d.contains('@'));
    if !ok {
        return Err(TextError::BadFormat("e-mail address"));
    }
    let (l, d) = s
        .split_once('@')
        .ok_or(TextError::BadFormat("e-mail address"))?;
    Ok(format!("{l}@{}", d.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(FileName::parse("lettre.pdf").is_ok());
        assert!(FileName::parse("رسالة.pdf").is_ok());
        for bad in ["../x.pdf", "a/b.pdf", "a\\b", "..", "", "x\u{0}.pdf", "a:b"] {
            assert!(FileName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(FileName::parse(&"a".repeat(201)).is_err());
    }

    #[test]
    fn national_ids() {
        assert_eq!(
            NationalId::parse(" ab123456 ").unwrap().as_str(),
            "AB123456"
        );
        assert_eq!(NationalId::parse("AB123456").unwrap().masked(), "••••••56");
        for bad in ["123456", "ABC12", "AB", "AB1234567", "A-12"] {
            assert!(NationalId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ice_and_email() {
        assert!(Ice::parse("001234567000089").is_ok());
        assert!(Ice::parse("12345").is_err());
        assert_eq!(parse_email("A.b@Example.MA").unwrap(), "A.b@example.ma");
        for bad in ["x", "a@b", "a b@c.d", "@c.d", "a@.c"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clean() {
        assert_eq!(clean_text("  hi ", 10, false).unwrap(), "hi");
        assert_eq!(clean_text("", 10, false), Err(TextError::Empty));
        assert!(clean_text("a\nb", 10, false).is_err());
        assert!(clean_text("a\nb", 10, true).is_ok());
        assert!(matches!(
            clean_text("abc", 2, false),
            Err(TextError::TooLong { .. })
        ));
    }
}
