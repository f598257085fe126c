//! Text folding for full-text search: the same function prepares what is indexed and what is
//! searched, so that "Décision", "decision" and "DECISION" meet, and so do Arabic words written
//! with or without short vowels and with any of the usual letter variants (hamza on alef, alef
//! maqsura, taa marbuta). The database's own engine (SQLite FTS5, PostgreSQL `tsvector`) then
//! indexes the folded words.

/// Folds one character to its search form, or `None` when it disappears (Arabic diacritics,
/// tatweel). Letters and digits stay letters and digits; the rest becomes a space.
fn fold_char(c: char, out: &mut String) {
    match c {
        // Latin letters with diacritics.
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => {
            out.push('a')
        }
        'ç' | 'Ç' => out.push('c'),
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => out.push('e'),
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => out.push('i'),
        'ñ' | 'Ñ' => out.push('n'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => out.push('o'),
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => out.push('u'),
        'ý' | 'ÿ' | 'Ý' | 'Ÿ' => out.push('y'),
        'œ' | 'Œ' => out.push_str("oe"),
        'æ' | 'Æ' => out.push_str("ae"),
        'ß' => out.push_str("ss"),
        // Arabic: short vowels, tanwin, shadda, sukun, superscript alef, Quranic marks, tatweel.
        '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' | '\u{06D6}'..='\u{06ED}' => {}
        // Alef variants (madda, hamza above/below, wasla) to bare alef.
        'آ' | 'أ' | 'إ' | 'ٱ' => out.push('ا'),
        // Alef maqsura and yeh with hamza to yeh; waw with hamza to waw; taa marbuta to heh.
        'ى' | 'ئ' | 'ی' => out.push('ي'),
        'ؤ' => out.push('و'),
        'ة' => out.push('ه'),
        'ک' => out.push('ك'),
        // Arabic-Indic and Eastern Arabic-Indic digits to ASCII digits.
        '\u{0660}'..='\u{0669}' => out.push(char::from(b'0' + (c as u32 - 0x0660) as u8)),
        '\u{06F0}'..='\u{06F9}' => out.push(char::from(b'0' + (c as u32 - 0x06F0) as u8)),
        c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
        _ => out.push(' '),
    }
}

/// Folds a text to space-separated search words.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut out);
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words of a search query, folded, at most `max` of them (longest kept first would change
/// the meaning, so the first ones are kept). Every word is made only of letters and digits, so it
/// can be put in an FTS5 or `to_tsquery` expression without escaping.
///
/// Single characters (the "A" of a register number such as `BO/A/2026/000042`) are dropped
/// when longer words remain: searched as prefixes they would match nearly everything.
pub fn query_words(query: &str, max: usize) -> Vec<String> {
    let folded = fold(query);
    let mut words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    if words.iter().any(|w| w.chars().count() > 1) {
        words.retain(|w| w.chars().count() > 1);
    }
    words.into_iter().take(max).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_accents_and_case_fold() {
        assert_eq!(
            fold("Décision  N°12/2026 — Élève"),
            "decision n 12 2026 eleve"
        );
        assert_eq!(fold("Œuvre CŒUR"), "oeuvre coeur");
    }

    #[test]
    fn arabic_variants_and_diacritics_fold() {
        // "إدارة" with and without hamza, with vowels, and with taa marbuta.
        assert_eq!(fold("إِدَارَةٌ"), fold("ادارة"));
        assert_eq!(fold("أحمد"), "احمد");
        assert_eq!(fold("مستشفى"), "مستشفي");
        assert_eq!(fold("٢٠٢٦"), "2026");
        assert_eq!(fold("طـــلب"), "طلب");
    }

    #[test]
    fn query_words_are_safe_tokens() {
        assert_eq!(
            query_words("\"permis\" OR NEAR(x) * -- ' ;", 10),
            vec!["permis", "or", "near"]
        );
        assert_eq!(query_words("a b c", 2), vec!["a", "b"]);
        assert_eq!(
            query_words("BO-CENTRAL/A/2026/000042", 10),
            vec!["bo", "central", "2026", "000042"]
        );
        assert!(query_words("  ...  ", 5).is_empty());
    }
}
