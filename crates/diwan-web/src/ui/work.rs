//! The processing pages: a user's work queues (corbeilles) with full-text search, and the
//! actions on a correspondence's page (assign, pass down, redirect, take up, hold, return,
//! close, note, opinion, reply). Every action is one form posted to
//! `/courriers/{id}/actions`; the page is shown again with the outcome or a precise message.

use super::form::UserForm;
use super::{error_page, page_ctx, render};
use crate::auth::WebUser;
use crate::i18n::Lang;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use diwan_app::bulk::BulkAction;
use diwan_app::processing::{
    AssignRequest, DoneRequest, NoteRequest, ReplyRequest, ReplyRoute, StatusRequest,
};
use diwan_app::registration::opt_date;
use diwan_app::reply_signing::ReplyOutcome;
use diwan_app::AppError;
use diwan_core::correspondence::{Confidentiality, Purpose, Status};
use diwan_core::{AssignmentId, CorrespondenceId, EntityId, UserId};
use diwan_store::processing::Queue;
use minijinja::context;
use serde::Deserialize;
use serde_json::json;

fn fmt_date(d: time::Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

#[derive(Debug, Default, Deserialize)]
pub struct QueuesQuery {
    corbeille: Option<String>,
    q: Option<String>,
    page: Option<i64>,
    /// After a bulk action: how many went through, and how many were refused.
    fait: Option<usize>,
    echecs: Option<usize>,
}

/// `GET /corbeilles`: the user's queues with counts; the chosen one listed, or search results.
pub async fn queues(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<QueuesQuery>,
) -> Response {
    let who = &user.principal;
    let tenant = st.app.store.tenant(who.admin());
    let owner = match who.queue_owner(&tenant).await {
        Ok(o) => o,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let today = st.app.today();
    let counts: Vec<_> = match tenant.queue_counts(&owner, today).await {
        Ok(c) => c
            .into_iter()
            .map(|(q, n)| json!({ "name": q.as_str(), "count": n }))
            .collect(),
        Err(e) => return error_page(&st, lang, Some(&user), &e.into()),
    };
    let search =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from);
    let per_page = 25;
    let page = q.page.unwrap_or(1).max(1);
    let (current, result) = if let Some(text) = &search {
        let scope = match who.read_scope(&tenant).await {
            Ok(s) => s,
            Err(e) => return error_page(&st, lang, Some(&user), &e),
        };
        let filter = diwan_store::registry::CorrespondenceFilter {
            query: Some(text.clone()),
            limit: per_page,
            offset: (page - 1) * per_page,
            ..Default::default()
        };
        (None, tenant.correspondences(&scope, &filter).await)
    } else {
        let queue = q
            .corbeille
            .as_deref()
            .and_then(Queue::parse)
            .or_else(|| {
                // The first non-empty queue, else "to handle".
                Queue::ALL
                    .iter()
                    .zip(counts.iter())
                    .find(|(_, c)| c["count"].as_i64().unwrap_or(0) > 0)
                    .map(|(q, _)| *q)
            })
            .unwrap_or(Queue::ToHandle);
        (
            Some(queue),
            tenant
                .queue(&owner, queue, today, per_page, (page - 1) * per_page)
                .await,
        )
    };
    let data = match result {
        Ok(p) => p,
        Err(e) => return error_page(&st, lang, Some(&user), &e.into()),
    };
    let items: Vec<_> = data
        .items
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "number": c.number, "subject": c.subject, "party": c.party_name,
                "status": c.status.as_str(), "due": c.due_date.map(fmt_date),
                "late": c.due_date.is_some_and(|d| d < today) && !c.status.is_final(),
                "confidential": c.confidentiality == Confidentiality::Confidential,
                "priority": c.priority.as_str(),
            })
        })
        .collect();
    let cap = diwan_store::registry::SEARCH_COUNT_CAP;
    let more = search.is_some() && data.total > cap;
    let total = if search.is_some() {
        data.total.min(cap)
    } else {
        data.total
    };
    let pages = ((total + per_page - 1) / per_page).max(1);
    // Bulk actions: assigning (to any entity; the application checks who may), taking up.
    let writer = who.require_writer().is_ok();
    let entities: Vec<_> = if writer && !items.is_empty() {
        tenant
            .entities()
            .await
            .unwrap_or_default()
            .iter()
            .map(|e| json!({ "id": e.id, "name": match lang { Lang::Ar => e.names.ar.clone(), _ => e.names.fr.clone() } }))
            .collect()
    } else {
        Vec::new()
    };
    let bulk_done = q
        .fait
        .map(|n| json!({ "done": n, "failed": q.echecs.unwrap_or(0) }));
    let base = page_ctx(lang, Some(&user), "/corbeilles");
    render(
        &st,
        "queues.html",
        context! {
            counts => counts, current => current.map(|q| q.as_str()), q => search,
            items => items, total => total, more => more, page => page, pages => pages,
            writer => writer, entities => entities, bulk_done => bulk_done, ..base
        },
    )
}

/// `POST /corbeilles/actions`: one action on the correspondences ticked in a queue (each
/// acted on as if alone); back to the queue with how many went through.
pub async fn bulk_action(
    State(st): State<AppState>,
    UserForm {
        user,
        lang,
        form: pairs,
    }: UserForm<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let queue = get("corbeille")
        .as_deref()
        .and_then(Queue::parse)
        .unwrap_or(Queue::ToHandle);
    let outcome = async {
        let ids = pairs
            .iter()
            .filter(|(n, _)| n == "ids")
            .map(|(_, v)| {
                v.parse::<CorrespondenceId>()
                    .map_err(|_| AppError::field("ids", "not a correspondence"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let action = match get("op").as_deref() {
            Some("assign") => BulkAction::Assign(AssignRequest {
                to_entity: parse_field(&get("to_entity"), "to_entity")?
                    .ok_or_else(|| AppError::field("to_entity", "choose an entity"))?,
                to_user: None,
                purpose: parse_field(&get("purpose"), "purpose")?.unwrap_or(Purpose::Action),
                instructions: filled(&get("instructions")),
                due: None,
                copies: vec![],
                redirect: false,
            }),
            Some("take_up") => BulkAction::Status(StatusRequest {
                status: Status::InProgress,
                reason: None,
                outcome: None,
            }),
            _ => return Err(AppError::BadRequest("unknown action".into())),
        };
        st.app.bulk(&user.principal, &ids, &action).await
    }
    .await;
    match outcome {
        Ok(results) => {
            let failed = results.iter().filter(|r| r.result.is_err()).count();
            Redirect::to(&format!(
                "/corbeilles?corbeille={}&fait={}&echecs={failed}",
                queue.as_str(),
                results.len() - failed
            ))
            .into_response()
        }
        Err(e) => error_page(&st, lang, Some(&user), &e),
    }
}

/// The one form of the correspondence page's actions. Which fields matter depends on `op`.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    op: String,
    to_entity: Option<String>,
    to_user: Option<String>,
    purpose: Option<String>,
    instructions: Option<String>,
    due: Option<String>,
    copies: Option<String>,
    redirect: Option<String>,
    status: Option<String>,
    reason: Option<String>,
    outcome: Option<String>,
    body: Option<String>,
    restricted: Option<String>,
    subject: Option<String>,
    signer: Option<String>,
    send_email: Option<String>,
    assignment: Option<String>,
    administration: Option<String>,
    route: Option<String>,
}

fn filled(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn parse_field<T: std::str::FromStr>(
    v: &Option<String>,
    field: &str,
) -> Result<Option<T>, AppError> {
    match filled(v) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| AppError::field(field, "not a valid choice")),
    }
}

async fn perform(
    st: &AppState,
    user: &WebUser,
    id: CorrespondenceId,
    f: &ActionForm,
) -> Result<&'static str, AppError> {
    let who = &user.principal;
    match f.op.as_str() {
        "assign" => {
            let to_entity: EntityId = parse_field(&f.to_entity, "to_entity")?
                .ok_or_else(|| AppError::field("to_entity", "choose an entity"))?;
            let purpose: Purpose = parse_field(&f.purpose, "purpose")?.unwrap_or(Purpose::Action);
            let due = match filled(&f.due) {
                Some(d) => Some(opt_date::parse(&d).map_err(|m| AppError::field("due", m))?),
                None => None,
            };
            let copies = match filled(&f.copies) {
                Some(c) => vec![c
                    .parse()
                    .map_err(|_| AppError::field("copies", "not a valid choice"))?],
                None => vec![],
            };
            st.app
                .assign(
                    who,
                    id,
                    AssignRequest {
                        to_entity,
                        to_user: parse_field::<UserId>(&f.to_user, "to_user")?,
                        purpose,
                        instructions: filled(&f.instructions),
                        due,
                        copies,
                        redirect: f.redirect.is_some(),
                    },
                )
                .await?;
            Ok("assigned")
        }
        "status" => {
            let status: Status = parse_field(&f.status, "status")?
                .ok_or_else(|| AppError::field("status", "choose a status"))?;
            st.app
                .change_status(
                    who,
                    id,
                    StatusRequest {
                        status,
                        reason: filled(&f.reason),
                        outcome: filled(&f.outcome),
                    },
                )
                .await?;
            Ok("status")
        }
        "note" => {
            st.app
                .add_note(
                    who,
                    id,
                    NoteRequest {
                        body: f.body.clone().unwrap_or_default(),
                        restricted: f.restricted.is_some(),
                    },
                )
                .await?;
            Ok("note")
        }
        "done" => {
            let aid: AssignmentId = parse_field(&f.assignment, "assignment")?
                .ok_or_else(|| AppError::field("assignment", "missing"))?;
            st.app
                .complete_assignment(
                    who,
                    id,
                    aid,
                    DoneRequest {
                        outcome: filled(&f.outcome),
                    },
                )
                .await?;
            Ok("done")
        }
        "reply" => {
            let route = match f.route.as_deref() {
                Some("signature") => ReplyRoute::Signature,
                _ => ReplyRoute::Register,
            };
            let outcome = st
                .app
                .submit_reply(
                    who,
                    id,
                    ReplyRequest {
                        subject: filled(&f.subject),
                        body: f.body.clone().unwrap_or_default(),
                        signer: filled(&f.signer),
                        send_email: f.send_email.is_some(),
                        route,
                        circuit: None,
                    },
                )
                .await?;
            Ok(match outcome {
                ReplyOutcome::Registered(_) => "replied",
                ReplyOutcome::Routed(_) => "reply_routed",
            })
        }
        "register_signed_reply" => {
            st.app.register_signed_reply_of(who, id).await?;
            Ok("replied")
        }
        "deliver" => {
            let administration = filled(&f.administration)
                .ok_or_else(|| AppError::field("administration", "choose an administration"))?;
            let d = st
                .app
                .deliver(
                    who,
                    id,
                    diwan_app::exchange::DeliveryRequest { administration },
                )
                .await?;
            Ok(if d.state == "consigned" {
                "delivered"
            } else {
                "delivery_rejected"
            })
        }
        "refuse_delivery" => {
            st.app
                .refuse_delivery(
                    who,
                    id,
                    diwan_app::exchange::RefusalRequest {
                        reason: f.reason.clone().unwrap_or_default(),
                    },
                )
                .await?;
            Ok("delivery_refused")
        }
        _ => Err(AppError::BadRequest("unknown action".into())),
    }
}

/// `POST /courriers/{id}/actions`.
pub async fn action(
    State(st): State<AppState>,
    Path(id): Path<String>,
    UserForm {
        user,
        lang,
        form: f,
    }: UserForm<ActionForm>,
) -> Response {
    let id = match super::correspondence_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    match perform(&st, &user, id, &f).await {
        Ok(done) => Redirect::to(&format!("/courriers/{id}?fait={done}")).into_response(),
        Err(AppError::NotFound(m)) if m == "correspondence" => error_page(
            &st,
            lang,
            Some(&user),
            &AppError::NotFound(lang.t("corr.not_found")),
        ),
        Err(e) => {
            let message = super::form_error(&e, lang, "work.field");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut r = super::registry::show_page(&st, lang, &user, id, None, Some(message)).await;
            *r.status_mut() = status;
            r
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportForm {
    register: Option<String>,
    year: Option<String>,
}

/// What an export form names: the register and the year (this year when not given).
fn export_target(
    st: &AppState,
    lang: Lang,
    q: &ExportForm,
) -> Result<(diwan_core::RegisterId, i32), AppError> {
    let register = match filled(&q.register).map(|r| r.parse::<diwan_core::RegisterId>()) {
        Some(Ok(r)) => r,
        _ => return Err(AppError::field("register", lang.t("dash.choose_register"))),
    };
    let year = filled(&q.year)
        .and_then(|y| y.parse().ok())
        .unwrap_or_else(|| st.app.today().year());
    Ok((register, year))
}

/// The exports of a register's year offered by the register view.
#[derive(Debug, Clone, Copy)]
enum Export {
    Csv,
    Pdf,
    Archive,
}

async fn export_as(
    st: &AppState,
    lang: Lang,
    user: &WebUser,
    q: &ExportForm,
    kind: Export,
) -> Response {
    let (register, year) = match export_target(st, lang, q) {
        Ok(t) => t,
        Err(e) => return error_page(st, lang, Some(user), &e),
    };
    let who = &user.principal;
    let name = |ext: &str| format!("registre-{year}.{ext}");
    let done = match kind {
        Export::Csv => st
            .app
            .register_csv(who, register, year)
            .await
            .map(|csv| crate::api::processing::csv_response(csv, &name("csv"))),
        Export::Pdf => st
            .app
            .register_pdf(who, register, year)
            .await
            .map(|pdf| crate::api::processing::download(pdf, "application/pdf", &name("pdf"))),
        Export::Archive => st
            .app
            .archive_export(who, register, year)
            .await
            .map(crate::api::processing::archive_response),
    };
    done.unwrap_or_else(|e| error_page(st, lang, Some(user), &e))
}

/// `GET /registre/export.csv?register=…&year=…`.
pub async fn export(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<ExportForm>,
) -> Response {
    export_as(&st, lang, &user, &q, Export::Csv).await
}

/// `GET /registre/export.pdf?register=…&year=…`: the printed register book.
pub async fn export_pdf(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<ExportForm>,
) -> Response {
    export_as(&st, lang, &user, &q, Export::Pdf).await
}

/// `GET /registre/archive.tar?register=…&year=…`: the closed files as a BagIt bag.
pub async fn export_archive(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Query(q): Query<ExportForm>,
) -> Response {
    export_as(&st, lang, &user, &q, Export::Archive).await
}

/// `GET /tableau-de-bord`.
pub async fn dashboard(State(st): State<AppState>, lang: Lang, user: WebUser) -> Response {
    let d = match st.app.dashboard(&user.principal, 90).await {
        Ok(d) => d,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    let base = page_ctx(lang, Some(&user), "/tableau-de-bord");
    render(
        &st,
        "dashboard.html",
        context! {
            months => d.months,
            entities => d.entities.iter().map(|(name, l)| json!({
                "name": name, "open": l.open, "late": l.late, "finished": l.finished,
                "average": l.average_days.map(|a| format!("{a:.1}")),
            })).collect::<Vec<_>>(),
            volumes_svg => minijinja::Value::from_safe_string(d.volumes_svg),
            load_svg => minijinja::Value::from_safe_string(d.load_svg),
            ..base
        },
    )
}

/// `GET /courriers/{id}/bordereau.pdf`: the dispatch slip of outgoing or internal mail.
pub async fn dispatch_slip(
    State(st): State<AppState>,
    lang: Lang,
    user: WebUser,
    Path(id): Path<String>,
) -> Response {
    let id = match super::correspondence_id(&id, lang) {
        Ok(id) => id,
        Err(e) => return error_page(&st, lang, Some(&user), &e),
    };
    match st.app.dispatch_slip(&user.principal, id).await {
        Ok(pdf) => crate::api::processing::download(pdf, "application/pdf", "bordereau-envoi.pdf"),
        Err(e) => error_page(&st, lang, Some(&user), &e),
    }
}
