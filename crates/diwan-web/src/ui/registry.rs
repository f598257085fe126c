//! The registry office's pages: the register view, the clerk's registration screen, a
//! correspondence's page and its documents.

use super::{error_page, page_ctx, render};
use crate::auth::WebUser;
use crate::i18n::Lang;
use crate::state::AppState;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use diwan_app::registration::{opt_date, PartyInput, RegistrationRequest};
use diwan_app::{AppError, FieldError};
use diwan_core::correspondence::{
    Channel, Confidentiality, ContactKind, Priority, Purpose, Status,
};
use diwan_core::numbering::Direction;
use diwan_core::{CorrespondenceId, DocumentId};
use minijinja::context;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;

fn fmt_local(st: &AppState, t: time::OffsetDateTime) -> String {
    super::local_time(t, st.app.offset())
}

fn fmt_date(d: time::Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

/// Query of the register view (all optional; bad values are ignored with a message).
#[derive(Debug, Default, Deserialize)]
pub struct RegisterQuery {
    register: Option<String>,
    direction: Option<String>,
    year: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// `GET /registre`.
pub async fn register_view(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<RegisterQuery>,
) -> Response {
    let who = &user.principal;
    let tenant = st.app.store.tenant(who.admin());
    let mut warnings = Vec::new();
    let opt = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let mut filter = diwan_store::registry::CorrespondenceFilter {
        query: opt(&q.q),
        ..Default::default()
    };
    // A filter that does not parse is dropped with a warning rather than failing the page.
    fn parsed<T: std::str::FromStr>(
        v: Option<String>,
        warnings: &mut Vec<String>,
        msg: String,
    ) -> Option<T> {
        let v = v?;
        let r = v.parse().ok();
        if r.is_none() {
            warnings.push(msg);
        }
        r
    }
    let bad = lang.t("register.bad_filter");
    filter.register = parsed(opt(&q.register), &mut warnings, bad.clone());
    filter.direction = parsed::<Direction>(opt(&q.direction), &mut warnings, bad.clone());
    filter.status = parsed(opt(&q.status), &mut warnings, bad.clone());
    filter.year = parsed::<i32>(opt(&q.year), &mut warnings, bad);
    for (v, slot) in [(&q.from, &mut filter.from), (&q.to, &mut filter.to)] {
        if let Some(d) = opt(v) {
            match opt_date::parse(&d) {
                Ok(d) => *slot = Some(d),
                Err(_) => warnings.push(lang.t("register.bad_date")),
            }
        }
    }
    warnings.dedup();
    let per_page = q
        .per_page
        .filter(|p| [25, 50, 100].contains(p))
        .unwrap_or(25);
    let page = q.page.unwrap_or(1).max(1);
    filter.limit = per_page;
    filter.offset = (page - 1) * per_page;
    let scope = match who.read_scope(&tenant).await {
        Ok(s) => s,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let result = tenant.correspondences(&scope, &filter).await;
    let registers = tenant.registers().await.unwrap_or_default();
    let page_data = match result {
        Ok(p) => p,
        Err(e) => return error_page(&st, lang, Some(&user), &e.into()),
    };
    let today = st.app.today();
    let items: Vec<_> = page_data
        .items
        .iter()
        .map(|c| {
            let late = c.due_date.is_some_and(|d| d < today) && !c.status.is_final();
            json!({
                "id": c.id, "number": c.number, "registered": fmt_local(&st, c.registered_at),
                "party": c.party_name, "subject": c.subject, "direction": c.direction.as_str(),
                "channel": c.channel.as_str(), "status": c.status.as_str(),
                "due": c.due_date.map(fmt_date), "late": late,
                "confidential": c.confidentiality == Confidentiality::Confidential,
                "priority": c.priority.as_str(),
            })
        })
        .collect();
    let pages = ((page_data.total + per_page - 1) / per_page).max(1);
    // Links keep the filters.
    let mut base_q: Vec<(String, String)> = Vec::new();
    for (k, v) in [
        ("register", &q.register),
        ("direction", &q.direction),
        ("year", &q.year),
        ("status", &q.status),
        ("from", &q.from),
        ("to", &q.to),
        ("q", &q.q),
    ] {
        if let Some(v) = opt(v) {
            base_q.push((k.into(), v));
        }
    }
    base_q.push(("per_page".into(), per_page.to_string()));
    let qs = serde_urlencoded::to_string(&base_q).unwrap_or_default();
    let base = page_ctx(lang, Some(&user), "/registre");
    render(
        &st,
        "register.html",
        context! {
            items => items, total => page_data.total, page => page, pages => pages, per_page => per_page, qs => qs,
            registers => registers.iter().map(|r| json!({"id": r.id, "name": r.name, "direction": r.direction.as_str()})).collect::<Vec<_>>(),
            f => json!({
                "register": opt(&q.register), "direction": opt(&q.direction), "year": opt(&q.year), "status": opt(&q.status),
                "from": opt(&q.from), "to": opt(&q.to), "q": opt(&q.q),
            }),
            statuses => diwan_core::correspondence::Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            warnings => warnings,
            ..base
        },
    )
}

fn form_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    values: &HashMap<String, String>,
    errors: &[FieldError],
    general: Option<String>,
    registers: serde_json::Value,
) -> Response {
    // The use case names fields after the API; the form names them after what the clerk sees.
    let errors: Vec<FieldError> = errors
        .iter()
        .map(|e| FieldError {
            field: form_field(&e.field).to_string(),
            message: e.message.clone(),
        })
        .collect();
    let errors = errors.as_slice();
    let err_map: HashMap<String, String> = errors
        .iter()
        .map(|e| (e.field.clone(), e.message.clone()))
        .collect();
    let base = page_ctx(lang, Some(user), "/courriers/nouveau");
    let mut resp = render(
        st,
        "new.html",
        context! {
            v => values, errors => err_map, error_list => errors, general => general,
            registers => registers["registers"], procedures => registers["procedures"], ..base
        },
    );
    if !errors.is_empty() || general.is_some() {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    resp
}

/// The form field that shows an error of the registration use case.
fn form_field(api_field: &str) -> &str {
    match api_field {
        "sender" | "recipient" | "contact" | "sender.name" | "recipient.name" => "party_name",
        f if f.starts_with("sender.") || f.starts_with("recipient.") => "party_id",
        "received_at" => "received_date",
        f => f,
    }
}

/// What the registration form offers: the registers the user may register in, the types of
/// request of the administration.
async fn clerk_registers(st: &AppState, user: &WebUser) -> serde_json::Value {
    let tenant = st.app.store.tenant(user.principal.admin());
    let all = tenant.registers().await.unwrap_or_default();
    let mine = user
        .principal
        .clerk_registers(&tenant)
        .await
        .unwrap_or_default();
    let admin = user.principal.has_role(diwan_core::org::Role::Admin);
    let registers: Vec<_> = all
        .into_iter()
        .filter(|r| admin || mine.iter().any(|m| m.id == r.id))
        .map(|r| json!({"id": r.id, "name": r.name, "direction": r.direction.as_str()}))
        .collect();
    let procedures = st
        .app
        .procedures(user.principal.admin())
        .await
        .unwrap_or_default();
    json!({ "registers": registers, "procedures": procedures })
}

/// `GET /courriers/nouveau`.
pub async fn new_form(State(st): State<AppState>, lang: Lang, user: WebUser) -> Response {
    let mut v = HashMap::new();
    v.insert("direction".to_string(), "incoming".to_string());
    v.insert("party_kind".to_string(), "person".to_string());
    v.insert("channel".to_string(), "counter".to_string());
    v.insert("procedure".to_string(), "general".to_string());
    v.insert("received_date".to_string(), st.app.today().to_string());
    let regs = clerk_registers(&st, &user).await;
    form_page(&st, lang, &user, &v, &[], None, regs)
}

fn none_if_empty(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Builds the registration request from the form; collects every field error.
fn request_from_form(
    v: &HashMap<String, String>,
    offset: time::UtcOffset,
) -> Result<RegistrationRequest, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let direction: Option<Direction> = v.get("direction").and_then(|d| d.parse().ok());
    if direction.is_none() {
        bad("direction", "choose incoming, outgoing or internal".into());
    }
    let kind: Option<ContactKind> = v.get("party_kind").and_then(|d| d.parse().ok());
    let party = kind.map(|kind| PartyInput {
        kind,
        name: v.get("party_name").cloned().unwrap_or_default(),
        id_number: none_if_empty(v.get("party_id")),
        email: none_if_empty(v.get("party_email")),
        phone: none_if_empty(v.get("party_phone")),
        address: none_if_empty(v.get("party_address")),
    });
    let date = |k: &str, bad: &mut dyn FnMut(&str, String)| -> Option<time::Date> {
        none_if_empty(v.get(k)).and_then(|d| match opt_date::parse(&d) {
            Ok(d) => Some(d),
            Err(m) => {
                bad(k, m);
                None
            }
        })
    };
    let letter_date = date("letter_date", &mut bad);
    let received_date = date("received_date", &mut bad);
    let due_date = date("due_date", &mut bad);
    let parse_enum = |k: &str| none_if_empty(v.get(k));
    let channel: Option<Channel> = parse_enum("channel").and_then(|c| c.parse().ok());
    let confidentiality: Option<Confidentiality> =
        parse_enum("confidentiality").and_then(|c| c.parse().ok());
    let priority: Option<Priority> = parse_enum("priority").and_then(|c| c.parse().ok());
    let procedure = parse_enum("procedure");
    let register = match none_if_empty(v.get("register")) {
        Some(r) => match r.parse() {
            Ok(r) => Some(r),
            Err(_) => {
                bad("register", "unknown register".into());
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let direction = direction.unwrap_or(Direction::Incoming);
    let (sender, recipient) = match direction {
        Direction::Outgoing => (None, party),
        _ => (party, None),
    };
    // The received date is a day; the time of registration stands for it when it is today.
    let received_at = received_date.map(|d| {
        let now = time::OffsetDateTime::now_utc().to_offset(offset);
        if d == now.date() {
            now
        } else {
            d.with_hms(12, 0, 0)
                .map(|dt| dt.assume_offset(offset))
                .unwrap_or(now)
        }
    });
    Ok(RegistrationRequest {
        direction,
        subject: v.get("subject").cloned().unwrap_or_default(),
        summary: none_if_empty(v.get("summary")),
        sender,
        recipient,
        contact: None,
        register,
        letter_date,
        received_at,
        external_ref: none_if_empty(v.get("external_ref")),
        channel,
        confidentiality,
        priority,
        procedure,
        due_date,
    })
}

/// `POST /courriers/nouveau` (multipart: text fields, then the scan and attachments).
pub async fn new_submit(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    mut mp: Multipart,
) -> Response {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut files = Vec::new();
    let mut csrf_ok = false;
    let regs = clerk_registers(&st, &user).await;
    let fail = |values: &HashMap<String, String>, e: AppError| -> Response {
        match e {
            AppError::Invalid(list) => form_page(
                &st,
                lang,
                &user,
                values,
                &list,
                Some(lang.t("form.fix_errors")),
                regs.clone(),
            ),
            other => {
                let field = match &other {
                    AppError::TooLarge(_) | AppError::UnsupportedMediaType(_) => "file".to_string(),
                    _ => String::new(),
                };
                let list = if field.is_empty() {
                    vec![]
                } else {
                    vec![FieldError {
                        field,
                        message: other.detail(),
                    }]
                };
                form_page(
                    &st,
                    lang,
                    &user,
                    values,
                    &list,
                    Some(other.detail()),
                    regs.clone(),
                )
            }
        }
    };
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return fail(
                    &values,
                    AppError::BadRequest(format!("the form could not be read: {}", e.body_text())),
                )
            }
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if !csrf_ok {
                return error_page(
                    &st,
                    lang,
                    Some(&user),
                    &AppError::Forbidden(lang.t("form.expired")),
                );
            }
            // An empty file input sends an empty part without a name.
            if field.file_name().unwrap_or("").is_empty() {
                continue;
            }
            let mut field = field;
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
        } else {
            let text = match field.text().await {
                Ok(t) => t,
                Err(e) => return fail(&values, AppError::BadRequest(e.body_text())),
            };
            if name == "_csrf" {
                if user.check_csrf(&text).is_err() {
                    return error_page(
                        &st,
                        lang,
                        Some(&user),
                        &AppError::Forbidden(lang.t("form.expired")),
                    );
                }
                csrf_ok = true;
            } else if text.len() <= 20_000 {
                values.insert(name, text);
            }
        }
    }
    if !csrf_ok {
        return error_page(
            &st,
            lang,
            Some(&user),
            &AppError::Forbidden(lang.t("form.expired")),
        );
    }
    let req = match request_from_form(&values, st.app.offset()) {
        Ok(r) => r,
        Err(list) => return fail(&values, AppError::Invalid(list)),
    };
    match st
        .app
        .register_correspondence(&user.principal, req, files)
        .await
    {
        Ok(r) => {
            st.metrics
                .registrations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Redirect::to(&format!("/courriers/{}?enregistre=1", r.id)).into_response()
        }
        Err(e) => fail(&values, e),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    enregistre: Option<String>,
    fait: Option<String>,
}

/// `GET /courriers/{id}`.
pub async fn show(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let id = match super::correspondence_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let notice = if q.enregistre.is_some() {
        Some("registered".to_string())
    } else {
        q.fait.filter(|f| {
            [
                "assigned",
                "status",
                "note",
                "done",
                "replied",
                "reply_routed",
            ]
            .contains(&f.as_str())
        })
    };
    show_page(&st, lang, &user, id, notice, None).await
}

/// A correspondence's page, with an optional notice (what was just done) or error (why an
/// action was refused).
pub async fn show_page(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    id: CorrespondenceId,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let not_found = || AppError::NotFound(lang.t("corr.not_found"));
    let c = match crate::api::correspondences::readable(&st.app, &user.principal, id).await {
        Ok(c) => c,
        Err(_) => return error_page(st, lang, Some(user), &not_found()),
    };
    let tenant = st.app.store.tenant(user.principal.admin());
    let docs = tenant.documents(c.id).await.unwrap_or_default();
    let register = tenant.register(c.register_id).await.ok();
    let history = tenant.audit_of(&c.id.to_string()).await.unwrap_or_default();
    let users = tenant.users().await.unwrap_or_default();
    let entities = tenant.entities().await.unwrap_or_default();
    let assignments = tenant.assignments(c.id).await.unwrap_or_default();
    let notes = st
        .app
        .visible_notes(&user.principal, c.id)
        .await
        .unwrap_or_default();
    let replies = tenant.replies(c.id).await.unwrap_or_default();
    let reply_drafts = tenant.reply_drafts(c.id).await.unwrap_or_default();
    let state = tenant.processing_state(c.id).await.unwrap_or_default();
    let in_reply_to = match state.in_reply_to {
        Some(r) => tenant.correspondence(r).await.ok(),
        None => None,
    };
    let (handling, outcome) = (state.handling_entity, state.outcome.clone());
    let user_name = |id: Option<diwan_core::UserId>| -> Option<String> {
        let id = id?;
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.display_name.clone())
    };
    let entity_name = |id: Option<diwan_core::EntityId>| -> Option<String> {
        let id = id?;
        entities.iter().find(|e| e.id == id).map(|e| match lang {
            Lang::Ar => e.names.ar.clone(),
            Lang::Zgh => e.names.zgh.clone().unwrap_or_else(|| e.names.fr.clone()),
            _ => e.names.fr.clone(),
        })
    };
    let who = |actor: &Option<String>| -> String {
        match actor.as_deref() {
            Some(a) if a.starts_with("system:") => a.trim_start_matches("system:").to_string(),
            Some(a) => users
                .iter()
                .find(|u| u.id.to_string() == a)
                .map(|u| u.display_name.clone())
                .unwrap_or_else(|| a.into()),
            None => "—".into(),
        }
    };
    let principal = &user.principal;
    let mine = principal
        .assignment_entities(&tenant)
        .await
        .unwrap_or_default();
    let own_open: Vec<&diwan_store::processing::Assignment> = assignments
        .iter()
        .filter(|a| {
            a.state.is_open()
                && (a.to_user_id == Some(principal.id())
                    || (a.to_user_id.is_none() && mine.contains(&a.to_entity_id)))
        })
        .collect();
    let writer = principal.require_writer().is_ok();
    // The statuses a person can choose on this page (the others are reached by assigning or
    // replying); the application still checks who may do what.
    let next: Vec<&str> = c
        .status
        .successors()
        .iter()
        .filter(|s| {
            matches!(
                s,
                Status::InProgress
                    | Status::OnHold
                    | Status::Returned
                    | Status::Closed
                    | Status::ClosedWithoutFollowUp
            )
        })
        .map(|s| s.as_str())
        .collect();
    // Mail between administrations: the deliveries of this record with their evidence (a
    // first look by the recipient records the handover), and where outgoing mail can go.
    let deliveries = st.app.deliveries(principal, c.id).await.unwrap_or_default();
    let exchange_targets = if writer && c.direction == Direction::Outgoing {
        st.app
            .delivery_directory(principal)
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let base = page_ctx(lang, Some(user), "/courriers");
    render(
        st,
        "correspondence.html",
        context! {
            c => json!({
                "id": c.id, "number": c.number, "subject": c.subject, "summary": c.summary, "direction": c.direction.as_str(),
                "party": c.party_name, "party_kind": c.party_kind.as_str(), "channel": c.channel.as_str(),
                "status": c.status.as_str(), "priority": c.priority.as_str(),
                "confidential": c.confidentiality == Confidentiality::Confidential,
                "registered": fmt_local(st, c.registered_at), "received": fmt_local(st, c.received_at),
                "letter_date": c.letter_date.map(fmt_date), "due": c.due_date.map(fmt_date),
                "law": c.deadline_basis.map(|b| if lang == Lang::Ar { b.label_ar() } else { b.label_fr() }),
                "external_ref": c.external_ref, "register": register.map(|r| r.name),
                "handling": entity_name(handling), "outcome": outcome,
                "final": c.status.is_final(), "incoming": c.direction != Direction::Outgoing,
            }),
            documents => docs.iter().map(|d| json!({
                "id": d.id, "name": d.file_name, "type": d.media_type.extension(), "role": d.role.as_str(),
                "size": human_size(d.size), "sha256": d.sha256,
            })).collect::<Vec<_>>(),
            history => history.iter().map(|e| json!({
                "at": fmt_local(st, e.at), "who": who(&e.actor), "action": e.action, "ip": e.ip,
                "details": e.details.get("to_entity_name").and_then(|v| v.as_str())
                    .or_else(|| e.details.get("reason").and_then(|v| v.as_str()))
                    .or_else(|| e.details.get("reply").and_then(|v| v.as_str())),
            })).collect::<Vec<_>>(),
            assignments => assignments.iter().map(|a| json!({
                "id": a.id, "to": entity_name(Some(a.to_entity_id)), "person": user_name(a.to_user_id),
                "from": entity_name(a.from_entity_id), "purpose": a.purpose.as_str(), "state": a.state.as_str(),
                "instructions": a.instructions, "due": a.due_date.map(fmt_date), "outcome": a.outcome,
                "by": user_name(a.assigned_by), "at": fmt_local(st, a.created_at),
            })).collect::<Vec<_>>(),
            own_open => own_open.iter().filter(|a| a.purpose != Purpose::Action).map(|a| json!({
                "id": a.id, "purpose": a.purpose.as_str(),
            })).collect::<Vec<_>>(),
            notes => notes.iter().map(|n| json!({
                "body": n.body, "by": user_name(Some(n.author_id)), "at": fmt_local(st, n.created_at), "restricted": n.restricted,
            })).collect::<Vec<_>>(),
            replies => replies.iter().map(|r| json!({
                "id": r.id, "number": r.number, "subject": r.subject, "status": r.status.as_str(), "at": fmt_local(st, r.registered_at),
            })).collect::<Vec<_>>(),
            in_reply_to => in_reply_to.map(|r| json!({ "id": r.id, "number": r.number })),
            reply_drafts => reply_drafts.iter().map(|d| json!({
                "folder": d.folder_id, "state": d.state(), "subject": d.subject, "reason": d.rejection_reason,
                "reply": d.reply_id, "reply_number": d.reply_number, "at": fmt_local(st, d.created_at),
            })).collect::<Vec<_>>(),
            reply_pending => reply_drafts.iter().any(|d| d.is_pending()),
            entities => entities.iter().map(|e| json!({
                "id": e.id, "name": match lang { Lang::Ar => e.names.ar.clone(), _ => e.names.fr.clone() }, "level": e.level.as_str(),
            })).collect::<Vec<_>>(),
            deliveries => deliveries.iter().map(|d| json!({
                "id": d.id, "side": d.side, "state": d.state, "reason": d.reason,
                "sender": d.sender.administration, "sender_name": if lang == Lang::Ar { &d.sender.name_ar } else { &d.sender.name_fr },
                "recipient": d.recipient.administration, "recipient_name": if lang == Lang::Ar { &d.recipient.name_ar } else { &d.recipient.name_fr },
                "recipient_number": d.recipient.number, "sender_number": d.sender.number,
                "events": d.events.iter().map(|e| json!({
                    "id": e.id, "type": e.event_type, "time": fmt_local(st, e.time), "reason": e.reason,
                    "recipient_number": e.recipient_number, "sealed_by": e.sealed_by,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            exchange_targets => exchange_targets.iter().map(|a| json!({
                "code": a.code, "name": if lang == Lang::Ar { &a.names.ar } else { &a.names.fr },
            })).collect::<Vec<_>>(),
            next_statuses => next,
            writer => writer,
            notice => notice,
            error => error,
            just_registered => false,
            ..base
        },
    )
}

fn human_size(n: i64) -> String {
    if n < 1024 {
        format!("{n} o")
    } else if n < 1024 * 1024 {
        format!("{:.1} Ko", n as f64 / 1024.0)
    } else {
        format!("{:.1} Mo", n as f64 / 1048576.0)
    }
}

/// `GET /courriers/{id}/documents/{doc}`.
pub async fn document(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path((id, doc)): Path<(String, String)>,
) -> Response {
    let not_found = || AppError::NotFound(lang.t("corr.not_found"));
    let (Ok(id), Ok(doc)) = (id.parse::<CorrespondenceId>(), doc.parse::<DocumentId>()) else {
        return error_page(&st, lang, Some(&user), &not_found());
    };
    let c = match crate::api::correspondences::readable(&st.app, &user.principal, id).await {
        Ok(c) => c,
        Err(_) => return error_page(&st, lang, Some(&user), &not_found()),
    };
    match crate::api::correspondences::document_response(&st.app, &user.principal, &c, doc).await {
        Ok(r) => r,
        Err(e) => error_page(&st, lang, Some(&user), &e.0),
    }
}

/// `GET /courriers/{id}/preuves/{event}`: the sealed JSON of an evidence event of a delivery.
pub async fn evidence(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path((id, event)): Path<(String, String)>,
) -> Response {
    let not_found = || AppError::NotFound(lang.t("corr.not_found"));
    if id.parse::<CorrespondenceId>().is_err()
        || event.len() != 36
        || !event.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
    {
        return error_page(&st, lang, Some(&user), &not_found());
    }
    match st.app.evidence(&user.principal, &event).await {
        Ok(body) => crate::api::processing::download(
            body,
            "application/json",
            &format!("preuve-{event}.json"),
        ),
        Err(_) => error_page(&st, lang, Some(&user), &not_found()),
    }
}
