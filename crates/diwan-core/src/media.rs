//! Media types recognised from content, never from the file name or the declared type.
//!
//! Only formats a registry office handles are accepted: PDF, scanned images (PNG, JPEG, TIFF,
//! WebP) and office documents (OpenDocument, Office Open XML) as attachments.

use crate::code_enum;

code_enum!(
    /// An accepted document format.
    MediaType {
        Pdf = "application/pdf",
        Png = "image/png",
        Jpeg = "image/jpeg",
        Tiff = "image/tiff",
        Webp = "image/webp",
        Odt = "application/vnd.oasis.opendocument.text",
        Ods = "application/vnd.oasis.opendocument.spreadsheet",
        Docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
);

/// How many leading bytes [`sniff`] needs at most.
pub const SNIFF_LEN: usize = 4096;

impl MediaType {
    /// The usual file extension.
    pub fn extension(&self) -> &'static str {
        match self {
            MediaType::Pdf => "pdf",
            MediaType::Png => "png",
            MediaType::Jpeg => "jpg",
            MediaType::Tiff => "tif",
            MediaType::Webp => "webp",
            MediaType::Odt => "odt",
            MediaType::Ods => "ods",
            MediaType::Docx => "docx",
            MediaType::Xlsx => "xlsx",
        }
    }

    /// Whether the format is a scan or a PDF (what a registry office files as the main letter).
    pub fn is_scan_or_pdf(&self) -> bool {
        matches!(
            self,
            MediaType::Pdf | MediaType::Png | MediaType::Jpeg | MediaType::Tiff | MediaType::Webp
        )
    }
}

/// Recognises the format from the first bytes of a file (up to [`SNIFF_LEN`]).
/// Returns `None` for anything not accepted.
pub fn sniff(head: &[u8]) -> Option<MediaType> {
    let starts = |m: &[u8]| head.starts_with(m);
    // PDF: the header may be preceded by up to 1024 bytes of junk (ISO 32000-1, 7.5.2 note).
    if find(&head[..head.len().min(1024)], b"%PDF-").is_some() {
        return Some(MediaType::Pdf);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some(MediaType::Png);
    }
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Some(MediaType::Jpeg);
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some(MediaType::Tiff);
    }
    if head.len() >= 12 && starts(b"RIFF") && &head[8..12] == b"WEBP" {
        return Some(MediaType::Webp);
    }
    if starts(b"PK\x03\x04") {
        return sniff_zip(head);
    }
    None
}

fn sniff_zip(head: &[u8]) -> Option<MediaType> {
    // OpenDocument: the first entry is "mimetype", stored, whose content is the media type.
    if head.len() > 38 && &head[30..38] == b"mimetype" {
        let rest = &head[38..];
        if rest.starts_with(b"application/vnd.oasis.opendocument.text") {
            return Some(MediaType::Odt);
        }
        if rest.starts_with(b"application/vnd.oasis.opendocument.spreadsheet") {
            return Some(MediaType::Ods);
        }
        return None;
    }
    // Office Open XML: look for the part names of the first entries.
    if find(head, b"[Content_Types].xml").is_some() || find(head, b"_rels/").is_some() {
        if find(head, b"word/").is_some() {
            return Some(MediaType::Docx);
        }
        if find(head, b"xl/").is_some() {
            return Some(MediaType::Xlsx);
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(MediaType::Pdf));
        assert_eq!(sniff(b"\xEF\xBB\xBF%PDF-1.4"), Some(MediaType::Pdf));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(MediaType::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(MediaType::Jpeg));
        assert_eq!(sniff(b"II*\0...."), Some(MediaType::Tiff));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(MediaType::Webp));
        let mut odt = b"PK\x03\x04".to_vec();
        odt.resize(30, 0);
        odt.extend_from_slice(b"mimetypeapplication/vnd.oasis.opendocument.text");
        assert_eq!(sniff(&odt), Some(MediaType::Odt));
    }

    #[test]
    fn refuses_others() {
        assert_eq!(sniff(b"MZ\x90\0"), None); // a Windows executable named .pdf
        assert_eq!(sniff(b"<html>"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"PK\x03\x04random"), None);
    }
}
