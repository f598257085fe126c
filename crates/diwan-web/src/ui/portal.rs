//! The public pages of the digital registry office: the directory, the filing form (made for
//! phones), the confirmation with the number and the tracking code, tracking, and verification.
//! No account is needed.

use super::{error_page, page_ctx, render};
use crate::auth::ClientIp;
use crate::i18n::Lang;
use crate::state::AppState;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use diwan_app::portal::{ChallengeAnswer, FilerInput, FilingRequest};
use diwan_app::{AppError, FieldError};
use diwan_core::correspondence::ContactKind;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct DirectoryQuery {
    q: Option<String>,
}

/// `GET /portail`.
pub async fn directory(
    State(st): State<AppState>,
    lang: Lang,
    Query(q): Query<DirectoryQuery>,
) -> Response {
    let needle = q.q.clone().unwrap_or_default().trim().to_lowercase();
    let admins = match st.app.store.administrations().await {
        Ok(a) => a,
        Err(e) => return error_page(&st, lang, None, &e.into()),
    };
    let items: Vec<_> = admins
        .into_iter()
        .filter(|a| {
            needle.is_empty()
                || format!(
                    "{} {} {} {}",
                    a.code,
                    a.names.fr,
                    a.names.ar,
                    a.names.zgh.clone().unwrap_or_default()
                )
                .to_lowercase()
                .contains(&needle)
        })
        .map(|a| json!({"code": a.code, "fr": a.names.fr, "ar": a.names.ar, "zgh": a.names.zgh}))
        .collect();
    let base = page_ctx(lang, None, "/portail");
    render(
        &st,
        "portal_directory.html",
        context! { items => items, q => q.q, ..base },
    )
}

async fn offices(
    st: &AppState,
    code: &str,
) -> Result<(diwan_store::org::Administration, serde_json::Value), AppError> {
    let a = st.app.store.administration_by_code(code).await?;
    let t = st.app.store.tenant(a.id);
    let regs = t.registers().await?;
    let offices: Vec<_> = t
        .entities()
        .await?
        .into_iter()
        .filter(|e| e.kind == diwan_core::org::EntityKind::RegistryOffice)
        .filter(|e| {
            regs.iter().any(|r| {
                r.entity_id == e.id && r.direction == diwan_core::numbering::Direction::Incoming
            })
        })
        .map(|e| json!({"code": e.code, "fr": e.names.fr, "ar": e.names.ar}))
        .collect();
    // Types of request a filer may choose (not "none": a filing always has a deadline).
    let procedures: Vec<_> = st
        .app
        .procedures(a.id)
        .await?
        .into_iter()
        .filter(|p| p.code != "none")
        .collect();
    Ok((a, json!({ "offices": offices, "procedures": procedures })))
}

fn form(
    st: &AppState,
    lang: Lang,
    a: &diwan_store::org::Administration,
    offices: serde_json::Value,
    v: &HashMap<String, String>,
    errors: &[FieldError],
    general: Option<String>,
) -> Response {
    let err_map: HashMap<String, String> = errors
        .iter()
        .map(|e| (e.field.clone(), e.message.clone()))
        .collect();
    let base = page_ctx(lang, None, &format!("/portail/{}", a.code));
    let mut r = render(
        st,
        "portal_file.html",
        context! {
            a => json!({"code": a.code, "fr": a.names.fr, "ar": a.names.ar, "zgh": a.names.zgh}),
            offices => offices["offices"], procedures => offices["procedures"], v => v, errors => err_map, error_list => errors, general => general,
            challenge => st.app.config.portal.challenge,
            max_mb => st.app.config.max_file_bytes / (1024 * 1024),
            ..base
        },
    );
    if !errors.is_empty() || general.is_some() {
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

/// `GET /portail/{code}`.
pub async fn file_form(
    State(st): State<AppState>,
    lang: Lang,
    Path(code): Path<String>,
) -> Response {
    match offices(&st, &code).await {
        Ok((a, o)) => {
            let mut v = HashMap::new();
            v.insert("kind".to_string(), "person".to_string());
            v.insert("procedure".to_string(), "general".to_string());
            form(&st, lang, &a, o, &v, &[], None)
        }
        Err(e) => error_page(&st, lang, None, &e),
    }
}

fn none_if_empty(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `POST /portail/{code}`.
pub async fn file_submit(
    State(st): State<AppState>,
    lang: Lang,
    ClientIp(ip): ClientIp,
    Path(code): Path<String>,
    mut mp: Multipart,
) -> Response {
    let (a, office_list) = match offices(&st, &code).await {
        Ok(x) => x,
        Err(e) => return error_page(&st, lang, None, &e),
    };
    let mut values: HashMap<String, String> = HashMap::new();
    let fail = |values: &HashMap<String, String>, e: AppError| -> Response {
        match e {
            AppError::Invalid(list) => form(
                &st,
                lang,
                &a,
                office_list.clone(),
                values,
                &list,
                Some(lang.t("form.fix_errors")),
            ),
            other => {
                let field = match &other {
                    AppError::TooLarge(_) | AppError::UnsupportedMediaType(_) => vec![FieldError {
                        field: "file".into(),
                        message: other.detail(),
                    }],
                    _ => vec![],
                };
                form(
                    &st,
                    lang,
                    &a,
                    office_list.clone(),
                    values,
                    &field,
                    Some(other.detail()),
                )
            }
        }
    };
    if let Err(e) = st
        .app
        .portal_rate_limit(ip.as_deref().and_then(|i| i.parse().ok()))
    {
        // The body read away first, so that the browser shows the page, not a reset.
        crate::api::correspondences::drain_multipart(&mut mp).await;
        return fail(&values, e);
    }
    let mut files = Vec::new();
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return fail(&values, AppError::BadRequest(e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if field.file_name().unwrap_or("").is_empty() {
                continue;
            }
            let received = super::receive_file(&st, files.len(), &mut field).await;
            drop(field);
            match received {
                Ok(f) => files.push(f),
                Err(e) => {
                    // Read the rest so the browser gets this page, not a reset connection.
                    crate::api::correspondences::drain_multipart(&mut mp).await;
                    return fail(&values, e);
                }
            }
        } else if let Ok(t) = field.text().await {
            if t.len() <= 20_000 {
                values.insert(name, t);
            }
        }
    }
    let kind = values
        .get("kind")
        .and_then(|k| k.parse::<ContactKind>().ok())
        .unwrap_or(ContactKind::Person);
    let req = FilingRequest {
        administration: a.code.clone(),
        registry_office: none_if_empty(values.get("office")),
        filer: FilerInput {
            kind,
            name: values.get("name").cloned().unwrap_or_default(),
            id_number: none_if_empty(values.get("id_number")),
            email: none_if_empty(values.get("email")),
            phone: none_if_empty(values.get("phone")),
        },
        subject: values.get("subject").cloned().unwrap_or_default(),
        message: none_if_empty(values.get("message")),
        procedure: none_if_empty(values.get("procedure")),
        challenge: match (
            none_if_empty(values.get("challenge_token")),
            none_if_empty(values.get("challenge_nonce")),
        ) {
            (Some(token), Some(nonce)) => Some(ChallengeAnswer { token, nonce }),
            _ => None,
        },
    };
    let filed = match st.app.file(req, files).await {
        Ok(f) => f,
        Err(AppError::Invalid(list)) if list.iter().any(|e| e.field.starts_with("challenge")) => {
            return fail(
                &values,
                AppError::BadRequest(lang.t("portal.challenge_failed")),
            )
        }
        Err(e) => return fail(&values, e),
    };
    st.metrics
        .filings
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = page_ctx(lang, None, "/portail");
    render(
        &st,
        "portal_done.html",
        context! {
            a => json!({"code": a.code, "fr": a.names.fr, "ar": a.names.ar}),
            number => filed.number, code => filed.tracking_code,
            registered => filed.registered_at.to_offset(st.app.offset()).format(&time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]")).unwrap_or_default(),
            due => filed.due_date.map(|d| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())),
            pdf => format!("/api/v1/portal/receipts/{}.pdf", filed.receipt_token),
            json => format!("/api/v1/portal/receipts/{}.json", filed.receipt_token),
            email => values.get("email").cloned().filter(|e| !e.trim().is_empty()),
            ..base
        },
    )
}

#[derive(Deserialize, Default)]
pub struct TrackQuery {
    number: Option<String>,
    code: Option<String>,
}

/// `GET /suivi`.
pub async fn track(
    State(st): State<AppState>,
    lang: Lang,
    ClientIp(ip): ClientIp,
    Query(q): Query<TrackQuery>,
) -> Response {
    let base = page_ctx(lang, None, "/suivi");
    let (number, code) = (
        q.number.clone().unwrap_or_default(),
        q.code.clone().unwrap_or_default(),
    );
    if number.trim().is_empty() || code.trim().is_empty() {
        return render(&st, "track.html", context! { number => number, ..base });
    }
    if let Err(e) = st
        .app
        .portal_rate_limit(ip.as_deref().and_then(|i| i.parse().ok()))
    {
        return render(
            &st,
            "track.html",
            context! { number => number, error => e.detail(), ..base },
        );
    }
    match st.app.track(&number, &code).await {
        Ok(t) => render(
            &st,
            "track.html",
            context! {
                number => number,
                result => json!({
                    "number": t.number, "administration": t.administration, "status": t.status.as_str(),
                    "registered": t.registered_at.to_offset(st.app.offset()).format(&time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]")).unwrap_or_default(),
                    "due": t.due_date.map(|d| format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())),
                    "pdf": format!("/api/v1/portal/receipts/{}.pdf", t.receipt_token),
                    "silence": t.silence_means_acceptance,
                    "service": t.service.as_ref().map(|e| match lang.code() {
                        "ar" => e.ar.clone(),
                        "zgh" => e.zgh.clone().unwrap_or_else(|| e.fr.clone()),
                        _ => e.fr.clone(),
                    }),
                    "answer": t.answer.as_ref().map(|a| json!({
                        "number": a.number,
                        "date": a.registered_at.to_offset(st.app.offset()).format(&time::macros::format_description!("[day]/[month]/[year]")).unwrap_or_default(),
                        "subject": a.subject,
                        "text": a.text,
                    })),
                    "outcome": t.outcome,
                }),
                ..base
            },
        ),
        Err(_) => {
            let mut r = render(
                &st,
                "track.html",
                context! { number => number, error => lang.t("track.not_found"), ..base },
            );
            *r.status_mut() = axum::http::StatusCode::NOT_FOUND;
            r
        }
    }
}

#[derive(Deserialize, Default)]
pub struct VerifyQuery {
    n: Option<String>,
}

/// `GET /verifier`.
pub async fn verify_form(
    State(st): State<AppState>,
    lang: Lang,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let base = page_ctx(lang, None, "/verifier");
    render(&st, "verify.html", context! { n => q.n, ..base })
}

/// `POST /verifier`: checks uploaded files against the platform's root.
pub async fn verify_submit(
    State(st): State<AppState>,
    lang: Lang,
    ClientIp(ip): ClientIp,
    mut mp: Multipart,
) -> Response {
    let base = page_ctx(lang, None, "/verifier");
    let mut files = Vec::new();
    let mut total = 0usize;
    let (mut number, mut code) = (String::new(), String::new());
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => {
                let name = f.file_name().unwrap_or("").to_string();
                if name.is_empty() {
                    let field = f.name().unwrap_or("").to_string();
                    let text = f.text().await.unwrap_or_default();
                    match field.as_str() {
                        "number" => number = text.trim().chars().take(100).collect(),
                        "code" => code = text.trim().chars().take(100).collect(),
                        _ => {}
                    }
                    continue;
                }
                match f.bytes().await {
                    Ok(b) => {
                        total += b.len();
                        if total > 50 << 20 {
                            return render(
                                &st,
                                "verify.html",
                                context! { error => lang.t("verify.too_large"), ..base },
                            );
                        }
                        files.push((name, b.to_vec()));
                    }
                    Err(e) => {
                        return render(
                            &st,
                            "verify.html",
                            context! { error => e.body_text(), ..base },
                        )
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return render(
                    &st,
                    "verify.html",
                    context! { error => e.body_text(), ..base },
                )
            }
        }
    }
    if files.is_empty() && !number.is_empty() && !code.is_empty() {
        // The filing's own receipt, fetched with the number and the secret code.
        if let Err(e) = st
            .app
            .portal_rate_limit(ip.as_deref().and_then(|i| i.parse().ok()))
        {
            return render(
                &st,
                "verify.html",
                context! { error => e.detail(), n => number, ..base },
            );
        }
        let receipt = match st.app.track(&number, &code).await {
            Ok(t) => {
                st.app
                    .receipt(&t.receipt_token, diwan_app::receipt::ReceiptKind::Pdf)
                    .await
            }
            Err(_) => Err(AppError::NotFound(lang.t("track.not_found"))),
        };
        match receipt {
            Ok(pdf) => files.push((format!("{number}.pdf"), pdf)),
            Err(e) => {
                return render(
                    &st,
                    "verify.html",
                    context! { error => e.detail(), n => number, ..base },
                )
            }
        }
    }
    if files.is_empty() {
        return render(
            &st,
            "verify.html",
            context! { error => lang.t("verify.no_file"), ..base },
        );
    }
    let trust = diwan_crypto::TrustStore::new(vec![st.app.pki().root.clone()]);
    let outcomes = tokio::task::spawn_blocking(move || {
        diwan_app::verify::verify_files(&files, &trust, time::OffsetDateTime::now_utc())
    })
    .await
    .unwrap_or_default();
    let ok = !outcomes.is_empty() && outcomes.iter().all(|o| o.ok);
    render(
        &st,
        "verify.html",
        context! { outcomes => outcomes, ok => ok, ..base },
    )
}
