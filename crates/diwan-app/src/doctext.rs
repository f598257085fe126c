//! Reading documents for search, as a background job: the text layer of PDFs (poppler's
//! `pdftotext`) and, for scans — images, or PDFs without text — optical character recognition
//! with Tesseract in the configured languages (French and Arabic by default), page images made
//! by poppler's `pdftoppm`. The words found (folded like the rest of the search text, each once)
//! join the record's search text, so the database's full-text index (SQLite FTS5, PostgreSQL
//! `tsvector`) finds the record by them; nothing else is kept.
//!
//! The tools are separate programs, run with a time limit on a copy of the document in a
//! temporary directory; a missing tool or a damaged file marks the document `failed` and the
//! job goes on.

use crate::context::App;
use crate::error::AppError;
use diwan_core::media::MediaType;
use diwan_store::doctext::{PendingDocument, TextState};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Most distinct words kept per document.
const MAX_WORDS: usize = 20_000;
/// Pages read from a PDF's text layer, and pages recognised from a scanned PDF.
const MAX_TEXT_PAGES: u32 = 200;
const MAX_OCR_PAGES: u32 = 10;
/// Time allowed to one run of a tool.
const TOOL_TIME: Duration = Duration::from_secs(120);

/// Runs a tool, at a low CPU priority (`nice`) so that reading documents gives way to serving
/// requests; its standard output when it succeeds.
async fn tool(program: &str, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>, String> {
    let nice = ["/usr/bin/nice", "/bin/nice"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let mut cmd = match nice {
        Some(n) => {
            let mut c = tokio::process::Command::new(n);
            c.args(["-n", "15", program]);
            c
        }
        None => tokio::process::Command::new(program),
    };
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(TOOL_TIME, cmd.output()).await {
        Err(_) => Err(format!(
            "{program} took longer than {} s",
            TOOL_TIME.as_secs()
        )),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(out.stdout),
        Ok(Ok(out)) => Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The distinct folded words of `text`, in order of first appearance.
pub fn search_words(text: &str) -> String {
    let folded = diwan_core::search::fold(text);
    let mut seen = std::collections::HashSet::new();
    let mut out = String::new();
    for w in folded.split_whitespace() {
        if seen.len() >= MAX_WORDS {
            break;
        }
        if w.chars().count() > 1 && w.chars().count() <= 40 && seen.insert(w) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

impl App {
    /// Reads the documents registered since the last run, every `interval`, until `stop`.
    pub async fn run_document_text(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        if !self.config.text.enabled {
            return;
        }
        let interval = Duration::from_secs(self.config.text.interval_seconds.max(1));
        loop {
            loop {
                // Stopping abandons the document being read (its tools are killed); it stays
                // pending and is read after the restart.
                let batch = tokio::select! {
                    r = self.read_pending_documents(20) => r,
                    _ = stop.changed() => return,
                };
                match batch {
                    Ok(n) if n > 0 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "reading documents for search failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Reads up to `limit` documents not read yet; how many were.
    pub async fn read_pending_documents(&self, limit: i64) -> Result<usize, AppError> {
        let pending = self.store.documents_without_text(limit).await?;
        for d in &pending {
            let (state, words) = match self.document_text(d).await {
                Ok((state, text)) => (state, search_words(&text)),
                Err(e) => {
                    tracing::warn!(document = %d.id, error = %e, "document text not read");
                    (TextState::Failed, String::new())
                }
            };
            self.store.record_document_text(d, state, &words).await?;
        }
        Ok(pending.len())
    }

    /// The text of a document and how it was read.
    async fn document_text(&self, d: &PendingDocument) -> Result<(TextState, String), String> {
        let image = matches!(
            d.media_type,
            MediaType::Png | MediaType::Jpeg | MediaType::Tiff | MediaType::Webp
        );
        if d.media_type != MediaType::Pdf && !image {
            return Ok((TextState::None, String::new()));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = dir
            .path()
            .join(format!("document.{}", d.media_type.extension()));
        self.copy_blob(&d.sha256, &file).await?;
        let langs = self.config.text.ocr_languages.clone();
        if image {
            let text = ocr(&file, &langs).await?;
            return Ok((state_of(&text, TextState::Ocr), text));
        }
        let last = MAX_TEXT_PAGES.to_string();
        let layer = tool(
            "pdftotext",
            &[
                "-q".as_ref(),
                "-enc".as_ref(),
                "UTF-8".as_ref(),
                "-l".as_ref(),
                last.as_ref(),
                file.as_os_str(),
                "-".as_ref(),
            ],
        )
        .await?;
        let layer = String::from_utf8_lossy(&layer).into_owned();
        if layer.split_whitespace().count() >= 3 {
            return Ok((TextState::Text, layer));
        }
        // No text layer: a scan. Recognise its first pages.
        let last = MAX_OCR_PAGES.to_string();
        let prefix = dir.path().join("page");
        tool(
            "pdftoppm",
            &[
                "-q".as_ref(),
                "-r".as_ref(),
                "200".as_ref(),
                "-gray".as_ref(),
                "-png".as_ref(),
                "-l".as_ref(),
                last.as_ref(),
                file.as_os_str(),
                prefix.as_os_str(),
            ],
        )
        .await?;
        let mut pages: Vec<_> = std::fs::read_dir(dir.path())
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("page"))
            })
            .collect();
        pages.sort();
        let mut text = String::new();
        for p in pages {
            text.push_str(&ocr(&p, &langs).await?);
            text.push('\n');
        }
        Ok((state_of(&text, TextState::Ocr), text))
    }

    /// Copies a stored document to `dst`, streaming.
    async fn copy_blob(&self, sha256: &str, dst: &Path) -> Result<(), String> {
        let hash = diwan_store::BlobHash::parse(sha256).map_err(|e| e.to_string())?;
        let mut src = self
            .store
            .blobs()
            .open(&hash)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = tokio::fs::File::create(dst)
            .await
            .map_err(|e| e.to_string())?;
        tokio::io::copy(&mut src, &mut out)
            .await
            .map_err(|e| e.to_string())?;
        out.flush().await.map_err(|e| e.to_string())
    }
}

fn state_of(text: &str, found: TextState) -> TextState {
    if text.split_whitespace().next().is_some() {
        found
    } else {
        TextState::None
    }
}

/// Tesseract on one image, in the configured languages.
async fn ocr(image: &Path, langs: &str) -> Result<String, String> {
    let out = tool(
        "tesseract",
        &[
            image.as_os_str(),
            "stdout".as_ref(),
            "-l".as_ref(),
            langs.as_ref(),
        ],
    )
    .await?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_folded_and_kept_once() {
        let w =
            search_words("Réclamation : RÉCLAMATION du bien, l'expropriation — الإدارة الادارة x");
        assert_eq!(w.matches("reclamation").count(), 1);
        assert!(w.contains("expropriation"));
        // One-letter words are left out; Arabic letter variants fold together.
        assert!(!w.split(' ').any(|t| t == "x"));
        assert_eq!(
            w.split(' ').filter(|t| t.starts_with("ال")).count(),
            1,
            "{w}"
        );
    }
}
