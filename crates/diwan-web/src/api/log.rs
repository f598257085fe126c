//! The transparency log, the PKI's public material, the time-stamping service and the
//! verification endpoint — all public.

use super::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use diwan_app::AppError;
use serde::Deserialize;
use serde_json::{json, Value};

/// `GET /api/v1/log/sth`.
pub async fn sth(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(st.app.tree_head().await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    index: u64,
    size: Option<u64>,
}

/// `GET /api/v1/log/proof?index=N[&size=M]`: inclusion proof of leaf N in the tree of M leaves
/// (default: the latest signed tree head).
pub async fn inclusion(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<ProofQuery>,
) -> Result<Json<Value>, ApiError> {
    let size = match q.size {
        Some(s) => s,
        None => st.app.tree_head().await?.tree_size,
    };
    let leaf = st
        .app
        .store
        .leaf(i64::try_from(q.index).map_err(|_| AppError::field("index", "too large"))?)
        .await?;
    let path = st.app.inclusion_proof(q.index, size).await?;
    Ok(Json(json!({
        "leaf_index": q.index, "tree_size": size,
        "leaf_hash": base64_of_hex(&leaf.leaf_hash),
        "audit_path": path,
        "root_hash": st.app.tree_root(size).await?,
    })))
}

fn base64_of_hex(h: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(hex::decode(h).unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    first: u64,
    second: u64,
}

/// `GET /api/v1/log/consistency?first=M&second=N`.
pub async fn consistency(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<Json<Value>, ApiError> {
    let proof = st.app.consistency_proof(q.first, q.second).await?;
    Ok(Json(json!({
        "first": q.first, "second": q.second, "consistency": proof,
        "first_root": st.app.tree_root(q.first).await?, "second_root": st.app.tree_root(q.second).await?,
    })))
}

/// `GET /api/v1/log/leaves/{index}`.
pub async fn leaf(
    State(st): State<AppState>,
    Path(index): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i: i64 = index
        .parse()
        .map_err(|_| ApiError(AppError::NotFound("log leaf".into())))?;
    let l = st.app.store.leaf(i).await?;
    Ok(Json(
        json!({ "leaf_index": l.index, "entry": l.entry, "leaf_hash": base64_of_hex(&l.leaf_hash), "kind": l.kind }),
    ))
}

/// `GET /api/v1/pki/root` and `/pki/root.pem`: the platform's root certificate.
pub async fn root(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        st.app.pki().root.to_pem(),
    )
        .into_response()
}

/// `GET /api/v1/pki/log`: the certificate of the log key (verifies tree heads).
pub async fn log_certificate(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        st.app.pki().log_cert.to_pem(),
    )
        .into_response()
}

/// `GET /pki/crl`: the certificate revocation list (DER).
pub async fn crl(State(st): State<AppState>) -> Result<Response, ApiError> {
    let crl = st.app.pki().crl(&st.app.store).await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], crl).into_response())
}

fn ocsp_reply(der: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/ocsp-response"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        der,
    )
        .into_response()
}

/// `POST /pki/ocsp`: the OCSP responder (RFC 6960 appendix A), a DER `OCSPRequest` in the body.
pub async fn ocsp_post(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/ocsp-request") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/ocsp-request",
        )
            .into_response();
    }
    if body.len() > 16 * 1024 {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    }
    ocsp_reply(st.app.pki().ocsp_response(&st.app.store, &body).await)
}

/// `GET /pki/ocsp/{base64 of the DER request}` (URL-encoded; slashes tolerated).
pub async fn ocsp_get(State(st): State<AppState>, Path(encoded): Path<String>) -> Response {
    use base64::Engine;
    let text: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(&text))
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&text))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&text));
    match der {
        Ok(der) if der.len() <= 16 * 1024 => {
            ocsp_reply(st.app.pki().ocsp_response(&st.app.store, &der).await)
        }
        _ => ocsp_reply(diwan_crypto::ocsp::error_response(
            diwan_crypto::ocsp::ResponseStatus::MalformedRequest,
        )),
    }
}

/// `POST /tsa`: RFC 3161 over HTTP.
pub async fn tsa(
    State(st): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/timestamp-query") {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected application/timestamp-query",
        )
            .into_response();
    }
    if body.len() > 64 * 1024 {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    }
    let authority = st.app.pki().authority.clone();
    match tokio::task::spawn_blocking(move || authority.respond(&body)).await {
        Ok(resp) => (
            [(header::CONTENT_TYPE, "application/timestamp-reply")],
            resp,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `GET /api/v1/portal/receipts/{token}.pdf|.json`.
pub async fn receipt(
    State(st): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let (token, kind, ct) = if let Some(t) = file.strip_suffix(".pdf") {
        (t, diwan_app::receipt::ReceiptKind::Pdf, "application/pdf")
    } else if let Some(t) = file.strip_suffix(".json") {
        (t, diwan_app::receipt::ReceiptKind::Json, "application/json")
    } else {
        return Err(ApiError(AppError::NotFound("receipt".into())));
    };
    let bytes = st.app.receipt(token, kind).await?;
    st.metrics
        .receipts
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok((
        [
            (header::CONTENT_TYPE, ct.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"accuse-de-reception.{}\"",
                    if ct == "application/pdf" {
                        "pdf"
                    } else {
                        "json"
                    }
                ),
            ),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// `POST /api/v1/verify`: verifies uploaded receipts, signed PDFs, CMS signatures and documents
/// against the platform's root.
pub async fn verify(
    State(st): State<AppState>,
    mut mp: Multipart,
) -> Result<Json<Value>, ApiError> {
    let mut files = Vec::new();
    let mut total = 0usize;
    while let Some(field) = mp.next_field().await.map_err(|e| {
        ApiError(AppError::BadRequest(format!(
            "malformed multipart body: {}",
            e.body_text()
        )))
    })? {
        let name = field.file_name().unwrap_or("file").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError(AppError::BadRequest(e.body_text())))?;
        total += bytes.len();
        if total > 50 << 20 {
            return Err(ApiError(AppError::TooLarge(
                "verification accepts up to 50 MB in all".into(),
            )));
        }
        files.push((name, bytes.to_vec()));
    }
    if files.is_empty() {
        return Err(ApiError(AppError::field(
            "file",
            "give at least one file to verify",
        )));
    }
    let trust = diwan_crypto::TrustStore::new(vec![st.app.pki().root.clone()]);
    let outcomes = tokio::task::spawn_blocking(move || {
        diwan_app::verify::verify_files(&files, &trust, time::OffsetDateTime::now_utc())
    })
    .await
    .map_err(|e| ApiError(AppError::Internal(e.to_string())))?;
    let ok = outcomes.iter().all(|o| o.ok);
    Ok(Json(json!({ "ok": ok, "files": outcomes })))
}
