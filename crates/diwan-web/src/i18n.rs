//! Interface languages: French (default), Arabic (right to left), Amazigh in Tifinagh, English.
//!
//! Messages live in `i18n/<lang>.json` (flat `key → text`), embedded at build time. A missing
//! message falls back to English, then French, then the key itself — so a page never breaks, and
//! the test `every_key_is_translated` lists what is missing.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use std::collections::HashMap;
use std::sync::OnceLock;

/// An interface language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Lang {
    Fr,
    Ar,
    Zgh,
    En,
}

/// Name of the language cookie.
pub const LANG_COOKIE: &str = "diwan_lang";

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Fr, Lang::Ar, Lang::Zgh, Lang::En];

    pub fn code(&self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::Ar => "ar",
            Lang::Zgh => "zgh",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fr" => Some(Lang::Fr),
            "ar" => Some(Lang::Ar),
            "zgh" | "ber" | "tzm" => Some(Lang::Zgh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Writing direction for the `dir` attribute.
    pub fn dir(&self) -> &'static str {
        if *self == Lang::Ar {
            "rtl"
        } else {
            "ltr"
        }
    }

    /// The language's own name, for the language switch.
    pub fn native_name(&self) -> &'static str {
        match self {
            Lang::Fr => "Français",
            Lang::Ar => "العربية",
            Lang::Zgh => "ⵜⴰⵎⴰⵣⵉⵖⵜ",
            Lang::En => "English",
        }
    }

    /// From `Accept-Language`, the first language we have.
    pub fn from_accept_language(h: &str) -> Option<Lang> {
        h.split(',')
            .filter_map(|part| part.split(';').next())
            .filter_map(|tag| tag.trim().split('-').next())
            .find_map(Lang::parse)
    }

    /// The translation of `key`.
    pub fn t(&self, key: &str) -> String {
        let cat = catalogs();
        for l in [*self, Lang::En, Lang::Fr] {
            if let Some(v) = cat.get(&l).and_then(|m| m.get(key)) {
                return v.clone();
            }
        }
        key.to_string()
    }
}

type Catalog = HashMap<String, String>;

fn catalogs() -> &'static HashMap<Lang, Catalog> {
    static C: OnceLock<HashMap<Lang, Catalog>> = OnceLock::new();
    C.get_or_init(|| {
        let parse = |s: &str| serde_json::from_str::<Catalog>(s).unwrap_or_default();
        HashMap::from([
            (Lang::Fr, parse(include_str!("../i18n/fr.json"))),
            (Lang::Ar, parse(include_str!("../i18n/ar.json"))),
            (Lang::Zgh, parse(include_str!("../i18n/zgh.json"))),
            (Lang::En, parse(include_str!("../i18n/en.json"))),
        ])
    })
}

/// The language of a request: cookie, then `Accept-Language`, then French.
impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        if let Some(l) = jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value())) {
            return Ok(l);
        }
        Ok(parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Lang::from_accept_language)
            .unwrap_or(Lang::Fr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_parse() {
        for l in Lang::ALL {
            let src = match l {
                Lang::Fr => include_str!("../i18n/fr.json"),
                Lang::Ar => include_str!("../i18n/ar.json"),
                Lang::Zgh => include_str!("../i18n/zgh.json"),
                Lang::En => include_str!("../i18n/en.json"),
            };
            serde_json::from_str::<Catalog>(src)
                .unwrap_or_else(|e| panic!("{}.json: {e}", l.code()));
        }
    }

    #[test]
    fn every_key_is_translated() {
        let c = catalogs();
        let fr = &c[&Lang::Fr];
        for l in [Lang::Ar, Lang::En] {
            let missing: Vec<_> = fr.keys().filter(|k| !c[&l].contains_key(*k)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", l.code());
        }
        // Amazigh covers the frame of every page (navigation, sign-in, errors); other strings
        // fall back to English until translators complete the catalog.
        let core = ["app.", "nav.", "login.", "error.", "home."];
        let missing: Vec<_> = fr
            .keys()
            .filter(|k| core.iter().any(|p| k.starts_with(p)))
            .filter(|k| !c[&Lang::Zgh].contains_key(*k))
            .collect();
        assert!(missing.is_empty(), "zgh lacks {missing:?}");
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            Lang::from_accept_language("ar-MA,ar;q=0.9,fr;q=0.8"),
            Some(Lang::Ar)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE, en;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("de"), None);
        assert_eq!(Lang::Ar.dir(), "rtl");
    }
}
