//! Correspondence endpoints: registration (multipart, streamed), register view, details,
//! documents, history.

use super::{path_id, ApiQuery};
use crate::auth::ApiUser;
use crate::problem::{parse_json, ApiError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use diwan_app::registration::{opt_date, RegistrationRequest};
use diwan_app::upload::AcceptedFile;
use diwan_app::{App, AppError, Principal};
use diwan_core::correspondence::Status;
use diwan_core::numbering::Direction;
use diwan_core::{CorrespondenceId, DocumentId, RegisterId};
use diwan_store::registry::{Correspondence, CorrespondenceFilter, Document};
use serde::Deserialize;
use serde_json::{json, Value};

/// Largest accepted `metadata` part.
const METADATA_LIMIT: usize = 64 * 1024;

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(AppError::TooLarge(
            "the request is larger than the upload limit".into(),
        ))
    } else {
        ApiError(AppError::BadRequest(format!(
            "malformed multipart body: {}",
            e.body_text()
        )))
    }
}

/// Reads a multipart body: one `metadata` JSON part and any number of `file` parts, each streamed
/// to staging. Shared by every multipart endpoint.
///
/// When a part is refused (too large, wrong type, …) the rest of the body is read and discarded
/// (up to 64 MiB and 10 seconds) before answering, so that the client, still sending, receives
/// the precise error instead of a connection reset.
pub async fn read_multipart<T: serde::de::DeserializeOwned>(
    app: &App,
    mp: &mut Multipart,
) -> Result<(T, Vec<AcceptedFile>), ApiError> {
    let r = read_parts(app, mp).await;
    if r.is_err() {
        drain_multipart(mp).await;
    }
    r
}

/// Reads and discards what is left of a multipart body, within bounds.
pub async fn drain_multipart(mp: &mut Multipart) {
    const MAX: usize = 64 << 20;
    let drain = async {
        let mut seen = 0usize;
        while let Ok(Some(mut field)) = mp.next_field().await {
            while let Ok(Some(chunk)) = field.chunk().await {
                seen += chunk.len();
                if seen > MAX {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
}

async fn read_parts<T: serde::de::DeserializeOwned>(
    app: &App,
    mp: &mut Multipart,
) -> Result<(T, Vec<AcceptedFile>), ApiError> {
    let mut meta: Option<T> = None;
    let mut files = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or("") {
            "metadata" => {
                if meta.is_some() {
                    return Err(ApiError(AppError::BadRequest(
                        "the metadata part is given twice".into(),
                    )));
                }
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > METADATA_LIMIT {
                        return Err(ApiError(AppError::TooLarge(
                            "the metadata part is limited to 64 KiB".into(),
                        )));
                    }
                }
                meta = Some(parse_json(&buf, "metadata")?);
            }
            "file" | "files" | "file[]" => {
                let mut up = app.begin_upload(files.len(), field.file_name()).await?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    up.write(&chunk).await?;
                }
                files.push(up.finish().await?);
            }
            other => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "unexpected part {other:?}: expected `metadata` and `file` parts"
                ))))
            }
        }
    }
    let meta =
        meta.ok_or_else(|| ApiError(AppError::field("metadata", "the metadata part is missing")))?;
    Ok((meta, files))
}

/// `POST /api/v1/correspondences`.
pub async fn create(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    mut mp: Multipart,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<Value>), ApiError> {
    let (meta, files): (RegistrationRequest, _) = read_multipart(&st.app, &mut mp).await?;
    let r = st.app.register_correspondence(&who, meta, files).await?;
    st.metrics
        .registrations
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let location = format!("/api/v1/correspondences/{}", r.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(
            json!({ "id": r.id, "number": r.number, "year": r.year, "sequence": r.seq,
                     "registered_at": rfc3339(r.registered_at) }),
        ),
    ))
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A correspondence the caller may read, or 404 (never 403: existence is not disclosed).
pub async fn readable(
    app: &App,
    who: &Principal,
    id: CorrespondenceId,
) -> Result<Correspondence, ApiError> {
    let tenant = app.store.tenant(who.admin());
    let c = tenant.correspondence(id).await?;
    let scope = who.read_scope(&tenant).await?;
    if !tenant.may_read(&scope, &c).await? {
        return Err(ApiError(AppError::NotFound("correspondence".into())));
    }
    Ok(c)
}

fn document_json(c: &Correspondence, d: &Document) -> Value {
    json!({
        "id": d.id, "role": d.role, "file_name": d.file_name, "media_type": d.media_type,
        "size": d.size, "sha256": d.sha256,
        "url": format!("/api/v1/correspondences/{}/documents/{}", c.id, d.id),
    })
}

/// `GET /api/v1/correspondences/{id}`.
pub async fn get_one(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = readable(&st.app, &who, path_id(&id, "correspondence")?).await?;
    let tenant = st.app.store.tenant(who.admin());
    let docs = tenant.documents(c.id).await?;
    let mut v = json!(c);
    v["documents"] = docs.iter().map(|d| document_json(&c, d)).collect();
    let state = tenant.processing_state(c.id).await?;
    v["handling_entity"] = json!(state.handling_entity);
    v["outcome"] = json!(state.outcome);
    v["assignments"] = json!(tenant.assignments(c.id).await?);
    v["in_reply_to"] = json!(state.in_reply_to);
    v["replies"] = tenant
        .replies(c.id)
        .await?
        .iter()
        .map(|r| json!({ "id": r.id, "number": r.number, "subject": r.subject, "status": r.status, "registered_at": rfc3339(r.registered_at) }))
        .collect();
    Ok(Json(v))
}

/// `GET /api/v1/correspondences/{id}/history`.
pub async fn history(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = readable(&st.app, &who, path_id(&id, "correspondence")?).await?;
    let entries = st
        .app
        .store
        .tenant(who.admin())
        .audit_of(&c.id.to_string())
        .await?;
    Ok(Json(json!({ "items": entries })))
}

/// `GET /api/v1/correspondences/{id}/documents/{doc}`: the file, streamed.
pub async fn download(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = readable(&st.app, &who, path_id(&id, "correspondence")?).await?;
    let doc: DocumentId = path_id(&doc, "document")?;
    document_response(&st.app, &who, &c, doc).await
}

/// Streams a document of a readable correspondence.
pub async fn document_response(
    app: &App,
    who: &Principal,
    c: &Correspondence,
    doc: DocumentId,
) -> Result<Response, ApiError> {
    let docs = app.store.tenant(who.admin()).documents(c.id).await?;
    let d = docs
        .iter()
        .find(|d| d.id == doc)
        .ok_or_else(|| ApiError(AppError::NotFound("document".into())))?;
    let hash = diwan_store::BlobHash::parse(&d.sha256)
        .map_err(|e| ApiError(AppError::Internal(e.to_string())))?;
    let file = app.store.blobs().open(&hash).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    let encoded =
        percent_encoding::utf8_percent_encode(&d.file_name, percent_encoding::NON_ALPHANUMERIC);
    let ascii: String = d
        .file_name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ".-_".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, d.media_type.as_str().to_string()),
            (header::CONTENT_LENGTH, d.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::ETAG, format!("\"{}\"", d.sha256)),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// An optional `YYYY-MM-DD` query parameter; a malformed one is an error on `field`.
pub fn optional_day(v: &Option<String>, field: &str) -> Result<Option<time::Date>, AppError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => opt_date::parse(s)
            .map(Some)
            .map_err(|m| AppError::field(field, m)),
    }
}

/// Filters of `GET /api/v1/correspondences`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub register: Option<RegisterId>,
    pub direction: Option<Direction>,
    pub year: Option<i32>,
    pub status: Option<Status>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl ListQuery {
    /// The store filter; dates are checked here so that a bad one gets a precise error.
    pub fn filter(&self) -> Result<CorrespondenceFilter, AppError> {
        let date = optional_day;
        let (per_page, offset) = super::processing::paging(self.page, self.per_page)?;
        Ok(CorrespondenceFilter {
            register: self.register,
            direction: self.direction,
            year: self.year,
            status: self.status,
            from: date(&self.from, "from")?,
            to: date(&self.to, "to")?,
            text: self.q.clone().filter(|q| !q.trim().is_empty()),
            query: None,
            handling_entity: None,
            due_before: None,
            order: Default::default(),
            limit: per_page,
            offset,
        })
    }
}

/// `GET /api/v1/correspondences`: the register view of what the caller may see.
pub async fn list(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = q.filter()?;
    let tenant = st.app.store.tenant(who.admin());
    let scope = who.read_scope(&tenant).await?;
    let page = tenant.correspondences(&scope, &filter).await?;
    Ok(Json(json!({
        "items": page.items,
        "total": page.total,
        "page": q.page.unwrap_or(1),
        "per_page": filter.limit,
    })))
}
