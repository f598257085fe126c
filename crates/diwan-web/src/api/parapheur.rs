//! Signature book endpoints: folders, their circuits and actions, batch signing, documents and
//! the signature certificate; circuit templates; delegations; the caller's signature
//! certificate.

use super::correspondences::drain_multipart;
use super::{path_id, ApiJson, ApiQuery};
use crate::auth::ApiUser;
use crate::problem::{parse_json, ApiError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use diwan_app::parapheur::{
    ActionRequest, CircuitRequest, DelegationRequest, FolderRequest, TemplateRequest,
};
use diwan_app::upload::AcceptedFile;
use diwan_app::{App, AppError};
use diwan_core::parapheur::FolderId;
use serde::Deserialize;
use serde_json::{json, Value};

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

/// Streams one file part into the upload area (checked: type sniffing, size limits).
async fn receive(
    app: &App,
    index: usize,
    field: &mut axum::extract::multipart::Field<'_>,
) -> Result<AcceptedFile, ApiError> {
    let mut up = app.begin_upload(index, field.file_name()).await?;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        up.write(&chunk).await?;
    }
    Ok(up.finish().await?)
}

/// Reads `metadata` (JSON), `file` parts (documents to sign) and `annex` parts, streamed.
async fn read_folder_parts(
    app: &App,
    mp: &mut Multipart,
) -> Result<(FolderRequest, Vec<AcceptedFile>, Vec<AcceptedFile>), ApiError> {
    let mut meta = None;
    let mut mains = Vec::new();
    let mut annexes = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "metadata" => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    buf.extend_from_slice(&chunk);
                    if buf.len() > METADATA_LIMIT {
                        return Err(ApiError(AppError::TooLarge(
                            "the metadata part is limited to 64 KiB".into(),
                        )));
                    }
                }
                meta = Some(parse_json::<FolderRequest>(&buf, "metadata")?);
            }
            "file" | "annex" => {
                let f = receive(app, mains.len() + annexes.len(), &mut field).await?;
                if name == "file" {
                    mains.push(f);
                } else {
                    annexes.push(f);
                }
            }
            other => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "unexpected part {other:?}: expected `metadata`, `file` and `annex` parts"
                ))))
            }
        }
    }
    let meta =
        meta.ok_or_else(|| ApiError(AppError::field("metadata", "the metadata part is missing")))?;
    Ok((meta, mains, annexes))
}

/// `POST /api/v1/folders` (multipart: `metadata`, `file` parts to sign, `annex` parts).
pub async fn create(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    mut mp: Multipart,
) -> Result<(StatusCode, [(header::HeaderName, String); 1], Json<Value>), ApiError> {
    let r = read_folder_parts(&st.app, &mut mp).await;
    let (meta, mains, annexes) = match r {
        Ok(x) => x,
        Err(e) => {
            drain_multipart(&mut mp).await;
            return Err(e);
        }
    };
    let f = st.app.create_folder(&who, meta, mains, annexes).await?;
    let detail = st.app.folder_for(&who, f.id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/folders/{}", f.id))],
        Json(json!(detail)),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub queue: Option<String>,
}

/// `GET /api/v1/folders?queue=to_act|mine|done|all`.
pub async fn list(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let items = st.app.folders(&who, q.queue.as_deref()).await?;
    Ok(Json(json!({ "items": items })))
}

fn folder_id(raw: &str) -> Result<FolderId, ApiError> {
    path_id(raw, "folder")
}

/// `GET /api/v1/folders/{id}`: the folder with its documents, steps and history.
pub async fn get_one(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(st.app.folder_for(&who, folder_id(&id)?).await?)))
}

/// `PUT /api/v1/folders/{id}/circuit`.
pub async fn put_circuit(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CircuitRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        st.app.set_circuit(&who, folder_id(&id)?, req).await?
    )))
}

/// `POST /api/v1/folders/{id}/start`.
pub async fn start(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        st.app.start_folder(&who, folder_id(&id)?).await?
    )))
}

/// `POST /api/v1/folders/{id}/actions`.
pub async fn act(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        st.app.act_on_folder(&who, folder_id(&id)?, req).await?
    )))
}

/// `POST /api/v1/folders/{id}/recall`.
pub async fn recall(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        st.app.recall_folder(&who, folder_id(&id)?).await?
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub ids: Vec<String>,
}

/// `POST /api/v1/folders/batch-sign`: one result per folder.
pub async fn batch_sign(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "results": st.app.batch_sign(&who, &req.ids).await? }),
    ))
}

pub(crate) async fn stream_blob(
    app: &App,
    hash: &diwan_store::BlobHash,
    media_type: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let file = app.store.blobs().open(hash).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let ascii: String = name
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
            (header::CONTENT_TYPE, media_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::ETAG, format!("\"{}\"", hash.to_hex())),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/v1/folders/{id}/documents/{doc}`: the current (signed) version of a document.
pub async fn document(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (name, media_type, hash) = st.app.folder_document(&who, folder_id(&id)?, &doc).await?;
    stream_blob(&st.app, &hash, &media_type, &name).await
}

/// Reads the parts of a change of documents: `file` parts (their role given by a `role` field,
/// `main` by default, wherever it comes) and `annex` parts; at most one file when `single`.
async fn read_document_parts(
    app: &App,
    mp: &mut Multipart,
    single: bool,
) -> Result<(Vec<AcceptedFile>, Vec<AcceptedFile>), ApiError> {
    let mut role = None;
    let mut files = Vec::new();
    let mut annexes = Vec::new();
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "role" if !single => {
                let text = field.text().await.map_err(multipart_error)?;
                role = Some(match text.trim() {
                    "main" => false,
                    "annex" => true,
                    _ => return Err(ApiError(AppError::field("role", "expected main or annex"))),
                });
            }
            "file" | "annex" if !(single && name == "annex") => {
                if single && !files.is_empty() {
                    return Err(ApiError(AppError::field(
                        "file",
                        "give one file to replace the document",
                    )));
                }
                let f = receive(app, files.len() + annexes.len(), &mut field).await?;
                if name == "file" {
                    files.push(f);
                } else {
                    annexes.push(f);
                }
            }
            other => {
                return Err(ApiError(AppError::BadRequest(format!(
                    "unexpected part {other:?}: expected {}",
                    if single {
                        "one `file` part"
                    } else {
                        "`file` parts with a `role` (main or annex), and `annex` parts"
                    }
                ))))
            }
        }
    }
    if role == Some(true) {
        files.append(&mut annexes);
        return Ok((vec![], files));
    }
    Ok((files, annexes))
}

/// Reads the document parts, draining the body when they are refused.
async fn document_parts(
    app: &App,
    mp: &mut Multipart,
    single: bool,
) -> Result<(Vec<AcceptedFile>, Vec<AcceptedFile>), ApiError> {
    let r = read_document_parts(app, mp, single).await;
    if r.is_err() {
        drain_multipart(mp).await;
    }
    r
}

/// `POST /api/v1/folders/{id}/documents` (multipart: `file` parts and a `role` field, `main` or
/// `annex`; or `annex` parts): adds documents to a folder its author is editing.
pub async fn add_documents(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    mut mp: Multipart,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = folder_id(&id)?;
    let (mains, annexes) = document_parts(&st.app, &mut mp, false).await?;
    let f = st
        .app
        .add_folder_documents(&who, id, mains, annexes)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(f))))
}

/// `PUT /api/v1/folders/{id}/documents/{doc}` (multipart: one `file` part): the document's
/// new version, in a folder its author is editing.
pub async fn replace_document(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, doc)): Path<(String, String)>,
    mut mp: Multipart,
) -> Result<Json<Value>, ApiError> {
    let id = folder_id(&id)?;
    let (mut files, _) = document_parts(&st.app, &mut mp, true).await?;
    let file = files
        .pop()
        .ok_or_else(|| ApiError(AppError::field("file", "the file part is missing")))?;
    Ok(Json(json!(
        st.app.replace_folder_document(&who, id, &doc, file).await?
    )))
}

/// `DELETE /api/v1/folders/{id}/documents/{doc}`: removes a document from a folder its author
/// is editing.
pub async fn remove_document(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, doc)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    st.app
        .remove_folder_document(&who, folder_id(&id)?, &doc)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/folders/{id}/evidence.pdf`: the sealed signature certificate.
pub async fn evidence(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = folder_id(&id)?;
    let hash = st.app.folder_evidence_for(&who, id).await?;
    stream_blob(
        &st.app,
        &hash,
        "application/pdf",
        &format!("bordereau-signature-{id}.pdf"),
    )
    .await
}

/// `GET /api/v1/circuit-templates`.
pub async fn templates(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": st.app.circuit_templates(&who).await? }),
    ))
}

/// `POST /api/v1/circuit-templates` (creates or replaces the template of a document type).
pub async fn put_template(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<TemplateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let t = st.app.put_circuit_template(&who, req).await?;
    Ok((StatusCode::CREATED, Json(json!(t))))
}

/// `DELETE /api/v1/circuit-templates/{document_type}`.
pub async fn delete_template(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(t): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.app.delete_circuit_template(&who, &t).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/delegations`.
pub async fn delegations(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": st.app.delegations(&who).await? })))
}

/// `POST /api/v1/delegations`.
pub async fn create_delegation(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<DelegationRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let d = st.app.create_delegation(&who, req).await?;
    Ok((StatusCode::CREATED, Json(json!(d))))
}

/// `DELETE /api/v1/delegations/{id}`.
pub async fn revoke_delegation(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.app.revoke_delegation(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn certificate_json(c: &diwan_crypto::Certificate, imported: bool) -> Value {
    let t = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    json!({
        "subject": c.subject(),
        "issuer": c.issuer(),
        "serial": c.serial_hex(),
        "not_before": t(c.not_before()),
        "not_after": t(c.not_after()),
        "source": if imported { "imported" } else { "platform" },
        "pem": c.to_pem(),
    })
}

/// `GET /api/v1/me/certificate`: the caller's signature certificate (`null` until the
/// platform issues one at the first signature, or one is imported).
pub async fn my_certificate(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let c = st.app.person_certificate(&who.user).await?;
    Ok(Json(json!({
        "certificate": c.map(|(c, imported)| certificate_json(&c, imported)),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportJson {
    /// The PKCS#12 file, base64.
    pkcs12: String,
    password: String,
}

/// `POST /api/v1/me/certificate`: imports the caller's own PKCS#12 (JSON `{"pkcs12": base64,
/// "password"}` or multipart with `pkcs12` file and `password` parts).
pub async fn import_certificate(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    use axum::extract::FromRequest;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (p12, password) = if ct.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &st)
            .await
            .map_err(|e| ApiError(AppError::BadRequest(e.to_string())))?;
        let mut p12 = None;
        let mut password = None;
        while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(multipart_error)?;
            if bytes.len() > 1 << 20 {
                return Err(ApiError(AppError::TooLarge(
                    "a PKCS#12 file is limited to 1 MiB".into(),
                )));
            }
            match name.as_str() {
                "pkcs12" | "file" => p12 = Some(bytes.to_vec()),
                "password" => password = Some(String::from_utf8_lossy(&bytes).into_owned()),
                other => {
                    return Err(ApiError(AppError::BadRequest(format!(
                        "unexpected part {other:?}: expected `pkcs12` and `password`"
                    ))))
                }
            }
        }
        (
            p12.ok_or_else(|| ApiError(AppError::field("pkcs12", "the file is missing")))?,
            password.unwrap_or_default(),
        )
    } else {
        let ApiJson(j) = ApiJson::<ImportJson>::from_request(req, &st).await?;
        use base64::Engine;
        let p12 = base64::engine::general_purpose::STANDARD
            .decode(j.pkcs12.trim())
            .map_err(|_| ApiError(AppError::field("pkcs12", "not base64")))?;
        (p12, j.password)
    };
    let cert = st
        .app
        .import_person_identity(&who.user, &p12, &password)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "certificate": certificate_json(&cert, true) })),
    ))
}
