//! Receiving files: streamed to staging with a size limit, named safely, recognised by content.

use crate::context::App;
use crate::error::AppError;
use diwan_core::media::{sniff, MediaType};
use diwan_core::text::FileName;
use diwan_store::{BlobError, BlobWriter, StagedBlob};

/// A file being received.
pub struct Upload {
    label: String,
    name: FileName,
    writer: BlobWriter,
    limit: u64,
}

/// A received, accepted file.
#[derive(Debug)]
pub struct AcceptedFile {
    pub name: FileName,
    pub media_type: MediaType,
    pub blob: StagedBlob,
}

impl App {
    /// Starts receiving the `index`-th file of a request, named `raw_name` by the client.
    pub async fn begin_upload(
        &self,
        index: usize,
        raw_name: Option<&str>,
    ) -> Result<Upload, AppError> {
        let label = format!("file[{index}]");
        if index >= self.config.max_files {
            return Err(AppError::TooLarge(format!(
                "too many files: at most {} per request",
                self.config.max_files
            )));
        }
        let raw = raw_name.unwrap_or("").trim();
        let name = if raw.is_empty() {
            FileName::parse(&format!("document-{}", index + 1))
                .map_err(|e| AppError::field(&label, e.to_string()))?
        } else {
            FileName::parse(raw)
                .map_err(|e| AppError::field(format!("{label}.name"), format!("{raw:?} {e}")))?
        };
        let limit = self.config.max_file_bytes;
        let writer = self.store.blobs().writer(limit).await?;
        Ok(Upload {
            label,
            name,
            writer,
            limit,
        })
    }
}

impl Upload {
    /// Appends a chunk of the file.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        self.writer.write(chunk).await.map_err(|e| match e {
            BlobError::TooLarge { .. } => AppError::TooLarge(format!(
                "{} ({}) is larger than the limit of {} bytes",
                self.label, self.name, self.limit
            )),
            other => other.into(),
        })
    }

    /// Completes the file and checks it: not empty, an accepted format.
    pub async fn finish(self) -> Result<AcceptedFile, AppError> {
        if self.writer.size() == 0 {
            return Err(AppError::field(
                &self.label,
                format!("{} is empty", self.name),
            ));
        }
        let media_type = sniff(self.writer.head()).ok_or_else(|| {
            AppError::UnsupportedMediaType(format!(
                "{} ({}) is not an accepted format; accepted: PDF, PNG, JPEG, TIFF, WebP, OpenDocument, Office Open XML",
                self.label, self.name
            ))
        })?;
        let blob = self.writer.finish().await?;
        Ok(AcceptedFile {
            name: self.name,
            media_type,
            blob,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}
